import { existsSync } from "node:fs";
import { appendFile, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Graph } from "../../../shared/ml/graph/index.js";
import { toModel, withParameters } from "../../../shared/ml/graph/index.js";
import { encodeModel, type Tensor } from "../../../shared/ml/onnx/index.js";
import { adamw, warmupCosine } from "../../../shared/ml/optim/index.js";
import { Trainer } from "../../../shared/ml/runtime/index.js";
import { CACHE_DIR, STATS_DIR } from "./config.js";

/** A step budget from the environment (KIT_<NAME>_STEPS) or the default. */
export function steps(name: string, fallback: number): number {
  const v = process.env[`KIT_${name.toUpperCase()}_STEPS`];
  return v ? Number(v) : fallback;
}

export function log(stage: string, message: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${stage}: ${message}`);
}

export interface TrainLoopOptions {
  name: string;
  trainer: Trainer;
  total: number;
  batch: (step: number) => Record<string, Tensor> | Promise<Record<string, Tensor>>;
  /** Seconds between checkpoints (default 120). */
  checkpointEvery?: number;
}

/**
 * Runs `trainer` to `total` steps, resuming from `.cache/kit/<name>.ckpt.safetensors` when it is there, with a
 * progress line every ~20 s, a checkpoint every couple of minutes and the loss of every step appended to
 * `.cache/kit/logs/<name>.losses.jsonl` (the model card's loss curve). Batches depend only on the step
 * number, so a resumed run sees the same data as an uninterrupted one.
 */
export async function trainLoop(o: TrainLoopOptions): Promise<{ seconds: number; msPerStep: number }> {
  const ckpt = join(CACHE_DIR, `${o.name}.ckpt.safetensors`);
  const losses = join(CACHE_DIR, "logs", `${o.name}.losses.jsonl`);
  await mkdir(dirname(losses), { recursive: true });
  if (existsSync(ckpt)) {
    await o.trainer.load(ckpt);
    log(o.name, `resumed at step ${o.trainer.step}`);
  }
  const started = performance.now();
  const startStep = o.trainer.step;
  let lastCkpt = performance.now();
  let lastLog = performance.now();
  let window: number[] = [];
  let pending: string[] = [];
  while (o.trainer.step < o.total) {
    const step = o.trainer.step + 1;
    const r = await o.trainer.trainStep(await o.batch(step));
    if (!Number.isFinite(r.loss)) throw new Error(`${o.name}: loss is ${r.loss} at step ${step}`);
    window.push(r.loss);
    pending.push(
      JSON.stringify({ step, loss: Number(r.loss.toPrecision(5)), lr: Number(r.lr.toPrecision(4)) }),
    );
    const now = performance.now();
    if (now - lastLog > 20_000 || step === o.total) {
      const ms = (now - started) / (step - startStep);
      const mean = window.reduce((a, b) => a + b, 0) / window.length;
      log(
        o.name,
        `step ${step}/${o.total} loss ${mean.toFixed(4)} lr ${r.lr.toExponential(2)} ${ms.toFixed(0)} ms/step, eta ${((ms * (o.total - step)) / 60_000).toFixed(1)} min`,
      );
      window = [];
      lastLog = now;
      await appendFile(losses, `${pending.join("\n")}\n`);
      pending = [];
    }
    if (now - lastCkpt > (o.checkpointEvery ?? 120) * 1000 || step === o.total) {
      if (pending.length) await appendFile(losses, `${pending.join("\n")}\n`);
      pending = [];
      await o.trainer.save(ckpt);
      lastCkpt = now;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  return { seconds, msPerStep: startStep < o.total ? (seconds * 1000) / (o.total - startStep) : 0 };
}

/** Per-step losses logged by {@link trainLoop} (the last run wins for repeated steps). */
export async function readLosses(name: string): Promise<{ step: number; loss: number }[]> {
  const path = join(CACHE_DIR, "logs", `${name}.losses.jsonl`);
  if (!existsSync(path)) return [];
  const byStep = new Map<number, number>();
  for (const line of (await readFile(path, "utf8")).split("\n")) {
    if (!line.trim()) continue;
    const { step, loss } = JSON.parse(line) as { step: number; loss: number };
    byStep.set(step, loss);
  }
  return [...byStep].sort((a, b) => a[0] - b[0]).map(([step, loss]) => ({ step, loss }));
}

/** Mean loss over consecutive windows: a compact loss curve for cards. */
export function lossCurve(
  losses: { step: number; loss: number }[],
  points = 10,
): { step: number; loss: number }[] {
  if (losses.length === 0) return [];
  const size = Math.max(1, Math.floor(losses.length / points));
  const out: { step: number; loss: number }[] = [];
  for (let i = 0; i < losses.length; i += size) {
    const w = losses.slice(i, i + size);
    out.push({
      step: w[w.length - 1].step,
      loss: Number((w.reduce((a, b) => a + b.loss, 0) / w.length).toFixed(4)),
    });
  }
  return out;
}

/** Writes an inference ONNX model (weights as initializers) of `graph` with trained `params`. */
export async function exportOnnx(path: string, graph: Graph, params: Map<string, Tensor>): Promise<number> {
  const picked = new Map([...params].filter(([name]) => graph.params.has(name)));
  for (const name of graph.params)
    if (!picked.has(name)) throw new Error(`export ${path}: no value for ${name}`);
  const bytes = encodeModel(toModel(withParameters(graph, picked), { producerName: "diffda-kit" }));
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
  return bytes.length;
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

export async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, "utf8")) as T;
}

/** Parameter count of a graph. */
export function paramCount(graph: Graph): number {
  let n = 0;
  for (const p of graph.params) n += graph.initializers.get(p)?.data.length ?? 0;
  return n;
}

/** The optimizer settings of a kit stage: AdamW, linear warm-up then cosine to `min`, gradient clipping. */
export interface StageRecipe {
  weightDecay: number;
  peak: number;
  warmup: number;
  min: number;
  clipNorm: number;
}

/** A trainer over every parameter of `graph` with the kit's recipe shape, for a budget of `total` steps. */
export function stageTrainer(graph: Graph, total: number, r: StageRecipe): Promise<Trainer> {
  return Trainer.create({
    graph,
    loss: "loss",
    trainable: [...graph.params],
    optimizer: adamw({ weightDecay: r.weightDecay }),
    schedule: warmupCosine({ peak: r.peak, warmup: r.warmup, total, min: r.min }),
    clipNorm: r.clipNorm,
  });
}

/**
 * Writes `models/training/<name>.json` for a stage that may be resumed with a larger budget: its runs add
 * up (seconds summed, one entry per budget reached); re-running at the same budget replaces the figures.
 */
export async function writeRunStats(
  name: string,
  run: { total: number; seconds: number; msPerStep: number },
  extra: Record<string, unknown>,
): Promise<void> {
  const path = join(STATS_DIR, `${name}.json`);
  const previous = existsSync(path)
    ? await readJson<{ runs?: unknown[]; seconds?: number; total?: number; msPerStep?: number }>(path)
    : {};
  const runs =
    previous.runs ??
    (previous.total
      ? [{ total: previous.total, seconds: previous.seconds, msPerStep: previous.msPerStep }]
      : []);
  const grew = (previous.total ?? 0) < run.total;
  await writeJson(path, {
    seconds: (grew ? (previous.seconds ?? 0) : 0) + run.seconds,
    msPerStep: run.msPerStep,
    total: run.total,
    ...extra,
    runs: [...runs, ...(grew ? [run] : [])],
  });
}
