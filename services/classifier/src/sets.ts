import {
  createImageSet,
  DEFAULT_IMAGE_LIMITS,
  type ImageSet,
  writeInterClassTarget,
  writeOneHot,
} from "../../../shared/data/index.js";
import type { LabelledImage } from "../../../shared/gen/diffda/common/v1/dataset_pb.js";
import { decodeImageData, intField, invalidField, numberField } from "../../../shared/service/wire/index.js";
import { DecodedImageCache } from "./decoded-images.js";

/** Channels and side every image of a run is decoded to. */
export interface SetShape {
  readonly channels: 1 | 3;
  readonly size: number;
}

const DECODE_CONCURRENCY = 32;

/** Decodes images in parallel (bounded), in order; through `cache` when given. */
function decodeAll(
  images: readonly LabelledImage[],
  field: string,
  shape: SetShape,
  cache?: DecodedImageCache,
): Promise<Float32Array> {
  if (cache === undefined) return decodeEach(images, field, shape);
  const key = DecodedImageCache.key(
    images.map(({ image: i }) => ({
      header: i ? `${i.format},${i.width},${i.height},${i.channels},${i.sha256}` : "",
      bytes: i?.data ?? new Uint8Array(),
    })),
    `${shape.channels}x${shape.size}`,
  );
  return cache.get(key, () => decodeEach(images, field, shape));
}

async function decodeEach(
  images: readonly LabelledImage[],
  field: string,
  shape: SetShape,
): Promise<Float32Array> {
  const plane = shape.channels * shape.size * shape.size;
  const out = new Float32Array(images.length * plane);
  for (let from = 0; from < images.length; from += DECODE_CONCURRENCY) {
    const slice = images.slice(from, from + DECODE_CONCURRENCY);
    const decoded = await Promise.all(
      slice.map((img, k) =>
        decodeImageData(img.image, `${field}[${from + k}].image`, {
          channels: shape.channels,
          height: shape.size,
          width: shape.size,
          limits: DEFAULT_IMAGE_LIMITS,
        }),
      ),
    );
    for (const [k, d] of decoded.entries()) out.set(d.data, (from + k) * plane);
  }
  return out;
}

/**
 * The shape of a run: the first real image's channels (1 for gray, else 3) and `imageSize`, or the first
 * real image's height when unset.
 */
export async function shapeOf(first: LabelledImage, field: string, imageSize?: number): Promise<SetShape> {
  const decoded = await decodeImageData(first.image, `${field}.image`);
  return { channels: decoded.channels === 1 ? 1 : 3, size: imageSize ?? decoded.height };
}

/** Checks every hard label against the class count, naming the image. */
function labels(images: readonly LabelledImage[], field: string, classCount: number): Int32Array {
  return Int32Array.from(images, (img, i) =>
    intField(img.label, `${field}[${i}].label`, { max: classCount - 1 }),
  );
}

/** The real set: image i must carry source_index i. */
export async function realSet(
  images: readonly LabelledImage[],
  classNames: readonly string[],
  shape: SetShape,
  cache?: DecodedImageCache,
): Promise<ImageSet> {
  const field = "real_images";
  images.forEach((img, i) => {
    if (img.sourceIndex !== i)
      throw invalidField(`${field}[${i}].source_index`, `must be ${i} (its position)`);
  });
  const labelled = labels(images, field, classNames.length);
  return createImageSet({
    channels: shape.channels,
    height: shape.size,
    width: shape.size,
    images: await decodeAll(images, field, shape, cache),
    labels: labelled,
    classNames,
  });
}

/**
 * The synthetic set with its provenance: source_index (checked against the real set), the inter-class
 * source label and strength, and soft labels. When any image carries an explicit `soft_label`, every row
 * gets a target: its own, else the Diff-Mix soft label (with `gamma`) for inter-class images, else one-hot.
 */
export async function syntheticSet(
  images: readonly LabelledImage[],
  classNames: readonly string[],
  shape: SetShape,
  realCount: number,
  gamma: number | undefined,
): Promise<ImageSet> {
  const field = "synthetic_images";
  const k = classNames.length;
  const labelled = labels(images, field, k);
  const sourceIndex = new Int32Array(images.length);
  const sourceLabels = new Int32Array(images.length).fill(-1);
  const strengths = new Float32Array(images.length).fill(Number.NaN);
  let explicit = false;
  images.forEach((img, i) => {
    const at = `${field}[${i}]`;
    sourceIndex[i] = intField(img.sourceIndex, `${at}.source_index`, { max: realCount - 1 });
    if (img.interClass) {
      sourceLabels[i] = intField(img.interClass.sourceLabel, `${at}.inter_class.source_label`, {
        max: k - 1,
      });
      strengths[i] = numberField(img.interClass.strength, `${at}.inter_class.strength`, { min: 0, max: 1 });
    }
    if (img.softLabel.length > 0) {
      explicit = true;
      if (img.softLabel.length !== k)
        throw invalidField(`${at}.soft_label`, `must hold ${k} values (one per class)`);
      let sum = 0;
      for (const v of img.softLabel) {
        if (!(v >= 0 && v <= 1)) throw invalidField(`${at}.soft_label`, "values must be in [0, 1]");
        sum += v;
      }
      if (Math.abs(sum - 1) > 1e-3) throw invalidField(`${at}.soft_label`, `must sum to 1, sums to ${sum}`);
    }
  });
  let softLabels: Float32Array | undefined;
  if (explicit) {
    softLabels = new Float32Array(images.length * k);
    images.forEach((img, i) => {
      if (img.softLabel.length > 0) softLabels?.set(img.softLabel, i * k);
      else if (gamma !== undefined && sourceLabels[i] >= 0) {
        writeInterClassTarget(
          sourceLabels[i],
          labelled[i],
          strengths[i],
          gamma,
          k,
          softLabels as Float32Array,
          i * k,
        );
      } else writeOneHot(labelled[i], k, softLabels as Float32Array, i * k);
    });
  }
  return createImageSet({
    channels: shape.channels,
    height: shape.size,
    width: shape.size,
    images: await decodeAll(images, field, shape),
    labels: labelled,
    classNames,
    sourceIndex,
    sourceLabels,
    strengths,
    softLabels,
  });
}

/** The first `perReal` synthetic images of each real image (by order in the set). */
export function limitPerReal(images: readonly LabelledImage[], perReal: number): LabelledImage[] {
  const seen = new Map<number, number>();
  return images.filter((img) => {
    const n = seen.get(img.sourceIndex) ?? 0;
    seen.set(img.sourceIndex, n + 1);
    return n < perReal;
  });
}

/** A test set: labels checked, images decoded to the classifier's input. */
export async function testSet(
  images: readonly LabelledImage[],
  field: string,
  classNames: readonly string[],
  shape: SetShape,
  cache?: DecodedImageCache,
): Promise<ImageSet> {
  return createImageSet({
    channels: shape.channels,
    height: shape.size,
    width: shape.size,
    images: await decodeAll(images, field, shape, cache),
    labels: labels(images, field, classNames.length),
    classNames,
  });
}
