/**
 * Garbage collection of the content-addressed artifact store, and the retention sweep.
 *
 * A blob may go when no row references it (see BlobRepository) and it was not written or touched within
 * `graceMs`: a writer stores the file before the row that references it, and `BlobStore.put` touches a
 * blob it finds already there (a local file's mtime; an S3 object's copy onto itself with `used-at`
 * metadata, s3-blob-store.ts), so a file a live job is about to reference is always younger than the
 * grace. Both stores answer `info` and `digests` the same way, so this file does not know which it has. Live jobs keep their rows (DELETE refuses them, retention skips them), so nothing a live job reads
 * is ever collected. Deletion after a DELETE frees only that resource's digests; the periodic sweep walks
 * the whole store (and collects what a crash between a file and its row left behind).
 */
import type { Logger } from "../../../../shared/telemetry/index.js";
import type { BlobStore } from "../blob-store.js";
import type { DatasetSpec } from "../datasets/dataset-service.js";
import type { Dataset, JobStore } from "../store/index.js";

/** When blobs and resources may go. */
export interface CollectorOptions {
  /** Blobs written or touched more recently than this stay (the file-before-row window). */
  graceMs: number;
  /** Finished jobs older than this are deleted with their artifacts; 0 keeps them forever. */
  jobRetentionMs: number;
  /** Uploaded datasets older than this that no live job reads are deleted; 0 keeps them forever. */
  datasetRetentionMs: number;
}

/** The configuration defaults: ten minutes' grace, nothing expires. */
export const DEFAULT_COLLECTOR_OPTIONS: CollectorOptions = Object.freeze({
  graceMs: 600_000,
  jobRetentionMs: 0,
  datasetRetentionMs: 0,
});

/** What one collection did. */
export interface CollectReport {
  blobsDeleted: number;
  bytesFreed: number;
}

/** What one sweep did. */
export interface SweepReport extends CollectReport {
  jobsDeleted: number;
  datasetsDeleted: number;
  tempFilesRemoved: number;
  /** False when some dataset's blobs are not listed yet: no blob was collected. */
  collected: boolean;
}

/** Blobs checked per query during a sweep. */
const SWEEP_BATCH = 500;

/** Collects blobs nothing references and applies the retention periods. */
export class ArtifactCollector {
  readonly #store: JobStore;
  readonly #artifacts: BlobStore;
  readonly #options: CollectorOptions;
  readonly #logger: Logger | undefined;
  #timer: NodeJS.Timeout | undefined;
  #first: NodeJS.Timeout | undefined;
  #running: Promise<SweepReport> | undefined;

  constructor(deps: { store: JobStore; artifacts: BlobStore; logger?: Logger }, options: CollectorOptions) {
    this.#store = deps.store;
    this.#artifacts = deps.artifacts;
    this.#logger = deps.logger;
    this.#options = options;
  }

  /** Deletes those of `digests` that nothing references and that are older than the grace. */
  async free(digests: readonly string[], now = Date.now()): Promise<CollectReport> {
    const report: CollectReport = { blobsDeleted: 0, bytesFreed: 0 };
    const unique = [...new Set(digests)];
    if (unique.length === 0 || !(await this.#store.blobs.allIndexed())) return report;
    for (let i = 0; i < unique.length; i += SWEEP_BATCH) {
      const batch = unique.slice(i, i + SWEEP_BATCH);
      const referenced = await this.#store.blobs.referenced(batch);
      for (const digest of batch) {
        if (referenced.has(digest)) continue;
        const info = await this.#artifacts.info(digest);
        if (info === undefined || now - info.modifiedMs < this.#options.graceMs) continue;
        await this.#artifacts.delete(digest);
        report.blobsDeleted += 1;
        report.bytesFreed += info.bytes;
      }
    }
    return report;
  }

  /**
   * One pass: list the blobs of datasets stored before blob listing, delete what retention says, then
   * collect every unreferenced blob and stale temp file. Concurrent calls share one pass.
   */
  sweep(now = Date.now()): Promise<SweepReport> {
    this.#running ??= this.#sweep(now).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #sweep(now: number): Promise<SweepReport> {
    await this.indexDatasets();
    let jobsDeleted = 0;
    let datasetsDeleted = 0;
    if (this.#options.jobRetentionMs > 0) {
      for (const id of await this.#store.jobs.finishedBefore(new Date(now - this.#options.jobRetentionMs))) {
        const outcome = await this.#store.jobs.delete(id);
        if (outcome.outcome === "deleted") jobsDeleted += 1;
      }
    }
    if (this.#options.datasetRetentionMs > 0) {
      const before = new Date(now - this.#options.datasetRetentionMs);
      for (const id of await this.#store.datasets.expired(before)) {
        const outcome = await this.#store.datasets.delete(id);
        if (outcome.outcome === "deleted") datasetsDeleted += 1;
      }
    }
    const report: SweepReport = {
      jobsDeleted,
      datasetsDeleted,
      blobsDeleted: 0,
      bytesFreed: 0,
      tempFilesRemoved: await this.#artifacts.removeStaleTemp(Math.max(this.#options.graceMs, 60_000), now),
      collected: await this.#store.blobs.allIndexed(),
    };
    if (report.collected) {
      let batch: string[] = [];
      const flush = async () => {
        const done = await this.free(batch, now);
        report.blobsDeleted += done.blobsDeleted;
        report.bytesFreed += done.bytesFreed;
        batch = [];
      };
      for await (const digest of this.#artifacts.digests()) {
        batch.push(digest);
        if (batch.length >= SWEEP_BATCH) await flush();
      }
      await flush();
    }
    if (jobsDeleted + datasetsDeleted + report.blobsDeleted + report.tempFilesRemoved > 0) {
      this.#logger?.info(report, "artifact sweep");
    }
    return report;
  }

  /** Lists the blobs of datasets stored before blob listing existed (their manifests name them). */
  async indexDatasets(): Promise<number> {
    let indexed = 0;
    for (;;) {
      const pending = await this.#store.datasets.unindexed();
      if (pending.length === 0) return indexed;
      for (const dataset of pending) {
        await this.#store.datasets.indexBlobs(dataset.id, await this.#blobsOf(dataset));
        indexed += 1;
      }
    }
  }

  async #blobsOf(dataset: Dataset): Promise<{ sha256: string; bytes: number }[]> {
    const spec = dataset.spec as DatasetSpec;
    if (spec.kind !== "upload") return [];
    const digests = [spec.manifest];
    try {
      const manifest = JSON.parse((await this.#artifacts.read(spec.manifest)).toString("utf8")) as {
        images: { sha256: string }[];
      };
      digests.push(...manifest.images.map((image) => image.sha256));
    } catch (error) {
      // A missing or unreadable manifest holds nothing readable; list what is known and say so.
      this.#logger?.warn({ datasetId: dataset.id, err: error }, "dataset manifest unreadable while indexing");
    }
    const blobs = [];
    for (const sha256 of new Set(digests)) {
      blobs.push({ sha256, bytes: (await this.#artifacts.info(sha256))?.bytes ?? 0 });
    }
    return blobs;
  }

  /** Sweeps every `intervalMs` (the first shortly after start); 0 never. */
  start(intervalMs: number): void {
    if (intervalMs <= 0 || this.#timer !== undefined) return;
    const run = () => {
      this.sweep().catch((error: unknown) => this.#logger?.error({ err: error }, "artifact sweep failed"));
    };
    this.#timer = setInterval(run, intervalMs);
    this.#timer.unref();
    this.#first = setTimeout(run, Math.min(intervalMs, 5_000));
    this.#first.unref();
  }

  /** Stops the timer and waits for a sweep in progress. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    clearTimeout(this.#first);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }
}
