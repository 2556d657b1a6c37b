/**
 * A job's synthetic set as records a trainer can use: one per stored image, with its label, the soft
 * label Diff-Mix trains on, where it came from (method, seed, source image, strength, model) and its
 * digest. Every export format (zip, imagefolder, webdataset) is a layout of these records, so the
 * metadata is defined once. Records stream page by page from the artifact listing: a set of 200,000
 * images is never listed in memory at once.
 */
import { DEFAULT_SOFT_LABEL_GAMMA, writeInterClassTarget } from "../../../../shared/data/index.js";
import type { DatasetService } from "../datasets/dataset-service.js";
import type { JobSpec, ResolvedMethod } from "../job-spec.js";
import type { FilteringOutcome } from "../orchestrator/handlers/filter.js";
import type { TrainOutput } from "../orchestrator/handlers/train.js";
import type { Artifact, Job, JobStore } from "../store/index.js";

/** Metadata the generate task stores with each synthetic image. */
export interface SyntheticMeta {
  mediaType: string;
  method: string;
  seed: number;
  shardIndex: number;
  sampleIndex: number;
  label: number;
  className: string;
  sourceIndex: number;
  prompt: string;
  interClass: { sourceLabel: number; strength: number } | null;
  /** Model that drew the image (absent on images stored before it was recorded). */
  model?: string;
  /** SDEdit strength the method ran with, null for text-to-image modes (absent on older images). */
  strength?: number | null;
}

/** One synthetic image as every export describes it. */
export interface SyntheticRecord {
  sha256: string;
  bytes: number;
  method: string;
  seed: number;
  sampleIndex: number;
  label: number;
  className: string;
  /**
   * Training target over the classes: Diff-Mix's strength^γ on the label and the rest on the source
   * class for inter-class images of a method that trains on soft labels; null (one-hot) otherwise.
   */
  softLabel: number[] | null;
  /** Index of the real training image it came from, in the dataset's train split order. */
  sourceIndex: number;
  /** That image's name in the dataset listing; null when the dataset is gone. */
  sourceFile: string | null;
  /** Noise strength of the edit (img2img, inter-class, GIF); null for text-to-image. */
  strength: number | null;
  interClass: { sourceLabel: number; sourceClass: string; strength: number } | null;
  prompt: string;
  /** Model id; null for images stored before the model was recorded. */
  model: string | null;
  /**
   * Sample filtering's verdict, present once a filtering method's run has trained: its score and whether
   * it was kept. Dropped images stay in the export, marked, so a trainer can apply or ignore the filter.
   */
  filtering?: { score: number | null; kept: boolean };
}

/** Which images an export holds. */
export interface SyntheticFilter {
  method?: string;
  seed?: number;
}

/** What reading the set needs. */
export interface SyntheticSetDeps {
  store: JobStore;
  datasets: DatasetService;
}

const PAGE = 1000;

/** The artifact key prefix a filter selects. */
function filterPrefix({ method, seed }: SyntheticFilter): string {
  if (method === undefined) return "synthetic/";
  return `synthetic/${method}/${seed === undefined ? "" : `seed=${seed}/`}`;
}

/** The synthetic image rows of a job under a prefix, page by page in key order. */
async function* syntheticRows(store: JobStore, jobId: string, prefix: string): AsyncGenerator<Artifact> {
  for (let after: string | undefined; ; ) {
    const page = await store.artifacts.list(jobId, { prefix, afterKey: after, limit: PAGE });
    yield* page.filter((row) => row.kind === "synthetic_image");
    if (page.length < PAGE) return;
    after = page[page.length - 1].key;
  }
}

/** A run's filtering as the export reads it: scores by sample index, the dropped samples as a set. */
interface RunFiltering {
  scores: FilteringOutcome["scores"];
  dropped: ReadonlySet<number>;
}

/** An image's filtering verdict from its run's outcome; undefined while the run has not trained. */
function filteringVerdict(
  outcomes: ReadonlyMap<string, RunFiltering>,
  meta: SyntheticMeta,
): SyntheticRecord["filtering"] {
  const outcome = outcomes.get(`train:${meta.method}:seed=${meta.seed}`);
  if (outcome === undefined) return undefined;
  return {
    score: outcome.scores[meta.sampleIndex] ?? null,
    kept: !outcome.dropped.has(meta.sampleIndex),
  };
}

/** Soft label of an inter-class image under a method's utilization, or null for one-hot. */
function softLabel(
  meta: SyntheticMeta,
  method: ResolvedMethod | undefined,
  classCount: number,
): number[] | null {
  const gamma = method?.utilization.softLabelGamma;
  if (gamma === undefined || meta.interClass === null) return null;
  // The classifier's own definition of the target, in float64 so the row sums to 1 exactly as written.
  const row = new Float64Array(classCount);
  const { sourceLabel, strength } = meta.interClass;
  writeInterClassTarget(
    sourceLabel,
    meta.label,
    strength,
    gamma > 0 ? gamma : DEFAULT_SOFT_LABEL_GAMMA,
    classCount,
    row,
  );
  return Array.from(row);
}

/** Reads a job's synthetic set as records. */
export class SyntheticSet {
  readonly #deps: SyntheticSetDeps;
  readonly #job: Job;
  readonly #filter: SyntheticFilter;

  constructor(deps: SyntheticSetDeps, job: Job, filter: SyntheticFilter = {}) {
    this.#deps = deps;
    this.#job = job;
    this.#filter = filter;
  }

  /** The class names of the job's dataset (in label order), or null when the dataset is gone. */
  async classes(): Promise<string[] | null> {
    return (await this.#sources())?.classes ?? null;
  }

  /** Every record in key order (method, seed, shard, sample). */
  async *records(): AsyncGenerator<SyntheticRecord> {
    const spec = this.#job.spec as JobSpec;
    const methods = new Map(spec.methods.map((m) => [m.label, m]));
    const sources = await this.#sources();
    for await (const row of syntheticRows(this.#deps.store, this.#job.id, filterPrefix(this.#filter))) {
      const meta = row.meta as SyntheticMeta;
      const method = methods.get(meta.method);
      const classCount =
        sources?.classes.length ?? Math.max(meta.label, meta.interClass?.sourceLabel ?? 0) + 1;
      const className = (label: number) => sources?.classes[label] ?? String(label);
      const verdict =
        method?.filtering === undefined ? undefined : filteringVerdict(await this.#filtered(), meta);
      yield {
        sha256: row.sha256,
        bytes: row.bytes,
        method: meta.method,
        seed: meta.seed,
        sampleIndex: meta.sampleIndex,
        label: meta.label,
        className: meta.className,
        softLabel: softLabel(meta, method, classCount),
        sourceIndex: meta.sourceIndex,
        sourceFile: sources?.trainFiles[meta.sourceIndex] ?? null,
        strength: meta.interClass?.strength ?? meta.strength ?? method?.generation?.strength ?? null,
        interClass:
          meta.interClass === null
            ? null
            : {
                sourceLabel: meta.interClass.sourceLabel,
                sourceClass: className(meta.interClass.sourceLabel),
                strength: meta.interClass.strength,
              },
        prompt: meta.prompt,
        model: meta.model ?? method?.generation?.model ?? null,
        ...(verdict === undefined ? {} : { filtering: verdict }),
      };
    }
  }

  #filteredLoad?: Promise<Map<string, RunFiltering>>;

  /** The filtering outcomes of the job's train tasks by task key, read once (only for a filtering job). */
  #filtered(): Promise<Map<string, RunFiltering>> {
    this.#filteredLoad ??= (async () => {
      const out = new Map<string, RunFiltering>();
      for (const task of await this.#deps.store.tasks.list(this.#job.id)) {
        const filtering = (task.output as TrainOutput | null)?.filtering;
        if (task.kind === "train" && task.state === "succeeded" && filtering)
          out.set(task.key, { scores: filtering.scores, dropped: new Set(filtering.droppedSamples) });
      }
      return out;
    })();
    return this.#filteredLoad;
  }

  #sourcesLoad?: Promise<{ classes: string[]; trainFiles: string[] } | null>;

  /**
   * The dataset's classes (its row's, in label order) and train file names (the listing: for an upload
   * its manifest alone, no image read), once; null when the dataset was deleted.
   */
  #sources(): Promise<{ classes: string[]; trainFiles: string[] } | null> {
    this.#sourcesLoad ??= (async () => {
      if (this.#job.datasetId === null) return null;
      const dataset = await this.#deps.store.datasets.get(this.#job.datasetId);
      if (dataset === undefined) return null;
      const files = await this.#deps.datasets.files(dataset);
      return {
        classes: dataset.classes,
        trainFiles: files.filter((file) => file.split === "train").map((file) => file.name),
      };
    })();
    return this.#sourcesLoad;
  }
}
