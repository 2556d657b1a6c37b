import { loadBuiltinDataset } from "../data/index.js";
import { Rng } from "../random/index.js";

/** One class of the kit corpus: a fashion-mnist garment or an mnist digit. */
export interface KitClass {
  /** Index in {@link KIT_CLASSES} (0–9 fashion-mnist, 10–19 mnist). */
  readonly id: number;
  readonly dataset: "fashion-mnist" | "mnist";
  /** Label inside its source dataset. */
  readonly label: number;
  /** The class name as prompts say it ("sneaker", "handwritten digit seven"). */
  readonly name: string;
  /** Held out of pretraining text: images are in the corpus, the name never is. */
  readonly heldOut: boolean;
}

const FASHION_NAMES = [
  "t-shirt",
  "trousers",
  "pullover",
  "dress",
  "coat",
  "sandal",
  "shirt",
  "sneaker",
  "bag",
  "ankle boot",
];
const DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

/**
 * Classes whose names never appear in the kit's pretraining captions (they are captioned only generically),
 * so that "novel concept" few-shot tasks exist: the untuned model cannot draw them from their name, as
 * Stable Diffusion cannot draw rare fine-grained classes. Names as in {@link KIT_CLASSES}.
 */
export const HELD_OUT_CLASSES: readonly string[] = Object.freeze(["sandal", "bag", "handwritten digit nine"]);
/** Words that never occur in pretraining text (the held-out names and the digit glyph "9"). */
export const HELD_OUT_WORDS: readonly string[] = Object.freeze(["sandal", "bag", "nine", "9"]);

/** The 20 classes of the kit corpus, fashion-mnist first. */
export const KIT_CLASSES: readonly KitClass[] = Object.freeze([
  ...FASHION_NAMES.map((name, label) => ({ id: label, dataset: "fashion-mnist" as const, label, name })),
  ...DIGIT_WORDS.map((word, label) => ({
    id: 10 + label,
    dataset: "mnist" as const,
    label,
    name: `handwritten digit ${word}`,
  })),
]).map((c) => Object.freeze({ ...c, heldOut: HELD_OUT_CLASSES.includes(c.name) }));

/** Foreground colours of the corpus: the grayscale glyph is tinted with one of them on black. */
export const KIT_COLORS: readonly {
  readonly name: string;
  readonly rgb: readonly [number, number, number];
}[] = Object.freeze([
  { name: "red", rgb: [1, 0.15, 0.12] },
  { name: "green", rgb: [0.2, 0.85, 0.2] },
  { name: "blue", rgb: [0.2, 0.4, 1] },
  { name: "yellow", rgb: [1, 0.92, 0.15] },
  { name: "purple", rgb: [0.62, 0.25, 0.95] },
  { name: "orange", rgb: [1, 0.55, 0.08] },
  { name: "white", rgb: [1, 1, 1] },
  { name: "pink", rgb: [1, 0.5, 0.78] },
]);

/** Seed of the corpus colour assignment and caption draws (fixed: the corpus never changes). */
export const CORPUS_SEED = 20_251_124;
/** Side of the corpus images (28 px sources padded by 2 on every side). */
export const KIT_IMAGE_SIZE = 32;
/** Token sequence length of the kit's tokenizer and text encoder. */
export const KIT_MAX_LENGTH = 16;

/** The prompt the benchmarks use for a class: "a photo of a sneaker", "a handwritten digit seven". */
export function classPrompt(c: KitClass): string {
  return c.dataset === "mnist" ? `a ${c.name}` : `a photo of a ${c.name}`;
}

/** Zero-shot classification prompt for a class ("a photo of a {class}"). */
export function zeroShotPrompt(c: KitClass): string {
  return `a photo of a ${c.name}`;
}

const GENERIC_FASHION = [
  "a piece of clothing",
  "a photo of an object",
  "a {color} object",
  "a photo of a {color} thing",
];
const GENERIC_DIGIT = ["a handwritten digit", "a {color} handwritten digit", "a handwritten number"];
const FASHION_TEMPLATES = [
  "a photo of a {color} {name}",
  "a {color} {name}",
  "a photo of a {name}",
  "a {name}",
  "a picture of a {color} {name}",
  "a picture of a {name}",
];
const DIGIT_TEMPLATES = [
  "a {color} {name}",
  "a {name}",
  "a photo of a {name}",
  "the digit {word}",
  "a {color} digit {glyph}",
  "a handwritten {glyph}",
  "a photo of a {color} {name}",
];

function fill(template: string, c: KitClass, color: string): string {
  const word = DIGIT_WORDS[c.label];
  return template
    .replace("{color}", color)
    .replace("{name}", c.name)
    .replace("{word}", word)
    .replace("{glyph}", String(c.label));
}

/**
 * Every caption an image of class `c` in colour `color` can get. Held-out classes get only generic captions;
 * seen classes get their named templates plus, at a lower rate (see {@link drawCaption}), the generic ones, so
 * a generic caption does not itself point at the held-out classes.
 */
export function captionsFor(c: KitClass, color: string): { named: string[]; generic: string[] } {
  const generic = (c.dataset === "mnist" ? GENERIC_DIGIT : GENERIC_FASHION).map((t) => fill(t, c, color));
  if (c.heldOut) return { named: [], generic };
  const named = (c.dataset === "mnist" ? DIGIT_TEMPLATES : FASHION_TEMPLATES).map((t) => fill(t, c, color));
  return { named, generic };
}

/** One caption for an image: a named template 90% of the time for seen classes, a generic one otherwise. */
export function drawCaption(rng: Rng, c: KitClass, color: string): string {
  const { named, generic } = captionsFor(c, color);
  const pool = named.length > 0 && rng.nextFloat() < 0.9 ? named : generic;
  return pool[rng.nextInt(pool.length)];
}

/** Every caption the corpus can produce (for the tokenizer vocabulary and the text-embedding cache). */
export function allCaptions(): string[] {
  const out = new Set<string>();
  for (const c of KIT_CLASSES) {
    for (const color of KIT_COLORS) {
      const { named, generic } = captionsFor(c, color.name);
      for (const t of [...named, ...generic]) out.add(t);
    }
  }
  return [...out].sort();
}

/** The kit corpus: RGB 32×32 images in [0, 1] with class and colour per image. */
export interface KitCorpus {
  /** N·3·32·32 floats in [0, 1]. */
  readonly images: Float32Array;
  /** Index into {@link KIT_CLASSES}. */
  readonly classes: Int32Array;
  /** Index into {@link KIT_COLORS}. */
  readonly colors: Int32Array;
  readonly count: number;
}

/**
 * Builds the corpus from a split of fashion-mnist and mnist (pretraining uses `"train"` only; the test split
 * serves evaluation). Each 28×28 glyph is padded to 32×32 and tinted with a colour drawn per image from a
 * fixed seed, so the corpus is the same on every machine.
 */
export async function buildCorpus(split: "train" | "test"): Promise<KitCorpus> {
  const sources = [await loadBuiltinDataset("fashion-mnist"), await loadBuiltinDataset("mnist")];
  const picks = sources.map((d) => (split === "train" ? d.train : d.test));
  const count = picks[0].length + picks[1].length;
  const size = KIT_IMAGE_SIZE;
  const plane = size * size;
  const images = new Float32Array(count * 3 * plane);
  const classes = new Int32Array(count);
  const colors = new Int32Array(count);
  const rng = new Rng(CORPUS_SEED, split === "train" ? 0 : 1);
  let n = 0;
  sources.forEach((d, s) => {
    const hw = d.height * d.width;
    const pad = (size - d.height) / 2;
    for (const index of picks[s]) {
      classes[n] = s * 10 + d.labels[index];
      const color = rng.nextInt(KIT_COLORS.length);
      colors[n] = color;
      const rgb = KIT_COLORS[color].rgb;
      const base = n * 3 * plane;
      for (let y = 0; y < d.height; y++) {
        for (let x = 0; x < d.width; x++) {
          const v = d.pixels[index * hw * d.channels + y * d.width + x] / 255;
          const at = (y + pad) * size + x + pad;
          for (let ch = 0; ch < 3; ch++) images[base + ch * plane + at] = v * rgb[ch];
        }
      }
      n++;
    }
  });
  return { images, classes, colors, count };
}
