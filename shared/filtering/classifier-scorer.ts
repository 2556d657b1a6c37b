/**
 * The "classifier" scorer: how confident a classifier trained on the real images alone is that a synthetic
 * image shows its intended class, the softmax probability of that class. For an inter-class (Diff-Mix)
 * sample the intended class is the soft label's target, the label it is stored under; the source class
 * keeps 1 − s^γ of the target mass by design, so its probability is no sign of a failed sample.
 */
import { classifierLogits, type EvaluateOptions } from "../classifier/evaluate.js";
import type { Classifier } from "../classifier/model.js";
import type { ImageSet } from "../data/index.js";

/** Softmax probability of each row's label in a [n, classCount] logits block (max-shifted: no overflow). */
export function labelProbabilities(
  logits: Float32Array,
  labels: ArrayLike<number>,
  classCount: number,
): Float32Array {
  const n = labels.length;
  if (logits.length !== n * classCount)
    throw new RangeError(`${logits.length} logits do not make ${n} rows of ${classCount}`);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const row = logits.subarray(i * classCount, (i + 1) * classCount);
    let max = row[0];
    for (let k = 1; k < classCount; k++) if (row[k] > max) max = row[k];
    let sum = 0;
    for (let k = 0; k < classCount; k++) sum += Math.exp(row[k] - max);
    out[i] = Math.exp(row[labels[i]] - max) / sum;
  }
  return out;
}

/** Scores every image of `set` (labels = intended classes) with `classifier`. */
export async function classifierScores(
  classifier: Classifier,
  set: ImageSet,
  options: EvaluateOptions = {},
): Promise<Float32Array> {
  const logits = await classifierLogits(classifier.parameters, classifier.config, set, options);
  return labelProbabilities(logits, set.labels, classifier.config.numClasses);
}
