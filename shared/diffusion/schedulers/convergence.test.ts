import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sampleNoise } from "../../random/index.js";
import { stepNoise } from "../noise.js";
import {
  DDIMInverseScheduler,
  DDIMScheduler,
  DDPMScheduler,
  DPMSolverMultistepScheduler,
  EulerAncestralDiscreteScheduler,
  type SchedulerPlan,
  SD15_SCHEDULER_CONFIG,
  type StepOptions,
} from "./index.js";

/**
 * Oracle denoisers. For data x₀ ~ N(μ, s²) per coordinate, x_t = √ᾱ·x₀ + √(1−ᾱ)·ε is Gaussian and the exact
 * noise prediction is E[ε | x_t] = √(1−ᾱ)·(x_t − √ᾱ·μ) / (ᾱs² + 1 − ᾱ). The probability-flow ODE keeps the
 * standardised value z = (x_t − √ᾱ·μ)/√(ᾱs² + 1 − ᾱ) constant, so its exact end point is known in closed form.
 */
const MU = 0.5;
const S = 1;
const alphas = DDIMScheduler.fromConfig(SD15_SCHEDULER_CONFIG).schedule.alphasCumprod;

function gaussianEps(x: Float32Array, timestep: number): Float32Array {
  const a = alphas[Math.round(timestep)];
  const k = Math.sqrt(1 - a) / (a * S * S + 1 - a);
  return Float32Array.from(x, (v) => k * (v - Math.sqrt(a) * MU));
}

/** The exact ODE solution at cumulative alpha `aEnd` from x at cumulative alpha `aStart`. */
function exactOde(x: Float32Array, aStart: number, aEnd: number): Float32Array {
  return Float32Array.from(x, (v) => {
    const z = (v - Math.sqrt(aStart) * MU) / Math.sqrt(aStart * S * S + 1 - aStart);
    return Math.sqrt(aEnd) * MU + Math.sqrt(aEnd * S * S + 1 - aEnd) * z;
  });
}

function denoise(
  plan: SchedulerPlan,
  x: Float32Array,
  model: (x: Float32Array, t: number) => Float32Array,
  options?: StepOptions,
): Float32Array {
  let state = plan.start();
  let sample = x;
  while (!state.done) {
    const output = model(plan.scaleModelInput(sample, state.timestep), state.timestep);
    ({ prevSample: sample, state } = plan.step(state, output, sample, options));
  }
  return sample;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

const X_T = sampleNoise(1, 0, 4096);

describe("DPM-Solver++ with an oracle for Gaussian data", () => {
  function error(steps: number, overrides: Record<string, unknown> = {}): number {
    const plan = DPMSolverMultistepScheduler.fromConfig({
      ...SD15_SCHEDULER_CONFIG,
      ...overrides,
    }).setTimesteps(steps);
    const aEnd = plan.sigmas[steps] === 0 ? 1 : alphas[0];
    return maxAbsDiff(denoise(plan, X_T, gaussianEps), exactOde(X_T, alphas[plan.timesteps[0]], aEnd));
  }

  it("converges to the exact ODE solution with the paper's settings (2M, 25 steps, final σ = 0)", () => {
    const [e25, e50, e100] = [error(25), error(50), error(100)];
    assert.ok(e25 < 0.1 && e50 < e25 && e100 < e50 && e100 < 0.025, `${e25} ${e50} ${e100}`);
  });

  it("is more accurate than first-order DDIM at the same step count", () => {
    const ddim = DDIMScheduler.fromConfig({
      ...SD15_SCHEDULER_CONFIG,
      timestep_spacing: "trailing",
    }).setTimesteps(25);
    const ddimError = maxAbsDiff(denoise(ddim, X_T, gaussianEps), exactOde(X_T, alphas[999], alphas[0]));
    assert.ok(error(25) < ddimError / 2, `dpm ${error(25)} ddim ${ddimError}`);
  });

  it("shows second-order convergence on Karras sigmas (halving the step divides the error by ~4)", () => {
    const karras = { use_karras_sigmas: true, final_sigmas_type: "sigma_min" };
    const [e50, e100] = [error(50, karras), error(100, karras)];
    assert.ok(e50 / e100 > 3 && e100 < 0.005, `${e50} ${e100}`);
  });
});

describe("DDIM inversion then DDIM", () => {
  const x0 = Float32Array.from(sampleNoise(2, 0, 4096), (v) => MU + S * v);

  it("reconstructs x₀ exactly with a perfect noise prediction (the ε of the trajectory)", () => {
    const eps = sampleNoise(3, 0, 4096);
    const perfect = () => eps;
    for (const config of [{ ...SD15_SCHEDULER_CONFIG, set_alpha_to_one: true }, SD15_SCHEDULER_CONFIG]) {
      for (const steps of [25, 200]) {
        const inverted = denoise(DDIMInverseScheduler.fromConfig(config).setTimesteps(steps), x0, perfect);
        assert.ok(maxAbsDiff(inverted, x0) > 0.5, "inversion should move the latent");
        const back = denoise(DDIMScheduler.fromConfig(config).setTimesteps(steps), inverted, perfect);
        assert.ok(maxAbsDiff(back, x0) < 2e-5, `steps ${steps}: ${maxAbsDiff(back, x0)}`);
      }
    }
  });

  it("approximately reconstructs x₀ with the Gaussian oracle, better with more steps", () => {
    const roundTrip = (steps: number) => {
      const inverted = denoise(
        DDIMInverseScheduler.fromConfig(SD15_SCHEDULER_CONFIG).setTimesteps(steps),
        x0,
        gaussianEps,
      );
      return maxAbsDiff(
        denoise(DDIMScheduler.fromConfig(SD15_SCHEDULER_CONFIG).setTimesteps(steps), inverted, gaussianEps),
        x0,
      );
    };
    const [e25, e200] = [roundTrip(25), roundTrip(200)];
    assert.ok(e200 < 0.01 && e200 < e25 / 4, `${e25} ${e200}`);
  });
});

describe("stochastic samplers with the Gaussian oracle", () => {
  const B = 64;
  const L = 64;
  const keys = Array.from({ length: B }, (_, index) => ({ seed: 11, index }));

  function sampleStats(plan: SchedulerPlan, options: StepOptions): [number, number] {
    const init = new Float32Array(B * L);
    for (let b = 0; b < B; b++)
      init.set(
        sampleNoise(11, b, L).map((v) => v * plan.initNoiseSigma),
        b * L,
      );
    const x = denoise(plan, init, gaussianEps, options);
    const mean = x.reduce((sum, v) => sum + v, 0) / x.length;
    const std = Math.sqrt(x.reduce((sum, v) => sum + (v - mean) ** 2, 0) / x.length);
    return [mean, std];
  }

  for (const [name, plan, options, minStd] of [
    [
      "DDPM fixed_small, 250 steps",
      DDPMScheduler.fromConfig(SD15_SCHEDULER_CONFIG).setTimesteps(250),
      {},
      0.95,
    ],
    [
      "DDPM fixed_large, 250 steps",
      DDPMScheduler.fromConfig({ ...SD15_SCHEDULER_CONFIG, variance_type: "fixed_large" }).setTimesteps(250),
      {},
      0.97,
    ],
    [
      "DDIM η = 1, 250 steps",
      DDIMScheduler.fromConfig(SD15_SCHEDULER_CONFIG).setTimesteps(250),
      { eta: 1 },
      0.95,
    ],
    [
      "Euler ancestral, 100 steps",
      EulerAncestralDiscreteScheduler.fromConfig(SD15_SCHEDULER_CONFIG).setTimesteps(100),
      {},
      0.9,
    ],
  ] as const) {
    it(`${name} samples N(μ, s²)`, () => {
      const [mean, std] = sampleStats(plan, { ...options, noise: keys });
      assert.ok(Math.abs(mean - MU) < 0.03, `mean ${mean}`);
      assert.ok(std > minStd * S && std < 1.03 * S, `std ${std}`);
    });
  }
});

describe("per-sample noise", () => {
  const plans: [string, SchedulerPlan, StepOptions][] = [
    ["DDPM", DDPMScheduler.fromConfig(SD15_SCHEDULER_CONFIG).setTimesteps(25), {}],
    ["DDIM η = 0.7", DDIMScheduler.fromConfig(SD15_SCHEDULER_CONFIG).setTimesteps(25), { eta: 0.7 }],
    [
      "Euler ancestral",
      EulerAncestralDiscreteScheduler.fromConfig(SD15_SCHEDULER_CONFIG).setTimesteps(25),
      {},
    ],
  ];
  const L = 16;
  const batch = Float32Array.from({ length: 3 * L }, (_, i) => Math.sin(i));
  const output = Float32Array.from({ length: 3 * L }, (_, i) => Math.cos(i));
  const keys = [
    { seed: 7, index: 0 },
    { seed: 7, index: 1 },
    { seed: 9, index: 5 },
  ];

  for (const [name, plan, options] of plans) {
    it(`${name}: a sample steps the same alone as inside a batch`, () => {
      const state = plan.start(3);
      const together = plan.step(state, output, batch, { ...options, noise: keys }).prevSample;
      for (let s = 0; s < 3; s++) {
        const alone = plan.step(state, output.slice(s * L, (s + 1) * L), batch.slice(s * L, (s + 1) * L), {
          ...options,
          noise: [keys[s]],
        }).prevSample;
        assert.deepEqual(alone, together.slice(s * L, (s + 1) * L));
      }
    });
  }

  it("depends on (seed, index, timestep) only, and equals stepNoise", () => {
    const plan = DDIMScheduler.fromConfig(SD15_SCHEDULER_CONFIG).setTimesteps(25);
    const zero = new Float32Array(L);
    const state = plan.start(5);
    const a = plan.step(state, zero, zero, { eta: 1, noise: [{ seed: 7, index: 1 }] }).prevSample;
    const explicit = plan.step(state, zero, zero, {
      eta: 1,
      noise: stepNoise({ seed: 7, index: 1 }, state.timestep, L),
    });
    assert.deepEqual(a, explicit.prevSample);
    const otherStep = plan.step(plan.start(6), zero, zero, {
      eta: 1,
      noise: [{ seed: 7, index: 1 }],
    }).prevSample;
    assert.notDeepEqual(a, otherStep);
  });

  it("never modifies the inputs", () => {
    const plan = EulerAncestralDiscreteScheduler.fromConfig(SD15_SCHEDULER_CONFIG).setTimesteps(25);
    const sample = batch.slice();
    const out = output.slice();
    plan.step(plan.start(), out, sample, { noise: keys });
    plan.scaleModelInput(sample, plan.timesteps[0]);
    assert.deepEqual(sample, batch);
    assert.deepEqual(out, output);
  });

  it("rejects a key count that does not divide the batch", () => {
    const plan = DDPMScheduler.fromConfig(SD15_SCHEDULER_CONFIG).setTimesteps(25);
    assert.throws(
      () => plan.step(plan.start(), output, batch, { noise: [...keys, ...keys.slice(0, 2)] }),
      /cannot be split/,
    );
  });
});
