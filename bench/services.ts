/**
 * Images per second through GenerationService (a separate process, real socket, engine in its worker
 * thread, PNG + sha256 per image, streamed back) versus the same engine called in this process (LocalEngine:
 * the same pipeline, PNG encoding and hashing, same model, batch and samples). Rounds alternate between the
 * two paths so that load from other processes hits both alike; medians are compared.
 *
 *   npm run bench:services                       # the tiny test model (written to a temp folder)
 *   npm run bench:services -- models/diffda-kit-v1   # any model folder (or MODEL_DIR=…)
 *
 * COUNT (images per shard, default 128), BATCH (default 8), STEPS (default 25), ROUNDS (default 5). Prints a
 * table and writes bench/results/services.json.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, loadavg } from "node:os";
import { basename, resolve } from "node:path";
import { LocalEngine } from "../services/generation/src/index.js";
import { tempTinyModel } from "../shared/diffusion/testing/fixtures.js";
import { GenerationService } from "../shared/gen/diffda/generation/v1/generation_pb.js";
import { startService } from "../shared/testing/service-process.js";
import { connect } from "../test/support/clients.js";

const count = Number(process.env.COUNT ?? 128);
const batch = Number(process.env.BATCH ?? 8);
const steps = Number(process.env.STEPS ?? 25);
const rounds = Number(process.env.ROUNDS ?? 5);
const argDir = process.argv.slice(2).find((a) => !a.startsWith("-"));
const tiny = argDir || process.env.MODEL_DIR ? undefined : await tempTinyModel({ layout: "optimum" });
const modelDir = resolve(argDir ?? process.env.MODEL_DIR ?? (tiny?.dir as string));
const modelId = "bench-model";
const classes = ["cat", "dog"];
const seed = 42;
const startLoad = loadavg()[0];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// In-process: the engine the service runs, with the samples the service plans for this request.
const engine = new LocalEngine();
const lease = await engine.acquire({ id: modelId, dir: modelDir, adapters: [] });
const side = lease.info.sampleSize * lease.info.vaeScaleFactor;
const samples = Array.from({ length: count }, (_, index) => {
  const label = index % classes.length;
  return { index, seed, prompt: `a photo of a ${classes[label]}`, label, sourceLabel: label };
});
async function inProcess(): Promise<number> {
  const t0 = performance.now();
  for (let from = 0; from < count; from += batch) {
    const images = await engine.generate({
      modelKey: lease.key,
      method: { kind: "text_to_image", height: side, width: side },
      sampling: { steps },
      samples: samples.slice(from, from + batch),
    });
    if (images.length !== Math.min(batch, count - from)) throw new Error("short batch");
  }
  return (performance.now() - t0) / 1000;
}

// Through the service: a separate process on the same model and batch size.
const service = await startService("generation", {
  MODEL_DIR: modelDir,
  MODEL_ID: modelId,
  GENERATION_BATCH_SIZE: String(batch),
});
const { client, channel } = connect(GenerationService, service.address, 3_600_000);
const request = {
  jobId: "bench",
  count,
  seed: BigInt(seed),
  samplesPerSource: 1,
  model: { baseModel: { name: modelId } },
  classes: classes.map((name) => ({ name })),
  sources: samples.map((s) => ({ label: s.label, sourceIndex: s.index })),
  sampling: { numInferenceSteps: steps },
  method: { case: "textToImage" as const, value: {} },
};
async function viaService(): Promise<number> {
  const t0 = performance.now();
  let images = 0;
  for await (const r of client.generateShard(request)) if (r.event.case === "image") images++;
  if (images !== count) throw new Error(`the service returned ${images} images`);
  return (performance.now() - t0) / 1000;
}

// Readiness: the first call waits for SERVING (the client retries nothing, so poll the health gauge).
for (let i = 0; i < 600; i++) {
  if ((await service.metrics()).includes('diffda_service_ready{service="generation"} 1')) break;
  await new Promise((r) => setTimeout(r, 100));
}
await inProcess(); // warm-up: session creation, first-run allocations
await viaService();
const local: number[] = [];
const remote: number[] = [];
for (let r = 0; r < rounds; r++) {
  local.push(await inProcess());
  remote.push(await viaService());
}
channel.close();
await service.stop();
await engine.close();
await tiny?.remove();

const localRate = count / median(local);
const remoteRate = count / median(remote);
const results = {
  model: tiny ? "tiny test model (shared/diffusion/testing, optimum layout)" : basename(modelDir),
  image_size: side,
  count,
  batch,
  steps,
  rounds,
  in_process_images_per_second: Number(localRate.toFixed(2)),
  service_images_per_second: Number(remoteRate.toFixed(2)),
  service_vs_in_process: Number((remoteRate / localRate).toFixed(3)),
  in_process_seconds: local.map((s) => Number(s.toFixed(3))),
  service_seconds: remote.map((s) => Number(s.toFixed(3))),
  cpu: cpus()[0]?.model ?? "unknown",
  cores: availableParallelism(),
  loadavg_1m_start: Number(startLoad.toFixed(2)),
  loadavg_1m_end: Number(loadavg()[0].toFixed(2)),
  date: new Date().toISOString(),
};
console.log(
  `model ${results.model}, ${side}×${side}, ${count} images, batch ${batch}, ${steps} steps, ${rounds} rounds`,
);
console.log(
  `in-process engine   ${localRate.toFixed(2)} images/s  (median of ${local.map((s) => s.toFixed(2)).join(", ")} s)`,
);
console.log(
  `GenerationService   ${remoteRate.toFixed(2)} images/s  (median of ${remote.map((s) => s.toFixed(2)).join(", ")} s)`,
);
console.log(`service / in-process ${(remoteRate / localRate).toFixed(3)}`);
await mkdir(new URL("./results/", import.meta.url), { recursive: true });
await writeFile(new URL("./results/services.json", import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
console.log("wrote bench/results/services.json");
