/**
 * Minimal kit samplers for training checks and the bench (the service's pipelines live on the `pipelines`
 * branch): text-to-image with classifier-free guidance and InstructPix2Pix three-way guidance, both with
 * DPM-Solver++ built from the kit's SD1.5 scheduler config.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type * as ort from "onnxruntime-node";
import type { ClipTokenizer } from "../../../shared/diffusion/index.js";
import {
  classifierFreeGuidanceFromBatch,
  DPMSolverMultistepScheduler,
  instructPix2PixGuidanceFromBatch,
} from "../../../shared/diffusion/index.js";
import { kitTokenizer } from "../../../shared/kit/tokenizer.js";
import { f32, type Tensor } from "../../../shared/ml/onnx/index.js";
import { createSession, runSession } from "../../../shared/ml/runtime/index.js";
import { Rng } from "../../../shared/random/index.js";
import { LATENT_SIZE } from "./config.js";
import { idsTensor, loadTokenizerFiles } from "./kit-data.js";

const LAT = 4 * LATENT_SIZE * LATENT_SIZE;

export interface Kit {
  dir: string;
  tokenizer: ClipTokenizer;
  text: ort.InferenceSession;
  unet: ort.InferenceSession;
  encoder: ort.InferenceSession;
  decoder: ort.InferenceSession;
  scale: number;
  scheduler: DPMSolverMultistepScheduler;
}

export async function loadKit(dir: string): Promise<Kit> {
  const open = async (part: string) => createSession(await readFile(join(dir, part, "model.onnx")));
  const vae = JSON.parse(await readFile(join(dir, "vae_decoder", "config.json"), "utf8")) as {
    scaling_factor: number;
  };
  const sched = JSON.parse(await readFile(join(dir, "scheduler", "scheduler_config.json"), "utf8"));
  return {
    dir,
    tokenizer: kitTokenizer(await loadTokenizerFiles()),
    text: await open("text_encoder"),
    unet: await open("unet"),
    encoder: await open("vae_encoder"),
    decoder: await open("vae_decoder"),
    scale: vae.scaling_factor,
    scheduler: DPMSolverMultistepScheduler.fromConfig(sched),
  };
}

async function encodeText(kit: Kit, prompts: string[]): Promise<Float32Array> {
  const enc = kit.tokenizer.encodeBatch(prompts);
  const out = await runSession(kit.text, { input_ids: idsTensor(enc.inputIds, prompts.length) }, [
    "last_hidden_state",
  ]);
  return out.last_hidden_state.data as Float32Array;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Decodes scaled latents to images in [0, 1] (N·3·32·32). */
async function decode(kit: Kit, latents: Float32Array, n: number): Promise<Float32Array> {
  const z = f32([n, 4, LATENT_SIZE, LATENT_SIZE]);
  const zd = z.data as Float32Array;
  for (let i = 0; i < zd.length; i++) zd[i] = latents[i] / kit.scale;
  const y = (await runSession(kit.decoder, { latent_sample: z })).sample.data as Float32Array;
  return y.map((v) => Math.min(1, Math.max(0, (v + 1) / 2)));
}

/** Encodes images in [0, 1] to scaled latents. */
async function encode(kit: Kit, images: Float32Array, n: number): Promise<Float32Array> {
  const x = f32([n, 3, 32, 32]);
  (x.data as Float32Array).set(images.map((v) => v * 2 - 1));
  const z = (await runSession(kit.encoder, { sample: x })).latent_sample.data as Float32Array;
  return z.map((v) => v * kit.scale);
}

async function unetCall(
  kit: Kit,
  sample: Float32Array,
  channels: number,
  n: number,
  t: number,
  ctx: Float32Array,
): Promise<Float32Array> {
  const feeds: Record<string, Tensor> = {
    sample: { ...f32([n, channels, LATENT_SIZE, LATENT_SIZE]), data: sample },
    timestep: { ...f32([n]), data: new Float32Array(n).fill(t) },
    encoder_hidden_states: { ...f32([n, ctx.length / n / 64, 64]), data: ctx },
  };
  return (await runSession(kit.unet, feeds, ["out_sample"])).out_sample.data as Float32Array;
}

/** Text-to-image: `prompts` (one image each), CFG `guidance`, `steps` DPM-Solver++ steps; images in [0, 1]. */
export async function textToImage(
  kit: Kit,
  prompts: string[],
  o: { guidance: number; steps: number; seed: number },
): Promise<Float32Array> {
  const n = prompts.length;
  const ctx = concat([
    await encodeText(
      kit,
      prompts.map(() => ""),
    ),
    await encodeText(kit, prompts),
  ]);
  const plan = kit.scheduler.setTimesteps(o.steps);
  let x: Float32Array = new Float32Array(n * LAT);
  for (let i = 0; i < n; i++) x.set(new Rng(o.seed, i).fillNormal(new Float32Array(LAT)), i * LAT);
  let state = plan.start();
  while (!state.done) {
    const input = plan.scaleModelInput(x, state.timestep);
    const eps = await unetCall(kit, concat([input, input]), 4, 2 * n, state.timestep, ctx);
    const guided = classifierFreeGuidanceFromBatch(eps, o.guidance);
    ({ prevSample: x, state } = plan.step(state, guided, x));
  }
  return decode(kit, x, n);
}

/**
 * InstructPix2Pix edit of images in [0, 1]: three-way guidance (text `guidance`, image `imageGuidance`),
 * batch order [text+image; image only; neither] as in diffusers.
 */
export async function editImages(
  kit: Kit,
  images: Float32Array,
  instructions: string[],
  o: { guidance: number; imageGuidance: number; steps: number; seed: number },
): Promise<Float32Array> {
  const n = instructions.length;
  // Unscaled source latent, as diffusers' InstructPix2Pix pipeline (and the edit model's training) use it.
  const source = (await encode(kit, images, n)).map((v) => v / kit.scale);
  const empty = await encodeText(
    kit,
    instructions.map(() => ""),
  );
  const ctx = concat([await encodeText(kit, instructions), empty, empty]);
  const cond = concat([source, source, new Float32Array(n * LAT)]);
  const plan = kit.scheduler.setTimesteps(o.steps);
  let x: Float32Array = new Float32Array(n * LAT);
  for (let i = 0; i < n; i++) x.set(new Rng(o.seed, i).fillNormal(new Float32Array(LAT)), i * LAT);
  let state = plan.start();
  while (!state.done) {
    const input = plan.scaleModelInput(x, state.timestep);
    const sample = new Float32Array(3 * n * 2 * LAT);
    for (let k = 0; k < 3 * n; k++) {
      sample.set(input.subarray((k % n) * LAT, ((k % n) + 1) * LAT), k * 2 * LAT);
      sample.set(cond.subarray(k * LAT, (k + 1) * LAT), k * 2 * LAT + LAT);
    }
    const eps = await unetCall(kit, sample, 8, 3 * n, state.timestep, ctx);
    const guided = instructPix2PixGuidanceFromBatch(eps, o.guidance, o.imageGuidance);
    ({ prevSample: x, state } = plan.step(state, guided, x));
  }
  return decode(kit, x, n);
}

export async function releaseKit(kit: Kit): Promise<void> {
  for (const s of [kit.text, kit.unet, kit.encoder, kit.decoder]) await s.release();
}
