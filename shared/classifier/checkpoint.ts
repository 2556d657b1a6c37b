import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Trainer } from "../ml/runtime/index.js";
import { loadSafetensors, saveSafetensors } from "../ml/safetensors/index.js";

/** File name of the training checkpoint inside `checkpointDir` (rewritten atomically each time). */
export const CHECKPOINT_FILE = "checkpoint.safetensors";
const PROGRESS_KEY = "classifier_progress";

/** Loss and learning rate of one finished epoch. */
export interface EpochRecord {
  /** 0-based epoch index. */
  readonly epoch: number;
  /** Mean training loss over the epoch's steps. */
  readonly loss: number;
  /** Learning rate of the epoch's last step. */
  readonly lr: number;
  /** Wall seconds the epoch took (summed over sessions when it was resumed). */
  readonly seconds: number;
  /** Real images replaced by synthetic ones this epoch (LRR/GRR). */
  readonly replaced: number;
}

/** Where a run stands: saved next to the trainer state so a run resumes at the exact batch. */
export interface TrainProgress {
  /** Hash of everything that determines the run (data, model, recipe, seed). */
  readonly fingerprint: string;
  /** Epoch in progress (= epochs finished when `batch` is 0). */
  readonly epoch: number;
  /** Batches of that epoch already trained on. */
  readonly batch: number;
  /** Running sums of the epoch in progress. */
  readonly epochLoss: number;
  readonly epochSeconds: number;
  readonly history: readonly EpochRecord[];
  /** Training wall seconds so far, over all sessions. */
  readonly seconds: number;
}

/** The checkpoint path of a run directory. */
export function checkpointPath(dir: string): string {
  return join(dir, CHECKPOINT_FILE);
}

/** Saves the trainer state (parameters, optimizer state, step) and the run's progress. */
export async function saveCheckpoint(dir: string, trainer: Trainer, progress: TrainProgress): Promise<void> {
  await mkdir(dir, { recursive: true });
  const { tensors, metadata } = trainer.checkpoint();
  await saveSafetensors(checkpointPath(dir), tensors, {
    ...metadata,
    [PROGRESS_KEY]: JSON.stringify(progress),
  });
}

/**
 * Restores a run from `dir` into `trainer` and returns its progress, or undefined when there is no
 * checkpoint. A checkpoint of a different run (other data, model, recipe or seed) is an error.
 */
export async function loadCheckpoint(
  dir: string,
  trainer: Trainer,
  fingerprint: string,
): Promise<TrainProgress | undefined> {
  const path = checkpointPath(dir);
  if (!existsSync(path)) return undefined;
  const { metadata } = await loadSafetensors(path);
  const raw = metadata[PROGRESS_KEY];
  if (raw === undefined) throw new Error(`${path}: not a classifier training checkpoint`);
  const progress = JSON.parse(raw) as TrainProgress;
  if (progress.fingerprint !== fingerprint) {
    throw new Error(`${path}: the checkpoint belongs to another run (data, model, recipe or seed differ)`);
  }
  await trainer.load(path);
  return progress;
}
