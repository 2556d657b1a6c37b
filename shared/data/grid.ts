import sharp from "sharp";
import { DataError } from "./errors.js";
import { drawText, GLYPH_HEIGHT, textWidth } from "./font.js";
import { type ImageSet, imageCount, imageSize } from "./image-set.js";

/** Options of {@link renderGrid}. */
export interface GridOptions {
  /** Images to show, in order. Default: all. */
  readonly indices?: ArrayLike<number>;
  /** Flat layout: tiles per row. Default ⌈√n⌉. Ignored with `perClass`. */
  readonly columns?: number;
  /**
   * One row per class holding its first `perClass` images (in `indices` order), with the class name at the
   * left of the row (unless `labels` is false). Classes with no image are left out.
   */
  readonly perClass?: number;
  /** Draw class names (with `perClass`). Default true. */
  readonly labels?: boolean;
  /** Integer upscaling of each image (nearest neighbour), so 28 px digits stay legible. Default 1. */
  readonly scale?: number;
  /** Integer upscaling of the label font. Default 1. */
  readonly textScale?: number;
  /** Pixels between and around tiles. Default 2. */
  readonly padding?: number;
  /** Gray level of the background, 0–255. Default 255 (white); labels are drawn black or white against it. */
  readonly background?: number;
}

function positiveInt(name: string, value: number, min = 1): number {
  if (!Number.isInteger(value) || value < min) {
    throw new DataError("invalid_argument", `${name} must be an integer ≥ ${min}, got ${value}`);
  }
  return value;
}

/** Tiles images of a set into one RGB PNG (grayscale images are shown gray), for reports and model cards. */
export async function renderGrid(set: ImageSet, options: GridOptions = {}): Promise<Uint8Array> {
  const n = imageCount(set);
  const picked = options.indices ?? Int32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < picked.length; i++) {
    if (!Number.isInteger(picked[i]) || picked[i] < 0 || picked[i] >= n) {
      throw new DataError("invalid_argument", `index ${picked[i]} is outside [0, ${n})`);
    }
  }
  const scale = positiveInt("scale", options.scale ?? 1);
  const textScale = positiveInt("textScale", options.textScale ?? 1);
  const padding = positiveInt("padding", options.padding ?? 2, 0);
  const background = options.background ?? 255;
  const ink: [number, number, number] = background >= 128 ? [0, 0, 0] : [255, 255, 255];

  // rows[r] = image indices in row r, rowLabels[r] = its label (or "")
  const rows: number[][] = [];
  const rowLabels: string[] = [];
  if (options.perClass !== undefined) {
    const perClass = positiveInt("perClass", options.perClass);
    const byClass = set.classNames.map((): number[] => []);
    for (let i = 0; i < picked.length; i++) {
      const row = byClass[set.labels[picked[i]]];
      if (row.length < perClass) row.push(picked[i]);
    }
    byClass.forEach((row, c) => {
      if (row.length === 0) return;
      rows.push(row);
      rowLabels.push(options.labels === false ? "" : set.classNames[c]);
    });
  } else {
    const columns = positiveInt(
      "columns",
      options.columns ?? Math.max(1, Math.ceil(Math.sqrt(picked.length))),
    );
    for (let i = 0; i < picked.length; i += columns) {
      rows.push(Array.from(picked).slice(i, i + columns));
      rowLabels.push("");
    }
  }
  if (rows.length === 0) throw new DataError("invalid_argument", "nothing to draw");

  const tileW = set.width * scale;
  const tileH = set.height * scale;
  const labelWidth = Math.max(0, ...rowLabels.map((label) => textWidth(label, textScale)));
  const labelColumn = labelWidth > 0 ? labelWidth + padding : 0;
  const columns = Math.max(...rows.map((row) => row.length));
  const width = padding + labelColumn + columns * (tileW + padding);
  const height = padding + rows.length * (tileH + padding);
  const canvas = new Uint8Array(width * height * 3).fill(background);

  const plane = set.height * set.width;
  const size = imageSize(set);
  rows.forEach((row, r) => {
    const top = padding + r * (tileH + padding);
    if (rowLabels[r] !== "") {
      const textTop = top + Math.max(0, Math.floor((tileH - GLYPH_HEIGHT * textScale) / 2));
      drawText(canvas, width, height, rowLabels[r], padding, textTop, ink, textScale);
    }
    row.forEach((index, column) => {
      const left = padding + labelColumn + column * (tileW + padding);
      const base = index * size;
      for (let y = 0; y < tileH; y++) {
        const sy = Math.floor(y / scale);
        for (let x = 0; x < tileW; x++) {
          const p = sy * set.width + Math.floor(x / scale);
          const at = ((top + y) * width + left + x) * 3;
          for (let c = 0; c < 3; c++) {
            const v = set.images[base + (set.channels === 1 ? 0 : c) * plane + p];
            canvas[at + c] = v >= 1 ? 255 : v > 0 ? Math.round(v * 255) : 0;
          }
        }
      }
    });
  });
  const png = await sharp(Buffer.from(canvas.buffer), { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
  return new Uint8Array(png);
}
