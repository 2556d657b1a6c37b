/**
 * `diffda report`: gathers a finished job's result, its dataset, real and synthetic image grids and
 * writes the self-contained HTML page.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { ImageSet } from "../../shared/data/index.js";
import { getDataset, getJob } from "../client/api.js";
import type { RestClient } from "../client/rest-client.js";
import type { Dataset, Job } from "../client/types.js";
import { resultsData } from "../results/table.js";
import { builtinTrainImages, classGrid, folderImages, imageSetFromPngs, syntheticSample } from "./grids.js";
import { type ReportGrid, renderReportHtml } from "./html.js";

/** Options of {@link writeReport}. */
export interface ReportOptions {
  /** Output file (default `report.html`). */
  readonly out?: string;
  /** A local ImageFolder directory holding the real images of an uploaded dataset. */
  readonly realDir?: string;
  /** Images per class row (default 8). */
  readonly perClass?: number;
  /** Real images instead of redrawing a built-in task (tests). */
  readonly realImages?: (dataset: Dataset) => Promise<ImageSet | undefined>;
  /** Stage wall times measured while watching. */
  readonly wallSeconds?: Partial<Record<string, number>>;
}

/** What was written. */
export interface WrittenReport {
  readonly path: string;
  readonly bytes: number;
  readonly grids: number;
}

/** Writes the report of job `jobId` (which must have succeeded). */
export async function writeReport(
  client: RestClient,
  jobId: string,
  options: ReportOptions = {},
): Promise<WrittenReport> {
  const job: Job = await getJob(client, jobId);
  if (job.state !== "succeeded" || job.result === null) {
    throw new Error(`job ${jobId} is ${job.state}: a report needs a succeeded job`);
  }
  const results = resultsData(job);
  const dataset =
    job.datasetId === null ? undefined : await getDataset(client, job.datasetId).catch(() => undefined);
  const perClass = options.perClass ?? 8;
  const classes = job.result.classes;

  let real: ReportGrid | undefined;
  let realMissing: string | undefined;
  try {
    let set: ImageSet | undefined;
    if (dataset !== undefined) {
      if (options.realImages) set = await options.realImages(dataset);
      else if (options.realDir) set = await folderImages(options.realDir, dataset);
      else set = await builtinTrainImages(dataset);
    }
    if (set === undefined) {
      realMissing = "an uploaded dataset's images stay in the gateway; pass --real <ImageFolder dir>";
    } else {
      real = {
        title: "Real",
        caption: dataset?.builtin
          ? `the ${dataset.builtin.shots}-shot train images per class`
          : `images of ${options.realDir ?? "the dataset"} per class`,
        png: await classGrid(set, { perClass }),
      };
    }
  } catch (error) {
    realMissing = `could not be drawn: ${(error as Error).message}`;
  }

  const seed = job.spec.seeds[0];
  const synthetic: ReportGrid[] = [];
  for (const method of job.spec.methods) {
    if (method.generation === null) continue;
    const images = await syntheticSample(client, job.id, method.label, seed, classes.length, perClass);
    if (images.length === 0) continue;
    const set = await imageSetFromPngs(images, classes);
    synthetic.push({
      title: `${method.label} (synthetic)`,
      caption: `${method.generation.mode}, seed ${seed}, rows by target class`,
      png: await classGrid(set, { perClass }),
    });
  }

  const html = renderReportHtml({
    job,
    dataset,
    results,
    real,
    realMissing,
    synthetic,
    wallSeconds: options.wallSeconds,
    generatedAt: new Date(),
  });
  const path = options.out ?? "report.html";
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, html);
  return { path, bytes: Buffer.byteLength(html), grids: synthetic.length + (real ? 1 : 0) };
}
