import { Rng } from "../random/index.js";

/** An instruction edit the kit's InstructPix2Pix-style model is trained on, with its pixel-space definition. */
export interface KitEdit {
  readonly name: string;
  /** Instructions that ask for it (the first is the canonical one); DiffuseMix phrasings included. */
  readonly instructions: readonly string[];
}

/** The edits of the kit, in a fixed order (the edit model's training data and the bench use it). */
export const KIT_EDITS: readonly KitEdit[] = Object.freeze([
  {
    name: "sketch",
    instructions: [
      "make it a sketch",
      "turn it into a pencil sketch",
      "a transformed version of image into a sketch with crayon",
    ],
  },
  { name: "invert", instructions: ["invert the colors", "make it a negative"] },
  {
    name: "blur",
    instructions: ["blur it", "make it blurry", "a transformed version of image into watercolor art"],
  },
  {
    name: "mosaic",
    instructions: ["make it a mosaic", "pixelate it", "a transformed version of image into mosaic"],
  },
  { name: "emboss", instructions: ["emboss it", "make it embossed"] },
  { name: "snow", instructions: ["add snow", "make it snowy", "a transformed version of image into snowy"] },
  { name: "autumn", instructions: ["make it autumn", "a transformed version of image into autumn"] },
  { name: "sunset", instructions: ["make it a sunset", "a transformed version of image into sunset"] },
]);

/** Every instruction text (for the tokenizer vocabulary and the text cache). */
export function allInstructions(): string[] {
  return KIT_EDITS.flatMap((e) => e.instructions);
}

const S = 32;
const P = S * S;

function luminance(x: Float32Array): Float32Array {
  const g = new Float32Array(P);
  for (let i = 0; i < P; i++) g[i] = 0.299 * x[i] + 0.587 * x[P + i] + 0.114 * x[2 * P + i];
  return g;
}

const at = (g: Float32Array, y: number, x: number) =>
  g[Math.min(S - 1, Math.max(0, y)) * S + Math.min(S - 1, Math.max(0, x))];
const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

function gray3(g: Float32Array): Float32Array {
  const out = new Float32Array(3 * P);
  for (let c = 0; c < 3; c++) out.set(g, c * P);
  return out;
}

/**
 * Applies edit `name` to one RGB 32×32 image (CHW, [0, 1]); `seed` drives the random ones (snow).
 * sketch: dark Sobel edges on white; invert: 1 − x; blur: Gaussian σ 1.2; mosaic: 4×4 blocks; emboss: gray
 * relief around 0.5; snow: white speckles over a brightened image; autumn: warm orange-brown grade; sunset:
 * an orange-to-purple sky behind the object.
 */
export function applyEdit(name: string, x: Float32Array, seed = 0): Float32Array {
  switch (name) {
    case "sketch": {
      const g = luminance(x);
      const out = new Float32Array(P);
      for (let y = 0; y < S; y++) {
        for (let i = 0; i < S; i++) {
          const gx =
            at(g, y - 1, i + 1) +
            2 * at(g, y, i + 1) +
            at(g, y + 1, i + 1) -
            at(g, y - 1, i - 1) -
            2 * at(g, y, i - 1) -
            at(g, y + 1, i - 1);
          const gy =
            at(g, y + 1, i - 1) +
            2 * at(g, y + 1, i) +
            at(g, y + 1, i + 1) -
            at(g, y - 1, i - 1) -
            2 * at(g, y - 1, i) -
            at(g, y - 1, i + 1);
          out[y * S + i] = clamp01(1 - 1.2 * Math.sqrt(gx * gx + gy * gy));
        }
      }
      return gray3(out);
    }
    case "invert":
      return x.map((v) => 1 - v);
    case "blur": {
      const k = [0.0625, 0.25, 0.375, 0.25, 0.0625];
      const out = new Float32Array(3 * P);
      for (let c = 0; c < 3; c++) {
        const src = x.subarray(c * P, (c + 1) * P);
        const tmp = new Float32Array(P);
        for (let y = 0; y < S; y++)
          for (let i = 0; i < S; i++)
            tmp[y * S + i] = k.reduce((a, w, j) => a + w * at(src, y, i + j - 2), 0);
        for (let y = 0; y < S; y++)
          for (let i = 0; i < S; i++)
            out[c * P + y * S + i] = k.reduce((a, w, j) => a + w * at(tmp, y + j - 2, i), 0);
      }
      return out;
    }
    case "mosaic": {
      const out = new Float32Array(3 * P);
      for (let c = 0; c < 3; c++) {
        for (let by = 0; by < S; by += 4) {
          for (let bx = 0; bx < S; bx += 4) {
            let m = 0;
            for (let y = 0; y < 4; y++) for (let i = 0; i < 4; i++) m += x[c * P + (by + y) * S + bx + i];
            m /= 16;
            for (let y = 0; y < 4; y++) for (let i = 0; i < 4; i++) out[c * P + (by + y) * S + bx + i] = m;
          }
        }
      }
      return out;
    }
    case "emboss": {
      const g = luminance(x);
      const out = new Float32Array(P);
      for (let y = 0; y < S; y++)
        for (let i = 0; i < S; i++)
          out[y * S + i] = clamp01(0.5 + 1.5 * (at(g, y + 1, i + 1) - at(g, y - 1, i - 1)));
      return gray3(out);
    }
    case "snow": {
      const rng = new Rng(seed, 77);
      const out = new Float32Array(3 * P);
      for (let p = 0; p < P; p++) {
        const flake = rng.nextFloat() < 0.1;
        for (let c = 0; c < 3; c++)
          out[c * P + p] = flake ? 1 : clamp01(0.15 + 0.8 * x[c * P + p] + (c === 2 ? 0.08 : 0));
      }
      return out;
    }
    case "autumn": {
      const g = luminance(x);
      const out = new Float32Array(3 * P);
      for (let p = 0; p < P; p++) {
        out[p] = clamp01(0.12 + 0.95 * g[p]);
        out[P + p] = clamp01(0.05 + 0.55 * g[p]);
        out[2 * P + p] = clamp01(0.02 + 0.15 * g[p]);
      }
      return out;
    }
    case "sunset": {
      const g = luminance(x);
      const out = new Float32Array(3 * P);
      for (let y = 0; y < S; y++) {
        const t = y / (S - 1);
        const sky = [1 - 0.5 * t, 0.55 - 0.4 * t, 0.15 + 0.45 * t];
        for (let i = 0; i < S; i++) {
          const p = y * S + i;
          const bg = 1 - Math.min(1, 2 * g[p]);
          for (let c = 0; c < 3; c++) out[c * P + p] = clamp01(0.85 * x[c * P + p] + bg * sky[c] * 0.8);
        }
      }
      return out;
    }
    default:
      throw new RangeError(`unknown edit ${name}`);
  }
}
