/** An image as planar float32 CHW data, values in [0, 1]. */
export interface ChwImage {
  readonly data: Float32Array;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/** Throws unless the images have the same shape and data of the declared size. */
export function checkSameShape(a: ChwImage, b: ChwImage): void {
  for (const image of [a, b]) {
    if (image.data.length !== image.channels * image.height * image.width) {
      throw new RangeError(
        `image data holds ${image.data.length} values, ${image.channels}×${image.height}×${image.width} needs ${image.channels * image.height * image.width}`,
      );
    }
  }
  if (a.channels !== b.channels || a.height !== b.height || a.width !== b.width) {
    throw new RangeError(
      `images differ in shape: ${a.channels}×${a.height}×${a.width} vs ${b.channels}×${b.height}×${b.width}`,
    );
  }
}
