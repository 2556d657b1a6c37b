/**
 * The classifier half of a job's compute floor: the same training runs and evaluations as the job (same
 * specs, image counts and shapes, so the same optimizer steps and forward passes), called in this process
 * on the classifier service's own code with warm sessions, as many side by side as the service runs —
 * no gateway, no store, no gRPC, no process boundary. Pixels are noise: the cost of a step does not depend
 * on them.
 */
import { setMaxListeners } from "node:events";
import { availableParallelism } from "node:os";
import { create } from "@bufbuild/protobuf";
import type { Job } from "../../cli/client/types.js";
import { DecodedImageCache } from "../../services/classifier/src/decoded-images.js";
import { runEvaluation, runTraining, validateTrainSpec } from "../../services/classifier/src/index.js";
import { createClassifierMetrics } from "../../services/classifier/src/metrics.js";
import type { ClassifierSpec } from "../../services/gateway/src/job-spec.js";
import { trainSpec } from "../../services/gateway/src/orchestrator/proto.js";
import { decodeClassifier } from "../../shared/classifier/index.js";
import { stepBudget } from "../../shared/classifier/recipe.js";
import { encodePng } from "../../shared/data/index.js";
import { TrainSpecSchema } from "../../shared/gen/diffda/classifier/v1/classifier_pb.js";
import { type LabelledImage, LabelledImageSchema } from "../../shared/gen/diffda/common/v1/dataset_pb.js";
import { ImageFormat } from "../../shared/gen/diffda/common/v1/image_pb.js";
import { RunnerPool } from "../../shared/ml/runtime/index.js";
import { Rng } from "../../shared/random/index.js";
import { createLimiter } from "../../shared/service/index.js";
import { sha256Hex } from "../../shared/service/wire/index.js";
import { createLogger, createMetrics } from "../../shared/telemetry/index.js";

/** What the replay measured. */
export interface ClassifierFloor {
  readonly runs: number;
  readonly trainWallSeconds: number;
  readonly evaluateWallSeconds: number;
  /** CPU seconds of this process (every thread) over the replay. */
  readonly cpuSeconds: number;
}

/** The shape of the job's images. */
export interface ImageShape {
  readonly channels: 1 | 3;
  readonly size: number;
}

async function noiseImages(
  count: number,
  shape: ImageShape,
  classes: number,
  realCount: number,
  seed: number,
) {
  const rng = new Rng(seed);
  const plane = shape.channels * shape.size * shape.size;
  const images: LabelledImage[] = [];
  for (let i = 0; i < count; i++) {
    const pixels = new Float32Array(plane);
    for (let p = 0; p < plane; p++) pixels[p] = rng.nextFloat();
    const data = await encodePng(pixels, { channels: shape.channels, height: shape.size, width: shape.size });
    images.push(
      create(LabelledImageSchema, {
        image: { format: ImageFormat.PNG, data, sha256: sha256Hex(data) },
        label: i % classes,
        sourceIndex: realCount > 0 ? i % realCount : i,
      }),
    );
  }
  return images;
}

/** Replays the classifier work of `job` (a succeeded job) and measures it. */
export async function classifierFloor(
  job: Job,
  shape: ImageShape,
  counts: { train: number; test: number },
  options: { concurrentRuns?: number; architecture?: string } = {},
): Promise<ClassifierFloor> {
  const runsAtOnce = options.concurrentRuns ?? 2;
  const classes = job.result?.classes ?? [];
  const k = classes.length;
  const limits = { maxImages: 1_000_000, maxImageSize: 1024, maxEpochs: 100_000, defaultEpochs: 30 };
  const pool = new RunnerPool({ maxIdle: 4 * runsAtOnce });
  const deps = {
    limits,
    metrics: createClassifierMetrics(createMetrics({ defaultMetrics: false })),
    logger: createLogger({ service: "bench-floor", level: "silent" }),
    limiter: createLimiter(runsAtOnce),
    pool,
    decoded: new DecodedImageCache(256 * 2 ** 20),
    threads: Math.max(1, Math.floor(availableParallelism() / runsAtOnce)),
  };
  const real = await noiseImages(counts.train, shape, k, 0, 1);
  const test = await noiseImages(counts.test, shape, k, 0, 2);
  const runs = job.spec.methods.flatMap((method) => {
    const result = job.result?.methods.find((m) => m.label === method.label);
    return (result?.runs ?? []).map((run) => ({ method, seed: run.seed, synthetic: run.syntheticImages }));
  });
  // Inputs are made before the clock starts: encoding them is not the job's work.
  const synthetic = await Promise.all(
    runs.map((run, i) => noiseImages(run.synthetic, shape, k, counts.train, 10 + i)),
  );
  const classifier = job.spec.classifier as ClassifierSpec;
  const abort = new AbortController();
  setMaxListeners(runs.length * 4, abort.signal); // every run and evaluation waits on it
  const cpu0 = process.cpuUsage();
  const trainStarted = performance.now();
  const checkpoints = await Promise.all(
    runs.map(async (run, i) => {
      const spec = {
        jobId: job.id,
        classes: classes.map((name) => ({ name })),
        ...trainSpec(
          run.method.utilization as never,
          classifier,
          run.seed,
          { architecture: options.architecture ?? "resnet8" },
          // The job's step budget, as the gateway's train task sets it.
          classifier.budget === "epochs" ? undefined : stepBudget(counts.train, classifier),
        ),
      };
      const plan = validateTrainSpec(create(TrainSpecSchema, spec as never), limits);
      for await (const event of runTraining(plan, real, synthetic[i], deps, abort.signal)) {
        if ("result" in event) return event.result.checkpoint?.content as Uint8Array;
      }
      throw new Error("training ended without a result");
    }),
  );
  const trainWallSeconds = (performance.now() - trainStarted) / 1000;
  const evaluateStarted = performance.now();
  await Promise.all(
    checkpoints.map((content) =>
      runEvaluation(
        { jobId: job.id, classifier: decodeClassifier(content), batchSize: 256 },
        test,
        deps,
        abort.signal,
      ),
    ),
  );
  const evaluateWallSeconds = (performance.now() - evaluateStarted) / 1000;
  const used = process.cpuUsage(cpu0);
  await pool.close();
  return {
    runs: runs.length,
    trainWallSeconds,
    evaluateWallSeconds,
    cpuSeconds: (used.user + used.system) / 1e6,
  };
}
