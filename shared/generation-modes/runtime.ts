/**
 * The contract of a mode's runtime half (`<mode>/run.ts`), which only the generation service loads: how a
 * mode resolves its validated wire parameters, plans one sample, names its engine parameters for a batch
 * and calls its pipeline. The service implements the contexts; a mode sees nothing else of it.
 */
import type {
  ChwImage,
  DiffusionModel,
  GeneratedImage,
  GifScoringModel,
  InversionCache,
  RunOptions,
  SampleKey,
} from "../diffusion/index.js";
import type { ImageData } from "../gen/diffda/common/v1/image_pb.js";
import type { ModeSpec } from "./mode.js";

/** What resolving a mode's parameters may look up. */
interface ResolveContext {
  /** A served model folder by id; throws `model_not_found` / `invalid_field` naming `field`. */
  resolveModel(name: string, field: string): { readonly id: string; readonly dir: string };
}

/** A class of the job. */
interface PlanClass {
  readonly name: string;
  readonly token: string;
}

/** A source image at the output size. */
export interface SizedImage {
  readonly image: ChwImage;
  readonly height: number;
  readonly width: number;
}

/** What planning one sample may read and draw (every draw from the sample's own stream). */
export interface PlanContext {
  /** (seed, sample index): the key of every random draw of the sample. */
  readonly key: SampleKey;
  /** The sample's index in the job's synthetic set. */
  readonly index: number;
  readonly seed: number;
  readonly samplesPerSource: number;
  /** The source the sample derives from (source_index) and its label. */
  readonly sourceIndex: number;
  readonly sourceLabel: number;
  readonly classes: readonly PlanClass[];
  /** The request's templates (never empty) and whether they are the default one. */
  readonly templates: readonly string[];
  readonly defaultTemplates: boolean;
  /** The phrase prompts use for a class: its token when set, else its name. */
  phrase(label: number): string;
  /** The sample's template (one drawn per sample) filled with the phrase of `label`. */
  prompt(label: number): string;
  /** Labels of the shard's sources by source_index. */
  sourceLabels(): ReadonlyMap<number, number>;
  /** Source `sourceIndex` decoded and resized to the output size, in `channels` (default: its own). */
  image(sourceIndex: number, channels?: number): Promise<SizedImage>;
  /** The output size of a sample without a source image (the model's native size unless set). */
  nativeSize(): { readonly height: number; readonly width: number };
}

/** What a mode plans for one sample (the service adds index, seed, source and negative prompt). */
interface PlannedFields {
  /** The sample's label (the prompt's class). */
  readonly label: number;
  /** The prompt (or edit instruction). */
  readonly prompt: string;
  /** Output size: samples of one batch share it. */
  readonly height: number;
  readonly width: number;
  /** Source image at the output size, for image-to-image modes. */
  readonly image?: ChwImage;
  /** Same-class partner image and the prompt both are inverted with (inversion modes). */
  readonly partner?: ChwImage;
  readonly inversionPrompt?: string;
  /** First-stage prompt of two-stage modes. */
  readonly suffixPrompt?: string;
  /** Inter-class samples: the edit strength, for soft labels. */
  readonly interClassStrength?: number;
}

/** What naming a batch's engine parameters may read. */
export interface BatchContext {
  readonly height: number;
  readonly width: number;
  readonly seed: number;
  readonly classes: readonly PlanClass[];
  /** The CLIP scorer folder for the shard (see {@link ModeRunner.clipModel}); undefined: none found. */
  readonly clipDir?: string;
  /** Decodes a request image to `channels`×`height`×`width`, failing `invalid_field` naming `field`. */
  decode(
    image: ImageData | undefined,
    field: string,
    shape: { channels: 1 | 3; height: number; width: number },
  ): Promise<ChwImage>;
  /** `make()` once per shard and `key` (e.g. per output size), later batches reusing the promise. */
  cached<T>(key: string, make: () => Promise<T>): Promise<T>;
}

/** One sample as the engine runs it. */
export interface RunSample {
  readonly index: number;
  readonly seed: number;
  readonly prompt: string;
  readonly negativePrompt?: string;
  readonly label: number;
  readonly sourceLabel: number;
  readonly image?: ChwImage;
  readonly partner?: ChwImage;
  readonly inversionPrompt?: string;
  readonly suffixPrompt?: string;
}

/** Denoising settings of a batch, the scheduler already built for the model. */
interface RunSampling {
  readonly steps?: number;
  readonly guidanceScale?: number;
  readonly scheduler?: ReturnType<DiffusionModel["scheduler"]>;
}

/** What a pipeline call gets besides the model and its samples. */
interface RunContext extends RunOptions {
  readonly sampling: RunSampling;
  readonly inversionCache: InversionCache;
  /** A CLIP scorer for the folder and class prompts (cached by the engine). */
  scoring(clipDir: string, classPrompts: readonly string[]): Promise<GifScoringModel>;
}

/**
 * A mode's runtime half. `R`: its resolved parameters (after wire validation); `E`: what a batch sends to
 * the engine (structured-cloneable: it crosses into the worker thread).
 */
export interface ModeRunner<R = unknown, E = unknown> {
  readonly spec: ModeSpec;
  /**
   * The mode's parameters from its validated declared values (`values`, unset ones undefined) and its raw
   * oneof message (`message`, for wire-only fields): defaults, checks the declaration cannot state
   * (`unimplemented` options), models to resolve. Throws an RpcError naming the field.
   */
  resolve(
    values: Readonly<Record<string, unknown>>,
    message: Readonly<Record<string, unknown>>,
    context: ResolveContext,
  ): R;
  /** A CLIP model folder the mode scores with (undefined: the base model's own `clip/`); only scoring modes. */
  clipModel?(resolved: R): string | undefined;
  /** Plans one sample. */
  plan(resolved: R, context: PlanContext): Promise<PlannedFields>;
  /** The engine parameters of a batch of one output size. */
  engine(resolved: R, context: BatchContext): Promise<E>;
  /** Runs the mode's pipeline on a batch; one image per sample, in order. */
  run(
    model: DiffusionModel,
    samples: readonly RunSample[],
    params: E,
    context: RunContext,
  ): Promise<GeneratedImage[]>;
}

/** Declares a mode's runtime half (the identity function, for the types). */
export function defineRunner<R, E>(runner: ModeRunner<R, E>): ModeRunner<R, E> {
  return Object.freeze(runner);
}
