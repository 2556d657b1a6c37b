import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { withParameters } from "../ml/graph/index.js";
import type { Tensor } from "../ml/onnx/index.js";
import { adamw, type Schedule, warmupCosine } from "../ml/optim/index.js";
import {
  createSession,
  type RuntimeSettings,
  runSession,
  runtimeSettings,
  Trainer,
} from "../ml/runtime/index.js";
import { type BatchPlan, trainingBatch } from "./batch.js";
import type { StageSettings } from "./methods.js";
import type { StageGraph, StageOutput } from "./stages.js";

/** A progress event, sent after every optimizer step (what a gRPC server streams). */
export interface FineTuneProgress {
  /** "textual-inversion", "lora" or "full-unet". */
  readonly stage: string;
  /** Steps done in this stage (1-based). */
  readonly step: number;
  readonly totalSteps: number;
  /** Loss of the batch of this step (before the update). */
  readonly loss: number;
  readonly lr: number;
  /** Seconds this stage still needs at the pace of the steps run so far. */
  readonly etaSeconds: number;
  /** Global gradient norm before clipping (when clipping). */
  readonly gradNorm?: number;
}

/** How a stage runs beyond its optimisation settings; its sessions open with the runtime settings. */
export interface StageRunOptions extends RuntimeSettings {
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: FineTuneProgress) => void;
  /** Write a checkpoint every this many steps (and on abort) into `checkpointDir`. */
  readonly checkpointEvery?: number;
  readonly checkpointDir?: string;
  /** A checkpoint of this stage to continue from (parameters, optimizer state, step). */
  readonly resumeFrom?: string;
  /** Run onnxruntime in a worker thread, keeping the event loop free (default true). */
  readonly worker?: boolean;
  /** Mean loss over this many fixed held-out batches before and after training (default 0: skip). */
  readonly evalBatches?: number;
}

/** What a stage did. */
export interface StageReport {
  readonly stage: string;
  readonly totalSteps: number;
  /** Step the stage resumed from (0 when it started fresh). */
  readonly startStep: number;
  /** Loss of every step run here, in order. */
  readonly losses: number[];
  readonly seconds: number;
  /** Mean wall time of a training step (batch assembly included). */
  readonly msPerStep: number;
  readonly evalLossBefore?: number;
  readonly evalLossAfter?: number;
}

/** What {@link runStage} returns. */
export interface StageResult {
  readonly report: StageReport;
  readonly output: StageOutput;
  /** Every parameter of the stage's training graph after training (trained rows merged into their tables). */
  readonly parameters: Map<string, Tensor>;
}

/** The file of a stage's checkpoint at `step`. */
export function checkpointPath(dir: string, stage: string, step: number): string {
  return join(dir, `${stage}-${String(step).padStart(6, "0")}.safetensors`);
}

/** The stage and step a checkpoint file name records, if it is one. */
export function parseCheckpointName(path: string): { stage: string; step: number } | undefined {
  const m = /([a-z-]+)-(\d{6,})\.safetensors$/.exec(path);
  return m ? { stage: m[1], step: Number(m[2]) } : undefined;
}

function learningRate(s: StageSettings): Schedule {
  if (s.lrSchedule === "cosine")
    return warmupCosine({ peak: s.learningRate, warmup: s.warmupSteps, total: s.steps });
  const warmup = s.warmupSteps;
  return (step) => (warmup > 0 ? s.learningRate * Math.min(1, step / warmup) : s.learningRate);
}

/** The seed of the held-out evaluation batches of a run (apart from every training batch). */
const evalSeed = (seed: number) => (seed + 0x9e3779b9) % Number.MAX_SAFE_INTEGER;

/**
 * Mean loss of the stage's graph over `batches` fixed evaluation batches, with parameters `values`. The
 * batches come from their own seed and never use flips, so stages with different flip settings (TI, then
 * LoRA) are measured on the same batches.
 */
export async function evaluateLoss(
  stage: StageGraph,
  plan: BatchPlan,
  batches: number,
  values?: ReadonlyMap<string, Tensor>,
  settings: RuntimeSettings = {},
): Promise<number> {
  const graph = values ? withParameters(stage.training.graph, new Map(values)) : stage.training.graph;
  const session = await createSession(graph, settings);
  try {
    const evalPlan: BatchPlan = { ...plan, seed: evalSeed(plan.seed), flipProbability: 0 };
    let sum = 0;
    for (let k = 1; k <= batches; k++) {
      const out = await runSession(session, trainingBatch(evalPlan, k).feeds, [stage.training.loss]);
      sum += Number(out[stage.training.loss].data[0]);
    }
    return sum / batches;
  } finally {
    await session.release();
  }
}

function validate(s: StageSettings): void {
  const positive = (v: number, what: string) => {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${what} must be a positive integer, got ${v}`);
  };
  positive(s.steps, "steps");
  positive(s.batchSize, "batchSize");
  if (!(s.learningRate > 0)) throw new RangeError(`learningRate must be > 0, got ${s.learningRate}`);
  if (!(s.weightDecay >= 0)) throw new RangeError(`weightDecay must be ≥ 0, got ${s.weightDecay}`);
  if (s.clipNorm !== null && !(s.clipNorm > 0)) throw new RangeError(`clipNorm must be > 0 or null`);
  if (!(s.flipProbability >= 0 && s.flipProbability <= 1)) throw new RangeError("flipProbability ∉ [0, 1]");
  if (!Number.isInteger(s.warmupSteps) || s.warmupSteps < 0) throw new RangeError("warmupSteps must be ≥ 0");
}

/**
 * Trains one stage with the engine's Trainer: AdamW (decay on every trained weight, as torch's AdamW on a
 * parameter group), the stage's LR schedule and clipping, one `session.run` per step. Batches come from
 * {@link trainingBatch}, so resuming from a checkpoint continues exactly as straight training would. The
 * signal is checked before every step; on abort a checkpoint is written (with a checkpoint dir) and the
 * signal's reason is thrown.
 */
export async function runStage(
  stage: StageGraph,
  plan: BatchPlan,
  settings: StageSettings,
  o: StageRunOptions = {},
): Promise<StageResult> {
  validate(settings);
  o.signal?.throwIfAborted();
  const evalBatches = o.evalBatches ?? 0;
  const evalLossBefore =
    evalBatches > 0 ? await evaluateLoss(stage, plan, evalBatches, undefined, runtimeSettings(o)) : undefined;
  const trainer = await Trainer.create({
    graph: stage.training.graph,
    loss: stage.training.loss,
    trainable: stage.trainable,
    optimizer: adamw({ weightDecay: settings.weightDecay }),
    schedule: learningRate(settings),
    clipNorm: settings.clipNorm ?? undefined,
    decay: () => true,
    session: runtimeSettings(o),
    worker: o.worker ?? true,
  });
  try {
    if (o.resumeFrom) await trainer.load(o.resumeFrom);
    const startStep = trainer.step;
    if (startStep > settings.steps)
      throw new Error(`checkpoint is at step ${startStep}, past the stage's ${settings.steps} steps`);
    const save = async () => {
      if (!o.checkpointDir) return;
      await mkdir(o.checkpointDir, { recursive: true });
      await trainer.save(checkpointPath(o.checkpointDir, stage.name, trainer.step));
    };
    const losses: number[] = [];
    const started = performance.now();
    for (let step = startStep + 1; step <= settings.steps; step++) {
      if (o.signal?.aborted) {
        await save();
        o.signal.throwIfAborted();
      }
      const result = await trainer.trainStep(trainingBatch(plan, step).feeds);
      if (!Number.isFinite(result.loss))
        throw new Error(`${stage.name}: loss is ${result.loss} at step ${step}`);
      losses.push(result.loss);
      if (o.checkpointEvery && step % o.checkpointEvery === 0 && step < settings.steps) await save();
      const elapsed = (performance.now() - started) / 1000;
      o.onProgress?.({
        stage: stage.name,
        step,
        totalSteps: settings.steps,
        loss: result.loss,
        lr: result.lr,
        etaSeconds: (elapsed / losses.length) * (settings.steps - step),
        ...(result.gradNorm !== undefined ? { gradNorm: result.gradNorm } : {}),
      });
    }
    const seconds = (performance.now() - started) / 1000;
    if (o.checkpointEvery) await save();
    const trained = trainer.trainedParameters();
    const params = stage.training.graph.params;
    const parameters = new Map([...trainer.modelParameters()].filter(([name]) => params.has(name)));
    const evalLossAfter =
      evalBatches > 0
        ? await evaluateLoss(stage, plan, evalBatches, parameters, runtimeSettings(o))
        : undefined;
    return {
      report: {
        stage: stage.name,
        totalSteps: settings.steps,
        startStep,
        losses,
        seconds,
        msPerStep: losses.length > 0 ? (seconds * 1000) / losses.length : 0,
        evalLossBefore,
        evalLossAfter,
      },
      output: stage.collect(trained),
      parameters,
    };
  } finally {
    await trainer.release();
  }
}
