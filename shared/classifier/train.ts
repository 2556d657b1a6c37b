import { createHash } from "node:crypto";
import {
  type Batch,
  batchCount,
  batches,
  type ImageSet,
  imageCount,
  type UtilizationStrategy,
  utilizationEpoch,
} from "../data/index.js";
import type { Graph } from "../ml/graph/ir.js";
import {
  buildResNetTraining,
  RESNET_INPUT,
  RESNET_LOSS,
  RESNET_TARGETS,
  type ResNetConfig,
  resnetConfig,
} from "../ml/models/resnet.js";
import type { Tensor } from "../ml/onnx/index.js";
import { adamw, type Optimizer, type Schedule, sgd, warmupCosine } from "../ml/optim/index.js";
import { type RunnerPool, type RuntimeSettings, runtimeSettings, Trainer } from "../ml/runtime/index.js";
import { type AugmentPreset, type AugmentSpec, augmentSpec } from "./augment.js";
import { type EpochRecord, loadCheckpoint, saveCheckpoint, type TrainProgress } from "./checkpoint.js";
import type { Classifier } from "./model.js";
import { epochImages } from "./recipe.js";

/** One optimizer step, reported to `onProgress`. */
export interface ProgressEvent {
  /** 0-based epoch the step belongs to. */
  readonly epoch: number;
  /** 1-based global step. */
  readonly step: number;
  readonly totalSteps: number;
  readonly loss: number;
  readonly lr: number;
  /** Remaining seconds at this session's mean step time. */
  readonly etaSeconds: number;
}

/** Options of {@link trainClassifier}; its sessions open with the runtime settings. */
export interface TrainClassifierOptions extends RuntimeSettings {
  /** Real training images (labels index `classNames`). */
  readonly trainSet: ImageSet;
  /** Synthetic images for the utilization strategy (same shape and class list as `trainSet`). */
  readonly synthetic?: ImageSet;
  /** How real and synthetic images are combined each epoch (default real only). */
  readonly utilization?: UtilizationStrategy;
  /** Diff-Mix soft labels for inter-class synthetic images: target weight strength^γ (default off). */
  readonly softLabels?: { readonly gamma?: number };
  /**
   * Architecture overrides; `inChannels`, `numClasses` and `imageSize` default to the train set's, the rest
   * to {@link resnetConfig}'s defaults.
   */
  readonly model?: Partial<ResNetConfig>;
  /**
   * Start these parameters from the given weights (a pretrained backbone's, see backbone.ts) instead of
   * the seeded initialisation, and train them at `lrScale` × the learning rate (0 freezes them); the
   * other parameters (a new head) start from the seed and train at the full rate.
   */
  readonly init?: { readonly parameters: ReadonlyMap<string, Tensor>; readonly lrScale: number };
  /** A baseline preset or explicit per-image / batch-mixing options (default "none"). */
  readonly augment?: AugmentPreset | AugmentSpec;
  readonly epochs: number;
  /**
   * Stop after this many optimizer steps, part-way through an epoch if need be (a step budget shared by the
   * runs of a comparison); the schedule spans these steps. Default: every step of `epochs`.
   */
  readonly maxSteps?: number;
  /** Default 128. */
  readonly batchSize?: number;
  /**
   * Drop each epoch's last partial batch (default: when the epoch holds at least one full batch, so a
   * set smaller than one batch trains on all of it).
   */
  readonly dropLast?: boolean;
  /** Default "adamw". */
  readonly optimizer?: "sgd" | "adamw";
  /** SGD momentum (default 0.9). */
  readonly momentum?: number;
  readonly nesterov?: boolean;
  /** Peak learning rate (default 2e-3 for AdamW, 0.05 for SGD). */
  readonly lr?: number;
  /** Weight decay of conv and linear weights: decoupled for AdamW, L2 for SGD (default 5e-4 / 5e-4). */
  readonly weightDecay?: number;
  /** Linear warmup length in epochs (may be fractional; default 0). */
  readonly warmupEpochs?: number;
  /** Cosine decay to `minLr` over all steps after warmup (default true); false keeps the peak rate. */
  readonly cosine?: boolean;
  readonly minLr?: number;
  /** Label smoothing ε inside the loss (default 0; the paper's few-shot recipe uses 0.1). */
  readonly labelSmoothing?: number;
  /** Clip the global gradient norm. */
  readonly clipNorm?: number;
  /** Fixes initial weights, shuffling, augmentation and utilization draws: same seed, same loss curve. */
  readonly seed: number;
  /** Save a resumable checkpoint here after every epoch (and every `checkpointEverySteps`, and on abort). */
  readonly checkpointDir?: string;
  readonly checkpointEverySteps?: number;
  /** Continue from the checkpoint in `checkpointDir` when there is one (default false: start over). */
  readonly resume?: boolean;
  /** Stops after the current step (saving a checkpoint when `checkpointDir` is set) and rejects. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (event: ProgressEvent) => void;
  /** Called after each epoch with its record and the current weights (e.g. to evaluate). */
  readonly onEpoch?: (record: EpochRecord, current: () => Classifier) => void | Promise<void>;
  /** Run onnxruntime in a worker thread, building the next batch meanwhile (default true; unused with `pool`). */
  readonly worker?: boolean;
  /** Borrow the training session from this pool (a service keeps one open per shape across runs). */
  readonly pool?: RunnerPool;
}

/** A trained classifier with its training record. */
export interface TrainResult extends Classifier {
  readonly history: readonly EpochRecord[];
  /** Training wall seconds (over all sessions of a resumed run). */
  readonly seconds: number;
  readonly steps: number;
  /** Samples the run trained on: every epoch's batches, summed (a mixed pair counts once). */
  readonly imagesSeen: number;
  readonly parameterCount: number;
  /** Global step the run resumed from (0 when it started fresh). */
  readonly resumedFrom: number;
}

interface Recipe {
  readonly config: ResNetConfig;
  readonly spec: AugmentSpec;
  readonly batchSize: number;
  readonly dropLast: boolean;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly optimizer: "sgd" | "adamw";
  readonly lr: number;
  readonly weightDecay: number;
  readonly momentum: number;
  readonly warmupSteps: number;
  readonly cosine: boolean;
  readonly minLr: number;
  readonly labelSmoothing: number;
}

function epochCount(o: TrainClassifierOptions): number {
  const synthetic = o.synthetic === undefined ? 0 : imageCount(o.synthetic);
  return epochImages(o.utilization?.kind ?? "real", imageCount(o.trainSet), synthetic);
}

/** Samples of one epoch's batches: its full batches, or every image when the last batch is kept. */
function imagesPerEpoch(r: Recipe, o: TrainClassifierOptions): number {
  return r.dropLast ? r.stepsPerEpoch * r.batchSize : epochCount(o);
}

/** Samples of the first `steps` steps: whole epochs, then the full batches of a part-way last one. */
function imagesSeenOf(r: Recipe, o: TrainClassifierOptions, steps: number): number {
  const epochs = Math.floor(steps / r.stepsPerEpoch);
  return epochs * imagesPerEpoch(r, o) + (steps - epochs * r.stepsPerEpoch) * r.batchSize;
}

function recipeOf(o: TrainClassifierOptions): Recipe {
  const set = o.trainSet;
  if (set.height !== set.width)
    throw new Error(`trainClassifier: images must be square, got ${set.height}×${set.width}`);
  const config = resnetConfig({
    inChannels: set.channels,
    numClasses: set.classNames.length,
    imageSize: set.height,
    ...o.model,
  });
  if (config.inChannels !== set.channels || config.imageSize !== set.height) {
    throw new Error(
      `trainClassifier: the model takes ${config.inChannels}×${config.imageSize} px, the images are ${set.channels}×${set.height}`,
    );
  }
  if (config.numClasses !== set.classNames.length) {
    throw new Error(`trainClassifier: ${config.numClasses} outputs for ${set.classNames.length} classes`);
  }
  if (!Number.isInteger(o.epochs) || o.epochs < 1) throw new Error(`trainClassifier: bad epochs ${o.epochs}`);
  if (o.maxSteps !== undefined && !(Number.isInteger(o.maxSteps) && o.maxSteps >= 1))
    throw new Error(`trainClassifier: bad maxSteps ${o.maxSteps}`);
  const batchSize = o.batchSize ?? 128;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error(`trainClassifier: bad batchSize ${batchSize}`);
  const count = epochCount(o);
  if (count === 0) throw new Error("trainClassifier: no training images");
  const dropLast = o.dropLast ?? count >= batchSize;
  const stepsPerEpoch = batchCount(count, batchSize, dropLast);
  if (stepsPerEpoch === 0) throw new Error(`trainClassifier: ${count} images make no batch of ${batchSize}`);
  const optimizer = o.optimizer ?? "adamw";
  const labelSmoothing = o.labelSmoothing ?? 0;
  if (!(labelSmoothing >= 0 && labelSmoothing < 1))
    throw new Error(`trainClassifier: bad labelSmoothing ${labelSmoothing}`);
  return {
    config,
    spec: augmentSpec(o.augment ?? "none"),
    batchSize,
    dropLast,
    stepsPerEpoch,
    totalSteps: Math.min(stepsPerEpoch * o.epochs, o.maxSteps ?? Number.POSITIVE_INFINITY),
    optimizer,
    lr: o.lr ?? (optimizer === "adamw" ? 2e-3 : 0.05),
    weightDecay: o.weightDecay ?? 5e-4,
    momentum: o.momentum ?? 0.9,
    warmupSteps: Math.round((o.warmupEpochs ?? 0) * stepsPerEpoch),
    cosine: o.cosine ?? true,
    minLr: o.minLr ?? 0,
    labelSmoothing,
  };
}

function scheduleOf(r: Recipe): Schedule {
  if (r.cosine) return warmupCosine({ peak: r.lr, warmup: r.warmupSteps, total: r.totalSteps, min: r.minLr });
  return (step) => (step <= r.warmupSteps ? (r.lr * step) / Math.max(1, r.warmupSteps) : r.lr);
}

function optimizerOf(r: Recipe, o: TrainClassifierOptions): Optimizer {
  return r.optimizer === "adamw"
    ? adamw({ weightDecay: r.weightDecay })
    : sgd({ momentum: r.momentum, weightDecay: r.weightDecay, nesterov: o.nesterov ?? false });
}

/** A hash of everything that fixes the run, so a checkpoint is only resumed by the same run. */
function fingerprintOf(r: Recipe, o: TrainClassifierOptions): string {
  const h = createHash("sha256");
  const add = (set: ImageSet | undefined) => {
    if (set === undefined) return void h.update("none");
    h.update(`${set.channels}x${set.height}x${set.width}|${set.classNames.join(",")}`);
    for (const col of [
      set.images,
      set.labels,
      set.softLabels,
      set.sourceIndex,
      set.sourceLabels,
      set.strengths,
    ]) {
      h.update(col === undefined ? "-" : new Uint8Array(col.buffer, col.byteOffset, col.byteLength));
    }
  };
  add(o.trainSet);
  add(o.synthetic);
  if (o.init !== undefined) {
    h.update(`init×${o.init.lrScale}`);
    for (const [name, t] of [...o.init.parameters].sort(([a], [b]) => (a < b ? -1 : 1))) {
      h.update(name);
      h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
  }
  h.update(
    JSON.stringify({
      ...r,
      epochs: o.epochs,
      seed: o.seed,
      utilization: o.utilization ?? { kind: "real" },
      softLabels: o.softLabels ?? null,
      nesterov: o.nesterov ?? false,
      clipNorm: o.clipNorm ?? null,
    }),
  );
  return h.digest("hex");
}

/** Replaces the seeded initial values of `graph`'s parameters by `parameters` (same names, types and shapes). */
function startFrom(graph: Graph, parameters: ReadonlyMap<string, Tensor>): void {
  for (const [name, t] of parameters) {
    const had = graph.initializers.get(name);
    if (!graph.params.has(name) || had === undefined)
      throw new Error(`trainClassifier: init names ${name}, not a parameter of the network`);
    if (had.dtype !== t.dtype || had.dims.join() !== t.dims.join())
      throw new Error(`trainClassifier: init ${name} is [${t.dims}], the network's is [${had.dims}]`);
    graph.initializers.set(name, t);
  }
}

function feedsOf(batch: Batch, config: ResNetConfig): Record<string, Tensor> {
  const s = config.imageSize;
  return {
    [RESNET_INPUT]: { dtype: 1, dims: [batch.size, config.inChannels, s, s], data: batch.images },
    [RESNET_TARGETS]: { dtype: 1, dims: [batch.size, config.numClasses], data: batch.targets },
  };
}

/**
 * Trains a ResNet classifier on a real set (plus synthetic images under a utilization strategy) with the
 * engine's in-graph autodiff and optimizer. Deterministic in `seed`; with `checkpointDir` the run can stop
 * at any step (abort or crash) and `resume` continues it exactly where the checkpoint left it.
 */
export async function trainClassifier(o: TrainClassifierOptions): Promise<TrainResult> {
  const r = recipeOf(o);
  const fingerprint = o.checkpointDir ? fingerprintOf(r, o) : "";
  const built = buildResNetTraining(r.config, { seed: o.seed, labelSmoothing: r.labelSmoothing });
  if (o.init !== undefined) startFrom(built.graph, o.init.parameters);
  const initScale = o.init?.lrScale;
  const trainer = await Trainer.create({
    graph: built.graph,
    loss: RESNET_LOSS,
    trainable: [...built.graph.params],
    lrScale:
      initScale === undefined || initScale === 1
        ? undefined
        : (name) => (o.init?.parameters.has(name) ? initScale : 1),
    optimizer: optimizerOf(r, o),
    schedule: scheduleOf(r),
    clipNorm: o.clipNorm,
    worker: o.worker ?? true,
    pool: o.pool,
    session: runtimeSettings(o),
  });
  try {
    let progress: TrainProgress = {
      fingerprint,
      epoch: 0,
      batch: 0,
      epochLoss: 0,
      epochSeconds: 0,
      history: [],
      seconds: 0,
    };
    if (o.checkpointDir && o.resume) {
      progress = (await loadCheckpoint(o.checkpointDir, trainer, fingerprint)) ?? progress;
    }
    const resumedFrom = trainer.step;
    const sessionStart = performance.now();
    let pausedMs = 0;
    /** Training seconds of this session (time in `onEpoch` excluded). */
    const clock = () => (performance.now() - sessionStart - pausedMs) / 1000;
    const baseSeconds = progress.seconds;
    const save = async () => {
      if (o.checkpointDir) await saveCheckpoint(o.checkpointDir, trainer, progress);
    };
    const utilization = {
      strategy: o.utilization ?? ({ kind: "real" } as const),
      seed: o.seed,
      softLabels: o.softLabels,
    };

    for (let epoch = progress.epoch; epoch < o.epochs && trainer.step < r.totalSteps; epoch++) {
      const plan = utilizationEpoch(o.trainSet, o.synthetic, utilization, epoch);
      const iter = batches(plan, {
        batchSize: r.batchSize,
        seed: o.seed,
        epoch,
        dropLast: r.dropLast,
        augment: r.spec.augment,
        mix: r.spec.mix,
      });
      // Skip the batches a resumed epoch already trained on (they are a function of seed and epoch).
      for (let i = 0; i < progress.batch; i++) iter.next();
      let lr = 0;
      let epochLoss = progress.epochLoss;
      const epochStart = clock() - progress.epochSeconds;
      let next = iter.next();
      // A step budget may end the last epoch part-way.
      const stop = () => next.done || trainer.step >= r.totalSteps;
      let b = progress.batch;
      for (; !stop(); b++) {
        const pending = trainer.trainStep(feedsOf(next.value, r.config));
        next = iter.next(); // built while onnxruntime computes in its worker
        const step = await pending;
        epochLoss += step.loss;
        lr = step.lr;
        const elapsed = clock();
        progress = {
          ...progress,
          epoch,
          batch: b + 1,
          epochLoss,
          epochSeconds: elapsed - epochStart,
          seconds: baseSeconds + elapsed,
        };
        o.onProgress?.({
          epoch,
          step: step.step,
          totalSteps: r.totalSteps,
          loss: step.loss,
          lr: step.lr,
          etaSeconds: (elapsed / (step.step - resumedFrom)) * (r.totalSteps - step.step),
        });
        if (o.signal?.aborted) {
          await save();
          o.signal.throwIfAborted();
        }
        if (o.checkpointEverySteps && step.step % o.checkpointEverySteps === 0 && !stop()) await save();
      }
      const record: EpochRecord = {
        epoch,
        loss: epochLoss / Math.max(1, b),
        lr,
        seconds: clock() - epochStart,
        replaced: plan.replaced,
      };
      progress = {
        ...progress,
        epoch: epoch + 1,
        batch: 0,
        epochLoss: 0,
        epochSeconds: 0,
        history: [...progress.history, record],
        seconds: baseSeconds + clock(),
      };
      await save();
      if (o.onEpoch) {
        const paused = performance.now();
        await o.onEpoch(record, () => ({
          config: r.config,
          parameters: trainer.modelParameters(),
          classNames: o.trainSet.classNames,
        }));
        pausedMs += performance.now() - paused;
      }
      o.signal?.throwIfAborted();
    }
    return {
      config: r.config,
      parameters: trainer.modelParameters(),
      classNames: [...o.trainSet.classNames],
      history: progress.history,
      seconds: progress.seconds,
      steps: trainer.step,
      imagesSeen: imagesSeenOf(r, o, trainer.step),
      parameterCount: built.parameterCount,
      resumedFrom,
    };
  } finally {
    await trainer.release();
  }
}
