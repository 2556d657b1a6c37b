import type {
  DiffusionModel,
  GeneratedImage,
  GifScoringModel,
  InversionCache,
  RunOptions,
} from "../../../../shared/diffusion/index.js";
import { runnerOfKind } from "../../../../shared/generation-modes/runners.js";
import { RpcError } from "../../../../shared/rpc/index.js";
import type { EngineBatch } from "./types.js";

/** What a method run needs besides the model and the batch. */
export interface MethodContext extends RunOptions {
  readonly inversionCache: InversionCache;
  /** A CLIP scorer for a scorer folder and class prompts. */
  readonly scoring: (clipDir: string, classPrompts: readonly string[]) => Promise<GifScoringModel>;
}

/**
 * Runs the batch's mode on `model` (every sample already planned: prompts, classes, source images at the
 * output size) through the mode's runner, and returns one image per sample, in order.
 */
export async function runMethod(
  model: DiffusionModel,
  batch: EngineBatch,
  context: MethodContext,
): Promise<GeneratedImage[]> {
  const runner = runnerOfKind(batch.method.kind);
  if (!runner) throw new RpcError("internal", `no generation mode ${batch.method.kind}`);
  if (runner.spec.needsImages && !model.vaeEncoder) {
    throw new RpcError("failed_precondition", `${runner.spec.name} needs a VAE encoder; this model has none`);
  }
  return runner.run(model, batch.samples, batch.method, {
    sampling: {
      steps: batch.sampling.steps,
      guidanceScale: batch.sampling.guidanceScale,
      scheduler: batch.sampling.scheduler && model.scheduler(batch.sampling.scheduler),
    },
    signal: context.signal,
    onProgress: context.onProgress,
    inversionCache: context.inversionCache,
    scoring: context.scoring,
  });
}
