import { SPLIT_TEST, SPLIT_TRAIN } from "./byte-dataset.js";
import { DEFAULT_IMAGE_LIMITS, decodeImage, type Fit, type ImageLimits, inspectImage } from "./decode.js";
import { DataError } from "./errors.js";
import { type FolderLayout, isHidden, SPLIT_FOLDERS } from "./folder-layout.js";
import { createImageSet, type ImageSet } from "./image-set.js";

/** One uploaded file: a relative name such as `cat/0001.png`, and its bytes. A name ending in `/` is a folder. */
export interface FolderEntry {
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** Limits on a whole upload, on top of the per-image {@link ImageLimits}. */
export interface FolderLimits extends ImageLimits {
  /** Most entries (files and folders, skipped ones included). */
  readonly maxFiles: number;
  /** Most bytes over all entries. */
  readonly maxTotalBytes: number;
  readonly maxClasses: number;
  /** Fewest images a class may have (a class folder with fewer is `empty_class`). */
  readonly minPerClass: number;
  /** Longest entry name, characters. */
  readonly maxNameLength: number;
  /** Largest decoded set (N·C·H·W float32 bytes at the target size). */
  readonly maxDecodedBytes: number;
}

/** Defaults for an upload: 10,000 files, 512 MiB, 1,000 classes. */
export const DEFAULT_FOLDER_LIMITS: FolderLimits = {
  ...DEFAULT_IMAGE_LIMITS,
  maxFiles: 10_000,
  maxTotalBytes: 512 * 1024 * 1024,
  maxClasses: 1_000,
  minPerClass: 1,
  maxNameLength: 255,
  maxDecodedBytes: 1024 * 1024 * 1024,
};

/** Options of {@link decodeImageFolder}. */
export interface ImageFolderOptions {
  /** Output channels (1 or 3). */
  readonly channels: 1 | 3;
  readonly height: number;
  readonly width: number;
  /** Default `cover`. */
  readonly fit?: Fit;
  /** Gray level for transparency and borders, 0–255. Default 0. */
  readonly background?: number;
  /** Any limit left out keeps its {@link DEFAULT_FOLDER_LIMITS} value. */
  readonly limits?: Partial<FolderLimits>;
  /** Decodes in flight at once (sharp decodes on libuv's pool). Default 4. */
  readonly concurrency?: number;
  /** `class/file` (default) or `train|test/class/file`: a split the user made (see {@link detectFolderLayout}). */
  readonly layout?: FolderLayout;
}

/** A decoded upload: the image set, plus the entry name of each image (same order). */
export interface ImageFolder {
  readonly set: ImageSet;
  readonly names: readonly string[];
  /** With the `splits` layout: each image's folder, {@link SPLIT_TRAIN} or {@link SPLIT_TEST}. */
  readonly split?: Uint8Array;
}

/** Where one entry belongs: its split (always train in the `classes` layout), class and file. */
export interface EntryPath {
  readonly split: typeof SPLIT_TRAIN | typeof SPLIT_TEST;
  readonly className: string;
  /** `undefined` for a class folder entry (`cat/`). */
  readonly fileName: string | undefined;
}

/** Characters that are path syntax on some system. */
const PATH_SYNTAX = new Set(["\\", ":", "*", "?", '"', "<", ">", "|"]);

/** True if `name` holds a C0/C1 control character or path syntax other than '/'. */
function hasForbiddenCharacter(name: string): boolean {
  for (const char of name) {
    const code = char.codePointAt(0)!;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || PATH_SYNTAX.has(char)) return true;
  }
  return false;
}

/**
 * Splits an entry name into split, class and file, refusing anything that could name a path outside the
 * upload: absolute names, backslashes, `.`/`..`/empty segments, control characters, and depths other than
 * `class/file` (or `train|test/class/file` in the `splits` layout). Returns `undefined` for entries to skip
 * (hidden files, and the `train/` and `test/` folder entries themselves).
 */
export function parseEntryName(
  name: string,
  maxLength = DEFAULT_FOLDER_LIMITS.maxNameLength,
  layout: FolderLayout = "classes",
): EntryPath | undefined {
  const invalid = (why: string) =>
    new DataError("invalid_name", `entry name ${JSON.stringify(name.slice(0, 80))} ${why}`, {
      name: name.slice(0, maxLength),
    });
  if (name.length === 0 || name.length > maxLength) throw invalid(`must be 1–${maxLength} characters`);
  if (hasForbiddenCharacter(name))
    throw invalid('holds a control character, a backslash or one of : * ? " < > |');
  if (name.startsWith("/")) throw invalid("is absolute");
  const isFolder = name.endsWith("/");
  const segments = (isFolder ? name.slice(0, -1) : name).split("/");
  for (const segment of segments) {
    if (segment === "" || segment === "." || segment === "..")
      throw invalid("has an empty, '.' or '..' part");
    if (segment !== segment.trim()) throw invalid("has a part with leading or trailing spaces");
  }
  if (segments.some(isHidden)) return undefined;
  let split: EntryPath["split"] = SPLIT_TRAIN;
  if (layout === "splits") {
    const top = segments.shift()!;
    if (!(SPLIT_FOLDERS as readonly string[]).includes(top)) {
      throw new DataError(
        "mixed_layout",
        `entry ${JSON.stringify(name.slice(0, 80))} is outside train/ and test/: with a train/ and test/ folder, every entry goes under one of them`,
        { name: name.slice(0, maxLength) },
      );
    }
    if (isFolder && segments.length === 0) return undefined;
    split = top === "test" ? SPLIT_TEST : SPLIT_TRAIN;
  }
  if (isFolder && segments.length === 1) return { split, className: segments[0], fileName: undefined };
  if (!isFolder && segments.length === 2) return { split, className: segments[0], fileName: segments[1] };
  const expected = layout === "splits" ? "train/class/file or test/class/file" : "class/file";
  throw new DataError(
    "invalid_layout",
    `entry ${JSON.stringify(name.slice(0, 80))}: expected ${expected} (one folder per class, no nesting)`,
    { name: name.slice(0, maxLength) },
  );
}

/** Code-point order, so class indices never depend on the server's locale. */
function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Up to ten names, quoted, then how many more. */
function quoteSome(names: readonly string[]): string {
  const shown = names.slice(0, 10).map((name) => JSON.stringify(name));
  return names.length > 10 ? `${shown.join(", ")} and ${names.length - 10} more` : shown.join(", ");
}

/**
 * Decodes an upload laid out as one folder per class (`<class>/<file>`, PNG/JPEG/WebP) into an
 * {@link ImageSet} of the asked channels and size. Classes are the folder names in code-point order; images
 * follow by file name. In the `splits` layout (`train/<class>/<file>`, `test/<class>/<file>`) the classes
 * are those of `train/`, each class's train images come before its test images, and `split` tells which
 * is which; a class needs train images but may have no test images. Every check that needs no pixels
 * (counts, sizes, names, signatures, declared dimensions) runs over the whole upload before the first
 * image is decoded, so a bad upload costs little.
 */
export async function decodeImageFolder(
  entries: readonly FolderEntry[],
  options: ImageFolderOptions,
): Promise<ImageFolder> {
  const limits: FolderLimits = { ...DEFAULT_FOLDER_LIMITS, ...options.limits };
  if (options.channels !== 1 && options.channels !== 3) {
    throw new DataError("invalid_argument", `channels must be 1 or 3, got ${options.channels}`);
  }
  for (const side of [options.height, options.width]) {
    if (!Number.isInteger(side) || side < 1 || side > 4096) {
      throw new DataError("invalid_argument", `target size must be integers in [1, 4096], got ${side}`);
    }
  }
  // Folder entries ("cat/") carry no bytes and are bounded by maxClasses; files count against maxFiles.
  const fileCount = entries.reduce((n, entry) => n + (entry.name.endsWith("/") ? 0 : 1), 0);
  if (fileCount > limits.maxFiles) {
    throw new DataError("too_many_files", `${fileCount} files, more than ${limits.maxFiles}`, {
      count: fileCount,
      limit: limits.maxFiles,
    });
  }
  let total = 0;
  for (const entry of entries) total += entry.bytes.length;
  if (total > limits.maxTotalBytes) {
    throw new DataError("total_too_large", `${total} bytes in all, more than ${limits.maxTotalBytes}`, {
      bytes: total,
      limit: limits.maxTotalBytes,
    });
  }

  const layout = options.layout ?? "classes";
  const seenNames = new Set<string>();
  // Per class, its files of both splits. The dataset's classes are those with a folder outside test/
  // (every class in the `classes` layout); a test folder can only name one of them.
  const files = new Map<string, { split: number; fileName: string; entry: FolderEntry }[]>();
  const trained = new Set<string>();
  for (const entry of entries) {
    const parsed = parseEntryName(entry.name, limits.maxNameLength, layout);
    if (parsed === undefined) continue;
    const list = files.get(parsed.className) ?? [];
    files.set(parsed.className, list);
    if (parsed.split === SPLIT_TRAIN) trained.add(parsed.className);
    if (parsed.fileName === undefined) continue;
    if (seenNames.has(entry.name)) {
      throw new DataError("invalid_layout", `entry ${JSON.stringify(entry.name)} appears twice`, {
        name: entry.name,
      });
    }
    seenNames.add(entry.name);
    if (entry.bytes.length > limits.maxFileBytes) {
      throw new DataError(
        "file_too_large",
        `${entry.name} is ${entry.bytes.length} bytes, more than ${limits.maxFileBytes}`,
        {
          name: entry.name,
          bytes: entry.bytes.length,
          limit: limits.maxFileBytes,
        },
      );
    }
    list.push({ split: parsed.split, fileName: parsed.fileName, entry });
  }
  const untrained = [...files.keys()].filter((className) => !trained.has(className)).sort(byCodePoint);
  if (untrained.length > 0) {
    throw new DataError(
      "empty_class",
      `test/ has classes that train/ lacks: ${quoteSome(untrained)}; every test class needs train images`,
      { class: untrained.join(", "), count: 0 },
    );
  }
  const classNames = [...trained].sort(byCodePoint);
  if (classNames.length > limits.maxClasses) {
    throw new DataError("too_many_classes", `${classNames.length} classes, more than ${limits.maxClasses}`, {
      count: classNames.length,
      limit: limits.maxClasses,
    });
  }
  const ordered: { entry: FolderEntry; label: number; split: number }[] = [];
  classNames.forEach((className, label) => {
    const list = files.get(className)!;
    // Only train images count: a class may have no test images (its accuracy is then undefined).
    const trainCount = list.reduce((n, file) => n + (file.split === SPLIT_TRAIN ? 1 : 0), 0);
    if (trainCount < Math.max(limits.minPerClass, 1)) {
      throw new DataError(
        "empty_class",
        `class ${JSON.stringify(className)} has ${trainCount} images, fewer than ${Math.max(limits.minPerClass, 1)}`,
        { class: className, count: trainCount },
      );
    }
    list.sort((a, b) => a.split - b.split || byCodePoint(a.fileName, b.fileName));
    for (const { entry, split } of list) ordered.push({ entry, label, split });
  });
  if (ordered.length === 0) throw new DataError("empty_dataset", "the upload holds no images");

  // Headers only: a wrong format or an oversized image anywhere is found before any pixels are decoded.
  await mapLimited(ordered, options.concurrency ?? 4, ({ entry }) =>
    inspectImage(entry.bytes, limits, entry.name),
  );

  const { channels, height, width } = options;
  const size = channels * height * width;
  if (ordered.length * size * 4 > limits.maxDecodedBytes) {
    throw new DataError(
      "total_too_large",
      `${ordered.length} images of ${channels}×${height}×${width} floats exceed ${limits.maxDecodedBytes} bytes`,
      { count: ordered.length, limit: limits.maxDecodedBytes },
    );
  }
  const images = new Float32Array(ordered.length * size);
  await mapLimited(ordered, options.concurrency ?? 4, async ({ entry }, i) => {
    const decoded = await decodeImage(entry.bytes, {
      channels,
      height,
      width,
      fit: options.fit,
      background: options.background,
      limits,
      name: entry.name,
    });
    images.set(decoded.data, i * size);
  });
  const set = createImageSet({
    channels,
    height,
    width,
    images,
    labels: Int32Array.from(ordered, (item) => item.label),
    classNames,
  });
  return {
    set,
    names: ordered.map((item) => item.entry.name),
    ...(layout === "splits" ? { split: Uint8Array.from(ordered, (item) => item.split) } : {}),
  };
}

/** Runs `fn` over `items` with at most `limit` calls in flight; rejects with the first error. */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        results[i] = await fn(items[i], i);
      } catch (error) {
        failed = true; // stop the other workers from starting more decodes
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
