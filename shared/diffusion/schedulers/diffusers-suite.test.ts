import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DDIMInverseScheduler,
  DDIMScheduler,
  DPMSolverMultistepScheduler,
  type SchedulerPlan,
} from "./index.js";

/**
 * Full-loop checks reproduced from diffusers' own scheduler test-suite (tests/schedulers/test_scheduler_ddim.py,
 * test_scheduler_ddim_inverse.py, test_scheduler_dpm_multi.py), whose expected sums were produced by running
 * diffusers itself. Their fixtures: `dummy_sample_deter` = arange(768)/768 shaped 4×3×8×8, `dummy_noise_deter`
 * = the same reversed, and the dummy model ε(x, t) = x·t/(t + 1). Every operation is elementwise, so the
 * flat order is enough; tolerances are the suite's own (1e-2 on sums, 1e-3 on means).
 */
const SIZE = 4 * 3 * 8 * 8;
const SAMPLE = Float32Array.from({ length: SIZE }, (_, k) => k / SIZE);
const NOISE = Float32Array.from({ length: SIZE }, (_, k) => (SIZE - 1 - k) / SIZE);

function dummyModel(sample: Float32Array, t: number): Float32Array {
  return Float32Array.from(sample, (v) => (v * t) / (t + 1));
}

function run(plan: SchedulerPlan, sample: Float32Array, startIndex = 0): Float32Array {
  let state = plan.start(startIndex);
  let x = sample;
  while (!state.done) ({ prevSample: x, state } = plan.step(state, dummyModel(x, state.timestep), x));
  return x;
}

function absSum(x: Float32Array): number {
  let sum = 0;
  for (const v of x) sum += Math.abs(v);
  return sum;
}

const DDIM_TEST_CONFIG = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: "linear",
  clip_sample: true,
};

describe("diffusers test suite: DDIMScheduler full loop (10 steps)", () => {
  for (const [name, overrides, sum, mean] of [
    ["no noise", {}, 172.0067, 0.223967],
    ["v-prediction", { prediction_type: "v_prediction" }, 52.5302, 0.0684],
    ["set_alpha_to_one", { set_alpha_to_one: true, beta_start: 0.01 }, 149.8295, 0.1951],
    ["no set_alpha_to_one", { set_alpha_to_one: false, beta_start: 0.01 }, 149.0784, 0.1941],
  ] as const) {
    it(`${name}: |x| sums to ${sum}`, () => {
      const plan = DDIMScheduler.fromConfig({ ...DDIM_TEST_CONFIG, ...overrides }).setTimesteps(10);
      const result = run(plan, SAMPLE);
      assert.ok(Math.abs(absSum(result) - sum) < 1e-2, `sum ${absSum(result)}`);
      assert.ok(Math.abs(absSum(result) / SIZE - mean) < 1e-3);
    });
  }

  it("with noise from t_start = 8: |x| sums to 354.5418", () => {
    const plan = DDIMScheduler.fromConfig(DDIM_TEST_CONFIG).setTimesteps(10);
    const noisy = plan.addNoise(SAMPLE, NOISE, plan.timesteps[8]);
    const result = run(plan, noisy, 8);
    assert.ok(Math.abs(absSum(result) - 354.5418) < 1e-2, `sum ${absSum(result)}`);
  });
});

describe("diffusers test suite: DDIMInverseScheduler full loop (10 steps)", () => {
  for (const [name, overrides, sum, mean] of [
    ["no noise", {}, 671.6816, 0.8746],
    ["v-prediction", { prediction_type: "v_prediction" }, 1394.2185, 1.8154],
    ["set_alpha_to_one", { set_alpha_to_one: true, beta_start: 0.01 }, 539.9622, 0.7031],
    ["no set_alpha_to_one", { set_alpha_to_one: false, beta_start: 0.01 }, 542.6722, 0.7066],
  ] as const) {
    it(`${name}: |x| sums to ${sum}`, () => {
      const plan = DDIMInverseScheduler.fromConfig({ ...DDIM_TEST_CONFIG, ...overrides }).setTimesteps(10);
      const result = run(plan, SAMPLE);
      assert.ok(Math.abs(absSum(result) - sum) < 1e-2, `sum ${absSum(result)}`);
      assert.ok(Math.abs(absSum(result) / SIZE - mean) < 1e-3);
    });
  }
});

const DPM_TEST_CONFIG = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: "linear",
  solver_order: 2,
  prediction_type: "epsilon",
  thresholding: false,
  sample_max_value: 1.0,
  algorithm_type: "dpmsolver++",
  solver_type: "midpoint",
  lower_order_final: false,
  euler_at_final: false,
  lambda_min_clipped: "-inf",
  variance_type: null,
  final_sigmas_type: "sigma_min",
};

describe("diffusers test suite: DPMSolverMultistepScheduler full loop (10 steps)", () => {
  for (const [name, overrides, mean] of [
    ["no noise", {}, 0.3301],
    ["v-prediction", { prediction_type: "v_prediction" }, 0.2251],
    ["Karras sigmas and v-prediction", { prediction_type: "v_prediction", use_karras_sigmas: true }, 0.2096],
    // test_switch: a DEIS config (algorithm_type "deis", solver_type "logrho") maps back onto DPM-Solver++.
    ["DEIS config reused", { algorithm_type: "deis", solver_type: "logrho" }, 0.3301],
  ] as const) {
    it(`${name}: mean |x| is ${mean}`, () => {
      const plan = DPMSolverMultistepScheduler.fromConfig({ ...DPM_TEST_CONFIG, ...overrides }).setTimesteps(
        10,
      );
      const result = run(plan, SAMPLE);
      assert.ok(Math.abs(absSum(result) / SIZE - mean) < 1e-3, `mean ${absSum(result) / SIZE}`);
    });
  }

  it("with noise from t_start = 5: |x| sums to 318.4111", () => {
    const plan = DPMSolverMultistepScheduler.fromConfig(DPM_TEST_CONFIG).setTimesteps(10);
    const noisy = plan.addNoise(SAMPLE, NOISE, plan.timesteps[5]);
    const result = run(plan, noisy, 5);
    assert.ok(Math.abs(absSum(result) - 318.4111) < 1e-2, `sum ${absSum(result)}`);
    assert.ok(Math.abs(absSum(result) / SIZE - 0.4146) < 1e-3);
  });
});
