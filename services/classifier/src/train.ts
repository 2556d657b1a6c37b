import type { MessageInitShape } from "@bufbuild/protobuf";
import { BACKBONE_RECIPE, backboneWeights, loadBackbone } from "../../../shared/classifier/backbone.js";
import { backboneMismatch, SCRATCH_BACKBONE } from "../../../shared/classifier/backbones.js";
import { encodeClassifier, evaluateClassifier, trainClassifier } from "../../../shared/classifier/index.js";
import type { ImageSet } from "../../../shared/data/index.js";
import { Optimizer, type TrainResultSchema } from "../../../shared/gen/diffda/classifier/v1/classifier_pb.js";
import type { LabelledImage } from "../../../shared/gen/diffda/common/v1/dataset_pb.js";
import type { ProgressSchema } from "../../../shared/gen/diffda/common/v1/progress_pb.js";
import { type RunnerPool, type RuntimeSettings, runtimeSettings } from "../../../shared/ml/runtime/index.js";
import { createEventChannel, type Limiter, startWork } from "../../../shared/service/index.js";
import { invalidField, makeArtifact, SAFETENSORS_MEDIA_TYPE } from "../../../shared/service/wire/index.js";
import type { Logger } from "../../../shared/telemetry/index.js";
import type { ClassifierLimits } from "./config.js";
import type { DecodedImageCache } from "./decoded-images.js";
import type { ClassifierMetrics } from "./metrics.js";
import { limitPerReal, realSet, shapeOf, syntheticSet } from "./sets.js";
import { checkCounts, networkOf, resolveHyperparameters, type TrainPlan } from "./train-spec.js";

/** An event of a training run: progress, then one result. */
export type TrainEvent =
  | { readonly progress: MessageInitShape<typeof ProgressSchema> }
  | { readonly result: MessageInitShape<typeof TrainResultSchema> };

/** What a training run depends on; its sessions open with the runtime settings chosen at boot. */
export interface TrainDeps extends RuntimeSettings {
  readonly limits: ClassifierLimits;
  readonly metrics: ClassifierMetrics;
  readonly logger: Logger;
  readonly limiter: Limiter;
  /** Open sessions kept across runs: training graphs by shape, the forward graph of the epoch-end accuracy. */
  readonly pool: RunnerPool;
  /** Decoded image lists kept across runs (every run of a job sends the same real images). */
  readonly decoded: DecodedImageCache;
}

/** File name of the checkpoint artifact. */
export const CHECKPOINT_NAME = "classifier.safetensors";

/** Most real images the epoch-end training accuracy is measured on. */
const ACCURACY_SAMPLE = 4096;

/** Epochs whose training accuracy is measured: about this many, evenly spaced, always the last. */
const ACCURACY_POINTS = 10;

/**
 * Whether epoch `epoch` (0-based) of `epochs` measures its training accuracy. A pass over the real set after
 * every epoch cost a third of a few-shot run (its forward pass is a third of the epoch's training step);
 * about ten points still show the curve, and the last epoch's is what results report.
 */
export function measuresAccuracy(epoch: number, epochs: number): boolean {
  if (epoch === epochs - 1 || epochs <= ACCURACY_POINTS) return true;
  const stride = epochs / ACCURACY_POINTS;
  return Math.floor((epoch + 1) / stride) !== Math.floor(epoch / stride);
}

function firstRows(set: ImageSet, n: number): ImageSet {
  if (set.labels.length <= n) return set;
  const size = set.channels * set.height * set.width;
  return { ...set, images: set.images.subarray(0, n * size), labels: set.labels.subarray(0, n) };
}

/**
 * Trains a classifier: decodes both sets to the run's shape, applies the utilization strategy, soft labels
 * and traditional augmentation, and streams progress after every step (with loss and ETA) and at every epoch
 * end, then the result with the checkpoint (safetensors, sha256) and per-epoch metrics. The epoch's training
 * accuracy is the top-1 of the epoch-end weights on the real training set (its first 4096 images). The
 * engine runs in worker threads (the shared/ml Trainer and runners); `signal` stops it after the current step.
 */
export async function* runTraining(
  plan: TrainPlan,
  real: readonly LabelledImage[],
  syntheticAll: readonly LabelledImage[],
  deps: TrainDeps,
  signal: AbortSignal,
): AsyncGenerator<TrainEvent> {
  const started = performance.now();
  const synthetic =
    plan.syntheticPerReal === undefined ? syntheticAll : limitPerReal(syntheticAll, plan.syntheticPerReal);
  checkCounts(plan, real.length, synthetic.length, deps.limits);
  const h = resolveHyperparameters(plan, real.length, synthetic.length, deps.limits);
  const log = deps.logger.child({ job_id: plan.jobId, rpc: "Train" });
  const mode = plan.utilization.kind;
  const work = await startWork(deps.limiter, deps.metrics.trainings, { utilization: mode }, signal);
  let failed: unknown;
  try {
    yield {
      progress: {
        stage: "decode",
        step: 0,
        totalSteps: real.length + synthetic.length,
        message: "decoding images",
      },
    };
    const phases = deps.metrics.phases;
    const { shape, realImages, syntheticImages } = await phases.time("decode", async () => {
      const shape = await shapeOf(real[0], "real_images[0]", plan.imageSize);
      return {
        shape,
        realImages: await realSet(real, plan.classNames, shape, deps.decoded),
        syntheticImages:
          synthetic.length > 0
            ? await syntheticSet(synthetic, plan.classNames, shape, real.length, plan.softLabelGamma)
            : undefined,
      };
    });
    signal.throwIfAborted();
    yield {
      progress: {
        stage: "decode",
        step: real.length + synthetic.length,
        totalSteps: real.length + synthetic.length,
        message: `${real.length} real, ${synthetic.length} synthetic at ${shape.channels}×${shape.size}×${shape.size}`,
      },
    };
    // The image size is known only now (the first real image's, when the spec sets none).
    const mismatch = backboneMismatch(plan.backbone, plan.architecture, shape.size);
    if (mismatch !== undefined) throw invalidField("spec.backbone", mismatch);
    const model = networkOf(plan, shape.channels, shape.size);
    const init =
      plan.backbone === SCRATCH_BACKBONE
        ? undefined
        : {
            parameters: backboneWeights(await loadBackbone(plan.backbone), model),
            lrScale: BACKBONE_RECIPE.lrScale,
          };
    const accuracySet = firstRows(realImages, ACCURACY_SAMPLE);
    const accuracies: number[] = [];
    let accuracySeconds = 0;
    const trainStarted = performance.now();
    const events = createEventChannel<TrainEvent>(
      (a, b) =>
        "progress" in a && "progress" in b && a.progress.stage === "train" && b.progress.stage === "train",
    );
    const training = trainClassifier({
      trainSet: realImages,
      synthetic: syntheticImages,
      utilization: plan.utilization,
      softLabels: plan.softLabelGamma === undefined ? undefined : { gamma: plan.softLabelGamma },
      model,
      init,
      augment: plan.augment,
      epochs: h.epochs,
      maxSteps: h.maxSteps,
      batchSize: h.batchSize,
      optimizer: h.optimizer,
      lr: h.learningRate,
      weightDecay: h.weightDecay,
      labelSmoothing: h.labelSmoothing,
      seed: h.seed,
      signal,
      pool: deps.pool,
      ...runtimeSettings(deps),
      onProgress: (p) => {
        deps.metrics.steps.inc();
        events.push({
          progress: {
            stage: "train",
            step: p.step,
            totalSteps: p.totalSteps,
            loss: p.loss,
            etaSeconds: p.etaSeconds,
            message: `epoch ${p.epoch + 1}/${h.epochs}`,
          },
        });
      },
      onEpoch: async (record, current) => {
        let message = `epoch ${record.epoch + 1}/${h.epochs}: loss ${record.loss.toFixed(4)}`;
        if (measuresAccuracy(record.epoch, h.epochs)) {
          const accuracyStarted = performance.now();
          const c = current();
          const evaluation = await evaluateClassifier(c.parameters, c.config, accuracySet, {
            signal,
            pool: deps.pool,
            ...runtimeSettings(deps),
            // One thread: the set is small, and the trainer's threads still spin between steps; two sessions
            // of two threads each on two cores made this pass 8× slower (0.56 s against 0.07 s for 50 images).
            threads: 1,
          });
          accuracies[record.epoch] = evaluation.top1;
          accuracySeconds += (performance.now() - accuracyStarted) / 1000;
          message += `, train top-1 ${evaluation.top1.toFixed(3)}`;
        }
        events.push({
          progress: {
            stage: "epoch",
            step: record.epoch + 1,
            totalSteps: h.epochs,
            loss: record.loss,
            message,
          },
        });
      },
    });
    training.then(
      () => events.close(),
      (error: unknown) => events.fail(error),
    );
    yield* events;
    const result = await training;
    phases.add("accuracy", accuracySeconds);
    phases.add("train", (performance.now() - trainStarted) / 1000 - accuracySeconds);
    const encodeStarted = performance.now();
    const checkpoint = encodeClassifier(result, {
      architecture: plan.architecture,
      backbone: plan.backbone,
      job_id: plan.jobId,
      utilization: mode,
      epochs: String(h.epochs),
      seed: String(h.seed),
    });
    phases.add("encode", (performance.now() - encodeStarted) / 1000);
    const seconds = (performance.now() - started) / 1000;
    log.info(
      {
        event: "train_done",
        steps: result.steps,
        batch_size: h.batchSize,
        images_seen: result.imagesSeen,
        seconds,
        utilization: mode,
        backbone: plan.backbone,
      },
      "training done",
    );
    yield {
      result: {
        checkpoint: makeArtifact(CHECKPOINT_NAME, SAFETENSORS_MEDIA_TYPE, checkpoint),
        hyperparameters: {
          epochs: h.epochs,
          batchSize: h.batchSize,
          learningRate: h.learningRate,
          seed: BigInt(h.seed),
          optimizer: h.optimizer === "adamw" ? Optimizer.ADAMW : Optimizer.SGD,
          weightDecay: h.weightDecay,
          labelSmoothing: h.labelSmoothing,
          mixAlpha: h.mixAlpha,
          mixProbability: h.mixProbability,
          maxSteps: h.maxSteps,
        },
        epochs: result.history.map((record) => ({
          epoch: record.epoch + 1,
          trainLoss: record.loss,
          trainAccuracy: accuracies[record.epoch] ?? Number.NaN,
          learningRate: record.lr,
          durationSeconds: record.seconds,
        })),
        parameterCount: BigInt(result.parameterCount),
        durationSeconds: seconds,
        cpuSeconds: work.cpuSeconds(),
        steps: BigInt(result.steps),
        imagesSeen: BigInt(result.imagesSeen),
        backbone: plan.backbone,
      },
    };
  } catch (error) {
    failed = error;
    throw error;
  } finally {
    work.finish(failed, signal);
  }
}
