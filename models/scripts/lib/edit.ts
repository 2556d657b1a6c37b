/**
 * The InstructPix2Pix-style edit model: the text-to-image UNet with 8 input channels (noisy latent ‖ source
 * latent; the 4 new input channels start at zero), trained on procedural edit pairs of corpus images with
 * 5% text-only, 5% image-only and 5% both conditioning dropout (for three-way guidance).
 */
import { cp, readFile } from "node:fs/promises";
import { join } from "node:path";
import { KIT_MAX_LENGTH } from "../../../shared/kit/corpus.js";
import { allInstructions, applyEdit, KIT_EDITS } from "../../../shared/kit/edits.js";
import { fromModel, withParameters } from "../../../shared/ml/graph/index.js";
import { decodeModel, f32, type Tensor } from "../../../shared/ml/onnx/index.js";
import { createSession, runSession } from "../../../shared/ml/runtime/index.js";
import { Rng } from "../../../shared/random/index.js";
import {
  exportOnnx,
  log,
  paramCount,
  readJson,
  stageTrainer,
  steps,
  trainLoop,
  writeJson,
  writeRunStats,
} from "./common.js";
import { EDIT_DIR, KIT_DIR, LATENT_SIZE, TEXT_WIDTH, UNET_EDIT } from "./config.js";
import { unetGraph } from "./graphs.js";
import { kitNoiseSchedule, loadLatents, pick, textCache, trainCorpus } from "./kit-data.js";

const IMG = 3 * 32 * 32;
const LAT = 4 * LATENT_SIZE * LATENT_SIZE;

/** Parameters of the text-to-image UNet, with conv_in widened to the edit model's input channels (zeros). */
async function editInitParameters(): Promise<Map<string, Tensor>> {
  const t2i = fromModel(decodeModel(await readFile(join(KIT_DIR, "unet", "model.onnx"))));
  const out = new Map<string, Tensor>();
  for (const name of t2i.params) out.set(name, t2i.initializers.get(name) as Tensor);
  const w = out.get("conv_in.weight") as Tensor;
  const [o, i, kh, kw] = w.dims;
  const extra = UNET_EDIT.conditionChannels ?? 0;
  const wide = f32([o, i + extra, kh, kw]);
  const k = kh * kw;
  for (let a = 0; a < o; a++) {
    for (let c = 0; c < i; c++) {
      (wide.data as Float32Array).set(
        (w.data as Float32Array).subarray((a * i + c) * k, (a * i + c + 1) * k),
        (a * (i + extra) + c) * k,
      );
    }
  }
  out.set("conv_in.weight", wide);
  return out;
}

export async function trainEditStage(): Promise<void> {
  const corpus = await trainCorpus();
  const { latents, scale } = await loadLatents();
  const texts = await textCache(["", ...allInstructions()]);
  const schedule = kitNoiseSchedule();
  const encoder = await createSession(await readFile(join(KIT_DIR, "vae_encoder", "model.onnx")));
  const fresh = unetGraph(UNET_EDIT, true);
  const init = [...(await editInitParameters())].filter(([name]) => fresh.params.has(name));
  if (init.length !== fresh.params.size)
    throw new Error(`edit init: ${init.length} of ${fresh.params.size} parameters`);
  const graph = withParameters(fresh, new Map(init));
  const total = steps("edit", 2400);
  const B = 64;
  const trainer = await stageTrainer(graph, total, {
    weightDecay: 0.01,
    peak: 5e-4,
    warmup: 100,
    min: 2e-5,
    clipNorm: 1,
  });
  log("edit", `${paramCount(graph)} parameters, ${total} steps at batch ${B}`);
  const ctxSize = KIT_MAX_LENGTH * TEXT_WIDTH;
  const { seconds, msPerStep } = await trainLoop({
    name: "edit",
    trainer,
    total,
    batch: async (step) => {
      const rng = new Rng(505, step);
      const idx = pick(rng, B, corpus.count);
      const edited = f32([B, 3, 32, 32]);
      const ed = edited.data as Float32Array;
      const which = idx.map(() => rng.nextInt(KIT_EDITS.length));
      idx.forEach((i, k) => {
        const out = applyEdit(
          KIT_EDITS[which[k]].name,
          corpus.images.subarray(i * IMG, (i + 1) * IMG),
          step * B + k,
        );
        for (let p = 0; p < IMG; p++) ed[k * IMG + p] = out[p] * 2 - 1;
      });
      const target0 = (await runSession(encoder, { sample: edited })).latent_sample.data as Float32Array;
      // jscpd:ignore-start (as train-kit.ts's UNet batches: the order of the RNG draws defines the data)
      const sample = f32([B, 8, LATENT_SIZE, LATENT_SIZE]);
      const target = f32([B, 4, LATENT_SIZE, LATENT_SIZE]);
      const timestep = f32([B]);
      const ctx = f32([B, KIT_MAX_LENGTH, TEXT_WIDTH]);
      const sd = sample.data as Float32Array;
      const td = target.data as Float32Array;
      rng.fillNormal(td);
      idx.forEach((i, k) => {
        const t = rng.nextInt(1000);
        (timestep.data as Float32Array)[k] = t;
        const a = schedule.alphaCumprod(t);
        const sa = Math.sqrt(a);
        const sb = Math.sqrt(1 - a);
        // jscpd:ignore-end
        const r = rng.nextFloat();
        const dropText = r < 0.05 || (r >= 0.1 && r < 0.15);
        const dropImage = r >= 0.05 && r < 0.15;
        for (let p = 0; p < LAT; p++) {
          sd[k * 2 * LAT + p] = sa * target0[k * LAT + p] * scale + sb * td[k * LAT + p];
          // The source latent unscaled (the VAE mode), as diffusers' InstructPix2Pix pipeline feeds it.
          sd[k * 2 * LAT + LAT + p] = dropImage ? 0 : latents[i * LAT + p];
        }
        const inst = KIT_EDITS[which[k]].instructions;
        const text = dropText ? "" : inst[rng.nextInt(inst.length)];
        (ctx.data as Float32Array).set(texts.get(text) as Float32Array, k * ctxSize);
      });
      return { sample, timestep, encoder_hidden_states: ctx, target };
    },
  });
  const params = trainer.modelParameters();
  await trainer.release();
  await encoder.release();
  const size = await exportOnnx(join(EDIT_DIR, "unet", "model.onnx"), unetGraph(UNET_EDIT, false), params);
  const unetConfig = await readJson<Record<string, unknown>>(join(KIT_DIR, "unet", "config.json"));
  await writeJson(join(EDIT_DIR, "unet", "config.json"), { ...unetConfig, in_channels: 8 });
  for (const part of ["text_encoder", "tokenizer", "vae_encoder", "vae_decoder", "scheduler"]) {
    await cp(join(KIT_DIR, part), join(EDIT_DIR, part), { recursive: true });
  }
  const index = await readJson<Record<string, unknown>>(join(KIT_DIR, "model_index.json"));
  await writeJson(join(EDIT_DIR, "model_index.json"), {
    ...index,
    _class_name: "OnnxStableDiffusionInstructPix2PixPipeline",
    _diffda_kit: "diffda-kit-v1-edit",
    edits: KIT_EDITS,
  });
  await writeRunStats("edit", { total, seconds, msPerStep }, { params: paramCount(graph), size });
  log("edit", `done in ${(seconds / 60).toFixed(1)} min`);
}
