import type { ImageSet } from "../data/index.js";
import { imageCount, imageSize } from "../data/index.js";
import { toModel, withParameters } from "../ml/graph/index.js";
import { buildResNet, RESNET_INPUT, RESNET_OUTPUT, type ResNetConfig } from "../ml/models/resnet.js";
import { encodeModel, type Tensor } from "../ml/onnx/index.js";
import {
  InProcessRunner,
  type Runner,
  type RuntimeSettings,
  runtimeSettings,
  WorkerRunner,
} from "../ml/runtime/index.js";
import { checkParameters } from "./model.js";

/** Options of {@link evaluateClassifier}; its session opens with the runtime settings. */
export interface EvaluateOptions extends RuntimeSettings {
  /** Images per forward run (default 256); the last batch holds the remainder. */
  readonly batchSize?: number;
  /** Run onnxruntime in a worker thread so the event loop stays free (default true). */
  readonly worker?: boolean;
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
function argmaxRows(logits: Float32Array, n: number, k: number, out: Int32Array, offset: number): void {
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[i * k + j] > logits[i * k + best]) best = j;
    out[offset + i] = best;
  }
}

/** The inference runner of a classifier: weights baked in as initializers, symbolic batch. */
export async function classifierRunner(
  parameters: Map<string, Tensor>,
  config: ResNetConfig,
  options: Pick<EvaluateOptions, "threads" | "executionProviders" | "worker"> = {},
): Promise<Runner> {
  checkParameters(config, parameters);
  const graph = withParameters(buildResNet(config).graph, parameters);
  const bytes = encodeModel(toModel(graph, { weightsAs: "initializers" }));
  const session = runtimeSettings(options);
  return (options.worker ?? true)
    ? WorkerRunner.create(bytes, session)
    : InProcessRunner.create(bytes, session);
}

/**
 * Runs the classifier over `testSet` in fixed-size batches (and one smaller tail batch) and reports top-1,
 * per-class accuracy and the confusion matrix. The next batch is sliced while the current one runs.
 */
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
  if (testSet.channels !== config.inChannels || testSet.height !== config.imageSize) {
    throw new Error(
      `evaluate: test images are ${testSet.channels}×${testSet.height}×${testSet.width}, the model takes ${config.inChannels}×${config.imageSize}×${config.imageSize}`,
    );
  }
  const batchSize = options.batchSize ?? 256;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`evaluate: bad batchSize ${batchSize}`);
  const n = imageCount(testSet);
  const size = imageSize(testSet);
  const predictions = new Int32Array(n);
  const runner = await classifierRunner(parameters, config, options);
  let pending: Promise<Record<string, Tensor>> | undefined;
  try {
    const run = (from: number) => {
      const m = Math.min(batchSize, n - from);
      const images: Tensor = {
        dtype: 1,
        dims: [m, testSet.channels, testSet.height, testSet.width],
        data: testSet.images.slice(from * size, (from + m) * size),
      };
      return runner.run({ [RESNET_INPUT]: images }, { fetches: [RESNET_OUTPUT], transfer: true });
    };
    pending = n > 0 ? run(0) : undefined;
    for (let from = 0; from < n; from += batchSize) {
      options.signal?.throwIfAborted();
      const current = pending as Promise<Record<string, Tensor>>;
      pending = from + batchSize < n ? run(from + batchSize) : undefined;
      const out = await current;
      argmaxRows(
        out[RESNET_OUTPUT].data as Float32Array,
        Math.min(batchSize, n - from),
        k,
        predictions,
        from,
      );
    }
  } finally {
    // An abort leaves the prefetched run in flight: its result (or failure) no longer matters.
    pending?.catch(() => {});
    await runner.release();
  }
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
