/**
 * Image grids for the report, one row per class (shared/data's `renderGrid`): the real few-shot train
 * images, and per method a sample of its synthetic images downloaded from the job's artifacts. Real images
 * never leave the gateway through the API; a built-in task is redrawn here from its recipe (shared/data
 * draws the same images for the same dataset, shots, seed and classes), and an uploaded one is read from
 * the local ImageFolder directory the user names.
 */
import {
  createImageSet,
  decodePng,
  fewShotIndices,
  type ImageSet,
  loadBuiltinDataset,
  readImageFolder,
  renderGrid,
  toImageSet,
} from "../../shared/data/index.js";
import { downloadArtifact, listArtifacts } from "../client/api.js";
import type { RestClient } from "../client/rest-client.js";
import type { Artifact, Dataset } from "../client/types.js";

/** A labelled PNG. */
export interface LabelledPng {
  readonly label: number;
  readonly png: Uint8Array;
}

/** Options of the grids. */
export interface GridLayout {
  /** Images per class row (default 8). */
  readonly perClass?: number;
  /** Integer upscaling (default 2). */
  readonly scale?: number;
}

/** Decodes PNGs into one image set (every image fitted to the first one's size and channels). */
export async function imageSetFromPngs(
  images: readonly LabelledPng[],
  classes: readonly string[],
): Promise<ImageSet> {
  if (images.length === 0) throw new Error("no images");
  const first = await decodePng(images[0].png);
  const channels = first.channels === 1 ? 1 : 3;
  const decoded = [first];
  for (const image of images.slice(1)) {
    decoded.push(
      await decodePng(image.png, { channels, height: first.height, width: first.width, fit: "fill" }),
    );
  }
  const size = channels * first.height * first.width;
  const pixels = new Float32Array(images.length * size);
  for (const [i, d] of decoded.entries()) pixels.set(d.data.subarray(0, size), i * size);
  return createImageSet({
    channels,
    height: first.height,
    width: first.width,
    images: pixels,
    labels: Int32Array.from(images, (image) => image.label),
    classNames: classes,
  });
}

/** A per-class grid PNG of `set`. */
export function classGrid(set: ImageSet, layout: GridLayout = {}): Promise<Uint8Array> {
  return renderGrid(set, { perClass: layout.perClass ?? 8, scale: layout.scale ?? 2, padding: 2 });
}

/**
 * The real train images of a built-in dataset (the task's classes and labels), or undefined for an
 * upload. `load` loads the source dataset (default: shared/data's cached loader).
 */
export async function builtinTrainImages(
  dataset: Dataset,
  load: (name: string) => ReturnType<typeof loadBuiltinDataset> = (name) => loadBuiltinDataset(name),
): Promise<ImageSet | undefined> {
  if (dataset.builtin === null) return undefined;
  const source = await load(dataset.builtin.name);
  const picked = fewShotIndices(source.labels, source.split, source.classNames, {
    shots: dataset.builtin.shots,
    seed: dataset.builtin.seed,
    classes: dataset.classes,
  });
  const set = toImageSet(source, picked.train);
  const relabel = new Map(picked.classes.map((c, i) => [c, i]));
  return createImageSet({
    ...set,
    labels: Int32Array.from(set.labels, (label) => relabel.get(label) ?? 0),
    classNames: dataset.classes,
  });
}

/** The images of a local ImageFolder directory at the dataset's size, labelled in its class order. */
export async function folderImages(path: string, dataset: Dataset): Promise<ImageSet> {
  const { set } = await readImageFolder(path, {
    channels: dataset.image.channels === 1 ? 1 : 3,
    height: dataset.image.height,
    width: dataset.image.width,
  });
  const index = new Map(dataset.classes.map((c, i) => [c, i]));
  const keep = Array.from(set.labels, (label, i) => (index.has(set.classNames[label]) ? i : -1)).filter(
    (i) => i >= 0,
  );
  const size = set.channels * set.height * set.width;
  const images = new Float32Array(keep.length * size);
  for (const [i, from] of keep.entries())
    images.set(set.images.subarray(from * size, (from + 1) * size), i * size);
  return createImageSet({
    channels: set.channels,
    height: set.height,
    width: set.width,
    images,
    labels: Int32Array.from(keep, (i) => index.get(set.classNames[set.labels[i]]) ?? 0),
    classNames: dataset.classes,
  });
}

/**
 * Up to `perClass` synthetic images per class of one (method, seed) run, downloaded from the job's
 * artifacts (`synthetic/<method>/seed=<seed>/…`, labelled by their metadata).
 */
export async function syntheticSample(
  client: RestClient,
  jobId: string,
  method: string,
  seed: number,
  classes: number,
  perClass = 8,
): Promise<LabelledPng[]> {
  const rows = await listArtifacts(client, jobId, { prefix: `synthetic/${method}/seed=${seed}/` });
  const picked: Artifact[] = [];
  const counts = new Array<number>(classes).fill(0);
  for (const row of rows) {
    const label = Number(row.meta.label);
    if (!Number.isInteger(label) || label < 0 || label >= classes || counts[label] >= perClass) continue;
    counts[label]++;
    picked.push(row);
  }
  const out: LabelledPng[] = new Array(picked.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(8, picked.length) }, async () => {
      while (next < picked.length) {
        const i = next++;
        out[i] = { label: Number(picked[i].meta.label), png: await downloadArtifact(client, picked[i]) };
      }
    }),
  );
  return out;
}
