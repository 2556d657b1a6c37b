import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DDIMInverseScheduler,
  DDIMScheduler,
  DDPMScheduler,
  DPMSolverMultistepScheduler,
  EulerAncestralDiscreteScheduler,
  SD15_SCHEDULER_CONFIG,
  timestepsForStrength,
} from "./index.js";

/**
 * Timesteps each scheduler gets from Stable Diffusion 1.5's scheduler config (steps_offset 1) with the spacing
 * overridden. Derived with numpy by re-typing each diffusers `set_timesteps` (scheduling_ddim.py,
 * scheduling_ddim_inverse.py, scheduling_dpmsolver_multistep.py, scheduling_euler_ancestral_discrete.py;
 * DDPM shares DDIM's code): np.linspace / np.arange / np.round (half to even) exactly as there. Euler's
 * linspace values are float32, as diffusers stores them.
 */
const EXPECTED: Record<string, readonly number[]> = {
  "ddim/leading/25": [
    961, 921, 881, 841, 801, 761, 721, 681, 641, 601, 561, 521, 481, 441, 401, 361, 321, 281, 241, 201, 161,
    121, 81, 41, 1,
  ],
  "dpm/leading/25": [
    951, 913, 875, 837, 799, 761, 723, 685, 647, 609, 571, 533, 495, 457, 419, 381, 343, 305, 267, 229, 191,
    153, 115, 77, 39,
  ],
  "euler/leading/25": [
    961, 921, 881, 841, 801, 761, 721, 681, 641, 601, 561, 521, 481, 441, 401, 361, 321, 281, 241, 201, 161,
    121, 81, 41, 1,
  ],
  "inv/leading/25": [
    1, 41, 81, 121, 161, 201, 241, 281, 321, 361, 401, 441, 481, 521, 561, 601, 641, 681, 721, 761, 801, 841,
    881, 921, 961,
  ],
  "ddim/trailing/25": [
    999, 959, 919, 879, 839, 799, 759, 719, 679, 639, 599, 559, 519, 479, 439, 399, 359, 319, 279, 239, 199,
    159, 119, 79, 39,
  ],
  "dpm/trailing/25": [
    999, 959, 919, 879, 839, 799, 759, 719, 679, 639, 599, 559, 519, 479, 439, 399, 359, 319, 279, 239, 199,
    159, 119, 79, 39,
  ],
  "euler/trailing/25": [
    999, 959, 919, 879, 839, 799, 759, 719, 679, 639, 599, 559, 519, 479, 439, 399, 359, 319, 279, 239, 199,
    159, 119, 79, 39,
  ],
  "inv/trailing/25": [
    39, 79, 119, 159, 199, 239, 279, 319, 359, 399, 439, 479, 519, 559, 599, 639, 679, 719, 759, 799, 839,
    879, 919, 959, 999,
  ],
  "ddim/linspace/25": [
    999, 957, 916, 874, 832, 791, 749, 708, 666, 624, 583, 541, 500, 458, 416, 375, 333, 291, 250, 208, 166,
    125, 83, 42, 0,
  ],
  "dpm/linspace/25": [
    999, 959, 919, 879, 839, 799, 759, 719, 679, 639, 599, 559, 519, 480, 440, 400, 360, 320, 280, 240, 200,
    160, 120, 80, 40,
  ],
  "euler/linspace/25": [
    999, 957.375, 915.75, 874.125, 832.5, 790.875, 749.25, 707.625, 666, 624.375, 582.75, 541.125, 499.5,
    457.875, 416.25, 374.625, 333, 291.375, 249.75, 208.125, 166.5, 124.875, 83.25, 41.625, 0,
  ],
  "ddim/leading/50": [
    981, 961, 941, 921, 901, 881, 861, 841, 821, 801, 781, 761, 741, 721, 701, 681, 661, 641, 621, 601, 581,
    561, 541, 521, 501, 481, 461, 441, 421, 401, 381, 361, 341, 321, 301, 281, 261, 241, 221, 201, 181, 161,
    141, 121, 101, 81, 61, 41, 21, 1,
  ],
  "dpm/leading/50": [
    951, 932, 913, 894, 875, 856, 837, 818, 799, 780, 761, 742, 723, 704, 685, 666, 647, 628, 609, 590, 571,
    552, 533, 514, 495, 476, 457, 438, 419, 400, 381, 362, 343, 324, 305, 286, 267, 248, 229, 210, 191, 172,
    153, 134, 115, 96, 77, 58, 39, 20,
  ],
  "euler/leading/50": [
    981, 961, 941, 921, 901, 881, 861, 841, 821, 801, 781, 761, 741, 721, 701, 681, 661, 641, 621, 601, 581,
    561, 541, 521, 501, 481, 461, 441, 421, 401, 381, 361, 341, 321, 301, 281, 261, 241, 221, 201, 181, 161,
    141, 121, 101, 81, 61, 41, 21, 1,
  ],
  "inv/leading/50": [
    1, 21, 41, 61, 81, 101, 121, 141, 161, 181, 201, 221, 241, 261, 281, 301, 321, 341, 361, 381, 401, 421,
    441, 461, 481, 501, 521, 541, 561, 581, 601, 621, 641, 661, 681, 701, 721, 741, 761, 781, 801, 821, 841,
    861, 881, 901, 921, 941, 961, 981,
  ],
  "ddim/trailing/50": [
    999, 979, 959, 939, 919, 899, 879, 859, 839, 819, 799, 779, 759, 739, 719, 699, 679, 659, 639, 619, 599,
    579, 559, 539, 519, 499, 479, 459, 439, 419, 399, 379, 359, 339, 319, 299, 279, 259, 239, 219, 199, 179,
    159, 139, 119, 99, 79, 59, 39, 19,
  ],
  "dpm/trailing/50": [
    999, 979, 959, 939, 919, 899, 879, 859, 839, 819, 799, 779, 759, 739, 719, 699, 679, 659, 639, 619, 599,
    579, 559, 539, 519, 499, 479, 459, 439, 419, 399, 379, 359, 339, 319, 299, 279, 259, 239, 219, 199, 179,
    159, 139, 119, 99, 79, 59, 39, 19,
  ],
  "euler/trailing/50": [
    999, 979, 959, 939, 919, 899, 879, 859, 839, 819, 799, 779, 759, 739, 719, 699, 679, 659, 639, 619, 599,
    579, 559, 539, 519, 499, 479, 459, 439, 419, 399, 379, 359, 339, 319, 299, 279, 259, 239, 219, 199, 179,
    159, 139, 119, 99, 79, 59, 39, 19,
  ],
  "inv/trailing/50": [
    19, 39, 59, 79, 99, 119, 139, 159, 179, 199, 219, 239, 259, 279, 299, 319, 339, 359, 379, 399, 419, 439,
    459, 479, 499, 519, 539, 559, 579, 599, 619, 639, 659, 679, 699, 719, 739, 759, 779, 799, 819, 839, 859,
    879, 899, 919, 939, 959, 979, 999,
  ],
  "ddim/linspace/50": [
    999, 979, 958, 938, 917, 897, 877, 856, 836, 816, 795, 775, 754, 734, 714, 693, 673, 652, 632, 612, 591,
    571, 550, 530, 510, 489, 469, 449, 428, 408, 387, 367, 347, 326, 306, 285, 265, 245, 224, 204, 183, 163,
    143, 122, 102, 82, 61, 41, 20, 0,
  ],
  "dpm/linspace/50": [
    999, 979, 959, 939, 919, 899, 879, 859, 839, 819, 799, 779, 759, 739, 719, 699, 679, 659, 639, 619, 599,
    579, 559, 539, 519, 500, 480, 460, 440, 420, 400, 380, 360, 340, 320, 300, 280, 260, 240, 220, 200, 180,
    160, 140, 120, 100, 80, 60, 40, 20,
  ],
  "euler/linspace/50": [
    999, 978.6122436523438, 958.2244873046875, 937.8367309570312, 917.448974609375, 897.0612182617188,
    876.6734619140625, 856.2857055664062, 835.89794921875, 815.5101928710938, 795.1224365234375,
    774.7346801757812, 754.346923828125, 733.9591674804688, 713.5714111328125, 693.1836547851562,
    672.7958984375, 652.4081420898438, 632.0203857421875, 611.6326293945312, 591.244873046875,
    570.8571166992188, 550.4693603515625, 530.0816040039062, 509.6938781738281, 489.3061218261719,
    468.9183654785156, 448.5306091308594, 428.1428527832031, 407.7550964355469, 387.3673400878906,
    366.9795837402344, 346.5918273925781, 326.2040710449219, 305.8163146972656, 285.4285583496094,
    265.0408020019531, 244.65306091308594, 224.2653045654297, 203.87754821777344, 183.4897918701172,
    163.10203552246094, 142.7142791748047, 122.32653045654297, 101.93877410888672, 81.55101776123047,
    61.163265228271484, 40.775508880615234, 20.387754440307617, 0,
  ],
};

function sd15(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...SD15_SCHEDULER_CONFIG, ...overrides };
}

describe("SD1.5 timesteps", () => {
  for (const steps of [25, 50]) {
    for (const spacing of ["leading", "trailing", "linspace"] as const) {
      it(`match diffusers for ${steps} steps, ${spacing} spacing`, () => {
        const config = sd15({ timestep_spacing: spacing });
        const ddim = DDIMScheduler.fromConfig(config).setTimesteps(steps).timesteps;
        assert.deepEqual(ddim, EXPECTED[`ddim/${spacing}/${steps}`]);
        assert.deepEqual(DDPMScheduler.fromConfig(config).setTimesteps(steps).timesteps, ddim);
        assert.deepEqual(
          DPMSolverMultistepScheduler.fromConfig(config).setTimesteps(steps).timesteps,
          EXPECTED[`dpm/${spacing}/${steps}`],
        );
        assert.deepEqual(
          EulerAncestralDiscreteScheduler.fromConfig(config).setTimesteps(steps).timesteps,
          EXPECTED[`euler/${spacing}/${steps}`],
        );
        if (spacing === "linspace") {
          assert.throws(() => DDIMInverseScheduler.fromConfig(config), /leading or trailing/);
        } else {
          assert.deepEqual(
            DDIMInverseScheduler.fromConfig(config).setTimesteps(steps).timesteps,
            EXPECTED[`inv/${spacing}/${steps}`],
          );
        }
      });
    }
  }

  it("use each scheduler's default spacing when the config has none (as from_config does)", () => {
    // SD1.5's config has no timestep_spacing: DDIM/DDPM/DDIM-inverse default to leading, DPM-Solver and
    // Euler ancestral to linspace.
    assert.deepEqual(
      DDIMScheduler.fromConfig(sd15()).setTimesteps(25).timesteps,
      EXPECTED["ddim/leading/25"],
    );
    assert.deepEqual(
      DDPMScheduler.fromConfig(sd15()).setTimesteps(50).timesteps,
      EXPECTED["ddim/leading/50"],
    );
    assert.deepEqual(
      DDIMInverseScheduler.fromConfig(sd15()).setTimesteps(25).timesteps,
      EXPECTED["inv/leading/25"],
    );
    assert.deepEqual(
      DPMSolverMultistepScheduler.fromConfig(sd15()).setTimesteps(25).timesteps,
      EXPECTED["dpm/linspace/25"],
    );
    assert.deepEqual(
      EulerAncestralDiscreteScheduler.fromConfig(sd15()).setTimesteps(25).timesteps,
      EXPECTED["euler/linspace/25"],
    );
  });

  it("match diffusers' own test vectors", () => {
    // tests/schedulers/test_scheduler_ddim.py and test_scheduler_ddim_inverse.py, test_steps_offset.
    const config = { num_train_timesteps: 1000, beta_schedule: "linear", steps_offset: 1 };
    assert.deepEqual(DDIMScheduler.fromConfig(config).setTimesteps(5).timesteps, [801, 601, 401, 201, 1]);
    assert.deepEqual(
      DDIMInverseScheduler.fromConfig(config).setTimesteps(5).timesteps,
      [1, 201, 401, 601, 801],
    );
  });

  it("round halves to even as numpy does (trailing spacing with 16 steps: 937.5 → 938, 812.5 → 812)", () => {
    const plan = DDIMScheduler.fromConfig(sd15({ timestep_spacing: "trailing" })).setTimesteps(16);
    assert.deepEqual(plan.timesteps.slice(0, 4), [999, 937, 874, 811]);
  });

  it("are frozen", () => {
    const plan = DDIMScheduler.fromConfig(sd15()).setTimesteps(25);
    assert.ok(Object.isFrozen(plan.timesteps));
    assert.throws(() => (plan.timesteps as number[]).push(0), TypeError);
  });

  it("reject step counts outside 1 … num_train_timesteps", () => {
    const scheduler = DDIMScheduler.fromConfig(sd15());
    assert.throws(() => scheduler.setTimesteps(0), RangeError);
    assert.throws(() => scheduler.setTimesteps(2.5), RangeError);
    assert.throws(() => scheduler.setTimesteps(1001), /cannot exceed/);
  });
});

describe("timestepsForStrength (img2img get_timesteps)", () => {
  const plan = DPMSolverMultistepScheduler.fromConfig(sd15()).setTimesteps(25);

  it("runs int(25·s) steps for the paper's strengths: 0.1→2, 0.3→7, 0.5→12, 0.7→17, 0.9→22", () => {
    for (const [strength, steps] of [
      [0.1, 2],
      [0.3, 7],
      [0.5, 12],
      [0.7, 17],
      [0.9, 22],
    ] as const) {
      const schedule = plan.timestepsForStrength(strength);
      assert.equal(schedule.numInferenceSteps, steps);
      assert.equal(schedule.startIndex, 25 - steps);
      assert.deepEqual(schedule.timesteps, plan.timesteps.slice(25 - steps));
    }
  });

  it("runs nothing at strength 0 and the whole plan at strength 1", () => {
    const none = plan.timestepsForStrength(0);
    assert.deepEqual([none.startIndex, none.numInferenceSteps, none.timesteps.length], [25, 0, 0]);
    assert.ok(plan.start(none.startIndex).done);
    const all = plan.timestepsForStrength(1);
    assert.deepEqual([all.startIndex, all.numInferenceSteps], [0, 25]);
    assert.deepEqual(all.timesteps, plan.timesteps);
  });

  it("rejects strengths outside [0, 1]", () => {
    assert.throws(() => plan.timestepsForStrength(-0.1), RangeError);
    assert.throws(() => plan.timestepsForStrength(1.5), RangeError);
    assert.throws(() => plan.timestepsForStrength(Number.NaN), RangeError);
  });

  it("multiplies the start by the scheduler order", () => {
    const schedule = timestepsForStrength([9, 8, 7, 6, 5, 4], 3, 0.5, 2);
    assert.deepEqual([schedule.startIndex, schedule.numInferenceSteps], [4, 1]);
    assert.deepEqual(schedule.timesteps, [5, 4]);
  });
});
