import { dirname } from "node:path";
import * as ort from "onnxruntime-node";
import { sessionOptions as engineSessionOptions } from "../../ml/runtime/session.js";

/** How component sessions are created. */
export interface SessionSettings {
  /** Execution providers in order of preference, e.g. `["cuda", "cpu"]` on a GPU node (default: cpu). */
  readonly executionProviders?: readonly ort.InferenceSession.ExecutionProviderConfig[];
  /**
   * onnxruntime session options merged over the engine's defaults (all cores, every graph optimization,
   * sequential execution).
   */
  readonly sessionOptions?: ort.InferenceSession.SessionOptions;
}

/** Session options for a component: engine defaults, then the caller's, then the execution providers. */
export function componentSessionOptions(
  settings: SessionSettings,
  externalDataDir?: string,
): ort.InferenceSession.SessionOptions {
  const options: ort.InferenceSession.SessionOptions = {
    ...engineSessionOptions(),
    ...settings.sessionOptions,
  };
  if (settings.executionProviders) options.executionProviders = [...settings.executionProviders];
  if (externalDataDir !== undefined) {
    // A model opened from bytes finds its external initializers (weights.pb, model.onnx_data) here.
    const extra = (options.extra ?? {}) as Record<string, unknown>;
    const session = (extra.session ?? {}) as Record<string, unknown>;
    options.extra = {
      ...extra,
      session: { ...session, model_external_initializers_file_folder_path: externalDataDir },
    };
  }
  return options;
}

/**
 * Opens a session on a model file, or on patched bytes of that file (adapters merged in memory): external
 * data files are still read from the file's folder, so the base model on disk is never rewritten.
 */
export function openSession(
  modelPath: string,
  settings: SessionSettings,
  bytes?: Uint8Array,
): Promise<ort.InferenceSession> {
  if (bytes) return ort.InferenceSession.create(bytes, componentSessionOptions(settings, dirname(modelPath)));
  return ort.InferenceSession.create(modelPath, componentSessionOptions(settings));
}
