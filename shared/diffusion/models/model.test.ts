import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type TempModel, tempTinyModel } from "../testing/fixtures.js";
import {
  type DiffusionModel,
  float16ToFloat32,
  float32ToFloat16,
  fromFloat16Bits,
  loadDiffusionModel,
  resolveModelConfig,
  toFloat16Bits,
} from "./index.js";

describe("float16 conversion", () => {
  it("rounds to nearest even like numpy, with overflow to infinity and subnormals", () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.1, 0x2e66],
      [65504, 0x7bff],
      [65520, 0x7c00], // halfway to the next binade rounds up to infinity
      [65519, 0x7bff],
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // halfway, ties to even (0)
      [3 * 2 ** -25, 0x0002], // halfway between 1 and 2 subnormal units → 2 (even)
      [1 + 2 ** -11, 0x3c00], // halfway between 1 and 1 + 2^-10 → even mantissa
      [1 + 3 * 2 ** -11, 0x3c02],
      [Number.POSITIVE_INFINITY, 0x7c00],
    ];
    for (const [value, bits] of cases) assert.equal(toFloat16Bits(value), bits, `${value}`);
    assert.ok(Number.isNaN(fromFloat16Bits(toFloat16Bits(Number.NaN))));
  });

  it("round-trips every finite half value exactly", () => {
    const all = Uint16Array.from({ length: 0x7c00 }, (_, i) => i);
    assert.deepEqual(float32ToFloat16(float16ToFloat32(all)), all);
  });
});

describe("model config resolution", () => {
  it("prefers overrides, then config.json, then static metadata dims, then SD 1.x defaults", () => {
    assert.deepEqual(resolveModelConfig({}), {
      latentChannels: 4,
      unetInChannels: 4,
      vaeScaleFactor: 8,
      sampleSize: 64,
      scalingFactor: 0.18215,
      shiftFactor: 0,
    });
    const fromConfig = resolveModelConfig({
      unetConfig: { in_channels: 8, sample_size: 32 },
      vaeConfig: {
        latent_channels: 4,
        block_out_channels: [1, 2, 3],
        scaling_factor: 0.13,
        shift_factor: 0.1,
      },
      unetSample: { name: "sample", type: "float32", shape: ["b", 4, 16, 16] },
    });
    assert.equal(fromConfig.unetInChannels, 8);
    assert.equal(fromConfig.vaeScaleFactor, 4);
    assert.equal(fromConfig.sampleSize, 32);
    assert.equal(fromConfig.scalingFactor, 0.13);
    assert.equal(fromConfig.shiftFactor, 0.1);
    const fromMetadata = resolveModelConfig({
      unetSample: { name: "sample", type: "float16", shape: [2, 8, 16, 16] },
    });
    assert.equal(fromMetadata.unetInChannels, 8);
    assert.equal(fromMetadata.sampleSize, 16);
    assert.equal(resolveModelConfig({}, { vaeScaleFactor: 2 }).vaeScaleFactor, 2);
    assert.throws(() => resolveModelConfig({ unetConfig: { in_channels: 5 } }), /neither/);
  });
});

describe("loading both export layouts", () => {
  const folders: Record<string, TempModel> = {};
  const models: Record<string, DiffusionModel> = {};
  before(async () => {
    for (const layout of ["legacy", "optimum"] as const) {
      folders[layout] = await tempTinyModel({ layout });
      models[layout] = await loadDiffusionModel(folders[layout].dir);
    }
    folders.fp16 = await tempTinyModel({ layout: "optimum", fp16Unet: true });
    models.fp16 = await loadDiffusionModel(folders.fp16.dir);
  });
  after(async () => {
    for (const m of Object.values(models)) await m.release();
    for (const f of Object.values(folders)) await f.remove();
  });

  it("reads input names, dtypes and ranks from the sessions", () => {
    const legacy = models.legacy;
    const optimum = models.optimum;
    assert.equal(legacy.textEncoder.component.input("input_ids")?.type, "int32");
    assert.equal(optimum.textEncoder.component.input("input_ids")?.type, "int64");
    assert.deepEqual(legacy.unet.component.input("timestep"), {
      name: "timestep",
      type: "float32",
      shape: [1],
    });
    assert.deepEqual(optimum.unet.component.input("timestep"), {
      name: "timestep",
      type: "int64",
      shape: ["steps"],
    });
    assert.equal(models.fp16.unet.component.input("sample")?.type, "float16");
    assert.equal(models.fp16.unet.component.output("out_sample")?.type, "float16");
  });

  it("resolves the config: SD defaults without config.json, the component configs with them", () => {
    assert.equal(models.legacy.config.vaeScaleFactor, 8);
    assert.equal(models.legacy.config.scalingFactor, 0.18215);
    assert.equal(models.optimum.config.vaeScaleFactor, 4);
    assert.equal(models.optimum.config.scalingFactor, 0.2);
    assert.equal(models.optimum.config.sampleSize, 8);
  });

  it("seeds the old export's in-graph VAE sampling and samples Optimum's latent_parameters itself", async () => {
    assert.equal(models.legacy.vaeEncoder?.kind, "seeded-sample");
    assert.equal(models.optimum.vaeEncoder?.kind, "parameters");
    for (const layout of ["legacy", "optimum"]) {
      const vae = models[layout].vaeEncoder;
      assert.ok(vae);
      const size = 8 * models[layout].config.vaeScaleFactor;
      const image = Float32Array.from({ length: 3 * size * size }, (_, i) => Math.sin(i / 7));
      const dims = { batch: 1, height: size, width: size };
      const a = await vae.encode(image, dims, { kind: "sample", keys: [{ seed: 5, index: 2 }] });
      const b = await vae.encode(image, dims, { kind: "sample", keys: [{ seed: 5, index: 2 }] });
      const c = await vae.encode(image, dims, { kind: "sample", keys: [{ seed: 5, index: 3 }] });
      const mean = await vae.encode(image, dims, { kind: "mean" });
      assert.deepEqual(a, b, `${layout}: same key, same latents`);
      assert.notDeepEqual(a, c, `${layout}: another key, other latents`);
      assert.equal(a.length, 4 * 8 * 8);
      // std = exp(-2) ≈ 0.135 in the tiny VAE: a sample stays near the mean but is not it.
      const spread = a.reduce((s, v, i) => s + (v - mean[i]) ** 2, 0) / a.length;
      assert.ok(
        Math.abs(Math.sqrt(spread) - Math.exp(-2)) < 0.03,
        `${layout}: sample std ${Math.sqrt(spread)}`,
      );
    }
  });

  it("casts float16 UNet inputs and outputs (results close to the float32 model)", async () => {
    const sample = Float32Array.from({ length: 2 * 4 * 8 * 8 }, (_, i) => Math.cos(i));
    const context = {
      data: Float32Array.from({ length: 2 * 16 * 16 }, (_, i) => Math.sin(i)),
      dims: [2, 16, 16],
    };
    const dims = { batch: 2, channels: 4, height: 8, width: 8 };
    const full = await models.optimum.unet.predict(sample, dims, 321, context);
    const half = await models.fp16.unet.predict(sample, dims, 321, context);
    let max = 0;
    for (let i = 0; i < full.length; i++) max = Math.max(max, Math.abs(full[i] - half[i]));
    assert.ok(max > 0 && max < 0.02, `fp16 vs fp32: ${max}`);
  });

  it("rejects a folder without model_index.json", async () => {
    await assert.rejects(loadDiffusionModel(`${folders.legacy.dir}/unet`), /model_index\.json/);
  });
});
