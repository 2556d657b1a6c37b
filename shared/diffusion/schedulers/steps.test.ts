import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DDIMInverseScheduler,
  DDIMScheduler,
  DDPMScheduler,
  DPMSolverMultistepScheduler,
  EulerAncestralDiscreteScheduler,
  SD15_SCHEDULER_CONFIG,
} from "./index.js";

/** Sample, model output and explicit noise of the single-step checks (all exactly representable in float32). */
const X = Float32Array.of(0.5, -1.2, 0.3, 2.0, -0.7, 0.05, 1.1, -0.4);
const M = Float32Array.of(0.1, 0.4, -0.9, 0.25, -0.3, 1.5, -0.05, 0.6);
const Z = Float32Array.of(-0.3, 0.8, 1.4, -1.1, 0.2, -0.6, 0.9, 0.05);

/**
 * Expected outputs, computed independently in float64 numpy by re-typing the `step` / `set_timesteps` /
 * `add_noise` code of diffusers' scheduling_ddim.py, scheduling_ddim_inverse.py, scheduling_ddpm.py,
 * scheduling_euler_ancestral_discrete.py and scheduling_dpmsolver_multistep.py line by line, on the SD1.5
 * config (scaled_linear 0.00085 → 0.012, steps_offset 1, set_alpha_to_one false, clip_sample false), with
 * the inputs above rounded to float32 first and the sigma tables rounded to float32 as diffusers stores them.
 */
const REF = {
  ddimFirst: [
    0.5990116298650479, -1.5969535421680783, 0.5983953400075841, 2.433388451088751, -0.7987848723332825,
    -0.31102867548430213, 1.3850410907153663, -0.6484927342177711,
  ],
  ddimLast: [
    0.49899960269750804, -1.2053700319993064, 0.31105617982397404, 1.997819724387104, -0.6966566973047239,
    0.03180824667158859, 1.1010775141798816, -0.40745630973695524,
  ],
  ddimEta: [
    0.47701992525773773, -1.2260624649361003, 0.7684394756707493, 1.9522897692755505, -0.689924899855988,
    -0.30170322683576817, 1.421586549489269, -0.5262073620011327,
  ],
  ddimVClip: [
    0.49348342503704645, -1.220858509618776, 0.35083742768490644, 1.9824879758115126, -0.6817522222445033,
    -0.015330427363859866, 1.1010612546961411, -0.43356612887417834,
  ],
  invFirst: [
    0.5009999696919882, -1.1946323587178753, 0.2889485698738158, 2.0021793436744044, -0.7033418497949346,
    0.06818397892278741, 1.0989229940670375, -0.3925468893115337,
  ],
  invMid: [
    0.46813969094993957, -1.0575738369510157, 0.18194163183819534, 1.8570990450584959, -0.6718859234300177,
    0.2003805031562178, 1.0020798488778861, -0.30442770012879594,
  ],
  ddpmFirst: [
    0.4017932852548996, -1.0770257836867216, 1.1827462883021056, 1.6875598470909063, -0.6252227854617685,
    -0.5659390544616314, 1.6558006212088914, -0.5661789950972198,
  ],
  ddpmMidLarge: [
    0.41845022190770786, -1.058183097686128, 0.8882093526099823, 1.7252924715281859, -0.6378000217476566,
    -0.3311119808186727, 1.46484824764108, -0.48201895730672684,
  ],
  ddpmLast: [
    0.49629509693356116, -1.2175495044288867, 0.33743890481807254, 1.9913775497900152, -0.6882028174720843,
    -0.011928963487000717, 1.1030041286773837, -0.42512988472347363,
  ],
  eulerScaled: [
    0.06784123549748791, -0.1628189716638154, 0.04070474291595385, 0.27136494198995165, -0.09497772807902198,
    0.0067841236508401105, 0.1492507213293956, -0.054272989206720884,
  ],
  eulerFirst: [
    -2.202787129685105, 2.230075735758993, 15.36828751373821, -7.249181939271262, 2.4239328525430874,
    -12.72141915275467, 7.791852330634232, -3.4435902669610003,
  ],
  eulerVMid: [
    0.1851891156670094, -0.5202669768852064, 1.3992703508625355, 0.8405630640196713, -0.37848059420053065,
    -0.6804352473709879, 1.540434691413512, -0.4186851778384979,
  ],
  eulerLast: [
    0.4970832841036213, -1.2116669112692307, 0.32625045390177587, 1.9927082103677094, -0.6912498401726227,
    0.006249262951314449, 1.1014583817900472, -0.41750030177336117,
  ],
  dpmThreeSteps: [
    [
      0.6056633600795921, -1.6232793529764526, 0.6179288639874367, 2.4624238854849065, -0.8055068799396515,
      -0.3344867359667981, 1.4040462218415422, -0.6648233798280063,
    ],
    [
      0.785214797421654, -2.0138375129733714, 0.8660001090449719, 3.090699542351638, -0.9482634744887024,
      -0.47880287126564014, 1.7905908602640301, -0.8317782370090139,
    ],
    [
      0.9283886813992618, -2.3945772583366254, 0.6250964123276027, 3.8253096221116403, -1.3654440888853363,
      -0.06301694545995037, 2.104935070669167, -0.8597115129855445,
    ],
  ],
  dpmLastTwo: [
    [
      0.5019969717945867, -1.267062078182816, 0.39460213726335563, 2.0225822540424643, -0.6872284233185593,
      -0.09477100713312998, 1.130663222052107, -0.4677587131266166,
    ],
    [
      0.5217989336304971, -1.3118273200462007, 0.5118263578226968, 2.057288247858135, -0.6509469840982575,
      -0.226018485607168, 1.177728824372894, -0.5167477272878334,
    ],
  ],
  dpmVHeun10: [
    [
      0.4941836010994509, -1.2190154255968504, 0.3459722736520625, 1.9844628581845354, -0.6836133454158126,
      -0.02735094370263945, 1.1011151626996116, -0.43038254389625874,
    ],
    [
      0.502628595052026, -1.2148233967780624, 0.3742250721862872, 1.9885256689256676, -0.6661701737276905,
      -0.04593616396439267, 1.111926607153746, -0.43088157993685544,
    ],
    [
      0.48524179482420593, -1.1796354539579708, 0.18990596802162663, 1.9940947784760361, -0.7487421333282328,
      0.17141712795652791, 1.068606846844421, -0.3633845805527953,
    ],
  ],
  addNoise500: [
    0.007630852286752643, 0.049740825604142724, 1.348662982967821, 0.11559206737367667, -0.19783420207544344,
    -0.48412816993243135, 1.3438586415297529, -0.16773510453659984,
  ],
  eulerSigmas: [
    14.614641189575195, 11.435937881469727, 9.076805114746094, 7.301992416381836, 5.948915958404541,
    4.903775691986084, 4.086088180541992, 3.438178062438965, 2.918307065963745, 2.4959707260131836,
    2.148594379425049, 1.8593566417694092, 1.6155824661254883, 1.407622218132019, 1.2280690670013428,
    1.0711605548858643, 0.9323579668998718, 0.8080235719680786, 0.6951504349708557, 0.5911418199539185,
    0.4935530424118042, 0.39970213174819946, 0.30577725172042847, 0.2034895420074463, 0.029167158529162407,
    0.0,
  ],
  dpmSigmasHead: [14.614641189575195, 11.542770385742188, 9.237422943115234, 0.1990586221218109, 0.0],
};

/** |actual − expected| ≤ 1e-6·|expected| (+1e-7 absolute for values near zero) for every element. */
function assertClose(actual: ArrayLike<number>, expected: readonly number[], relative = 1e-6): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tolerance = relative * Math.abs(expected[i]) + 1e-7;
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tolerance,
      `element ${i}: ${actual[i]} vs ${expected[i]} (diff ${Math.abs(actual[i] - expected[i])})`,
    );
  }
}

function sd15(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...SD15_SCHEDULER_CONFIG, ...overrides };
}

describe("DDIM step on SD1.5 (25 steps)", () => {
  const plan = DDIMScheduler.fromConfig(sd15()).setTimesteps(25);

  it("first step (t = 961 → 921) matches diffusers' formula", () => {
    const { prevSample, state } = plan.step(plan.start(), M, X);
    assertClose(prevSample, REF.ddimFirst);
    assert.equal(state.timestep, 921);
  });

  it("last step (t = 1 → final ᾱ = ᾱ₀ since set_alpha_to_one is false) matches", () => {
    const { prevSample, state } = plan.step(plan.start(24), M, X);
    assertClose(prevSample, REF.ddimLast);
    assert.ok(state.done);
  });

  it("η = 0.5 with explicit noise matches", () => {
    const { prevSample } = plan.step(plan.start(10), M, X, { eta: 0.5, noise: Z });
    assertClose(prevSample, REF.ddimEta);
  });

  it("v-prediction with clipping and use_clipped_model_output matches", () => {
    const vPlan = DDIMScheduler.fromConfig(
      sd15({ prediction_type: "v_prediction", clip_sample: true }),
    ).setTimesteps(25);
    const { prevSample } = vPlan.step(vPlan.start(10), M, X, { useClippedModelOutput: true });
    assertClose(prevSample, REF.ddimVClip);
  });

  it("needs noise only when η > 0, and rejects η outside [0, 1]", () => {
    assert.throws(() => plan.step(plan.start(), M, X, { eta: 0.5 }), /stochastic/);
    assert.throws(() => plan.step(plan.start(), M, X, { eta: 1.5, noise: Z }), RangeError);
  });
});

describe("DDIM inverse step on SD1.5 (25 steps)", () => {
  const plan = DDIMInverseScheduler.fromConfig(sd15()).setTimesteps(25);

  it("first step (ᾱ₀ → t = 1) matches", () => {
    assertClose(plan.step(plan.start(), M, X).prevSample, REF.invFirst);
  });

  it("middle step (t = 441 → 481) matches", () => {
    assert.equal(plan.timesteps[12], 481);
    assertClose(plan.step(plan.start(12), M, X).prevSample, REF.invMid);
  });
});

describe("DDPM step on SD1.5 (50 steps)", () => {
  const plan = DDPMScheduler.fromConfig(sd15()).setTimesteps(50);

  it("first step with fixed_small variance and explicit noise matches", () => {
    assertClose(plan.step(plan.start(), M, X, { noise: Z }).prevSample, REF.ddpmFirst);
  });

  it("fixed_large variance matches", () => {
    const large = DDPMScheduler.fromConfig(sd15({ variance_type: "fixed_large" })).setTimesteps(50);
    assertClose(large.step(large.start(20), M, X, { noise: Z }).prevSample, REF.ddpmMidLarge);
  });

  it("fixed_small_log gives the same noise scale as fixed_small", () => {
    const log = DDPMScheduler.fromConfig(sd15({ variance_type: "fixed_small_log" })).setTimesteps(50);
    for (const index of [0, 20, 49]) assert.ok(Math.abs(log.noiseStd(index) - plan.noiseStd(index)) < 1e-12);
  });

  it("last step (t = 1 → ᾱ = 1) matches, noise variance clamped at 1e-20", () => {
    assertClose(plan.step(plan.start(49), M, X, { noise: Z }).prevSample, REF.ddpmLast);
    assert.equal(plan.noiseStd(49), 1e-10);
  });

  it("requires noise", () => {
    assert.throws(() => plan.step(plan.start(), M, X), /stochastic/);
  });
});

describe("Euler ancestral on SD1.5 (25 steps, linspace)", () => {
  const plan = EulerAncestralDiscreteScheduler.fromConfig(sd15()).setTimesteps(25);

  it("has diffusers' sigmas and init_noise_sigma = σ_max ≈ 14.6146", () => {
    assertClose(plan.sigmas, REF.eulerSigmas, 0);
    assert.equal(plan.initNoiseSigma, REF.eulerSigmas[0]);
  });

  it("scales the model input by 1/√(σ² + 1)", () => {
    assertClose(plan.scaleModelInput(X, plan.timesteps[3]), REF.eulerScaled);
    assert.throws(() => plan.scaleModelInput(X, 500), /not one of this plan's timesteps/);
  });

  it("first, middle (v-prediction) and last steps match", () => {
    assertClose(plan.step(plan.start(), M, X, { noise: Z }).prevSample, REF.eulerFirst);
    const vPlan = EulerAncestralDiscreteScheduler.fromConfig(
      sd15({ prediction_type: "v_prediction" }),
    ).setTimesteps(25);
    assertClose(vPlan.step(vPlan.start(12), M, X, { noise: Z }).prevSample, REF.eulerVMid);
    // σ_to = 0 on the last step: σ_up = 0, so no noise is needed.
    assertClose(plan.step(plan.start(24), M, X).prevSample, REF.eulerLast);
  });

  it("uses √(σ_max² + 1) as init_noise_sigma with leading spacing (as diffusers)", () => {
    const leading = EulerAncestralDiscreteScheduler.fromConfig(
      sd15({ timestep_spacing: "leading" }),
    ).setTimesteps(25);
    const max = leading.sigmas[0];
    assert.equal(leading.initNoiseSigma, Math.sqrt(max * max + 1));
  });
});

describe("DPM-Solver++ 2M on SD1.5 (25 steps)", () => {
  const plan = DPMSolverMultistepScheduler.fromConfig(sd15()).setTimesteps(25);
  const outputs = [M, Float32Array.from(M, (v) => v * 0.5 - 0.1), Float32Array.from(M, (v) => -v + 0.2)];

  it("has diffusers' sigmas with a final 0", () => {
    const s = plan.sigmas;
    assertClose([s[0], s[1], s[2], s[24], s[25]], REF.dpmSigmasHead, 0);
  });

  it("first-order, then second-order midpoint steps match, threading the history through the state", () => {
    let state = plan.start();
    let x: Float32Array = X;
    for (let k = 0; k < 3; k++) {
      const result = plan.step(state, outputs[k], x);
      assertClose(result.prevSample, REF.dpmThreeSteps[k]);
      assert.equal(result.state.lowerOrderNums, Math.min(k + 1, 2));
      ({ prevSample: x, state } = result);
    }
  });

  it("last two steps from an img2img start: second order, then first order to σ = 0", () => {
    let state = plan.start(23);
    let x: Float32Array = X;
    for (let k = 0; k < 2; k++) {
      const result = plan.step(state, outputs[k], x);
      assertClose(result.prevSample, REF.dpmLastTwo[k]);
      ({ prevSample: x, state } = result);
    }
    assert.ok(state.done);
  });

  it("v-prediction, heun, sigma_min final sigma, 10 steps: matches", () => {
    const heun = DPMSolverMultistepScheduler.fromConfig(
      sd15({ prediction_type: "v_prediction", solver_type: "heun", final_sigmas_type: "sigma_min" }),
    ).setTimesteps(10);
    let state = heun.start();
    let x: Float32Array = X;
    for (let k = 0; k < 3; k++) {
      const result = heun.step(state, outputs[k], x);
      assertClose(result.prevSample, REF.dpmVHeun10[k]);
      ({ prevSample: x, state } = result);
    }
  });

  it("leaves a state reusable: stepping the same state twice gives the same result", () => {
    const s1 = plan.step(plan.start(), outputs[0], X).state;
    const a = plan.step(s1, outputs[1], X).prevSample;
    const b = plan.step(s1, outputs[1], X).prevSample;
    assert.deepEqual(a, b);
  });

  it("rejects states of another plan and finished states", () => {
    const other = DPMSolverMultistepScheduler.fromConfig(sd15()).setTimesteps(25);
    assert.throws(() => plan.step(other.start(), M, X), /not made by this plan/);
    assert.throws(() => plan.step(plan.start(25), M, X), /already run/);
  });
});

describe("addNoise", () => {
  it("is √ᾱ_t·x₀ + √(1−ᾱ_t)·ε for DDPM/DDIM", () => {
    const scheduler = DDIMScheduler.fromConfig(sd15());
    assertClose(scheduler.setTimesteps(25).addNoise(X, Z, 500), REF.addNoise500);
    assert.equal(scheduler.schedule.alphaCumprod(0), 1 - 0.00085);
  });

  it("takes one timestep per sample", () => {
    const schedule = DDPMScheduler.fromConfig(sd15()).schedule;
    const batch = Float32Array.of(...X, ...X);
    const noise = Float32Array.of(...Z, ...Z);
    const noisy = schedule.addNoise(batch, noise, [500, 10]);
    assertClose(noisy.subarray(0, 8), REF.addNoise500);
    assertClose(noisy.subarray(8), Array.from(schedule.addNoise(X, Z, 10)));
  });

  it("is α_t·x₀ + σ_t·ε (same as DDIM at a plan timestep) for DPM-Solver, x₀ + σ·ε for Euler", () => {
    const dpm = DPMSolverMultistepScheduler.fromConfig(sd15()).setTimesteps(25);
    const ddim = DDIMScheduler.fromConfig(sd15()).setTimesteps(25);
    assertClose(dpm.addNoise(X, Z, 519), Array.from(ddim.addNoise(X, Z, 519)));
    const euler = EulerAncestralDiscreteScheduler.fromConfig(sd15()).setTimesteps(25);
    const sigma = euler.sigmas[8];
    assertClose(
      euler.addNoise(X, Z, 666),
      Array.from(X, (v, i) => v + sigma * Z[i]),
    );
  });

  it("gives the v-prediction target √ᾱ·ε − √(1−ᾱ)·x₀", () => {
    const schedule = DDPMScheduler.fromConfig(sd15()).schedule;
    const a = schedule.alphaCumprod(300);
    assertClose(
      schedule.velocity(X, Z, 300),
      Array.from(X, (v, i) => Math.sqrt(a) * Z[i] - Math.sqrt(1 - a) * v),
    );
  });
});
