/**
 * The small DA-Fusion jobs a chaos campaign submits, and the check of each finished job: it succeeded,
 * and its synthetic images (the listing and synthetic.zip with its manifest) are exactly the planned ones.
 */
import { listArtifacts, submitJob, syntheticZip } from "../../cli/client/api.js";
import type { RestClient } from "../../cli/client/rest-client.js";
import type { Artifact } from "../../cli/client/types.js";
import { readZip } from "../../services/gateway/src/archive/zip-reader.js";
import { sha256Hex } from "../../shared/service/wire/index.js";
import { pngTestImage } from "../../shared/testing/png-image.js";

const CLASSES = ["cat", "dog"];
const SHOTS = 2; // train images per class; one more per class is held out for evaluation
const PER_REAL = 4;
const SHARD_SIZE = 2;

/** A submitted job and the synthetic images it must end with. */
export interface SubmittedJob {
  readonly id: string;
  readonly planned: number;
}

/** Uploads a fresh dataset (uploads are one of the things a crash may interrupt) and submits a job on it. */
export async function submitSmallJob(client: RestClient, salt: number): Promise<SubmittedJob> {
  const images = [];
  for (const [c, label] of CLASSES.entries()) {
    for (let i = 0; i <= SHOTS; i++)
      images.push({
        label,
        data: Buffer.from((await pngTestImage(32, 1000 * salt + 10 * c + i)).data).toString("base64"),
      });
  }
  const dataset = await client.json<{ id: string; trainCount: number }>({
    method: "POST",
    path: "/v1/datasets",
    json: { name: `chaos-${salt}`, images, size: 32, testFraction: 1 / (SHOTS + 1) },
  });
  const job = await submitJob(client, {
    datasetId: dataset.id,
    methods: [
      {
        preset: "da-fusion",
        finetuning: { textualInversion: { maxTrainSteps: 3 } },
        generation: { syntheticPerReal: PER_REAL, strength: 0.6, sampling: { numInferenceSteps: 100 } },
      },
    ],
    baselines: [],
    classifier: { epochs: 1, batchSize: 8, imageSize: 16 },
    shardSize: SHARD_SIZE,
  });
  return { id: job.id, planned: dataset.trainCount * PER_REAL };
}

/** What the check of one job found. */
export interface JobCheck {
  readonly id: string;
  readonly state: string;
  readonly planned: number;
  /** Rows in the synthetic/ listing. */
  readonly stored: number;
  /** Planned (shard, index) keys with no image, plus listed images missing from synthetic.zip. */
  readonly lost: number;
  /** Images whose (shard, index) key or bytes an earlier image already had, in the listing or the zip. */
  readonly repeated: number;
  /** Images in a shard, source or class other than planned. */
  readonly misplaced: number;
  readonly problems: string[];
}

interface Meta {
  shardIndex: number;
  sampleIndex: number;
  label: number;
  className: string;
  sourceIndex: number;
}

const pad = (n: number, width: number) => String(n).padStart(width, "0");

/** Checks a job that reached a final state. */
export async function checkJob(client: RestClient, job: SubmittedJob): Promise<JobCheck> {
  const problems: string[] = [];
  const state = (await client.json<{ state: string }>({ method: "GET", path: `/v1/jobs/${job.id}` })).state;
  if (state !== "succeeded") problems.push(`state ${state}`);
  const listed: Artifact[] = await listArtifacts(client, job.id, { prefix: "synthetic/" });

  let repeated = 0;
  let misplaced = 0;
  const keys = new Set<string>();
  const shas = new Set<string>();
  const labelOfSource = new Map<number, number>();
  const perLabel = new Map<number, number>();
  for (const a of listed) {
    const m = a.meta as unknown as Meta;
    const key = `${m.shardIndex}/${m.sampleIndex}`;
    if (keys.has(key) || shas.has(a.sha256)) {
      repeated++;
      problems.push(`repeated ${key} (${a.sha256.slice(0, 12)})`);
    }
    keys.add(key);
    shas.add(a.sha256);
    const wrong: string[] = [];
    if (!(m.sampleIndex >= 0 && m.sampleIndex < job.planned)) wrong.push("index outside the plan");
    if (Math.floor(m.sampleIndex / SHARD_SIZE) !== m.shardIndex) wrong.push("other shard");
    if (!a.key.endsWith(`${pad(m.shardIndex, 5)}/${pad(m.sampleIndex, 7)}`)) wrong.push(`key ${a.key}`);
    if (Math.floor(m.sampleIndex / PER_REAL) !== m.sourceIndex) wrong.push("other source");
    if (CLASSES[m.label] !== m.className) wrong.push(`class ${m.className} for label ${m.label}`);
    const sourceLabel = labelOfSource.get(m.sourceIndex) ?? m.label;
    labelOfSource.set(m.sourceIndex, sourceLabel);
    if (sourceLabel !== m.label) wrong.push("a class its source's other images do not have");
    perLabel.set(m.label, (perLabel.get(m.label) ?? 0) + 1);
    if (wrong.length > 0) {
      misplaced++;
      problems.push(`misplaced ${key}: ${wrong.join(", ")}`);
    }
  }
  const perClass = job.planned / CLASSES.length;
  for (const [label, n] of perLabel) {
    if (n > perClass) {
      misplaced += n - perClass;
      problems.push(`class ${label}: ${n} images for ${perClass} planned`);
    }
  }
  let lost = 0;
  for (let i = 0; i < job.planned; i++) {
    if (!keys.has(`${Math.floor(i / SHARD_SIZE)}/${i}`)) lost++;
  }
  if (lost > 0) problems.push(`${lost} planned images not stored`);

  if (state === "succeeded") {
    // The archive a client downloads must say the same as the listing.
    const zip = new Uint8Array(await (await syntheticZip(client, job.id)).arrayBuffer());
    const entries = await readZip(zip, {
      maxEntries: 10_000,
      maxEntryBytes: 1 << 20,
      maxTotalBytes: 1 << 28,
      maxRatio: 1000,
    });
    const zipShas = entries.filter((e) => e.name.endsWith(".png")).map((e) => sha256Hex(e.bytes));
    const zipSet = new Set(zipShas);
    if (zipShas.length > zipSet.size) {
      repeated += zipShas.length - zipSet.size;
      problems.push(`${zipShas.length - zipSet.size} repeated images in synthetic.zip`);
    }
    const missing = [...shas].filter((s) => !zipSet.has(s)).length;
    if (missing > 0) {
      lost += missing;
      problems.push(`${missing} listed images missing from synthetic.zip`);
    }
    const manifest = JSON.parse(
      Buffer.from(entries.find((e) => e.name === "manifest.json")?.bytes ?? []).toString() || "{}",
    ) as { images?: unknown[] };
    if (manifest.images?.length !== listed.length)
      problems.push(`manifest lists ${manifest.images?.length} images, the listing ${listed.length}`);
  }
  return {
    id: job.id,
    state,
    planned: job.planned,
    stored: listed.length,
    lost,
    repeated,
    misplaced,
    problems,
  };
}
