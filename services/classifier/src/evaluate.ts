import type { MessageInitShape } from "@bufbuild/protobuf";
import { type Classifier, classifierLogits, decodeClassifier } from "../../../shared/classifier/index.js";
import type { ImageSet } from "../../../shared/data/index.js";
import { labelProbabilities } from "../../../shared/filtering/classifier-scorer.js";
import type {
  EvaluateSpec,
  EvaluationMetricsSchema,
} from "../../../shared/gen/diffda/classifier/v1/classifier_pb.js";
import type { LabelledImage } from "../../../shared/gen/diffda/common/v1/dataset_pb.js";
import { type RunnerPool, type RuntimeSettings, runtimeSettings } from "../../../shared/ml/runtime/index.js";
import { type Limiter, startWork } from "../../../shared/service/index.js";
import {
  invalidField,
  optionalInt,
  required,
  stringField,
  verifyArtifact,
} from "../../../shared/service/wire/index.js";
import type { Logger } from "../../../shared/telemetry/index.js";
import type { ClassifierLimits } from "./config.js";
import type { DecodedImageCache } from "./decoded-images.js";
import type { ClassifierMetrics } from "./metrics.js";
import { testSet } from "./sets.js";

/** A validated EvaluateSpec with its checkpoint decoded. */
export interface EvaluatePlan {
  readonly jobId: string;
  readonly classifier: Classifier;
  readonly batchSize: number;
}

/** Default images per inference batch. */
export const EVALUATE_BATCH = 256;

/** Validates an EvaluateSpec and decodes its checkpoint (`invalid_field` naming `spec.checkpoint` if it is no classifier). */
export function validateEvaluateSpec(spec: EvaluateSpec | undefined): EvaluatePlan {
  const s = required(spec, "spec");
  const jobId = stringField(s.jobId, "spec.job_id", { maxLength: 256 });
  const bytes = verifyArtifact(s.checkpoint, "spec.checkpoint");
  let classifier: Classifier;
  try {
    classifier = decodeClassifier(bytes);
  } catch (error) {
    throw invalidField(
      "spec.checkpoint.content",
      `not a classifier checkpoint (${(error as Error).message})`,
    );
  }
  return {
    jobId,
    classifier,
    batchSize: optionalInt(s.batchSize, "spec.batch_size", { min: 1, max: 65_536 }, EVALUATE_BATCH),
  };
}

/** What an evaluation depends on; its session opens with the runtime settings chosen at boot. */
export interface EvaluateDeps extends RuntimeSettings {
  readonly limits: ClassifierLimits;
  readonly metrics: ClassifierMetrics;
  readonly logger: Logger;
  readonly limiter: Limiter;
  /** Open sessions kept across requests. */
  readonly pool: RunnerPool;
  /** Decoded image lists kept across requests (a job's test set is sent once per evaluation). */
  readonly decoded: DecodedImageCache;
}

/** Top-1, per-class accuracy, confusion matrix and mean cross-entropy from logits. */
export function metricsFromLogits(
  logits: Float32Array,
  labels: Int32Array,
  classCount: number,
): MessageInitShape<typeof EvaluationMetricsSchema> {
  const n = labels.length;
  const counts = new Array<number>(classCount * classCount).fill(0);
  const predictions = new Array<number>(n);
  let correct = 0;
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const row = logits.subarray(i * classCount, (i + 1) * classCount);
    let best = 0;
    let max = row[0];
    for (let k = 1; k < classCount; k++) {
      if (row[k] > row[best]) best = k;
      if (row[k] > max) max = row[k];
    }
    let sum = 0;
    for (let k = 0; k < classCount; k++) sum += Math.exp(row[k] - max);
    loss += Math.log(sum) + max - row[labels[i]];
    counts[labels[i] * classCount + best]++;
    predictions[i] = best;
    if (best === labels[i]) correct++;
  }
  const perClass = Array.from({ length: classCount }, (_, t) => {
    let total = 0;
    for (let p = 0; p < classCount; p++) total += counts[t * classCount + p];
    return total === 0 ? Number.NaN : counts[t * classCount + t] / total;
  });
  return {
    sampleCount: n,
    top1Accuracy: n === 0 ? Number.NaN : correct / n,
    perClassAccuracy: perClass,
    confusionMatrix: { classCount, counts },
    meanLoss: n === 0 ? Number.NaN : loss / n,
    predictions,
    labelProbabilities: [...labelProbabilities(logits, labels, classCount)],
  };
}

/** What an evaluation returns: the metrics and the CPU seconds it cost. */
export interface EvaluationOutcome {
  readonly metrics: MessageInitShape<typeof EvaluationMetricsSchema>;
  readonly cpuSeconds: number;
}

/**
 * Evaluates a checkpoint on a test set: images decoded to the network's input (once per distinct list),
 * inference on a pooled forward session in batches, logits turned into the metrics.
 */
export async function runEvaluation(
  plan: EvaluatePlan,
  images: readonly LabelledImage[],
  deps: EvaluateDeps,
  signal: AbortSignal,
): Promise<EvaluationOutcome> {
  if (images.length === 0) throw invalidField("images", "must hold at least one image");
  if (images.length > deps.limits.maxImages)
    throw invalidField("images", `must hold at most ${deps.limits.maxImages} images`);
  const { config, classNames, parameters } = plan.classifier;
  const work = await startWork(deps.limiter, deps.metrics.evaluations, {}, signal);
  let failed: unknown;
  try {
    const shape = { channels: config.inChannels === 1 ? 1 : 3, size: config.imageSize } as const;
    const phases = deps.metrics.phases;
    const set: ImageSet = await phases.time("decode", () =>
      testSet(images, "images", classNames, shape, deps.decoded),
    );
    signal.throwIfAborted();
    const logits = await phases.time("forward", () =>
      classifierLogits(parameters, config, set, {
        batchSize: plan.batchSize,
        pool: deps.pool,
        signal,
        ...runtimeSettings(deps),
      }),
    );
    const metrics = metricsFromLogits(logits, set.labels, config.numClasses);
    deps.logger.info(
      { event: "evaluate_done", job_id: plan.jobId, images: set.labels.length, top1: metrics.top1Accuracy },
      "evaluated",
    );
    return { metrics, cpuSeconds: work.cpuSeconds() };
  } catch (error) {
    failed = error;
    throw error;
  } finally {
    work.finish(failed, signal);
  }
}
