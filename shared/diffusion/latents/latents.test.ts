import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sampleNoise } from "../../random/index.js";
import {
  angleBetween,
  applyChannelPerturbation,
  channelPerturbationGradient,
  circleAngle,
  circleInterpolation,
  classifierFreeGuidance,
  classifierFreeGuidanceFromBatch,
  instructPix2PixGuidance,
  instructPix2PixGuidanceFromBatch,
  projectLinfBall,
  randomChannelPerturbation,
  randomCircleInterpolation,
  signGradientStep,
  slerp,
} from "./index.js";

function norm(x: Float32Array): number {
  return Math.sqrt(x.reduce((s, v) => s + v * v, 0));
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-5): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance, `element ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

const A = sampleNoise(1, 0, 256);
const B = sampleNoise(1, 1, 256);

describe("slerp", () => {
  it("returns the endpoints at t = 0 and t = 1", () => {
    assertClose(slerp(A, B, 0), A);
    assertClose(slerp(A, B, 1), B);
  });

  it("preserves the norm between latents of equal norm and moves at constant angular speed", () => {
    const b = Float32Array.from(B, (v) => (v * norm(A)) / norm(B));
    const theta = angleBetween(A, b);
    for (const t of [0.1, 0.25, 0.5, 0.9]) {
      const z = slerp(A, b, t);
      assert.ok(Math.abs(norm(z) - norm(A)) < 1e-3 * norm(A), `t=${t}: ${norm(z)} vs ${norm(A)}`);
      assert.ok(Math.abs(angleBetween(A, z) - t * theta) < 1e-4);
    }
  });

  it("matches the closed form on a 2-D example: halfway between (1,0) and (0,1) is (√½, √½)", () => {
    assertClose(slerp(Float32Array.of(1, 0), Float32Array.of(0, 1), 0.5), [Math.SQRT1_2, Math.SQRT1_2], 1e-7);
  });

  it("falls back to linear interpolation for (almost) parallel latents", () => {
    assertClose(slerp(Float32Array.of(1, 2), Float32Array.of(2, 4), 0.5), [1.5, 3]);
  });
});

describe("Diff-II circle interpolation", () => {
  const e1 = Float32Array.of(1, 0, 0);
  const u = Float32Array.of(Math.cos(1), Math.sin(1), 0); // θ = 1 rad from e1

  it("starts at z1 (φ = 0) and passes through z2 at φ = 2π − θ", () => {
    assertClose(circleInterpolation(A, B, 0), A);
    const theta = angleBetween(A, B);
    assertClose(circleInterpolation(A, B, 2 * Math.PI - theta), B, 1e-4);
  });

  it("rotates away from z2 on their great circle (DiffDA-Eval rand_slerp with α = φ/θ)", () => {
    // sin((1 + α)θ)/sin θ · z1 − sin(αθ)/sin θ · z2 with θ = 1, α = 0.5: the point at angle −0.5 from e1.
    assertClose(circleInterpolation(e1, u, 0.5), [Math.cos(-0.5), Math.sin(-0.5), 0], 1e-6);
    assertClose(circleInterpolation(e1, u, Math.PI), [-1, 0, 0], 1e-6);
  });

  it("stays on the sphere for unit-norm latents and in the plane of z1, z2", () => {
    for (const angle of [0.3, 1.7, 4]) {
      const z = circleInterpolation(e1, u, angle);
      assert.ok(Math.abs(norm(z) - 1) < 1e-6);
      assert.equal(z[2], 0);
    }
  });

  it("returns z1 when the latents are parallel (θ ≈ 0)", () => {
    assertClose(circleInterpolation(e1, Float32Array.of(2, 0, 0), 1), e1);
  });

  it("draws φ ~ U(0, 2π) per sample, reproducibly", () => {
    const angles = Array.from({ length: 2000 }, (_, index) => circleAngle({ seed: 3, index }));
    assert.ok(angles.every((a) => a >= 0 && a < 2 * Math.PI));
    const mean = angles.reduce((s, a) => s + a, 0) / angles.length;
    assert.ok(Math.abs(mean - Math.PI) < 0.1, `mean ${mean}`);
    const { latent, angle } = randomCircleInterpolation(A, B, { seed: 3, index: 7 });
    assert.equal(angle, angles[7]);
    assertClose(latent, circleInterpolation(A, B, angle));
  });
});

describe("guidance", () => {
  const uncond = Float32Array.of(0.1, -0.2, 0.3);
  const cond = Float32Array.of(0.5, 0.4, -0.1);
  const image = Float32Array.of(0.2, 0.0, 0.25);

  it("classifier-free guidance: scale 1 is cond, 0 is uncond, 7.5 extrapolates", () => {
    assertClose(classifierFreeGuidance(uncond, cond, 1), cond, 0);
    assertClose(classifierFreeGuidance(uncond, cond, 0), uncond, 0);
    assertClose(
      classifierFreeGuidance(uncond, cond, 7.5),
      [0.1 + 7.5 * 0.4, -0.2 + 7.5 * 0.6, 0.3 - 7.5 * 0.4],
      1e-6,
    );
  });

  it("takes diffusers' [uncond; cond] batch order", () => {
    assertClose(
      classifierFreeGuidanceFromBatch(Float32Array.of(...uncond, ...cond), 3),
      classifierFreeGuidance(uncond, cond, 3),
    );
    assert.throws(() => classifierFreeGuidanceFromBatch(Float32Array.of(1, 2, 3), 2), /equal chunks/);
  });

  it("InstructPix2Pix: uncond + g·(text − image) + ig·(image − uncond), [text; image; uncond] order", () => {
    const expected = Array.from(
      uncond,
      (u, i) => u + 4 * (cond[i] - image[i]) + 1.5 * (image[i] - uncond[i]),
    );
    assertClose(instructPix2PixGuidance(cond, image, uncond, 4, 1.5), expected, 1e-6);
    assertClose(instructPix2PixGuidance(cond, image, uncond, 1, 1), cond, 1e-7);
    assertClose(
      instructPix2PixGuidanceFromBatch(Float32Array.of(...cond, ...image, ...uncond), 4, 1.5),
      expected,
      1e-6,
    );
  });
});

describe("GIF perturbation", () => {
  const shape = { batch: 2, channels: 4, height: 3, width: 3 };
  const latents = sampleNoise(5, 0, 2 * 4 * 9);
  const keys = [
    { seed: 5, index: 0 },
    { seed: 5, index: 1 },
  ];

  it("draws factors in [0, 1) and normal offsets per sample and channel, batch-invariantly", () => {
    const p = randomChannelPerturbation(keys, 4);
    assert.ok(p.multiplicative.every((m) => m >= 0 && m < 1));
    const second = randomChannelPerturbation([keys[1]], 4);
    assert.deepEqual(second.multiplicative, p.multiplicative.slice(4));
    assert.deepEqual(second.additive, p.additive.slice(4));
  });

  it("applies z·(1 + m) + b per channel", () => {
    const p = randomChannelPerturbation(keys, 4);
    const out = applyChannelPerturbation(latents, shape, p);
    for (let i = 0; i < latents.length; i++) {
      const nc = Math.floor(i / 9);
      assert.ok(Math.abs(out[i] - (latents[i] * (1 + p.multiplicative[nc]) + p.additive[nc])) < 1e-6);
    }
  });

  it("gives the exact gradient of a linear score (checked against finite differences)", () => {
    const weights = sampleNoise(6, 0, latents.length);
    const score = (p: { multiplicative: Float32Array; additive: Float32Array }) =>
      applyChannelPerturbation(latents, shape, p).reduce((s, v, i) => s + v * weights[i], 0);
    const p = randomChannelPerturbation(keys, 4);
    const grad = channelPerturbationGradient(latents, weights, shape);
    const h = 1e-2;
    for (const field of ["multiplicative", "additive"] as const) {
      for (let k = 0; k < 8; k++) {
        const plus = { ...p, [field]: Float32Array.from(p[field], (v, j) => (j === k ? v + h : v)) };
        const minus = { ...p, [field]: Float32Array.from(p[field], (v, j) => (j === k ? v - h : v)) };
        const numeric = (score(plus) - score(minus)) / (2 * h);
        assert.ok(Math.abs(numeric - grad[field][k]) < 1e-3 * (1 + Math.abs(numeric)), `${field}[${k}]`);
      }
    }
  });

  it("takes a signed step of 0.1", () => {
    const p = { multiplicative: Float32Array.of(0.5, 0.5), additive: Float32Array.of(0, 0) };
    const g = { multiplicative: Float32Array.of(3, -0.2), additive: Float32Array.of(0, -7) };
    const next = signGradientStep(p, g);
    assertClose(next.multiplicative, [0.6, 0.4], 1e-7);
    assertClose(next.additive, [0, -0.1], 1e-7);
  });

  it("projects into the L∞ ε-ball: every value within ε of the center, values inside unchanged", () => {
    const perturbed = applyChannelPerturbation(latents, shape, randomChannelPerturbation(keys, 4));
    for (const epsilon of [0.1, 0.8, 4]) {
      const projected = projectLinfBall(perturbed, latents, epsilon);
      for (let i = 0; i < latents.length; i++) {
        assert.ok(Math.abs(projected[i] - latents[i]) <= epsilon + 1e-6);
        if (Math.abs(perturbed[i] - latents[i]) <= epsilon) assert.equal(projected[i], perturbed[i]);
        else assert.ok(Math.abs(Math.abs(projected[i] - latents[i]) - epsilon) < 1e-6);
      }
    }
    assert.deepEqual(projectLinfBall(perturbed, latents, 0), latents);
    assert.throws(() => projectLinfBall(perturbed, latents, -1), RangeError);
  });
});
