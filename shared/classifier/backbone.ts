/**
 * Loading a pretrained backbone (backbones.ts) and fitting it to a run: every weight but the head's, the
 * stem summed over its colour channels for a gray run (a gray image fed as RGB repeats one plane, so the
 * sum is the same network on it), and a check that the run's network has the backbone's shape.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ResNetConfig } from "../ml/models/resnet.js";
import type { Tensor } from "../ml/onnx/index.js";
import { BACKBONES } from "./backbones.js";
import { loadClassifier } from "./export.js";
import type { Classifier } from "./model.js";

/** Where the committed backbones live: `<repo>/models/backbones/<id>/`. */
export const BACKBONES_DIR = fileURLToPath(new URL("../../models/backbones/", import.meta.url));
/** The weights file of a backbone folder (a classifier file, its pretraining head included). */
export const BACKBONE_WEIGHTS = "backbone.safetensors";
/** The manifest of a backbone folder: the pretraining data's provenance and the recipe. */
export const BACKBONE_MANIFEST = "manifest.json";

/** Parameters a backbone does not carry over: the head is sized to the pretraining classes. */
const HEAD_PREFIX = "head.";

/**
 * The fine-tuning recipe from a backbone: the run's own optimizer, learning rate, batch and steps, with
 * the pretrained layers' updates scaled by `lrScale` (the new head trains at the full rate). Picked on a
 * validation split carved from the few-shot training images (docs/classifier.md).
 */
export const BACKBONE_RECIPE = Object.freeze({ lrScale: 0.1 });

/** What models/scripts/pretrain-backbone.ts records beside the weights. */
export interface BackboneManifest {
  readonly id: string;
  readonly architecture: string;
  readonly weights: { readonly file: string; readonly sha256: string; readonly bytes: number };
  readonly pretraining: {
    /** The generator (shared/data/tinted-digits.ts and its version) and its options. */
    readonly generator: string;
    readonly seed: number;
    readonly views: number;
    readonly size: number;
    /** The images it redraws: a built-in dataset's split, and the digest of their sorted digests. */
    readonly source: {
      readonly dataset: string;
      readonly version: string;
      readonly split: "train";
      readonly images: number;
      readonly digest: string;
    };
    readonly classNames: readonly string[];
    readonly images: number;
    /** SHA-256 of the sorted list of every pretraining image's SHA-256 (shared/data/image-digests.ts). */
    readonly digest: string;
  };
  readonly training: Record<string, unknown>;
}

/** A loaded backbone. */
export interface Backbone {
  readonly id: string;
  readonly manifest: BackboneManifest;
  /** The pretrained network (with its pretraining head). */
  readonly classifier: Classifier;
}

const loaded = new Map<string, Promise<Backbone>>();

/** Loads a registry backbone from `dir` (default {@link BACKBONES_DIR}); one load per process and folder. */
export function loadBackbone(id: string, dir = BACKBONES_DIR): Promise<Backbone> {
  const key = join(dir, id);
  let found = loaded.get(key);
  if (found === undefined) {
    found = readBackbone(id, key);
    loaded.set(key, found);
    found.catch(() => loaded.delete(key));
  }
  return found;
}

async function readBackbone(id: string, folder: string): Promise<Backbone> {
  const entry = BACKBONES[id];
  if (entry === undefined) throw new Error(`no backbone "${id}"`);
  const manifest = JSON.parse(await readFile(join(folder, BACKBONE_MANIFEST), "utf8")) as BackboneManifest;
  if (manifest.id !== id || manifest.architecture !== entry.architecture)
    throw new Error(`${folder}: the manifest is not that of ${id} (${entry.architecture})`);
  const classifier = await loadClassifier(join(folder, manifest.weights.file));
  return { id, manifest, classifier };
}

/**
 * The backbone's weights for a run of network `config`: every parameter but the head, the stem summed
 * over colour channels when the run is gray and the backbone RGB. Throws when the networks differ in
 * anything else (widths, depth, groups, stem, input normalisation).
 */
export function backboneWeights(backbone: Backbone, config: ResNetConfig): Map<string, Tensor> {
  const from = backbone.classifier.config;
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const fixed = (c: ResNetConfig) => ({
    widths: c.widths,
    blocksPerStage: c.blocksPerStage,
    groups: c.groups,
    stem: c.stem,
    zeroInitResidual: c.zeroInitResidual,
    mean: c.inputMean[0],
    std: c.inputStd[0],
  });
  if (!same(fixed(from), fixed(config)))
    throw new Error(`backbone ${backbone.id}: the run's network differs from the backbone's`);
  const gray = config.inChannels === 1 && from.inChannels === 3;
  if (!gray && config.inChannels !== from.inChannels)
    throw new Error(
      `backbone ${backbone.id}: ${from.inChannels}-channel weights for ${config.inChannels} channels`,
    );
  const out = new Map<string, Tensor>();
  for (const [name, t] of backbone.classifier.parameters) {
    if (name.startsWith(HEAD_PREFIX)) continue;
    out.set(name, gray && name === "stem.conv.weight" ? sumChannels(t) : t);
  }
  return out;
}

/** [O, C, k, k] → [O, 1, k, k], summed over C. */
function sumChannels(t: Tensor): Tensor {
  const [o, c, kh, kw] = t.dims;
  const plane = kh * kw;
  const data = new Float32Array(o * plane);
  const src = t.data as Float32Array;
  for (let i = 0; i < o; i++)
    for (let ch = 0; ch < c; ch++)
      for (let p = 0; p < plane; p++) data[i * plane + p] += src[(i * c + ch) * plane + p];
  return { dtype: t.dtype, dims: [o, 1, kh, kw], data };
}
