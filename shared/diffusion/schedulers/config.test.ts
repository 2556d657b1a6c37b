import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DDIM_DEFAULTS,
  DDIMInverseScheduler,
  DDIMScheduler,
  DDPMScheduler,
  DPMSolverMultistepScheduler,
  EulerAncestralDiscreteScheduler,
  parseDiffusersJson,
  SchedulerConfigError,
  SD15_SCHEDULER_CONFIG,
  schedulerFromConfig,
} from "./index.js";

describe("fromConfig with Stable Diffusion 1.5's PNDM config", () => {
  it("builds every scheduler, reading the shared keys and ignoring PNDM's skip_prk_steps", () => {
    for (const Scheduler of [
      DDPMScheduler,
      DDIMScheduler,
      DDIMInverseScheduler,
      DPMSolverMultistepScheduler,
      EulerAncestralDiscreteScheduler,
    ]) {
      const { config } = Scheduler.fromConfig(SD15_SCHEDULER_CONFIG);
      assert.equal(config.numTrainTimesteps, 1000);
      assert.equal(config.betaStart, 0.00085);
      assert.equal(config.betaEnd, 0.012);
      assert.equal(config.betaSchedule, "scaled_linear");
      assert.equal(config.stepsOffset, 1);
      assert.equal(config.trainedBetas, null);
      assert.equal(config.predictionType, "epsilon");
      assert.ok(!("skipPrkSteps" in config));
    }
  });

  it("takes each class's own defaults for keys the config lacks", () => {
    const ddim = DDIMScheduler.fromConfig(SD15_SCHEDULER_CONFIG).config;
    assert.deepEqual([ddim.clipSample, ddim.setAlphaToOne, ddim.timestepSpacing], [false, false, "leading"]);
    const dpm = DPMSolverMultistepScheduler.fromConfig(SD15_SCHEDULER_CONFIG).config;
    assert.deepEqual(
      [
        dpm.solverOrder,
        dpm.algorithmType,
        dpm.solverType,
        dpm.lowerOrderFinal,
        dpm.finalSigmasType,
        dpm.timestepSpacing,
      ],
      [2, "dpmsolver++", "midpoint", true, "zero", "linspace"],
    );
    assert.equal(DDPMScheduler.fromConfig(SD15_SCHEDULER_CONFIG).config.varianceType, "fixed_small");
    assert.equal(
      EulerAncestralDiscreteScheduler.fromConfig(SD15_SCHEDULER_CONFIG).config.timestepSpacing,
      "linspace",
    );
  });

  it("schedulerFromConfig reuses a config for a named scheduler, or follows _class_name", () => {
    assert.ok(
      schedulerFromConfig(SD15_SCHEDULER_CONFIG, "DPMSolverMultistepScheduler") instanceof
        DPMSolverMultistepScheduler,
    );
    assert.ok(
      schedulerFromConfig({ ...SD15_SCHEDULER_CONFIG, _class_name: "DDIMScheduler" }) instanceof
        DDIMScheduler,
    );
    assert.throws(() => schedulerFromConfig(SD15_SCHEDULER_CONFIG), /"PNDMScheduler" is not implemented/);
  });
});

describe("config validation", () => {
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ["unknown beta schedule", { beta_schedule: "cubic" }, /beta_schedule must be one of/],
    ["beta schedule diffusers has but we do not", { beta_schedule: "sigmoid" }, /not implemented here/],
    ["prediction type", { prediction_type: "noise" }, /prediction_type must be one of/],
    ["spacing", { timestep_spacing: "uniform" }, /timestep_spacing/],
    ["non-integer train steps", { num_train_timesteps: 10.5 }, /must be an integer/],
    ["negative beta", { beta_start: -1 }, /must be > 0/],
    ["string number", { beta_end: "0.012" }, /finite number/],
    ["thresholding", { thresholding: true }, /thresholding = true is not supported/],
    ["trained betas of the wrong length", { trained_betas: [0.1, 0.2] }, /trained_betas has 2 values/],
    ["trained betas out of range", { trained_betas: [0.1, 2] }, /in \(0, 1\]/],
  ];
  for (const [name, overrides, message] of bad) {
    it(`rejects ${name}`, () => {
      assert.throws(() => DDIMScheduler.fromConfig({ ...SD15_SCHEDULER_CONFIG, ...overrides }), message);
    });
  }

  it("rejects DPM-Solver variants it does not implement, naming them", () => {
    for (const [overrides, message] of [
      [{ algorithm_type: "sde-dpmsolver++" }, /algorithm_type = "sde-dpmsolver\+\+" is not implemented/],
      [{ algorithm_type: "dpmsolver" }, /not implemented/],
      [{ solver_order: 4 }, /solver_order must be ≤ 3/],
      [{ use_exponential_sigmas: true }, /use_exponential_sigmas = true is not supported/],
      [{ variance_type: "learned_range" }, /variance_type/],
      [{ final_sigmas_type: "denoise_to_zero" }, /final_sigmas_type/],
    ] as const) {
      assert.throws(
        () => DPMSolverMultistepScheduler.fromConfig({ ...SD15_SCHEDULER_CONFIG, ...overrides }),
        (error: unknown) => error instanceof SchedulerConfigError && message.test(error.message),
      );
    }
  });

  it("rejects Euler ancestral with sample prediction and DDPM with learned variance", () => {
    assert.throws(
      () => EulerAncestralDiscreteScheduler.fromConfig({ prediction_type: "sample" }),
      /not implemented here/,
    );
    assert.throws(() => DDPMScheduler.fromConfig({ variance_type: "learned_range" }), /not implemented here/);
  });

  it("validates configs given in TypeScript the same way", () => {
    assert.throws(() => new DDIMScheduler({ betaStart: Number.NaN }), SchedulerConfigError);
    assert.equal(new DDIMScheduler().config.betaSchedule, DDIM_DEFAULTS.betaSchedule);
  });

  it("rejects grids that leave the training range (1000 leading steps with steps_offset 1)", () => {
    assert.throws(() => DDPMScheduler.fromConfig(SD15_SCHEDULER_CONFIG).setTimesteps(1000), /timestep 1000/);
  });

  it("ignores null values and underscore keys, and freezes the config", () => {
    const scheduler = DDIMScheduler.fromConfig({ _class_name: "X", trained_betas: null, clip_sample: null });
    assert.equal(scheduler.config.clipSample, true);
    assert.ok(Object.isFrozen(scheduler.config) && Object.isFrozen(scheduler));
  });

  it("reads Python's bare -Infinity in a saved DPM-Solver config", () => {
    const json = parseDiffusersJson('{"lambda_min_clipped": -Infinity, "note": "-Infinity stays a string"}');
    assert.deepEqual(json, { lambda_min_clipped: "-Infinity", note: "-Infinity stays a string" });
    const dpm = DPMSolverMultistepScheduler.fromConfig(json);
    assert.equal(dpm.config.lambdaMinClipped, Number.NEGATIVE_INFINITY);
    assert.throws(() => DDIMScheduler.fromConfig(parseDiffusersJson('{"beta_end": NaN}')), /finite number/);
  });

  it("clips the low-λ timesteps with lambda_min_clipped", () => {
    // λ = log √ᾱ − log √(1−ᾱ) falls below −2.5 near the end of SD1.5's schedule, so fewer, lower timesteps
    // are laid out (diffusers' searchsorted on the flipped λ).
    const clipped = DPMSolverMultistepScheduler.fromConfig({
      ...SD15_SCHEDULER_CONFIG,
      lambda_min_clipped: -2.5,
    });
    const plan = clipped.setTimesteps(25);
    const { alphasCumprod } = clipped.schedule;
    const lambda = (t: number) => 0.5 * Math.log(alphasCumprod[t] / (1 - alphasCumprod[t]));
    assert.ok(plan.timesteps[0] < 999);
    assert.ok(lambda(plan.timesteps[0]) >= -2.5 - 0.05);
  });
});

describe("beta schedules", () => {
  it("squaredcos_cap_v2 telescopes to ᾱ_t = f((t+1)/T)/f(0), f(u) = cos²((u + 0.008)/1.008·π/2)", () => {
    const f = (u: number) => Math.cos(((u + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    const { alphasCumprod, betas } = DDIMScheduler.fromConfig({
      beta_schedule: "squaredcos_cap_v2",
    }).schedule;
    for (const t of [0, 100, 500, 900])
      assert.ok(Math.abs(alphasCumprod[t] - f((t + 1) / 1000) / f(0)) < 1e-12);
    assert.ok(betas.every((b) => b > 0 && b <= 0.999));
  });

  it("scaled_linear is linspace(√β_start, √β_end)²", () => {
    const { betas } = DDIMScheduler.fromConfig(SD15_SCHEDULER_CONFIG).schedule;
    assert.ok(Math.abs(betas[0] - 0.00085) < 1e-15 && Math.abs(betas[999] - 0.012) < 1e-15);
    const mid = (Math.sqrt(0.00085) + (Math.sqrt(0.012) - Math.sqrt(0.00085)) * (500 / 999)) ** 2;
    assert.ok(Math.abs(betas[500] - mid) < 1e-15);
  });

  it("rescale_betas_zero_snr gives ᾱ_T = 0 and keeps ᾱ_0 (σ schedulers use 2⁻²⁴ for ᾱ_T)", () => {
    const config = { ...SD15_SCHEDULER_CONFIG, rescale_betas_zero_snr: true };
    const plain = DDIMScheduler.fromConfig(SD15_SCHEDULER_CONFIG).schedule.alphasCumprod;
    const rescaled = DDIMScheduler.fromConfig(config).schedule.alphasCumprod;
    assert.ok(Math.abs(rescaled[999]) < 1e-15);
    assert.ok(Math.abs(rescaled[0] - plain[0]) < 1e-12);
    assert.equal(DPMSolverMultistepScheduler.fromConfig(config).schedule.alphasCumprod[999], 2 ** -24);
    assert.equal(EulerAncestralDiscreteScheduler.fromConfig(config).schedule.alphasCumprod[999], 2 ** -24);
  });
});
