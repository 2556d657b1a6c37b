/**
 * Datasets: registering a built-in few-shot task or an upload, materialising a dataset's images for the
 * orchestrator, and listing them (name, class, split, digest) so users see what is trained and tested on.
 * An upload is judged completely — archive structure, names, sizes, formats, pixel counts, decodable
 * pixels, the split (the user's own or a held-out one, see upload-split.ts) — before the first byte is
 * written, so a refused upload leaves nothing behind: no files, no row. Accepted images are normalised
 * (decoded, resized to the asked shape, re-encoded as PNG) and kept in the content-addressed store with a
 * manifest; the row holds the manifest's digest.
 */
import {
  type ByteDataset,
  decodeImageFolder,
  detectFolderLayout,
  encodeImageSetPng,
  type FolderEntry,
  type FolderLayout,
  fewShotIndices,
  type ImageSet,
  loadBuiltinDataset,
  SPLIT_TEST,
  toImageSet,
} from "../../../../shared/data/index.js";
import { builtinPromptNames } from "../../../../shared/kit/index.js";
import { readArchive } from "../archive/read-archive.js";
import { type BlobStore, sha256Hex } from "../blob-store.js";
import { ApiError } from "../errors.js";
import type { Dataset, DatasetRepository } from "../store/index.js";
import { type JsonImage, jsonImageEntries, type SplitSpec, uploadSplit } from "./upload-split.js";

export type { JsonImage } from "./upload-split.js";

/** Upload limits (from configuration). */
export interface UploadLimits {
  maxFiles: number;
  maxFileBytes: number;
  maxPixels: number;
  /** Most bytes over all files (declared and inflated for archives). */
  maxTotalBytes: number;
  /** Largest uncompressed/compressed ratio of an archive entry. */
  maxCompressionRatio: number;
  maxClasses: number;
}

/** How uploaded images are normalised and split. */
export interface UploadOptions {
  name?: string;
  channels?: 1 | 3;
  /** Square side every image is resized to (centre crop). */
  size?: number;
  /** Share of each class held out for evaluation (ignored when the upload brings its own test split). */
  testFraction?: number;
  /** Seed of the held-out draw (ignored likewise). */
  splitSeed?: number;
  /** Class name → the phrase prompts say for it (default: the class name). */
  promptNames?: Record<string, string>;
}

/** A built-in few-shot task. */
export interface BuiltinRequest {
  builtin: string;
  shots: number;
  seed: number;
  classes?: (string | number)[];
  testPerClass?: number;
  name?: string;
  /** Class name → the phrase prompts say for it (default: {@link builtinPromptNames}, else the name). */
  promptNames?: Record<string, string>;
}

/** What `datasets.spec` holds. */
export type DatasetSpec =
  | {
      kind: "builtin";
      builtin: string;
      shots: number;
      seed: number;
      classes: string[];
      testPerClass: number | null;
      /** Class → prompt phrase, every class (absent on rows made before prompt names: the defaults). */
      promptNames?: Record<string, string>;
      trainCount: number;
      testCount: number;
      channels: number;
      height: number;
      width: number;
    }
  | ({
      kind: "upload";
      manifest: string;
      /** Class → prompt phrase, every class (absent on rows made before prompt names: the names). */
      promptNames?: Record<string, string>;
      trainCount: number;
      testCount: number;
      channels: number;
      height: number;
      width: number;
    } & SplitSpec);

/** The manifest file of an upload, in the artifact store. */
interface Manifest {
  version: 1;
  channels: number;
  height: number;
  width: number;
  classes: string[];
  images: { sha256: string; label: number; split: "train" | "test"; name: string }[];
}

/** One image of a dataset as `GET /v1/datasets/:id/files` lists it. */
export interface DatasetFile {
  /** The path in the upload; for a built-in task `<class>/<index in the built-in dataset>`. */
  name: string;
  class: string;
  split: "train" | "test";
  /** Of the PNG the jobs receive. */
  sha256: string;
}

/** One real image as the compute services receive it. */
export interface RealImage {
  png: Uint8Array;
  label: number;
}

/** A dataset's images, ready to send over RPC. */
export interface DatasetImages {
  classes: string[];
  /** What prompts say for each class, in class order (see {@link promptNamesOf}). */
  promptNames: string[];
  channels: number;
  height: number;
  width: number;
  train: RealImage[];
  test: RealImage[];
}

/** Dependencies of the service. */
export interface DatasetServiceDeps {
  datasets: DatasetRepository;
  artifacts: BlobStore;
  limits: UploadLimits;
  /** Loads a built-in dataset (default: shared/data's cached loader). */
  loadBuiltin?: (name: string) => Promise<ByteDataset>;
}

/**
 * Every class's prompt phrase: `given` over `defaults` over the class name. A name for a class the
 * dataset lacks is refused (before anything is written), naming it.
 */
function resolvePromptNames(
  classes: readonly string[],
  given: Readonly<Record<string, string>> | undefined,
  defaults: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const known = new Set(classes);
  for (const name of Object.keys(given ?? {})) {
    if (!known.has(name)) {
      throw new ApiError(
        "invalid_dataset",
        `promptNames names class ${JSON.stringify(name)}, which the dataset lacks (classes: ${classes.join(", ")})`,
      );
    }
  }
  const lookup = (table: Readonly<Record<string, string>> | undefined, name: string) =>
    table !== undefined && Object.hasOwn(table, name) ? table[name] : undefined;
  return Object.fromEntries(
    classes.map((name) => [name, lookup(given, name) ?? lookup(defaults, name) ?? name]),
  );
}

/** The prompt phrase of each class of a stored dataset, in class order. */
export function promptNamesOf(spec: DatasetSpec, classes: readonly string[]): string[] {
  const table =
    spec.promptNames ??
    (spec.kind === "builtin" ? resolvePromptNames(classes, undefined, builtinPromptNames(spec.builtin)) : {});
  return classes.map((name) => (Object.hasOwn(table, name) ? table[name] : name));
}

const DEFAULT_SIZE = 32;
const DEFAULT_TEST_FRACTION = 0.2;

/** Registers datasets and reads their images back. */
export class DatasetService {
  readonly #deps: DatasetServiceDeps;
  readonly #loadBuiltin: (name: string) => Promise<ByteDataset>;
  readonly #cache = new Map<string, Promise<DatasetImages>>();

  constructor(deps: DatasetServiceDeps) {
    this.#deps = deps;
    this.#loadBuiltin = deps.loadBuiltin ?? ((name) => loadBuiltinDataset(name));
  }

  /** Registers a built-in few-shot task after checking that it can be drawn (classes, shots). */
  async createBuiltin(request: BuiltinRequest, owner: string | null): Promise<Dataset> {
    const source = await this.#loadBuiltin(request.builtin);
    const picked = fewShotIndices(source.labels, source.split, source.classNames, {
      shots: request.shots,
      seed: request.seed,
      ...(request.classes !== undefined ? { classes: request.classes } : {}),
      ...(request.testPerClass !== undefined ? { testPerClass: request.testPerClass } : {}),
    });
    const classes = picked.classes.map((c) => source.classNames[c]);
    const promptNames = resolvePromptNames(classes, request.promptNames, builtinPromptNames(request.builtin));
    const spec: DatasetSpec = {
      kind: "builtin",
      builtin: request.builtin,
      shots: request.shots,
      seed: request.seed,
      classes,
      testPerClass: request.testPerClass ?? null,
      promptNames,
      trainCount: picked.train.length,
      testCount: picked.test.length,
      channels: source.channels,
      height: source.height,
      width: source.width,
    };
    return this.#deps.datasets.create({
      name: request.name ?? `${request.builtin} ${request.shots}-shot seed ${request.seed}`,
      kind: "builtin",
      spec,
      imageCount: picked.train.length + picked.test.length,
      classes,
      apiKeyId: owner,
    });
  }

  /**
   * Registers an ImageFolder archive (`class/file.png`, or `train/class/file.png` and `test/class/file.png`)
   * sent as `mediaType`: a zip, a tar or a tar.gz (archive/read-archive.ts).
   */
  async createFromArchive(
    archive: Uint8Array,
    mediaType: string,
    options: UploadOptions,
    owner: string | null,
  ): Promise<Dataset> {
    const { limits } = this.#deps;
    const entries = await readArchive(archive, mediaType, {
      // Folder entries carry no bytes: one per class, twice over (and train/, test/) with a user split.
      maxEntries: limits.maxFiles + 2 * (limits.maxClasses + 1),
      maxEntryBytes: limits.maxFileBytes,
      maxTotalBytes: limits.maxTotalBytes,
      maxRatio: limits.maxCompressionRatio,
    });
    return this.#createUpload(entries, detectFolderLayout(entries), options, owner);
  }

  /** Registers images sent inline as base64 with their labels (and, optionally, their split). */
  async createFromImages(
    images: JsonImage[],
    options: UploadOptions,
    owner: string | null,
  ): Promise<Dataset> {
    const { entries, layout } = jsonImageEntries(images);
    return this.#createUpload(entries, layout, options, owner);
  }

  async #createUpload(
    entries: FolderEntry[],
    layout: FolderLayout,
    options: UploadOptions,
    owner: string | null,
  ): Promise<Dataset> {
    const { limits, artifacts } = this.#deps;
    const channels = options.channels ?? 3;
    const size = options.size ?? DEFAULT_SIZE;
    // Everything that can refuse the upload happens before the first write below.
    const folder = await decodeImageFolder(entries, {
      channels,
      height: size,
      width: size,
      layout,
      limits: {
        maxFiles: limits.maxFiles,
        maxFileBytes: limits.maxFileBytes,
        maxPixels: limits.maxPixels,
        maxTotalBytes: limits.maxTotalBytes,
        maxClasses: limits.maxClasses,
      },
    });
    const { set, names } = folder;
    const promptNames = resolvePromptNames(set.classNames, options.promptNames);
    const split = uploadSplit(folder, {
      testFraction: options.testFraction ?? DEFAULT_TEST_FRACTION,
      splitSeed: options.splitSeed ?? 0,
    });
    const pngs = await mapLimited(set.labels.length, 8, (i) => encodeImageSetPng(set, i));

    const stored = [];
    for (const png of pngs) stored.push(await artifacts.put(png));
    const manifest: Manifest = {
      version: 1,
      channels,
      height: size,
      width: size,
      classes: [...set.classNames],
      images: stored.map((blob, i) => ({
        sha256: blob.sha256,
        label: set.labels[i],
        split: split.flags[i] === SPLIT_TEST ? "test" : "train",
        name: names[i],
      })),
    };
    const manifestBlob = await artifacts.put(Buffer.from(JSON.stringify(manifest)));
    const spec: DatasetSpec = {
      kind: "upload",
      manifest: manifestBlob.sha256,
      promptNames,
      trainCount: set.labels.length - split.testCount,
      testCount: split.testCount,
      channels,
      height: size,
      width: size,
      ...split.spec,
    };
    return this.#deps.datasets.create({
      name: options.name ?? "upload",
      kind: "upload",
      spec,
      imageCount: set.labels.length,
      classes: set.classNames,
      apiKeyId: owner,
      blobs: [...stored, manifestBlob].map(({ sha256, bytes }) => ({ sha256, bytes })),
    });
  }

  /** Drops a deleted dataset's cached images. */
  forget(datasetId: string): void {
    this.#cache.delete(datasetId);
  }

  /** A dataset's train and test images as PNGs with labels (cached per dataset id). */
  images(dataset: Dataset): Promise<DatasetImages> {
    let load = this.#cache.get(dataset.id);
    if (load === undefined) {
      load = this.#materialize(dataset);
      load.catch(() => this.#cache.delete(dataset.id));
      this.#cache.set(dataset.id, load);
      if (this.#cache.size > 16) this.#cache.delete(this.#cache.keys().next().value as string);
    }
    return load;
  }

  /**
   * Every image of a dataset in manifest order (for a built-in task: its train images, then its test
   * images, class by class, as the jobs receive them).
   */
  async files(dataset: Dataset): Promise<DatasetFile[]> {
    const spec = dataset.spec as DatasetSpec;
    if (spec.kind === "builtin") {
      // The digests are those of the PNGs the jobs get, so they come from the (cached) materialisation.
      const [{ source, picked }, images] = await Promise.all([this.#pickBuiltin(spec), this.images(dataset)]);
      const list = (indices: Int32Array, pngs: RealImage[], split: DatasetFile["split"]) =>
        Array.from(indices, (index, i) => {
          const className = source.classNames[source.labels[index]];
          return { name: `${className}/${index}`, class: className, split, sha256: sha256Hex(pngs[i].png) };
        });
      return [...list(picked.train, images.train, "train"), ...list(picked.test, images.test, "test")];
    }
    const manifest = await this.#manifest(spec.manifest);
    return manifest.images.map((image) => ({
      name: image.name,
      class: manifest.classes[image.label],
      split: image.split,
      sha256: image.sha256,
    }));
  }

  /** The built-in dataset of a task and the indices its recipe picks from it. */
  async #pickBuiltin(spec: DatasetSpec & { kind: "builtin" }) {
    const source = await this.#loadBuiltin(spec.builtin);
    const picked = fewShotIndices(source.labels, source.split, source.classNames, {
      shots: spec.shots,
      seed: spec.seed,
      classes: spec.classes,
      ...(spec.testPerClass !== null ? { testPerClass: spec.testPerClass } : {}),
    });
    return { source, picked };
  }

  async #manifest(digest: string): Promise<Manifest> {
    return JSON.parse((await this.#deps.artifacts.read(digest)).toString("utf8")) as Manifest;
  }

  async #materialize(dataset: Dataset): Promise<DatasetImages> {
    const spec = dataset.spec as DatasetSpec;
    if (spec.kind === "builtin") {
      const { source, picked } = await this.#pickBuiltin(spec);
      const relabel = new Map(picked.classes.map((c, i) => [c, i]));
      const toImages = async (indices: Int32Array): Promise<RealImage[]> => {
        const set: ImageSet = toImageSet(source, indices);
        return mapLimited(indices.length, 8, async (i) => ({
          png: await encodeImageSetPng(set, i),
          label: relabel.get(set.labels[i])!,
        }));
      };
      return {
        classes: spec.classes,
        promptNames: promptNamesOf(spec, spec.classes),
        channels: spec.channels,
        height: spec.height,
        width: spec.width,
        train: await toImages(picked.train),
        test: await toImages(picked.test),
      };
    }
    const manifest = await this.#manifest(spec.manifest);
    const read = (which: "train" | "test") =>
      Promise.all(
        manifest.images
          .filter((image) => image.split === which)
          .map(async (image) => ({
            png: new Uint8Array(await this.#deps.artifacts.read(image.sha256)),
            label: image.label,
          })),
      );
    return {
      classes: manifest.classes,
      promptNames: promptNamesOf(spec, manifest.classes),
      channels: manifest.channels,
      height: manifest.height,
      width: manifest.width,
      train: await read("train"),
      test: await read("test"),
    };
  }
}

/** Runs `fn(0..n-1)` with at most `limit` in flight, results in order. */
async function mapLimited<R>(n: number, limit: number, fn: (i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, Math.max(n, 1)) }, worker));
  return out;
}
