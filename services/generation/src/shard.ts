import { createEventChannel, type Limiter, startWork } from "../../../shared/service/index.js";
import type { Logger } from "../../../shared/telemetry/index.js";
import type { EngineImage, EngineProgress, GenerationEngine } from "./engine/types.js";
import type { GenerationMetrics } from "./metrics.js";
import { type PlannedSample, SamplePlanner } from "./planner.js";
import type { ShardRequest } from "./request.js";

/** What a shard streams: progress, one event per image in ascending sample order, then completion. */
export type ShardEvent =
  | {
      readonly kind: "progress";
      readonly stage: string;
      readonly step: number;
      readonly totalSteps: number;
      readonly message: string;
      readonly etaSeconds?: number;
    }
  | { readonly kind: "image"; readonly sample: PlannedSample; readonly image: EngineImage }
  | {
      readonly kind: "completed";
      readonly imageCount: number;
      readonly seconds: number;
      /** CPU seconds of the shard (see shared/service/cpu-meter.ts for how overlapping shards share). */
      readonly cpuSeconds: number;
    };

/** What running a shard depends on. */
export interface ShardDeps {
  readonly engine: GenerationEngine;
  readonly metrics: GenerationMetrics;
  readonly logger: Logger;
  /** Samples per engine batch. */
  readonly batchSize: number;
  /** Bounds the shards that generate at once; the rest wait (cancellable). */
  readonly limiter: Limiter;
  /** The CLIP scorer folder of a model folder, if it has one. */
  readonly clipFolder: (modelDir: string) => Promise<string | undefined>;
}

/** Planned samples of one batch: consecutive pending samples of one output size, at most `batchSize`. */
async function* batchesOf(
  planner: SamplePlanner,
  pending: readonly number[],
  batchSize: number,
): AsyncGenerator<PlannedSample[]> {
  let batch: PlannedSample[] = [];
  for (const index of pending) {
    const sample = await planner.plan(index);
    const head = batch[0];
    if (head && (head.height !== sample.height || head.width !== sample.width || batch.length >= batchSize)) {
      yield batch;
      batch = [];
    }
    batch.push(sample);
  }
  if (batch.length > 0) yield batch;
}

const isDenoise = (a: EngineProgress, b: EngineProgress) => a.stage === b.stage;

/** A batch on the engine. */
interface Running {
  readonly batch: PlannedSample[];
  readonly images: Promise<EngineImage[]>;
  readonly progress: AsyncIterable<EngineProgress>;
  readonly note: string;
}

/**
 * Generates the shard's pending samples (its range minus `skip`) in batches and yields progress after every
 * denoising step, each image as soon as its batch is encoded (ascending sample index), then `completed`.
 * The next batch starts on the engine while the images of the last one are sent.
 * `signal` (the call's cancel, deadline or drain) stops the engine before its next denoising step.
 */
export async function* generateShard(
  request: ShardRequest,
  deps: ShardDeps,
  signal: AbortSignal,
): AsyncGenerator<ShardEvent> {
  const started = performance.now();
  const method = request.method.kind;
  const log = deps.logger.child({ job_id: request.jobId, shard_index: request.shardIndex, method });
  const work = await startWork(deps.limiter, deps.metrics.shards, { generation: method }, signal);
  let failure: unknown;
  let stepsAfterCancel = 0;
  let lastStep: { stage: string; step: number; totalSteps: number } | undefined;
  let produced = 0;
  const inFlight = new Set<Promise<EngineImage[]>>();
  const lease = await deps.metrics.phases
    .time("model", () => deps.engine.acquire(request.model))
    .catch((error: unknown) => {
      work.finish(error, signal);
      throw error;
    });
  if (request.model.adapters.length > 0)
    deps.metrics.adapterCache.inc({ result: lease.cached ? "hit" : "miss" });
  try {
    const planner = new SamplePlanner(request, lease.info);
    const pending = planner.pending();
    deps.metrics.skipped.inc({ generation: method }, request.count - pending.length);
    let clipDir: string | undefined;
    const { runner, resolved } = request.method;
    if (runner.clipModel) clipDir = await deps.clipFolder(runner.clipModel(resolved) ?? request.model.dir);
    log.info(
      { event: "shard_started", samples: pending.length, skipped: request.count - pending.length },
      "shard started",
    );
    yield { kind: "progress", stage: "generate", step: 0, totalSteps: pending.length, message: "started" };
    const batches = batchesOf(planner, pending, deps.batchSize);
    /** Starts a batch on the engine; its progress is buffered (coalesced) until read. */
    const launch = async (batch: PlannedSample[]): Promise<Running> => {
      signal.throwIfAborted();
      const first = batch[0];
      const progress = createEventChannel<EngineProgress>(isDenoise);
      const images = deps.engine.generate(
        {
          modelKey: lease.key,
          method: await planner.method(first.height, first.width, clipDir),
          sampling: {
            steps: request.sampling.steps,
            scheduler: request.sampling.scheduler,
            guidanceScale: request.sampling.guidanceScale,
          },
          samples: batch,
        },
        {
          signal,
          onProgress: (p) => progress.push(p),
          onSettled: (n) => {
            stepsAfterCancel += n;
          },
        },
      );
      const launched = performance.now();
      images.then(
        () => {
          deps.metrics.phases.add("engine", (performance.now() - launched) / 1000);
          progress.close();
        },
        (error: unknown) => progress.fail(error),
      );
      inFlight.add(images);
      void images.catch(() => {}).finally(() => inFlight.delete(images));
      return { batch, images, progress, note: `samples ${first.index}..${batch[batch.length - 1].index}` };
    };
    const first = await batches.next();
    let current = first.done ? undefined : await launch(first.value);
    while (current) {
      for await (const p of current.progress) {
        lastStep = p;
        const perImage = produced > 0 ? (performance.now() - started) / 1000 / produced : undefined;
        yield {
          kind: "progress",
          stage: p.stage,
          step: p.step,
          totalSteps: p.totalSteps,
          message: current.note,
          etaSeconds: perImage === undefined ? undefined : perImage * (pending.length - produced),
        };
      }
      const images = await current.images;
      // The engine starts on the next batch while this one's images go out.
      const next = await batches.next();
      const following = next.done ? undefined : await launch(next.value);
      for (const [i, image] of images.entries()) {
        produced++;
        deps.metrics.images.inc({ generation: method });
        yield { kind: "image", sample: current.batch[i], image };
      }
      yield {
        kind: "progress",
        stage: "generate",
        step: produced,
        totalSteps: pending.length,
        message: current.note,
      };
      current = following;
    }
    const seconds = (performance.now() - started) / 1000;
    yield { kind: "completed", imageCount: produced, seconds, cpuSeconds: work.cpuSeconds() };
  } catch (error) {
    failure = error;
    throw error;
  } finally {
    // A batch still running (the call ended mid-batch) stops within a denoising step: wait for it, so the
    // in-flight gauge and the log describe engine work that really ended.
    await Promise.allSettled(inFlight);
    lease.release();
    const { outcome, seconds } = work.finish(failure, signal);
    const line = {
      event: "shard_ended",
      outcome,
      images: produced,
      seconds,
      steps_after_cancel: stepsAfterCancel,
      last_step: lastStep,
    };
    if (outcome === "failed") log.warn({ ...line, err: failure }, "shard failed");
    else log.info(line, outcome === "cancelled" ? "shard stopped" : "shard completed");
  }
}
