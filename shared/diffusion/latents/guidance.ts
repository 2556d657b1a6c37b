function check(...arrays: Float32Array[]): number {
  const length = arrays[0].length;
  for (const array of arrays) {
    if (array.length !== length)
      throw new RangeError(`guidance inputs differ in length: ${array.length} vs ${length}`);
  }
  return length;
}

function chunks(prediction: Float32Array, count: number): Float32Array[] {
  if (prediction.length % count !== 0) {
    throw new RangeError(`a batch of ${prediction.length} values does not split into ${count} equal chunks`);
  }
  const size = prediction.length / count;
  return Array.from({ length: count }, (_, k) => prediction.subarray(k * size, (k + 1) * size));
}

/** Classifier-free guidance: ε = ε_uncond + s·(ε_cond − ε_uncond). Scale 1 gives ε_cond, 0 gives ε_uncond. */
export function classifierFreeGuidance(
  uncond: Float32Array,
  cond: Float32Array,
  scale: number,
): Float32Array {
  const length = check(uncond, cond);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = uncond[i] + scale * (cond[i] - uncond[i]);
  return out;
}

/**
 * Classifier-free guidance on a model output for the batch `[uncond; cond]` (diffusers' `noise_pred.chunk(2)`
 * order: the unconditional half first).
 */
export function classifierFreeGuidanceFromBatch(prediction: Float32Array, scale: number): Float32Array {
  const [uncond, cond] = chunks(prediction, 2);
  return classifierFreeGuidance(uncond, cond, scale);
}

/**
 * InstructPix2Pix three-way guidance (diffusers `StableDiffusionInstructPix2PixPipeline`):
 * ε = ε_uncond + s_T·(ε_text − ε_image) + s_I·(ε_image − ε_uncond), where ε_text is conditioned on text and
 * image, ε_image on the image only, ε_uncond on neither. s_T = s_I = 1 gives ε_text.
 */
export function instructPix2PixGuidance(
  text: Float32Array,
  image: Float32Array,
  uncond: Float32Array,
  guidanceScale: number,
  imageGuidanceScale: number,
): Float32Array {
  const length = check(text, image, uncond);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    out[i] = uncond[i] + guidanceScale * (text[i] - image[i]) + imageGuidanceScale * (image[i] - uncond[i]);
  }
  return out;
}

/** Three-way guidance on a model output for the batch `[text; image; uncond]` (diffusers' `chunk(3)` order). */
export function instructPix2PixGuidanceFromBatch(
  prediction: Float32Array,
  guidanceScale: number,
  imageGuidanceScale: number,
): Float32Array {
  const [text, image, uncond] = chunks(prediction, 3);
  return instructPix2PixGuidance(text, image, uncond, guidanceScale, imageGuidanceScale);
}
