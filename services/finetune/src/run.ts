import type { MessageInitShape } from "@bufbuild/protobuf";
import { createImageSet, type ImageSet } from "../../../shared/data/index.js";
import {
  type FineTuneResult,
  fineTune,
  loraStateDict,
  OUTPUT_FILES,
  textualInversionStateDict,
} from "../../../shared/finetune/index.js";
import type { LabelledImage } from "../../../shared/gen/diffda/common/v1/dataset_pb.js";
import { AdapterKind, type AdapterSchema } from "../../../shared/gen/diffda/common/v1/model_pb.js";
import type { ProgressSchema } from "../../../shared/gen/diffda/common/v1/progress_pb.js";
import {
  FinetuneMethod,
  type FinetuneResultSchema,
} from "../../../shared/gen/diffda/finetune/v1/finetune_pb.js";
import { type RuntimeSettings, runtimeSettings } from "../../../shared/ml/runtime/index.js";
import { encodeSafetensors } from "../../../shared/ml/safetensors/index.js";
import { createEventChannel, type Limiter, startWork } from "../../../shared/service/index.js";
import {
  decodeImageData,
  intField,
  invalidField,
  makeArtifact,
  SAFETENSORS_MEDIA_TYPE,
} from "../../../shared/service/wire/index.js";
import type { Logger } from "../../../shared/telemetry/index.js";
import type { FinetuneLimits } from "./config.js";
import type { FinetuneMetrics } from "./metrics.js";
import { type FinetunePlan, withDatasetBudget } from "./spec.js";

/** An event of a fine-tuning run: progress, then one result. */
export type FinetuneEvent =
  | { readonly progress: MessageInitShape<typeof ProgressSchema> }
  | { readonly result: MessageInitShape<typeof FinetuneResultSchema> };

/** What a run depends on; its sessions open with the runtime settings chosen at boot. */
export interface FinetuneDeps extends RuntimeSettings {
  readonly limits: FinetuneLimits;
  readonly metrics: FinetuneMetrics;
  readonly logger: Logger;
  readonly limiter: Limiter;
}

type AdapterInit = MessageInitShape<typeof AdapterSchema>;

/** Steps whose mean loss is reported as `final_loss` (the last logging window). */
const LOSS_WINDOW = 50;

/** The training images as an ImageSet: RGB, every image at the first one's size (shared/finetune resizes). */
async function imageSet(images: readonly LabelledImage[], classNames: readonly string[]): Promise<ImageSet> {
  const first = await decodeImageData(images[0].image, "images[0].image", { channels: 3 });
  const { height, width } = first;
  const plane = 3 * height * width;
  const pixels = new Float32Array(images.length * plane);
  const labels = new Int32Array(images.length);
  for (const [i, img] of images.entries()) {
    labels[i] = intField(img.label, `images[${i}].label`, { max: classNames.length - 1 });
    const decoded =
      i === 0
        ? first
        : await decodeImageData(img.image, `images[${i}].image`, { channels: 3, height, width });
    pixels.set(decoded.data, i * plane);
  }
  return createImageSet({ channels: 3, height, width, images: pixels, labels, classNames });
}

function safetensors(tensors: Parameters<typeof encodeSafetensors>[0], method: string): Uint8Array {
  return encodeSafetensors(tensors, { format: "pt", producer: "diffda", method });
}

/** The adapter files of a result, with their sha256 (diffusers / PEFT key conventions). */
export function adaptersOf(result: FineTuneResult, plan: FinetunePlan): AdapterInit[] {
  const adapters: AdapterInit[] = [];
  if (result.concepts && result.concepts.length > 0) {
    adapters.push({
      kind: AdapterKind.TEXTUAL_INVERSION,
      file: makeArtifact(
        OUTPUT_FILES.textualInversion,
        SAFETENSORS_MEDIA_TYPE,
        safetensors(textualInversionStateDict(result.concepts), result.method),
      ),
      tokens: result.concepts.map((c) => c.token),
    });
  }
  if (result.lora) {
    adapters.push({
      kind: result.method === "text-encoder-lora" ? AdapterKind.TEXT_ENCODER_LORA : AdapterKind.UNET_LORA,
      file: makeArtifact(
        OUTPUT_FILES.lora,
        SAFETENSORS_MEDIA_TYPE,
        safetensors(loraStateDict(result.lora, "peft"), result.method),
      ),
      loraRank: plan.rank,
      loraAlpha: plan.alpha,
    });
  }
  if (result.unetWeights) {
    adapters.push({
      kind: AdapterKind.FULL_UNET,
      file: makeArtifact(
        OUTPUT_FILES.unetWeights,
        SAFETENSORS_MEDIA_TYPE,
        safetensors(result.unetWeights, result.method),
      ),
    });
  }
  return adapters;
}

function hyperparametersOf(
  plan: FinetunePlan,
): MessageInitShape<typeof FinetuneResultSchema>["hyperparameters"] {
  const ti = plan.method === FinetuneMethod.TEXTUAL_INVERSION ? plan.settings : plan.tiSettings;
  const lora =
    plan.method === FinetuneMethod.TI_LORA || plan.method === FinetuneMethod.TEXT_ENCODER_LORA
      ? plan.settings
      : undefined;
  return {
    batchSize: plan.batchSize,
    seed: BigInt(plan.seed),
    templates: plan.templates ? [...plan.templates] : [],
    resolution: plan.resolution,
    textualInversion: ti
      ? {
          maxTrainSteps: ti.steps,
          learningRate: ti.learningRate,
          initializerToken: plan.initializerWord ?? "",
        }
      : undefined,
    lora: lora
      ? { maxTrainSteps: lora.steps, learningRate: lora.learningRate, rank: plan.rank, alpha: plan.alpha }
      : undefined,
    fullUnet:
      plan.method === FinetuneMethod.FULL_UNET
        ? { maxTrainSteps: plan.settings.steps, learningRate: plan.settings.learningRate }
        : undefined,
  };
}

/**
 * Fine-tunes the plan's base model on the images with shared/finetune (its Trainer runs in a worker thread),
 * streaming progress after every step, then the result: the adapter files with their sha256, the resolved
 * hyperparameters, the mean loss of the last steps, the step count and the CPU seconds the run cost. FINETUNE_METHOD_NONE trains nothing
 * and returns no adapter, so every job has the same shape.
 */
export async function* runFinetune(
  requested: FinetunePlan,
  images: readonly LabelledImage[],
  deps: FinetuneDeps,
  signal: AbortSignal,
): AsyncGenerator<FinetuneEvent> {
  const started = performance.now();
  const plan = withDatasetBudget(requested, images.length, deps.limits);
  if (plan.engineMethod !== undefined && images.length === 0)
    throw invalidField("images", "must hold at least one image");
  if (images.length > deps.limits.maxImages)
    throw invalidField("images", `must hold at most ${deps.limits.maxImages} images`);
  const method = plan.engineMethod ?? "none";
  const work = await startWork(deps.limiter, deps.metrics.runs, { finetuning: method }, signal);
  const log = deps.logger.child({ job_id: plan.jobId, method });
  let failed: unknown;
  try {
    const baseModel = { name: plan.model.id };
    if (plan.engineMethod === undefined) {
      yield {
        result: {
          adapters: { baseModel, adapters: [] },
          hyperparameters: hyperparametersOf(plan),
          finalLoss: 0,
          steps: 0,
          durationSeconds: (performance.now() - started) / 1000,
          cpuSeconds: work.cpuSeconds(),
        },
      };
      return;
    }
    yield {
      progress: {
        stage: "load_model",
        step: 0,
        totalSteps: images.length,
        message: "decoding and encoding the images",
      },
    };
    const set = await imageSet(images, plan.classNames);
    signal.throwIfAborted();
    const events = createEventChannel<FinetuneEvent>(
      (a, b) => "progress" in a && "progress" in b && a.progress.stage === b.progress.stage,
    );
    const run = fineTune({
      modelDir: plan.model.dir,
      method: plan.engineMethod,
      images: set,
      tokens: plan.tokens,
      initializerWords: plan.initializerWord,
      concepts: plan.concepts,
      classWords:
        plan.engineMethod === "text-encoder-lora" || plan.engineMethod === "full-unet"
          ? plan.classNames
          : undefined,
      templates: plan.templates,
      settings: plan.settings,
      tiSettings: plan.tiSettings,
      rank: plan.rank,
      alpha: plan.alpha,
      resolution: plan.resolution,
      seed: plan.seed,
      signal,
      ...runtimeSettings(deps),
      onProgress: (p) => {
        deps.metrics.steps.inc({ finetuning: method });
        events.push({
          progress: {
            stage: p.stage.replaceAll("-", "_"),
            step: p.step,
            totalSteps: p.totalSteps,
            loss: p.loss,
            etaSeconds: p.etaSeconds,
            message: `lr ${p.lr.toExponential(2)}`,
          },
        });
      },
    });
    run.then(
      () => events.close(),
      (error: unknown) => events.fail(error),
    );
    yield* events;
    const result = await run;
    const last = result.stages[result.stages.length - 1];
    const window = last ? last.losses.slice(-LOSS_WINDOW) : [];
    const finalLoss = window.length > 0 ? window.reduce((a, b) => a + b, 0) / window.length : 0;
    const steps = result.stages.reduce((n, s) => n + s.losses.length, 0);
    const seconds = (performance.now() - started) / 1000;
    // Which word each class's new token started from (request, class name, or the generic default).
    const tokenInit = result.tokenInitializers?.map((init, k) => ({
      class: plan.classNames[k],
      word: init.word,
      source: init.source,
    }));
    log.info(
      { event: "finetune_done", steps, final_loss: finalLoss, seconds, token_init: tokenInit },
      "fine-tuning done",
    );
    yield {
      result: {
        adapters: { baseModel, adapters: adaptersOf(result, plan) },
        hyperparameters: hyperparametersOf(plan),
        finalLoss,
        steps,
        durationSeconds: seconds,
        cpuSeconds: work.cpuSeconds(),
      },
    };
  } catch (error) {
    failed = error;
    throw error;
  } finally {
    work.finish(failed, signal);
  }
}
