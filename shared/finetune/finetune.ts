import { access } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { ImageSet } from "../data/index.js";
import {
  type LoraLayer,
  loadTextualInversionFile,
  type TextualInversion,
} from "../diffusion/adapters/index.js";
import { COMPONENT_DIRS, componentModelPath, loadDiffusionModel } from "../diffusion/models/index.js";
import { DDPMScheduler } from "../diffusion/schedulers/index.js";
import type { Tensor } from "../ml/onnx/index.js";
import type { RuntimeSettings } from "../ml/runtime/index.js";
import { saveSafetensors } from "../ml/safetensors/index.js";
import type { BatchPlan } from "./batch.js";
import { encodeTrainingImages, type TrainingExamples } from "./examples.js";
import { readComponentGraph } from "./graph-io.js";
import { TEXT_ENCODER_LORA_TARGETS, UNET_LORA_TARGETS } from "./lora.js";
import {
  DEFAULT_INITIALIZER_WORD,
  defaultClassToken,
  type FineTuneMethod,
  LORA_DEFAULTS,
  METHOD_DEFAULTS,
  type StageSettings,
} from "./methods.js";
import {
  type FineTuneProgress,
  parseCheckpointName,
  runStage,
  type StageReport,
  type StageRunOptions,
} from "./run-stage.js";
import {
  fullUnetStage,
  loraStage,
  type StageGraph,
  type StageInputs,
  textualInversionStage,
} from "./stages.js";
import { IMAGENET_TEMPLATES_SMALL } from "./templates.js";
import { type TokenInitializer, textualInversionStateDict, tokenInitializers } from "./textual-inversion.js";

/** A request to fine-tune a model folder on a labelled image set. */
export interface FineTuneOptions extends Omit<StageRunOptions, "resumeFrom"> {
  /** A diffusers / Optimum ONNX model folder (from the model registry, never from a request). */
  readonly modelDir: string;
  readonly method: FineTuneMethod;
  /** Training images; `classNames` names the classes. */
  readonly images: ImageSet;
  /** Placeholder token of each class for TI (default `<class-k>`). */
  readonly tokens?: readonly string[];
  /**
   * Word(s) the new tokens start from: one for all classes or one per class (default: each class's word
   * where the tokenizer knows it, else "the"; see `tokenInitializers`).
   */
  readonly initializerWords?: string | readonly string[];
  /**
   * TI+LoRA: the frozen class embeddings, one per class in class order. Without them a TI stage runs first
   * (with `tiSettings`).
   */
  readonly concepts?: readonly TextualInversion[];
  /** What stands for each class in prompts when no tokens are learned (default: the class names). */
  readonly classWords?: readonly string[];
  /** Prompt templates with `{}` (default: the 27 imagenet_templates_small). */
  readonly templates?: readonly string[];
  /** Settings of the method's (last) stage, over its defaults ({@link METHOD_DEFAULTS}). */
  readonly settings?: Partial<StageSettings>;
  /** Settings of the TI stage that TI+LoRA runs first when no concepts are given. */
  readonly tiSettings?: Partial<StageSettings>;
  /** LoRA rank (default 8) and alpha (default = rank). */
  readonly rank?: number;
  readonly alpha?: number;
  /** Module names LoRA targets (default {@link UNET_LORA_TARGETS} / {@link TEXT_ENCODER_LORA_TARGETS}). */
  readonly loraTargets?: readonly string[];
  /** Training image side in pixels (default: the UNet's sample size × the VAE factor). */
  readonly resolution?: number;
  readonly seed?: number;
  /**
   * A checkpoint to resume from (`<stage>-<step>.safetensors` of a checkpoint dir). A TI+LoRA run resuming
   * its LoRA stage reads the TI stage's embeddings from the same folder.
   */
  readonly resumeFrom?: string;
}

/** What a fine-tuning run produced. */
export interface FineTuneResult {
  readonly method: FineTuneMethod;
  /** What stands for each class in generation prompts: its learned token, or its class word. */
  readonly classWords: readonly string[];
  /** TI and TI+LoRA: the class embeddings (learned, or the frozen ones used). */
  readonly concepts?: TextualInversion[];
  /** LoRA methods: the trained layers (torch layout, PEFT module names). */
  readonly lora?: LoraLayer[];
  /** Full fine-tune: the trained UNet weights by initializer name. */
  readonly unetWeights?: Map<string, Tensor>;
  /** One report per stage (TI+LoRA without concepts has two). */
  readonly stages: StageReport[];
  /** When a TI stage ran: the word each class's token started from, in class order, and why. */
  readonly tokenInitializers?: TokenInitializer[];
  /** Seconds of the whole run (encoding and graph building included). */
  readonly seconds: number;
}

/** The file a TI+LoRA run keeps its TI stage's embeddings in, beside its checkpoints. */
export const TI_STAGE_EMBEDDINGS = "textual-inversion-learned_embeds.safetensors";

function perClass<T>(value: T | readonly T[] | undefined, classes: number, fallback: (k: number) => T): T[] {
  if (value === undefined) return Array.from({ length: classes }, (_, k) => fallback(k));
  if (!Array.isArray(value)) return Array.from({ length: classes }, () => value as T);
  if (value.length !== classes)
    throw new RangeError(`expected ${classes} values (one per class), got ${value.length}`);
  return [...value];
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** The run-independent part of a batch plan (everything but the stage's prompts and batch settings). */
export type PlanBase = Omit<
  BatchPlan,
  "tokenizer" | "classWords" | "promptTransform" | "batchSize" | "flipProbability"
>;

/** What {@link loadTrainingInputs} reads from a model folder and the training images. */
export interface TrainingInputs {
  /** The components and shape for building stages (batch 0 until a stage's batch size is set). */
  readonly inputs: StageInputs;
  readonly plan: PlanBase;
}

/** Options of {@link loadTrainingInputs}; the session settings apply to the VAE that encodes the images. */
export interface LoadTrainingInputsOptions extends RuntimeSettings {
  readonly modelDir: string;
  readonly images: ImageSet;
  /** Training image side (default: the UNet's sample size × the VAE factor). */
  readonly resolution?: number;
  /** Also encode mirror images (for flips). */
  readonly flip: boolean;
  readonly seed?: number;
  readonly templates?: readonly string[];
  readonly signal?: AbortSignal;
}

/**
 * Loads what every stage needs from a model folder: the training images encoded by its VAE (once), its
 * text encoder and UNet decoded as float32 graphs, its tokenizer, the DDPM noise schedule and prediction
 * type of its scheduler config, and the element types its inputs declare.
 */
export async function loadTrainingInputs(o: LoadTrainingInputsOptions): Promise<TrainingInputs> {
  const model = await loadDiffusionModel(o.modelDir, {
    executionProviders: o.executionProviders,
    sessionOptions: o.threads === undefined ? undefined : { intraOpNumThreads: o.threads },
  });
  let examples: TrainingExamples;
  try {
    if (model.config.unetInChannels !== model.config.latentChannels)
      throw new Error("fine-tuning an image-conditioned (InstructPix2Pix) UNet is not supported");
    const resolution = o.resolution ?? model.config.sampleSize * model.config.vaeScaleFactor;
    examples = await encodeTrainingImages(model, o.images, { resolution, flip: o.flip, signal: o.signal });
  } finally {
    await model.release();
  }
  const [textEncoder, unet] = await Promise.all([
    readComponentGraph(componentModelPath(model.dir, COMPONENT_DIRS.textEncoder)),
    readComponentGraph(componentModelPath(model.dir, COMPONENT_DIRS.unet)),
  ]);
  const ids = textEncoder.graph.inputs.find((v) => v.name === "input_ids") ?? textEncoder.graph.inputs[0];
  const declared = ids.shape?.[1];
  const sequenceLength = typeof declared === "number" ? declared : model.tokenizer.modelMaxLength;
  if (sequenceLength !== model.tokenizer.modelMaxLength) {
    throw new Error(
      `the text encoder takes ${sequenceLength} tokens, the tokenizer writes ${model.tokenizer.modelMaxLength}`,
    );
  }
  const scheduler = DDPMScheduler.fromConfig(model.schedulerConfig);
  const timestep = unet.graph.inputs.find((v) => v.name === "timestep");
  if (!timestep) throw new Error("the UNet has no timestep input");
  const shape = {
    batch: 0,
    sequenceLength,
    channels: examples.channels,
    outChannels: examples.channels,
    height: examples.height,
    width: examples.width,
  };
  return {
    inputs: { textEncoder, unet, tokenizer: model.tokenizer, shape },
    plan: {
      seed: o.seed ?? 0,
      examples,
      templates: o.templates ?? IMAGENET_TEMPLATES_SMALL,
      schedule: scheduler.schedule,
      prediction: scheduler.config.predictionType,
      idsType: ids.dtype,
      timestepType: timestep.dtype,
      scalarTimestep: (timestep.shape?.length ?? 0) === 0,
    },
  };
}

/** Stage inputs with the batch size of `settings`. */
export function withBatchSize(inputs: StageInputs, batch: number): StageInputs {
  return { ...inputs, shape: { ...inputs.shape, batch } };
}

/** The batch plan of a stage. */
export function stagePlan(base: PlanBase, stage: StageGraph, settings: StageSettings): BatchPlan {
  return {
    ...base,
    tokenizer: stage.tokenizer,
    classWords: stage.classWords,
    promptTransform: stage.promptTransform,
    batchSize: settings.batchSize,
    flipProbability: settings.flipProbability,
  };
}

/** A stage's settings: the defaults of `kind` ({@link METHOD_DEFAULTS}) with `over` on top. */
export function settingsFor(
  kind: keyof typeof METHOD_DEFAULTS,
  over?: Partial<StageSettings>,
): StageSettings {
  const s = { ...METHOD_DEFAULTS[kind] };
  for (const [k, v] of Object.entries(over ?? {})) if (v !== undefined) (s as Record<string, unknown>)[k] = v;
  return s;
}

/**
 * Fine-tunes a diffusion model folder on labelled images, through the ONNX autodiff — no model-specific
 * code: the folder's `text_encoder/model.onnx` and `unet/model.onnx` are decoded and joined into one
 * training graph per stage (text encoder → UNet → noise-prediction MSE at uniform random timesteps), the
 * images are VAE-encoded once, and the engine's Trainer runs AdamW in-graph.
 * - "textual-inversion": one new token per class, only its embedding row trains;
 * - "ti-lora": DreamBooth-LoRA on the UNet attention projections over frozen TI tokens (a TI stage runs
 *   first unless `concepts` are given);
 * - "text-encoder-lora": LoRA on the text encoder's attention projections, prompts with the class words;
 * - "full-unet": every UNet weight trains.
 * Progress goes to `onProgress` after every step; `signal` stops the run before the next step.
 */
export async function fineTune(o: FineTuneOptions): Promise<FineTuneResult> {
  const started = performance.now();
  const classes = o.images.classNames.length;
  const resume = o.resumeFrom ? parseCheckpointName(o.resumeFrom) : undefined;
  if (o.resumeFrom && !resume)
    throw new Error(`${o.resumeFrom} is not a checkpoint file name (<stage>-<step>)`);
  const main = settingsFor(
    o.method === "textual-inversion" ? "textual-inversion" : o.method === "full-unet" ? "full-unet" : "lora",
    o.settings,
  );
  const tiSettings = settingsFor(
    "textual-inversion",
    o.method === "textual-inversion" ? o.settings : o.tiSettings,
  );
  const needsTi = o.method === "textual-inversion" || (o.method === "ti-lora" && !o.concepts);
  const flip = (needsTi ? tiSettings.flipProbability : 0) > 0 || main.flipProbability > 0;
  const { inputs, plan } = await loadTrainingInputs({ ...o, flip });
  const withBatch = (s: StageSettings) => withBatchSize(inputs, s.batchSize);
  const run = (stage: StageGraph, s: StageSettings) =>
    runStage(stage, stagePlan(plan, stage, s), s, {
      ...o,
      resumeFrom: resume?.stage === stage.name ? o.resumeFrom : undefined,
    });
  const stages: StageReport[] = [];
  const classWords = perClass(o.classWords, classes, (k) => o.images.classNames[k]);

  let concepts = o.concepts ? [...o.concepts] : undefined;
  let initializers: TokenInitializer[] | undefined;
  if (concepts && concepts.length !== classes)
    throw new RangeError(`${concepts.length} concepts for ${classes} classes`);
  if (needsTi) {
    const tiFile = o.checkpointDir ? join(o.checkpointDir, TI_STAGE_EMBEDDINGS) : undefined;
    if (o.method === "ti-lora" && resume?.stage === "lora") {
      const file = join(dirname(o.resumeFrom as string), TI_STAGE_EMBEDDINGS);
      if (!(await exists(file))) throw new Error(`resuming the LoRA stage needs ${file}`);
      concepts = await loadTextualInversionFile(file);
    } else {
      const tokens = perClass(o.tokens, classes, defaultClassToken);
      initializers = tokenInitializers(
        inputs.tokenizer,
        classWords,
        o.initializerWords,
        DEFAULT_INITIALIZER_WORD,
      );
      const words = initializers.map((init) => init.word);
      const { report, output } = await run(
        textualInversionStage(withBatch(tiSettings), tokens, words),
        tiSettings,
      );
      stages.push(report);
      concepts = output.concepts;
      if (tiFile && o.method === "ti-lora" && concepts)
        await saveSafetensors(tiFile, textualInversionStateDict(concepts), { format: "pt" });
    }
    if (o.method === "textual-inversion") {
      return {
        method: o.method,
        classWords: concepts?.map((c) => c.token) ?? [],
        concepts,
        stages,
        seconds: elapsed(started),
        tokenInitializers: initializers,
      };
    }
  }
  const lora = {
    rank: o.rank ?? LORA_DEFAULTS.rank,
    alpha: o.alpha ?? o.rank ?? LORA_DEFAULTS.alpha,
    seed: o.seed ?? 0,
  };
  if (o.method === "ti-lora") {
    const frozen = concepts as TextualInversion[];
    const stage = loraStage(withBatch(main), "unet", o.loraTargets ?? UNET_LORA_TARGETS, lora, {
      concepts: frozen,
    });
    const { report, output } = await run(stage, main);
    stages.push(report);
    return {
      method: o.method,
      classWords: stage.classWords,
      concepts: frozen,
      lora: output.lora,
      stages,
      seconds: elapsed(started),
      tokenInitializers: initializers,
    };
  }
  if (o.method === "text-encoder-lora") {
    const stage = loraStage(
      withBatch(main),
      "text_encoder",
      o.loraTargets ?? TEXT_ENCODER_LORA_TARGETS,
      lora,
      {
        classWords,
      },
    );
    const { report, output } = await run(stage, main);
    stages.push(report);
    return { method: o.method, classWords, lora: output.lora, stages, seconds: elapsed(started) };
  }
  if (o.method === "full-unet") {
    const { report, output } = await run(fullUnetStage(withBatch(main), classWords), main);
    stages.push(report);
    return {
      method: o.method,
      classWords,
      unetWeights: output.unetWeights,
      stages,
      seconds: elapsed(started),
    };
  }
  throw new Error(`unknown fine-tuning method ${String(o.method)}`);
}

function elapsed(started: number): number {
  return (performance.now() - started) / 1000;
}

/** An event of {@link fineTuneEvents}: progress after each step, then the result. */
export type FineTuneEvent =
  | ({ readonly type: "progress" } & FineTuneProgress)
  | { readonly type: "result"; readonly result: FineTuneResult };

/**
 * {@link fineTune} as an async iterator of progress events ending with the result (what a server-streaming
 * RPC forwards); errors and aborts reject the iteration. Leaving the iteration early (a cancelled call)
 * aborts the run and waits for it to release its sessions.
 */
export async function* fineTuneEvents(o: FineTuneOptions): AsyncGenerator<FineTuneEvent> {
  const queue: FineTuneEvent[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  let failure: unknown;
  const stop = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, stop.signal]) : stop.signal;
  const run = fineTune({
    ...o,
    signal,
    onProgress: (p) => {
      o.onProgress?.(p);
      queue.push({ type: "progress", ...p });
      wake?.();
    },
  }).then(
    (result) => {
      queue.push({ type: "result", result });
      finished = true;
      wake?.();
    },
    (error) => {
      failure = error ?? new Error("fine-tuning failed");
      finished = true;
      wake?.();
    },
  );
  try {
    for (;;) {
      const next = queue.shift();
      if (next) {
        yield next;
        continue;
      }
      if (finished) {
        if (failure !== undefined) throw failure;
        return;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    if (!finished) {
      stop.abort(new DOMException("the event stream was closed", "AbortError"));
      await run;
    }
  }
}
