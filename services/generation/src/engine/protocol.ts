import type {
  EngineBatch,
  EngineFailure,
  EngineImage,
  EngineProgress,
  ModelInfo,
  ModelSpec,
} from "./types.js";

/** Messages from the service thread to the engine worker. */
export type WorkerRequest =
  | { readonly op: "preload"; readonly id: number; readonly models: readonly { id: string; dir: string }[] }
  | { readonly op: "acquire"; readonly id: number; readonly spec: ModelSpec }
  | { readonly op: "release"; readonly lease: number }
  | {
      readonly op: "generate";
      readonly id: number;
      readonly batch: EngineBatch;
      /**
       * A one-element Int32Array on a SharedArrayBuffer: the service sets it to 1 on cancel. The worker
       * reads it after every denoising step, so a cancel stops the batch before its next step even when
       * the worker's event loop has not yet delivered the cancel message.
       */
      readonly cancel: Int32Array;
    }
  | { readonly op: "cancel"; readonly id: number }
  | { readonly op: "close"; readonly id: number };

/** Messages from the engine worker to the service thread. */
export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly value: WorkerValue }
  | {
      readonly id: number;
      readonly ok: false;
      readonly error: EngineFailure;
      readonly stepsAfterCancel?: number;
    }
  | { readonly id: number; readonly progress: EngineProgress };

/** What a successful request answers. */
export type WorkerValue =
  | undefined
  | { readonly lease: number; readonly key: string; readonly info: ModelInfo; readonly cached: boolean }
  | { readonly images: EngineImage[]; readonly stepsAfterCancel: number };

/** Options the worker starts with (workerData). */
export interface WorkerOptions {
  readonly threads?: number;
  readonly adapterCacheSize?: number;
}
