import { GraphBuilder } from "../../shared/ml/graph/index.js";
import { clipLoss, imageEncoder, textProjection } from "../../shared/ml/models/clip.js";
import { textEncoder } from "../../shared/ml/models/text-encoder.js";
import { unet } from "../../shared/ml/models/unet.js";
import { vaeDecoder, vaeEncoder } from "../../shared/ml/models/vae.js";
import { mse } from "../../shared/ml/nn/index.js";
import { f32, type Tensor } from "../../shared/ml/onnx/index.js";
import { DataType } from "../../shared/ml/onnx/types.js";
import { adamw, constantSchedule } from "../../shared/ml/optim/index.js";
import { createSession, runSession, Trainer } from "../../shared/ml/runtime/index.js";
import { IMAGE_ENCODER, TEXT_HEADS, TEXT_LAYERS, TEXT_WIDTH, UNET, VAE } from "./lib/config.js";

const which = process.argv[2];
const over = JSON.parse(process.env.OVER ?? "{}");
Object.assign(VAE, over.vae ?? {});
Object.assign(UNET, over.unet ?? {});
Object.assign(IMAGE_ENCODER, over.img ?? {});
const B = Number(process.argv[3] ?? 64);
async function timeTrainer(b: GraphBuilder, feeds: Record<string, Tensor>) {
  const t = await Trainer.create({
    graph: b.graph,
    loss: "loss",
    trainable: [...b.graph.params],
    optimizer: adamw({}),
    schedule: constantSchedule(1e-3),
  });
  let n = 0;
  for (const p of b.graph.params) n += b.graph.initializers.get(p)!.data.length;
  await t.trainStep(feeds);
  const s = performance.now();
  for (let i = 0; i < 5; i++) await t.trainStep(feeds);
  console.log(which, "B", B, "params", n, "ms/step", ((performance.now() - s) / 5).toFixed(1));
}
function rnd(dims: number[]) {
  const t = f32(dims);
  const d = t.data as Float32Array;
  for (let i = 0; i < d.length; i++) d[i] = Math.random() * 2 - 1;
  return t;
}
const ids = (n: number) => ({
  dtype: DataType.INT32,
  dims: [n, 16],
  data: Int32Array.from({ length: n * 16 }, (_, i) => (i % 16 === 5 ? 700 : i % 7)),
});
if (which === "vae") {
  const b = new GraphBuilder();
  const x = b.input("x", [B, 3, 32, 32]);
  const { mean } = vaeEncoder(b, x, VAE);
  const y = vaeDecoder(b, mean, VAE);
  b.output(mse(b, y, x), "loss");
  await timeTrainer(b, { x: rnd([B, 3, 32, 32]) });
} else if (which === "clip") {
  const b = new GraphBuilder();
  const x = b.input("x", [B, 3, 32, 32]);
  const tok = b.input("ids", [B, 16], DataType.INT32);
  const tg = b.input("targets", [B, B]);
  const img = imageEncoder(b, x, IMAGE_ENCODER);
  const te = textEncoder(b, tok, {
    vocabSize: 701,
    maxLength: 16,
    width: TEXT_WIDTH,
    layers: TEXT_LAYERS,
    heads: TEXT_HEADS,
    eosTokenId: 700,
  });
  const { loss } = clipLoss(b, img, textProjection(b, te.pooled, TEXT_WIDTH, 64), tg);
  b.output(loss, "loss");
  const eye = f32([B, B]);
  for (let i = 0; i < B; i++) (eye.data as Float32Array)[i * B + i] = 1;
  await timeTrainer(b, { x: rnd([B, 3, 32, 32]), ids: ids(B), targets: eye });
} else if (which === "unet" || which === "unetfwd") {
  const b = new GraphBuilder();
  const x = b.input("sample", [B, 4, 8, 8]);
  const t = b.input("timestep", [B]);
  const c = b.input("encoder_hidden_states", [B, 16, TEXT_WIDTH]);
  const out = unet(b, x, t, c, UNET);
  if (which === "unet") {
    const tgt = b.input("target", [B, 4, 8, 8]);
    b.output(mse(b, out, tgt), "loss");
    await timeTrainer(b, {
      sample: rnd([B, 4, 8, 8]),
      timestep: rnd([B]),
      encoder_hidden_states: rnd([B, 16, TEXT_WIDTH]),
      target: rnd([B, 4, 8, 8]),
    });
  } else {
    b.output(out, "out_sample");
    const s = await createSession(b.graph, {});
    const feeds = {
      sample: rnd([B, 4, 8, 8]),
      timestep: rnd([B]),
      encoder_hidden_states: rnd([B, 16, TEXT_WIDTH]),
    };
    await runSession(s, feeds, ["out_sample"]);
    const st = performance.now();
    for (let i = 0; i < 20; i++) await runSession(s, feeds, ["out_sample"]);
    console.log("unet forward B", B, "ms", ((performance.now() - st) / 20).toFixed(1));
  }
}
