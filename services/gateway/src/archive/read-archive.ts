/**
 * One entry point for dataset archives: a zip, a tar, or a gzip-compressed tar. The Content-Type names
 * the family — a zip type, or a tar or gzip type — and the bytes must agree with it: a zip starts with
 * `PK\3\4` (or is the empty archive's `PK\5\6`), a gzip stream with `1f 8b`, a tar has `ustar` at byte
 * 257. Within the tar family the gzip magic tells a .tar.gz from a plain .tar, since clients label either
 * as either; a zip sent as a tar type (or the reverse) is refused with a detail naming the type to send,
 * rather than read by the other reader, so one body has one meaning.
 *
 * The gzip stream is decompressed under the same limits as a zip's entries: at most the total the
 * archive may hold (plus room for tar headers) and at most `maxRatio` times the compressed size — over
 * the whole stream, as gzip has no per-file sizes — once the output passes 64 KiB.
 */
import { ApiError } from "../errors.js";
import { gunzipBounded, isGzip } from "./gunzip.js";
import { isTar, readTar } from "./tar-reader.js";
import { readZip, type ZipEntry, type ZipLimits } from "./zip-reader.js";

/** One file or folder (`cat/`, empty bytes) of an uploaded archive, whichever its format. */
export type ArchiveEntry = ZipEntry;
/** Limits every archive format is read under. */
export type ArchiveLimits = ZipLimits;

/** Zip media types accepted for archive uploads. */
export const ZIP_TYPES = ["application/zip", "application/x-zip-compressed"] as const;
/** Tar media types (plain or gzip-compressed, told apart by the bytes). */
export const TAR_TYPES = [
  "application/x-tar",
  "application/tar",
  "application/gzip",
  "application/x-gzip",
  "application/x-compressed-tar",
] as const;
/** Every media type an archive upload may have. */
export const ARCHIVE_TYPES: readonly string[] = [...ZIP_TYPES, ...TAR_TYPES];

/** True for the zip media types (the others of ARCHIVE_TYPES are tar types). */
export function isZipType(mediaType: string): boolean {
  return (ZIP_TYPES as readonly string[]).includes(mediaType);
}

/** An archive format as the bytes show it. */
export type ArchiveFormat = "zip" | "tar" | "tar.gz";

/** Ratios are only judged above this size, as in the zip reader. */
const RATIO_FLOOR_BYTES = 64 * 1024;
/** Room per entry for what a tar holds besides file bytes: a header, a pax header, padding. */
const TAR_OVERHEAD_PER_ENTRY = 4 * 1024;
/** And once per archive: end blocks and a writer's record padding (GNU tar pads to 10 KiB). */
const TAR_OVERHEAD_FIXED = 1 << 20;

/** The format `bytes` start with, by magic bytes, or undefined. */
export function sniffArchive(bytes: Uint8Array): ArchiveFormat | undefined {
  if (isGzip(bytes)) return "tar.gz";
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b) {
    if ((bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6)) return "zip";
  }
  if (isTar(bytes)) return "tar";
  return undefined;
}

/** The media type's essence, lower case (`Application/GZIP; x=1` → `application/gzip`). */
export function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? "").split(";")[0].trim().toLowerCase();
}

/**
 * Reads every entry of an archive sent as `mediaType` under `limits`. Throws {@link ApiError} with
 * `archive_invalid`, `archive_unsafe_path`, `archive_bomb` or `too_many_files`.
 */
export async function readArchive(
  bytes: Uint8Array,
  mediaType: string,
  limits: ArchiveLimits,
): Promise<ArchiveEntry[]> {
  const sniffed = sniffArchive(bytes);
  if (isZipType(mediaType)) {
    if (sniffed === "tar" || sniffed === "tar.gz") {
      throw new ApiError(
        "archive_invalid",
        `the body is a ${sniffed === "tar" ? "tar archive" : "gzip stream"}, not a zip: send it as ${sniffed === "tar" ? "application/x-tar" : "application/gzip"}`,
      );
    }
    return readZip(bytes, limits);
  }
  if (!(TAR_TYPES as readonly string[]).includes(mediaType)) {
    throw new ApiError("unsupported_media_type", `${mediaType || "no media type"} is not an archive type`);
  }
  if (sniffed === "zip") {
    throw new ApiError("archive_invalid", "the body is a zip archive, not a tar: send it as application/zip");
  }
  if (sniffed !== "tar.gz") return readTar(bytes, limits);
  const ratioCap = Math.max(RATIO_FLOOR_BYTES, bytes.length * limits.maxRatio);
  const sizeCap = limits.maxTotalBytes + limits.maxEntries * TAR_OVERHEAD_PER_ENTRY + TAR_OVERHEAD_FIXED;
  const tooLarge =
    ratioCap < sizeCap
      ? `the gzip stream inflates past ${ratioCap} bytes, a ratio above ${limits.maxRatio}`
      : `the gzip stream inflates past ${sizeCap} bytes`;
  return readTar(await gunzipBounded(bytes, Math.min(ratioCap, sizeCap), tooLarge), limits);
}
