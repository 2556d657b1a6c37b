import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import {
  DataError,
  generateTextures,
  renderTexture,
  TEXTURE_CLASSES,
  TEXTURES_SIZE,
  type TextureSet,
} from "./index.js";

const CLASSES = TEXTURE_CLASSES.length;

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Image `i`'s BT.601 luma in [0, 1], H·W values. */
function luma(set: TextureSet, i: number): Float64Array {
  const plane = set.height * set.width;
  const at = i * 3 * plane;
  return Float64Array.from(
    { length: plane },
    (_, p) =>
      (0.299 * set.pixels[at + p] +
        0.587 * set.pixels[at + plane + p] +
        0.114 * set.pixels[at + 2 * plane + p]) /
      255,
  );
}

function std(values: ArrayLike<number>): number {
  let mean = 0;
  for (let i = 0; i < values.length; i++) mean += values[i];
  mean /= values.length;
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += (values[i] - mean) ** 2;
  return Math.sqrt(sum / values.length);
}

/**
 * Features that ignore what the generator randomises besides the form (colour, contrast, phase, position,
 * rotation): the luma standardised per image; its power spectrum's share per radius (frequency) and, sorted,
 * per orientation (how directional the pattern is); and the share of gradient energy along the radius
 * from the image centre (rings ≈ 1, spokes ≈ 0).
 */
function formFeatures(set: TextureSet, i: number): number[] {
  const side = set.height;
  const g = luma(set, i);
  const s = std(g) || 1;
  const mean = g.reduce((a, v) => a + v, 0) / g.length;
  for (let p = 0; p < g.length; p++) g[p] = (g[p] - mean) / s;
  const cos = Float64Array.from({ length: side }, (_, k) => Math.cos((2 * Math.PI * k) / side));
  const sin = Float64Array.from({ length: side }, (_, k) => Math.sin((2 * Math.PI * k) / side));
  // A separable DFT: rows, then columns.
  const re = new Float64Array(g.length);
  const im = new Float64Array(g.length);
  for (let y = 0; y < side; y++) {
    for (let k = 0; k < side; k++) {
      let a = 0;
      let b = 0;
      for (let x = 0; x < side; x++) {
        a += g[y * side + x] * cos[(k * x) % side];
        b -= g[y * side + x] * sin[(k * x) % side];
      }
      re[y * side + k] = a;
      im[y * side + k] = b;
    }
  }
  const maxRadius = Math.floor((side * 3) / 8);
  const radial = new Array<number>(maxRadius).fill(0);
  const angular = new Array<number>(8).fill(0);
  let total = 0;
  for (let k = 0; k < side; k++) {
    for (let l = 0; l < side; l++) {
      let a = 0;
      let b = 0;
      for (let y = 0; y < side; y++) {
        const c = cos[(l * y) % side];
        const sn = sin[(l * y) % side];
        a += re[y * side + k] * c + im[y * side + k] * sn;
        b += im[y * side + k] * c - re[y * side + k] * sn;
      }
      const fx = k < side / 2 ? k : k - side;
      const fy = l < side / 2 ? l : l - side;
      const r = Math.hypot(fx, fy);
      if (r < 0.5 || r >= maxRadius) continue;
      const power = a * a + b * b;
      total += power;
      radial[Math.floor(r)] += power;
      const theta = (Math.atan2(fy, fx) + Math.PI) % Math.PI;
      angular[Math.min(7, Math.floor((theta / Math.PI) * 8))] += power;
    }
  }
  angular.sort((a, b) => b - a);
  let along = 0;
  let energy = 0;
  for (let y = 1; y < side - 1; y++) {
    for (let x = 1; x < side - 1; x++) {
      const gx = g[y * side + x + 1] - g[y * side + x - 1];
      const gy = g[(y + 1) * side + x] - g[(y - 1) * side + x];
      const rx = x + 0.5 - side / 2;
      const ry = y + 0.5 - side / 2;
      const d = (gx * rx + gy * ry) / Math.hypot(rx, ry);
      along += d * d;
      energy += gx * gx + gy * gy;
    }
  }
  return [...radial.map((v) => v / total), ...angular.map((v) => v / total), along / energy];
}

/** Top-1 of a nearest-centroid classifier (features z-scored on the train images). */
function nearestCentroid(
  features: number[][],
  labels: ArrayLike<number>,
  isTrain: (i: number) => boolean,
): number {
  const dim = features[0].length;
  const train = features.map((_, i) => i).filter(isTrain);
  const mu = new Array<number>(dim).fill(0);
  const sd = new Array<number>(dim).fill(0);
  for (const i of train) for (let d = 0; d < dim; d++) mu[d] += features[i][d] / train.length;
  for (const i of train) for (let d = 0; d < dim; d++) sd[d] += (features[i][d] - mu[d]) ** 2 / train.length;
  const z = features.map((f) => f.map((v, d) => (v - mu[d]) / (Math.sqrt(sd[d]) || 1)));
  const centroids = Array.from({ length: CLASSES }, () => new Array<number>(dim).fill(0));
  const counts = new Array<number>(CLASSES).fill(0);
  for (const i of train) {
    counts[labels[i]]++;
    for (let d = 0; d < dim; d++) centroids[labels[i]][d] += z[i][d];
  }
  for (let k = 0; k < CLASSES; k++) for (let d = 0; d < dim; d++) centroids[k][d] /= counts[k];
  let right = 0;
  let tested = 0;
  z.forEach((f, i) => {
    if (isTrain(i)) return;
    let best = -1;
    let bestDistance = Number.POSITIVE_INFINITY;
    centroids.forEach((c, k) => {
      const distance = c.reduce((sum, v, d) => sum + (v - f[d]) ** 2, 0);
      if (distance < bestDistance) {
        bestDistance = distance;
        best = k;
      }
    });
    tested++;
    if (best === labels[i]) right++;
  });
  return right / tested;
}

describe("textures generator", () => {
  test("a pure function of the seed: same seed, same bytes; a class's first images never depend on the count", () => {
    const a = generateTextures({ perClass: 12 });
    const b = generateTextures({ perClass: 12 });
    assert.deepEqual(Buffer.from(a.pixels), Buffer.from(b.pixels));
    assert.deepEqual([a.channels, a.height, a.width], [3, TEXTURES_SIZE, TEXTURES_SIZE]);
    assert.equal(a.pixels.length, CLASSES * 12 * 3 * TEXTURES_SIZE * TEXTURES_SIZE);
    assert.deepEqual([...a.labels.slice(11, 13)], [0, 1], "class-major");
    assert.deepEqual([...a.index.slice(11, 14)], [11, 0, 1]);
    const size = 3 * TEXTURES_SIZE * TEXTURES_SIZE;
    const fewer = generateTextures({ perClass: 5 });
    for (let c = 0; c < CLASSES; c++) {
      for (let k = 0; k < 5; k++) {
        const here = Buffer.from(fewer.pixels.subarray((c * 5 + k) * size, (c * 5 + k + 1) * size));
        assert.ok(here.equals(a.pixels.subarray((c * 12 + k) * size, (c * 12 + k + 1) * size)));
        assert.ok(here.equals(renderTexture(c, k)), "one image renders alone");
      }
    }
    const other = generateTextures({ perClass: 12, seed: 1 });
    assert.notDeepEqual(Buffer.from(other.pixels), Buffer.from(a.pixels));
    // Pins the generator's output: a change here must bump TEXTURES_VERSION (and this hash), on purpose.
    assert.equal(
      sha256(generateTextures({ perClass: 4 }).pixels),
      "b7492d1e35d4c53f5f6c5657092a3e905c794e0783e6c152cd320a8eefb95608",
    );
  });

  test("any size from 8 to 256 renders the same patterns; others are refused", () => {
    const big = generateTextures({ perClass: 2, size: 64 });
    assert.deepEqual([big.height, big.width, big.pixels.length], [64, 64, CLASSES * 2 * 3 * 64 * 64]);
    for (const size of [7, 257, 32.5]) {
      assert.throws(
        () => generateTextures({ perClass: 1, size }),
        (e) => e instanceof DataError && e.code === "invalid_argument",
      );
    }
    assert.throws(() => renderTexture(CLASSES, 0), DataError);
    assert.throws(() => generateTextures({ perClass: 0 }), DataError);
  });

  test("every image shows its pattern, and images of a class really vary", () => {
    const perClass = 40;
    const set = generateTextures({ perClass });
    const plane = set.height * set.width;
    const size = 3 * plane;
    for (let c = 0; c < CLASSES; c++) {
      const name = TEXTURE_CLASSES[c];
      const seen = new Set<string>();
      const means: number[] = [];
      for (let k = 0; k < perClass; k++) {
        const i = c * perClass + k;
        const y = luma(set, i);
        // Two colours at least 0.3 apart in luma: the pattern's contrast is visible in every image.
        assert.ok(std(y) > 0.05, `${name} ${k}: luma std ${std(y).toFixed(3)}`);
        means.push(y.reduce((a, v) => a + v, 0) / plane);
        seen.add(Buffer.from(set.pixels.subarray(i * size, (i + 1) * size)).toString("latin1"));
      }
      assert.equal(seen.size, perClass, `${name}: no two images alike`);
      // Colours and contrast vary from image to image.
      assert.ok(std(means) > 0.05, `${name}: mean luma std ${std(means).toFixed(3)} over images`);
      // Per pixel, images of the class differ (phase, position, rotation): the class is no template.
      let spread = 0;
      for (let p = 0; p < size; p++) {
        const values = Array.from(
          { length: perClass },
          (_, k) => set.pixels[(c * perClass + k) * size + p] / 255,
        );
        spread += std(values) / size;
      }
      assert.ok(spread > 0.2, `${name}: per-pixel std over images ${spread.toFixed(3)}`);
    }
  });

  test("learnable from the form alone, not from raw pixels: nearest centroid on 50 + 50 images per class", () => {
    const perClass = 100;
    const set = generateTextures({ perClass });
    const isTrain = (i: number) => set.index[i] < 50;
    const size = 3 * set.height * set.width;
    const raw = Array.from({ length: set.labels.length }, (_, i) =>
      Array.from(set.pixels.subarray(i * size, (i + 1) * size), (v) => v / 255),
    );
    const rawTop1 = nearestCentroid(raw, set.labels, isTrain);
    const formTop1 = nearestCentroid(
      Array.from({ length: set.labels.length }, (_, i) => formFeatures(set, i)),
      set.labels,
      isTrain,
    );
    const chance = 1 / CLASSES;
    // Deterministic data and classifier: these numbers are the same on every run.
    assert.ok(formTop1 > 4 * chance, `form features: top-1 ${formTop1} (chance ${chance})`);
    assert.ok(rawTop1 < 2 * chance, `raw pixels: top-1 ${rawTop1}: colour or position gives the class away`);
  });
});
