import type { SchedulerName } from "../../../../shared/diffusion/index.js";
import type { RunSample } from "../../../../shared/generation-modes/runtime.js";

/** What an adapter file changes (the contract's AdapterKind, as the engine names it). */
export type AdapterKind = "textual_inversion" | "unet_lora" | "text_encoder_lora" | "full_unet";

/** One adapter file of a request, checksum already verified. */
export interface AdapterFile {
  readonly kind: AdapterKind;
  readonly bytes: Uint8Array;
  /** SHA-256 of `bytes` (hex): the adapter's identity in the engine's caches. */
  readonly sha256: string;
  /** Textual inversion: the tokens the file defines, in class order (empty: the file's own keys). */
  readonly tokens: readonly string[];
  /** LoRA alpha for files whose keys carry none (PEFT); 0: the file's own or the rank. */
  readonly loraAlpha: number;
  /** The request field it came from, for error messages ("model.adapters[0]"). */
  readonly field: string;
}

/** A base model folder plus the adapters to apply, in order. */
export interface ModelSpec {
  readonly id: string;
  readonly dir: string;
  readonly adapters: readonly AdapterFile[];
}

/** What the service needs to know about a prepared model to plan samples. */
export interface ModelInfo {
  /** Image pixels per latent pixel. */
  readonly vaeScaleFactor: number;
  /** Native latent side of the UNet (text-to-image size = this × the VAE factor). */
  readonly sampleSize: number;
  /**
   * True when the UNet's `sample` input has fixed spatial dimensions (an export with static shapes, like
   * the bundled kit): it runs only at its native size, so sources of another size are resized to it.
   */
  readonly fixedSize: boolean;
  /** True for an image-conditioned (InstructPix2Pix) UNet. */
  readonly instructPix2Pix: boolean;
  /** True when the folder has a VAE encoder (every image-to-image method needs one). */
  readonly canEncodeImages: boolean;
}

/** A prepared (adapted) model held by the engine until released. */
export interface ModelLease {
  /** The engine's key of the adapted model (base id + adapter hashes). */
  readonly key: string;
  readonly info: ModelInfo;
  /** True when the adapted model came from the cache (false: adapters were merged for this lease). */
  readonly cached: boolean;
  /** Lets the engine evict the adapted model once no shard uses it. */
  release(): void;
}

/** Denoising settings resolved from the request (undefined: the pipeline's default). */
interface EngineSampling {
  readonly steps?: number;
  readonly scheduler?: SchedulerName;
  readonly guidanceScale?: number;
}

/**
 * The generation mode of a batch: its kind (shared/generation-modes, `ModeSpec.kind`) beside the
 * parameters its runner named for the batch (structured-cloneable: they cross into the worker thread).
 */
export interface EngineMethod {
  readonly kind: string;
  readonly [parameter: string]: unknown;
}

/**
 * One sample of a batch, fully planned by the service (the engine draws nothing but noise): its index and
 * seed (every random draw), prompt, label and source label, and the images its mode needs.
 */
export type EngineSample = RunSample;

/** A batch for the engine: samples of one model, method and output size. */
export interface EngineBatch {
  readonly modelKey: string;
  readonly method: EngineMethod;
  readonly sampling: EngineSampling;
  readonly samples: readonly EngineSample[];
}

/** A generated image, encoded. */
export interface EngineImage {
  readonly index: number;
  readonly png: Uint8Array;
  readonly sha256: string;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly prompt: string;
}

/** Progress of a batch: after every denoising (or inversion) step. */
export interface EngineProgress {
  /** "denoise", "invert" or "perturb". */
  readonly stage: string;
  readonly step: number;
  readonly totalSteps: number;
}

/** Cancellation and progress of one batch. */
export interface GenerateOptions {
  /** Stops the batch before its next denoising step. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: EngineProgress) => void;
  /**
   * Called once when the batch ends, with the denoising steps that completed after the cancel was seen
   * (at most the one in flight when the engine stops within a step).
   */
  readonly onSettled?: (stepsAfterCancel: number) => void;
}

/** Diffusion engine behind the generation service (in-process or in a worker thread). */
export interface GenerationEngine {
  /** Loads base models ahead of the first request (health turns SERVING after). */
  preload(models: readonly { id: string; dir: string }[]): Promise<void>;
  /** Prepares a base model with adapters (cached by adapter hash); release the lease when the shard ends. */
  acquire(spec: ModelSpec): Promise<ModelLease>;
  /** Generates one batch; images come back in sample order. */
  generate(batch: EngineBatch, options?: GenerateOptions): Promise<EngineImage[]>;
  /** Frees every model and stops the engine. */
  close(): Promise<void>;
}

/**
 * An engine failure that belongs to the request (an adapter that does not parse, a method the model cannot
 * run), carried across the worker boundary as a catalog code and the request field it concerns.
 */
export interface EngineFailure {
  readonly code: "invalid_field" | "failed_precondition" | "unimplemented" | "internal";
  readonly message: string;
  readonly field?: string;
}
