import type { ChwImage } from "../../diffusion/index.js";
import { Rng } from "../../random/index.js";

/** How many fractals the server renders for a job when the request sends none (DiffuseMix draws one per sample). */
const RENDERED_FRACTALS = 8;

/**
 * Julia-set fractals coloured by escape time with a random cosine palette, all drawn from `seed`: the same
 * seed and size give the same images on every replica. DiffuseMix blends such images over its mixes when
 * no fractal images come with the request.
 */
export function renderFractals(
  seed: number,
  height: number,
  width: number,
  count = RENDERED_FRACTALS,
): ChwImage[] {
  return Array.from({ length: count }, (_, k) => {
    const rng = new Rng(seed, 0x4672_0000 + k);
    const angle = rng.nextFloat() * 2 * Math.PI;
    const radius = 0.7 + 0.1 * rng.nextFloat();
    const cr = radius * Math.cos(angle);
    const ci = radius * Math.sin(angle);
    const zoom = 1.2 + rng.nextFloat();
    const phase = [rng.nextFloat(), rng.nextFloat(), rng.nextFloat()].map((p) => 2 * Math.PI * p);
    const frequency = 2 + 4 * rng.nextFloat();
    const plane = height * width;
    const data = new Float32Array(3 * plane);
    const maxIter = 64;
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        let zr = ((x + 0.5) / width - 0.5) * 2 * zoom;
        let zi = ((y + 0.5) / height - 0.5) * 2 * zoom;
        let n = 0;
        while (n < maxIter && zr * zr + zi * zi < 4) {
          const t = zr * zr - zi * zi + cr;
          zi = 2 * zr * zi + ci;
          zr = t;
          n++;
        }
        const v = n / maxIter;
        for (let c = 0; c < 3; c++)
          data[c * plane + y * width + x] = 0.5 + 0.5 * Math.cos(frequency * v * 2 * Math.PI + phase[c]);
      }
    return { data, channels: 3, height, width };
  });
}
