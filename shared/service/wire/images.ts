import { create } from "@bufbuild/protobuf";
import {
  DEFAULT_IMAGE_LIMITS,
  type DecodedImage,
  decodeImage,
  encodePng,
  hwcToChw,
  type ImageLimits,
  isDataError,
  resizeChw,
} from "../../data/index.js";
import { type ImageData, ImageDataSchema, ImageFormat } from "../../gen/diffda/common/v1/image_pb.js";
import { RpcError } from "../../rpc/index.js";
import { invalidField } from "./fields.js";
import { SHA256_HEX, sha256Hex } from "./hash.js";

/** How a received image is turned into pixels. */
export interface ImageDecodeOptions {
  /** Output channels (gray ↔ RGB converted); default: the image's own (1 for gray, else 3). */
  readonly channels?: 1 | 3;
  /** Resize to this square-or-not size (both or neither); default: the image's own size. */
  readonly height?: number;
  readonly width?: number;
  /** Size, pixel-count and format limits applied before any pixel is decoded. */
  readonly limits?: ImageLimits;
}

/**
 * Checks an ImageData's sha256 (when set) against its bytes: a malformed value is `invalid_field`, a
 * mismatch `checksum_mismatch` (DATA_LOSS), both naming `${field}.sha256`.
 */
export function verifySha256(bytes: Uint8Array, sha256: string, field: string): void {
  if (sha256 === "") return;
  if (!SHA256_HEX.test(sha256)) throw invalidField(field, "must be 64 lowercase hex characters");
  if (sha256Hex(bytes) !== sha256) {
    throw new RpcError("checksum_mismatch", `${field}: the sha256 does not match the bytes`, {
      details: { field },
    });
  }
}

function invalidImage(field: string, message: string): RpcError {
  return new RpcError("invalid_image", `${field}: ${message}`, { details: { field } });
}

function rawPixels(image: ImageData, field: string, limits: ImageLimits): DecodedImage {
  const { width, height, channels, data } = image;
  if (width < 1) throw invalidField(`${field}.width`, "is required for RAW_U8");
  if (height < 1) throw invalidField(`${field}.height`, "is required for RAW_U8");
  if (![1, 3, 4].includes(channels)) throw invalidField(`${field}.channels`, "must be 1, 3 or 4 for RAW_U8");
  if (width > limits.maxSide || height > limits.maxSide || width * height > limits.maxPixels) {
    throw invalidImage(field, `${width}×${height} pixels is over the limit of ${limits.maxPixels}`);
  }
  if (data.length !== width * height * channels) {
    throw invalidImage(field, `RAW_U8 needs ${width}×${height}×${channels} bytes, got ${data.length}`);
  }
  const chw = hwcToChw(data, channels, height, width);
  if (channels !== 4) return { data: chw, channels, height, width };
  // Transparent pixels become black, as decodeImage flattens onto its default background.
  const plane = width * height;
  const rgb = chw.subarray(0, 3 * plane).slice();
  for (let c = 0; c < 3; c++) for (let p = 0; p < plane; p++) rgb[c * plane + p] *= chw[3 * plane + p];
  return { data: rgb, channels: 3, height, width };
}

/** The image with `channels` channels (gray repeated to RGB, RGB to luma); unchanged when undefined or equal. */
export function withChannels(image: DecodedImage, channels: 1 | 3 | undefined): DecodedImage {
  if (channels === undefined || image.channels === channels) return image;
  const plane = image.height * image.width;
  if (channels === 3) {
    const data = new Float32Array(3 * plane);
    for (let c = 0; c < 3; c++) data.set(image.data.subarray(0, plane), c * plane);
    return { ...image, data, channels: 3 };
  }
  const data = new Float32Array(plane);
  const d = image.data;
  for (let p = 0; p < plane; p++) data[p] = 0.299 * d[p] + 0.587 * d[plane + p] + 0.114 * d[2 * plane + p];
  return { ...image, data, channels: 1 };
}

/**
 * Decodes a received ImageData to float CHW in [0, 1]: the checksum first (when set), then the format
 * (PNG and JPEG by their signature, RAW_U8 by its declared shape) under `limits`, the declared size
 * checked against the decoded one, then channel conversion and resizing. Errors name `field`:
 * `invalid_field` for a missing or inconsistent field, `invalid_image` for bytes that do not decode or
 * break the limits, `checksum_mismatch` for a wrong sha256.
 */
export async function decodeImageData(
  image: ImageData | undefined,
  field: string,
  options: ImageDecodeOptions = {},
): Promise<DecodedImage> {
  if (!image) throw invalidField(field, "is required");
  const limits = options.limits ?? DEFAULT_IMAGE_LIMITS;
  if (image.data.length === 0) throw invalidField(`${field}.data`, "must not be empty");
  if (image.data.length > limits.maxFileBytes) {
    throw invalidImage(field, `${image.data.length} bytes is over the limit of ${limits.maxFileBytes}`);
  }
  verifySha256(image.data, image.sha256, `${field}.sha256`);
  let decoded: DecodedImage;
  switch (image.format) {
    case ImageFormat.RAW_U8:
      decoded = rawPixels(image, field, limits);
      break;
    case ImageFormat.PNG:
    case ImageFormat.JPEG: {
      const format = image.format === ImageFormat.PNG ? "png" : "jpeg";
      try {
        decoded = await decodeImage(image.data, { limits: { ...limits, formats: [format] }, name: field });
      } catch (error) {
        if (isDataError(error)) throw invalidImage(field, error.message);
        throw error;
      }
      if (image.width !== 0 && image.width !== decoded.width) {
        throw invalidField(`${field}.width`, `says ${image.width}, the image is ${decoded.width} wide`);
      }
      if (image.height !== 0 && image.height !== decoded.height) {
        throw invalidField(`${field}.height`, `says ${image.height}, the image is ${decoded.height} high`);
      }
      break;
    }
    default:
      throw invalidField(
        `${field}.format`,
        image.format === ImageFormat.UNSPECIFIED ? "must be set" : "is unknown",
      );
  }
  decoded = withChannels(decoded, options.channels);
  const { height, width } = options;
  if (height !== undefined && width !== undefined && (height !== decoded.height || width !== decoded.width)) {
    const data = resizeChw(decoded.data, decoded, height, width);
    decoded = { data, channels: decoded.channels, height, width };
  }
  return decoded;
}

/** A float CHW image in [0, 1] as a PNG ImageData with its size and sha256 (what services return). */
export async function pngImageData(image: DecodedImage): Promise<ImageData> {
  const data = await encodePng(image.data, image);
  return pngBytesImageData(data, image);
}

/** PNG bytes already encoded, as an ImageData with their sha256. */
export function pngBytesImageData(
  data: Uint8Array,
  shape: { channels: number; height: number; width: number },
  sha256 = sha256Hex(data),
): ImageData {
  return create(ImageDataSchema, {
    format: ImageFormat.PNG,
    data,
    width: shape.width,
    height: shape.height,
    channels: shape.channels,
    sha256,
  });
}
