import sharp, { type Metadata, type OutputInfo, type SharpOptions } from "sharp";
import { DataError } from "./errors.js";

/** Image formats diffda accepts from users. */
export const IMAGE_FORMATS = ["png", "jpeg", "webp"] as const;
/** One of {@link IMAGE_FORMATS}. */
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** Limits applied to every user image before its pixels are decoded. */
export interface ImageLimits {
  /** Largest encoded file, bytes. */
  readonly maxFileBytes: number;
  /** Largest declared width × height (frames beyond the first are never decoded). */
  readonly maxPixels: number;
  /** Largest declared width or height. */
  readonly maxSide: number;
  /** Formats accepted, recognised by their magic bytes. */
  readonly formats: readonly ImageFormat[];
}

/** Defaults sized for classification uploads: a 16-megapixel photo passes, a decompression bomb does not. */
export const DEFAULT_IMAGE_LIMITS: ImageLimits = {
  maxFileBytes: 16 * 1024 * 1024,
  maxPixels: 4096 * 4096,
  maxSide: 16_384,
  formats: IMAGE_FORMATS,
};

/**
 * The format the bytes claim by their signature (never by a file name): PNG, JPEG (SOI + marker) or WebP
 * (RIFF…WEBP). `undefined` for anything else.
 */
export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  const at = (i: number) => bytes[i];
  if (
    bytes.length >= 8 &&
    at(0) === 0x89 &&
    at(1) === 0x50 &&
    at(2) === 0x4e &&
    at(3) === 0x47 &&
    at(4) === 0x0d &&
    at(5) === 0x0a &&
    at(6) === 0x1a &&
    at(7) === 0x0a
  ) {
    return "png";
  }
  if (bytes.length >= 3 && at(0) === 0xff && at(1) === 0xd8 && at(2) === 0xff) return "jpeg";
  const ascii = (from: number, to: number) => Buffer.from(bytes.subarray(from, to)).toString("latin1");
  if (bytes.length >= 12 && ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") return "webp";
  return undefined;
}

/** What {@link inspectImage} learns from the header alone. */
export interface ImageHeader {
  readonly format: ImageFormat;
  readonly width: number;
  readonly height: number;
  /** Channels as stored (including alpha). */
  readonly channels: number;
  readonly hasAlpha: boolean;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The sharp input options every user image is opened with: first frame only, pixel cap enforced by libvips. */
function inputOptions(limits: ImageLimits): SharpOptions {
  return { limitInputPixels: limits.maxPixels, failOn: "error", pages: 1, page: 0 };
}

/**
 * Checks an encoded image against `limits` reading only its header: size, signature, declared dimensions.
 * Throws {@link DataError} (`file_too_large`, `unsupported_format`, `corrupt_image`, `image_too_large`).
 * `name` only labels the error.
 */
export async function inspectImage(
  bytes: Uint8Array,
  limits: ImageLimits = DEFAULT_IMAGE_LIMITS,
  name = "image",
): Promise<ImageHeader> {
  if (bytes.length > limits.maxFileBytes) {
    throw new DataError(
      "file_too_large",
      `${name} is ${bytes.length} bytes, more than ${limits.maxFileBytes}`,
      {
        name,
        bytes: bytes.length,
        limit: limits.maxFileBytes,
      },
    );
  }
  const format = sniffFormat(bytes);
  if (format === undefined || !limits.formats.includes(format)) {
    throw new DataError(
      "unsupported_format",
      `${name} is not ${limits.formats.map((f) => f.toUpperCase()).join(", ")} (by its signature)`,
      { name, ...(format === undefined ? {} : { format }) },
    );
  }
  let metadata: Metadata;
  try {
    // Header only: no pixel limit here, so an oversized image gets our precise `image_too_large` below.
    metadata = await sharp(toBuffer(bytes), { ...inputOptions(limits), limitInputPixels: false }).metadata();
  } catch (error) {
    throw new DataError("corrupt_image", `${name}: cannot read the image header`, { name }, { cause: error });
  }
  const { width, height } = metadata;
  if (metadata.format !== format || width === undefined || height === undefined || width < 1 || height < 1) {
    throw new DataError("corrupt_image", `${name}: the header does not describe a ${format} image`, { name });
  }
  if (width > limits.maxSide || height > limits.maxSide || width * height > limits.maxPixels) {
    throw new DataError(
      "image_too_large",
      `${name} declares ${width}×${height} pixels; the limit is ${limits.maxPixels} pixels and ${limits.maxSide} per side`,
      { name, width, height, limit: limits.maxPixels },
    );
  }
  return { format, width, height, channels: metadata.channels ?? 3, hasAlpha: metadata.hasAlpha === true };
}

/** How an image is fitted to a target size: `cover` crops the centre, `contain` letterboxes, `fill` stretches. */
export type Fit = "cover" | "contain" | "fill";

/** Options of {@link decodeImage}. */
export interface DecodeOptions {
  /**
   * Output channels: 1 (BT.601 luma of the sRGB pixels, as {@link toGrayscale} and PIL compute it, not
   * libvips' L*-based gray) or 3 (sRGB). Default: 1 for grayscale sources, else 3.
   */
  readonly channels?: 1 | 3;
  /** Target size; both or neither. Default: the image's own size. */
  readonly height?: number;
  readonly width?: number;
  /** Default `cover`. */
  readonly fit?: Fit;
  /** Colour that transparency and `contain` borders become, 0–255 gray. Default 0 (black, as in MNIST). */
  readonly background?: number;
  readonly limits?: ImageLimits;
  /** Labels errors (an entry name); never a server path. */
  readonly name?: string;
}

/** A decoded image: float CHW in [0, 1]. */
export interface DecodedImage {
  readonly data: Float32Array;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/**
 * Decodes PNG/JPEG/WebP bytes to float CHW in [0, 1], applying EXIF orientation, flattening alpha onto
 * `background`, converting to the asked channels and resizing. The header is checked against the limits
 * first ({@link inspectImage}), so an oversized image is rejected before any pixel buffer is allocated.
 */
export async function decodeImage(bytes: Uint8Array, options: DecodeOptions = {}): Promise<DecodedImage> {
  const limits = options.limits ?? DEFAULT_IMAGE_LIMITS;
  const name = options.name ?? "image";
  const header = await inspectImage(bytes, limits, name);
  if ((options.height === undefined) !== (options.width === undefined)) {
    throw new DataError("invalid_argument", "give both height and width, or neither");
  }
  const channels = options.channels ?? (header.channels <= 2 ? 1 : 3);
  const gray = options.background ?? 0;
  let pipeline = sharp(toBuffer(bytes), inputOptions(limits))
    .autoOrient()
    .flatten({ background: { r: gray, g: gray, b: gray } });
  if (options.height !== undefined && options.width !== undefined) {
    pipeline = pipeline.resize(options.width, options.height, {
      fit: options.fit ?? "cover",
      background: { r: gray, g: gray, b: gray, alpha: 1 },
    });
  }
  pipeline = pipeline.toColourspace("srgb");
  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await pipeline.raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new DataError("corrupt_image", `${name}: cannot decode the pixels`, { name }, { cause: error });
  }
  const { width, height, channels: got } = raw.info;
  if (got !== 3)
    throw new DataError("corrupt_image", `${name}: decoded to ${got} channels, expected 3`, { name });
  const rgb = hwcToChw(raw.data, 3, height, width);
  return { data: channels === 1 ? lumaPlane(rgb, height * width) : rgb, channels, height, width };
}

/** BT.601 luma of a planar RGB image. */
function lumaPlane(rgb: Float32Array, plane: number): Float32Array {
  const out = new Float32Array(plane);
  for (let p = 0; p < plane; p++)
    out[p] = 0.299 * rgb[p] + 0.587 * rgb[plane + p] + 0.114 * rgb[2 * plane + p];
  return out;
}

/** Interleaved 8-bit HWC → planar float CHW in [0, 1]. */
export function hwcToChw(hwc: Uint8Array, channels: number, height: number, width: number): Float32Array {
  const plane = height * width;
  const out = new Float32Array(channels * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < channels; c++) out[c * plane + p] = hwc[p * channels + c] / 255;
  }
  return out;
}

/** Planar float CHW (clamped to [0, 1]) → interleaved 8-bit HWC, rounding to nearest. */
export function chwToHwc(chw: Float32Array, channels: number, height: number, width: number): Uint8Array {
  const plane = height * width;
  const out = new Uint8Array(channels * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < channels; c++) {
      const v = chw[c * plane + p];
      out[p * channels + c] = v >= 1 ? 255 : v > 0 ? Math.round(v * 255) : 0;
    }
  }
  return out;
}
