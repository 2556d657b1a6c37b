import type { ImageSet } from "../data/index.js";
import { imageCount, imageSize } from "../data/index.js";
import { toModel } from "../ml/graph/index.js";
import { buildResNet, RESNET_INPUT, RESNET_OUTPUT, type ResNetConfig } from "../ml/models/resnet.js";
import { encodeModel, type Tensor } from "../ml/onnx/index.js";
import { leaseRunner, type RunnerPool, type RuntimeSettings, runtimeSettings } from "../ml/runtime/index.js";
import { checkParameters } from "./model.js";

/** Options of {@link evaluateClassifier}; its session opens with the runtime settings. */
export interface EvaluateOptions extends RuntimeSettings {
  /** Images per forward run (default 256); the last batch holds the remainder. */
  readonly batchSize?: number;
  /** Run onnxruntime in a worker thread so the event loop stays free (default true; unused with `pool`). */
  readonly worker?: boolean;
  /** Borrow the forward session from this pool instead of opening one for the call. */
  readonly pool?: RunnerPool;
  /** Stops between batches; the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** Test-set figures of a classifier. */
export interface Evaluation {
  /** Share of images whose arg-max class is their label. */
  readonly top1: number;
  /** Per class: share of its images predicted correctly (NaN for a class with no test image). */
  readonly perClassAccuracy: number[];
  /** confusionMatrix[true][predicted] = image count; rows sum to the class counts. */
  readonly confusionMatrix: number[][];
  /** Images evaluated. */
  readonly count: number;
  /** Predicted class per image, in set order. */
  readonly predictions: Int32Array;
  readonly seconds: number;
}

/** Arg-max of each row of a [n, k] logits block. */
function argmaxRows(logits: Float32Array, n: number, k: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[i * k + j] > logits[i * k + best]) best = j;
    out[i] = best;
  }
  return out;
}

/** Forward models by config: building and encoding one costs ~70 ms, and every run of a shape shares it. */
const forwardModels = new Map<string, Uint8Array>();

/**
 * The classifier's inference model with its weights as inputs and a symbolic batch: the same bytes for every
 * checkpoint of an architecture, so one open session (from a {@link RunnerPool}) serves them all.
 */
export function forwardModel(config: ResNetConfig): Uint8Array {
  const key = JSON.stringify(config);
  let bytes = forwardModels.get(key);
  if (bytes === undefined) {
    bytes = encodeModel(toModel(buildResNet(config).graph, { weightsAs: "inputs" }));
    forwardModels.set(key, bytes);
  }
  return bytes;
}

/**
 * The logits [n, numClasses] of `set` under a classifier, in fixed-size batches (and one smaller tail
 * batch); the next batch is sliced while the current one runs.
 */
export async function classifierLogits(
  parameters: Map<string, Tensor>,
  config: ResNetConfig,
  set: ImageSet,
  options: EvaluateOptions = {},
): Promise<Float32Array> {
  const k = config.numClasses;
  if (
    set.channels !== config.inChannels ||
    set.height !== config.imageSize ||
    set.width !== config.imageSize
  ) {
    throw new Error(
      `evaluate: images are ${set.channels}×${set.height}×${set.width}, the model takes ${config.inChannels}×${config.imageSize}×${config.imageSize}`,
    );
  }
  const batchSize = options.batchSize ?? 256;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`evaluate: bad batchSize ${batchSize}`);
  checkParameters(config, parameters);
  const n = imageCount(set);
  const size = imageSize(set);
  const logits = new Float32Array(n * k);
  if (n === 0) return logits;
  const weights = Object.fromEntries(parameters);
  const lease = await leaseRunner(forwardModel(config), runtimeSettings(options), options);
  let pending: Promise<Record<string, Tensor>> | undefined;
  let broken = false;
  try {
    const run = (from: number) => {
      const m = Math.min(batchSize, n - from);
      const images: Tensor = {
        dtype: 1,
        dims: [m, set.channels, set.height, set.width],
        data: set.images.slice(from * size, (from + m) * size),
      };
      // Only the sliced images move; the weights are copied, the caller keeps them.
      return lease.runner.run(
        { ...weights, [RESNET_INPUT]: images },
        { fetches: [RESNET_OUTPUT], transfer: [RESNET_INPUT] },
      );
    };
    pending = run(0);
    for (let from = 0; from < n; from += batchSize) {
      options.signal?.throwIfAborted();
      const current = pending as Promise<Record<string, Tensor>>;
      pending = from + batchSize < n ? run(from + batchSize) : undefined;
      const out = await current.catch((error: unknown) => {
        broken = true;
        throw error;
      });
      logits.set(out[RESNET_OUTPUT].data as Float32Array, from * k);
    }
  } finally {
    // An abort leaves the prefetched run in flight: wait it out so the runner goes back idle.
    await pending?.catch(() => {});
    await lease.release({ discard: broken });
  }
  return logits;
}

/** Runs the classifier over `testSet` and reports top-1, per-class accuracy and the confusion matrix. */
export async function evaluateClassifier(
  parameters: Map<string, Tensor>,
  config: ResNetConfig,
  testSet: ImageSet,
  options: EvaluateOptions = {},
): Promise<Evaluation> {
  const started = performance.now();
  const k = config.numClasses;
  if (testSet.classNames.length !== k) {
    throw new Error(`evaluate: the test set has ${testSet.classNames.length} classes, the model ${k}`);
  }
  const n = imageCount(testSet);
  const logits = await classifierLogits(parameters, config, testSet, options);
  const predictions = argmaxRows(logits, n, k);
  const confusionMatrix = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const label = testSet.labels[i];
    confusionMatrix[label][predictions[i]]++;
    if (predictions[i] === label) correct++;
  }
  const perClassAccuracy = confusionMatrix.map((row, c) => {
    const total = row.reduce((a, v) => a + v, 0);
    return total === 0 ? Number.NaN : row[c] / total;
  });
  return {
    top1: n === 0 ? Number.NaN : correct / n,
    perClassAccuracy,
    confusionMatrix,
    count: n,
    predictions,
    seconds: (performance.now() - started) / 1000,
  };
}
