import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DataType, decodeModel, f32, type Tensor } from "../../ml/onnx/index.js";
import { saveSafetensors } from "../../ml/safetensors/index.js";
import { Rng } from "../../random/index.js";
import {
  type DiffusionModel,
  float16ToFloat32,
  float32ToFloat16,
  loadDiffusionModel,
} from "../models/index.js";
import { encodePrompts, textToImage } from "../pipelines/index.js";
import { maxAbsDiff, type TempModel, tempTinyModel } from "../testing/fixtures.js";
import type { TinyOptions, TinyParts } from "../testing/tiny-folder.js";
import {
  indexModuleWeights,
  loadLoraFile,
  loadTextualInversionFile,
  parseLora,
  parseLoraKey,
  parseTextualInversion,
  withAdapters,
} from "./index.js";

const UNET_BLOCK = "down_blocks.0.attentions.0";
const TB = `${UNET_BLOCK}.transformer_blocks.0`;
const TEXT_LAYER = "text_model.encoder.layers.0";

/** A LoRA pair for a module: down [rank, in(, k, k)], up [out, rank(, 1, 1)]. */
interface Pair {
  readonly component: "unet" | "textEncoder";
  readonly module: string;
  readonly down: Tensor;
  readonly up: Tensor;
}

function randomPair(
  rng: Rng,
  component: Pair["component"],
  module: string,
  inDim: number,
  outDim: number,
  rank: number,
  conv = false,
): Pair {
  const make = (dims: number[]) => {
    const t = f32(dims);
    for (let i = 0; i < t.data.length; i++) (t.data as Float32Array)[i] = 0.3 * rng.nextNormal();
    return t;
  };
  return {
    component,
    module,
    down: make(conv ? [rank, inDim, 1, 1] : [rank, inDim]),
    up: make(conv ? [outDim, rank, 1, 1] : [outDim, rank]),
  };
}

/** W += scale·up·down, written independently of the adapter code from the fixture's own weight map. */
function mergeByHand(parts: TinyParts, pair: Pair, scale: number): void {
  const component = parts[pair.component];
  const info = component.weights.get(pair.module);
  assert.ok(info, `fixture has no ${pair.module}`);
  const tensor = component.graph.initializers.get(info.initializer);
  assert.ok(tensor);
  const rank = pair.down.dims[0];
  const out = pair.up.dims[0];
  const inner = pair.down.data.length / rank;
  const half = tensor.dtype === DataType.FLOAT16;
  const w = half
    ? float16ToFloat32(tensor.data as Uint16Array)
    : Float32Array.from(tensor.data as Float32Array);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inner; i++) {
      let d = 0;
      for (let r = 0; r < rank; r++)
        d += (pair.up.data[o * rank + r] as number) * (pair.down.data[r * inner + i] as number);
      const at = info.layout === "in_out" ? i * out + o : o * inner + i;
      w[at] += scale * d;
    }
  }
  component.graph.initializers.set(info.initializer, {
    dtype: tensor.dtype,
    dims: tensor.dims,
    data: half ? float32ToFloat16(w) : w,
  });
}

async function sha256(path: string): Promise<string> {
  return createHash("sha256")
    .update(await readFile(path))
    .digest("hex");
}

describe("LoRA key conventions", () => {
  it("reads PEFT, old diffusers, attention-processor and kohya keys", () => {
    const cases: [string, string, string, boolean, string][] = [
      [`unet.${TB}.attn1.to_q.lora_A.weight`, "unet", `${TB}.attn1.to_q`, false, "down"],
      [`unet.${TB}.attn1.to_q.lora_B.default.weight`, "unet", `${TB}.attn1.to_q`, false, "up"],
      [
        `text_encoder.${TEXT_LAYER}.self_attn.q_proj.lora_A.weight`,
        "text_encoder",
        `${TEXT_LAYER}.self_attn.q_proj`,
        false,
        "down",
      ],
      [
        `base_model.model.${TEXT_LAYER}.mlp.fc1.lora_B.weight`,
        "text_encoder",
        `${TEXT_LAYER}.mlp.fc1`,
        false,
        "up",
      ],
      [`unet.${TB}.attn2.to_k.lora.down.weight`, "unet", `${TB}.attn2.to_k`, false, "down"],
      [`${TB}.attn1.processor.to_out_lora.up.weight`, "unet", `${TB}.attn1.to_out.0`, false, "up"],
      [
        `text_encoder.${TEXT_LAYER}.self_attn.k_proj.lora_linear_layer.up.weight`,
        "text_encoder",
        `${TEXT_LAYER}.self_attn.k_proj`,
        false,
        "up",
      ],
      [`unet.${TB}.attn1.to_q.alpha`, "unet", `${TB}.attn1.to_q`, false, "alpha"],
      [
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight",
        "unet",
        "down_blocks_0_attentions_0_proj_in",
        true,
        "down",
      ],
      [
        "lora_te_text_model_encoder_layers_0_mlp_fc2.lora_up.weight",
        "text_encoder",
        "text_model_encoder_layers_0_mlp_fc2",
        true,
        "up",
      ],
      [
        "lora_unet_down_blocks_0_attentions_0_proj_in.alpha",
        "unet",
        "down_blocks_0_attentions_0_proj_in",
        true,
        "alpha",
      ],
    ];
    for (const [key, component, name, flattened, part] of cases) {
      assert.deepEqual(parseLoraKey(key), { module: { component, name, flattened }, part }, key);
    }
    assert.equal(parseLoraKey("model.diffusion_model.something"), undefined);
    assert.throws(() => parseLora(new Map([["weird.key", f32([1])]])), /known convention/);
    assert.throws(
      () => parseLora(new Map([[`unet.${TB}.attn1.to_q.lora_A.weight`, f32([2, 8])]])),
      /no up weight/,
    );
  });
});

describe("adapters merged in memory", () => {
  const temps: TempModel[] = [];
  const models: DiffusionModel[] = [];
  const track = (m: DiffusionModel) => {
    models.push(m);
    return m;
  };
  after(async () => {
    for (const m of models.reverse()) await m.release();
    for (const t of temps) await t.remove();
  });
  const temp = async (options: TinyOptions, edit?: (p: TinyParts) => void) => {
    const t = await tempTinyModel(options, edit);
    temps.push(t);
    return t;
  };

  it("indexes named and anonymous weights with their layouts", async () => {
    for (const layout of ["legacy", "optimum"] as const) {
      const t = await temp({ layout });
      for (const [part, file] of [
        ["unet", "unet"],
        ["textEncoder", "text_encoder"],
      ] as const) {
        const index = indexModuleWeights(decodeModel(await readFile(join(t.dir, file, "model.onnx"))));
        for (const [module, info] of t.parts[part].weights) {
          const ref = index.get(module);
          assert.ok(ref, `${layout} ${file}: ${module} not indexed`);
          assert.equal(ref.initializer, info.initializer);
          assert.equal(
            ref.layout,
            info.layout === "out_in" && module.endsWith("token_embedding") ? "embedding" : info.layout,
          );
        }
      }
    }
  });

  for (const [title, options, convention] of [
    ["PEFT keys, legacy export (anonymous MatMul weights)", { layout: "legacy" }, "peft"],
    [
      "kohya keys, Optimum export (named weights, fp16 UNet in external data)",
      { layout: "optimum", fp16Unet: true },
      "kohya",
    ],
  ] as const) {
    it(`LoRA with ${title} changes the output exactly as hand-merged weights`, async (t) => {
      const rng = new Rng(77, 1);
      const rank = 4;
      const pairs: Pair[] = [
        randomPair(rng, "unet", `${TB}.attn1.to_q`, 8, 8, rank),
        randomPair(rng, "unet", `${TB}.attn2.to_k`, 16, 8, rank),
        randomPair(rng, "unet", `${TB}.attn2.to_out.0`, 8, 8, rank),
        randomPair(rng, "unet", `${TB}.ff.net.0.proj`, 8, 16, rank),
        randomPair(rng, "unet", `${UNET_BLOCK}.proj_in`, 8, 8, rank, true),
        randomPair(rng, "textEncoder", `${TEXT_LAYER}.self_attn.q_proj`, 16, 16, rank),
        randomPair(rng, "textEncoder", `${TEXT_LAYER}.mlp.fc1`, 16, 32, rank),
      ];
      const alpha = 2;
      const multiplier = 0.8;
      const scale = (multiplier * alpha) / rank;
      const tensors = new Map<string, Tensor>();
      for (const p of pairs) {
        if (convention === "peft") {
          const prefix = `${p.component === "unet" ? "unet" : "text_encoder"}.${p.module}`;
          tensors.set(`${prefix}.lora_A.weight`, p.down);
          tensors.set(`${prefix}.lora_B.weight`, p.up);
        } else {
          const prefix = `lora_${p.component === "unet" ? "unet" : "te"}_${p.module.replaceAll(".", "_")}`;
          tensors.set(`${prefix}.lora_down.weight`, p.down);
          tensors.set(`${prefix}.lora_up.weight`, p.up);
          tensors.set(`${prefix}.alpha`, f32([], [alpha]));
        }
      }
      const base = await temp(options);
      const unetFile = join(
        base.dir,
        "unet",
        options.layout === "optimum" ? "model.onnx_data" : "model.onnx",
      );
      const before = await sha256(unetFile);
      const file = join(base.dir, "lora.safetensors");
      await saveSafetensors(file, tensors);
      const lora = await loadLoraFile(file, {
        alpha: convention === "peft" ? alpha : undefined,
        scale: multiplier,
      });
      const baseModel = track(await loadDiffusionModel(base.dir));
      const adapted = track(await withAdapters(baseModel, { loras: [lora] }));
      const hand = track(
        await loadDiffusionModel(
          (
            await temp(options, (parts) => {
              for (const p of pairs) mergeByHand(parts, p, scale);
            })
          ).dir,
        ),
      );
      assert.equal(await sha256(unetFile), before, "the base model on disk is untouched");
      assert.equal(adapted.vaeDecoder, baseModel.vaeDecoder, "untouched components are shared");
      assert.notEqual(adapted.fingerprint, baseModel.fingerprint);

      const size = options.layout === "legacy" ? 64 : 32;
      const request = [{ prompt: "a photo of a cat", seed: 5, index: 0 }];
      const settings = { steps: 6, height: size, width: size };
      const [a] = await textToImage(adapted, request, settings);
      const [h] = await textToImage(hand, request, settings);
      const [b] = await textToImage(baseModel, request, settings);
      const states = await Promise.all([adapted, hand].map((m) => encodePrompts(m, ["a photo of a dog"])));
      const imageDiff = maxAbsDiff(a.image.data, h.image.data);
      const textDiff = maxAbsDiff(states[0].data, states[1].data);
      t.diagnostic(
        `${convention}: |adapted − hand-merged| image ${imageDiff.toExponential(2)}, text states ${textDiff.toExponential(2)}; vs base ${maxAbsDiff(a.image.data, b.image.data).toExponential(2)}`,
      );
      assert.ok(imageDiff <= 1e-5 && textDiff <= 1e-5, `${imageDiff} ${textDiff}`);
      assert.ok(maxAbsDiff(a.image.data, b.image.data) > 1e-3, "the LoRA changes the image");
    });
  }

  it("rejects a LoRA whose modules the model does not have", async () => {
    const base = await temp({ layout: "optimum" });
    const model = track(await loadDiffusionModel(base.dir));
    const layers = parseLora(
      new Map([
        ["lora_unet_up_blocks_3_attentions_2_proj_out.lora_down.weight", f32([2, 8])],
        ["lora_unet_up_blocks_3_attentions_2_proj_out.lora_up.weight", f32([8, 2])],
      ]),
    );
    await assert.rejects(withAdapters(model, { loras: [{ layers }] }), /not found in the unet/);
  });

  for (const layout of ["legacy", "optimum"] as const) {
    it(`textual inversion (${layout}) adds tokens and rows exactly as a hand-extended table`, async (t) => {
      const rng = new Rng(5, 2);
      const vector = (n: number) => Float32Array.from({ length: n * 16 }, () => rng.nextNormal());
      const catToy = vector(1);
      const style = vector(2);
      const base = await temp({ layout });
      const file = join(base.dir, "learned_embeds.safetensors");
      await saveSafetensors(file, { "<cat-toy>": f32([16], catToy), "<style>": f32([2, 16], style) });
      const concepts = await loadTextualInversionFile(file);
      const baseModel = track(await loadDiffusionModel(base.dir));
      const adapted = track(await withAdapters(baseModel, { textualInversions: concepts }));
      const handFolder = await temp({ layout }, (parts) => {
        const graph = parts.textEncoder.graph;
        const name = "text_model.embeddings.token_embedding.weight";
        const table = graph.initializers.get(name);
        assert.ok(table);
        const grown = new Float32Array(table.data.length + 3 * 16);
        grown.set(table.data as Float32Array);
        grown.set(catToy, table.data.length);
        grown.set(style, table.data.length + 16);
        graph.initializers.set(name, { dtype: table.dtype, dims: [table.dims[0] + 3, 16], data: grown });
      });
      const handBase = track(await loadDiffusionModel(handFolder.dir));
      const { tokenizer } = handBase.tokenizer.withAddedTokens(["<cat-toy>", "<style>", "<style>_1"]);
      const hand = handBase.derive(
        { tokenizer, promptTransform: (p) => p.replace("<style>", "<style> <style>_1") },
        [],
      );
      const prompt = "a photo of <cat-toy> in <style>";
      const tokens = adapted.tokenizer.tokenize(adapted.preparePrompt(prompt));
      assert.deepEqual(
        tokens.filter((tok) => tok.startsWith("<")),
        ["<cat-toy>", "<style>", "<style>_1"],
      );
      const [a, h, b] = await Promise.all([adapted, hand, baseModel].map((m) => encodePrompts(m, [prompt])));
      const diff = maxAbsDiff(a.data, h.data);
      t.diagnostic(`${layout}: |TI-adapted − hand-extended| text states ${diff.toExponential(2)}`);
      assert.ok(diff <= 1e-5, `${diff}`);
      assert.ok(maxAbsDiff(a.data, b.data) > 1e-3, "the embedding changes the conditioning");
      const size = layout === "legacy" ? 64 : 32;
      const request = [{ prompt, seed: 1, index: 0 }];
      const [ia] = await textToImage(adapted, request, { steps: 4, height: size, width: size });
      const [ih] = await textToImage(hand, request, { steps: 4, height: size, width: size });
      assert.ok(maxAbsDiff(ia.image.data, ih.image.data) <= 1e-5);
    });
  }

  it("reads A1111 emb_params embeddings bound to a token", () => {
    const [concept] = parseTextualInversion(new Map([["emb_params", f32([3, 16])]]), "<thing>");
    assert.deepEqual([concept.token, concept.count, concept.dim], ["<thing>", 3, 16]);
    assert.throws(() => parseTextualInversion(new Map([["emb_params", f32([3, 16])]])), /needs the token/);
  });
});
