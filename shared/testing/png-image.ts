import { encodePng } from "../data/index.js";
import { testImage } from "../diffusion/testing/fixtures.js";
import { ImageFormat } from "../gen/diffda/common/v1/image_pb.js";
import { sha256Hex } from "../service/wire/index.js";

/** A smooth 3-channel test image as PNG ImageData (init shape) with its sha256. */
export async function pngTestImage(size: number, seed: number, channels: 1 | 3 = 3) {
  const image = testImage(size, seed, channels);
  const data = await encodePng(image.data, image);
  return { format: ImageFormat.PNG, data, width: size, height: size, channels, sha256: sha256Hex(data) };
}
