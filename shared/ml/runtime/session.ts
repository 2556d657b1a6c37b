import { availableParallelism } from "node:os";
import * as ort from "onnxruntime-node";
import type { Graph } from "../graph/ir.js";
import { type ToModelOptions, toModel } from "../graph/model.js";
import { encodeModel } from "../onnx/encode.js";
import type { Tensor } from "../onnx/tensor.js";
import { fromOrt, toOrt } from "./tensor.js";

/** Session settings; defaults: all cores, every graph optimization, the CPU. */
export interface SessionConfig {
  /** Intra-op threads (default: the machine's available parallelism). */
  threads?: number;
  /**
   * onnxruntime execution providers in order of preference, e.g. `["cuda", "cpu"]` (default: the CPU).
   * A service chooses them once at boot (shared/service's `selectExecutionProviders`) and passes them down.
   */
  executionProviders?: readonly string[];
  /** onnxruntime graph optimization level (default "all"). */
  optimization?: "disabled" | "basic" | "extended" | "all";
  /**
   * Inter-op threads: above 1, independent nodes run concurrently (parallel executor), which can help the
   * many small ops of a backward graph. Default 1 (sequential).
   */
  interOpThreads?: number;
  /** Sizes for symbolic dims (e.g. { batch: 16 }) so onnxruntime can plan memory and fuse statically. */
  dims?: Record<string, number>;
  /** Write the optimized model here (for profiling). */
  optimizedModelPath?: string;
  /** Enable onnxruntime's profiler with this file prefix. */
  profilePrefix?: string;
}

/**
 * Where sessions run, as the code that opens them is told from outside (a service's ORT_THREADS and
 * EXECUTION_PROVIDER): the part of {@link SessionConfig} that options of training and evaluation pass on.
 */
export type RuntimeSettings = Pick<SessionConfig, "threads" | "executionProviders">;

/** The runtime settings of any options that carry them (and nothing else of them). */
export function runtimeSettings(o: RuntimeSettings): RuntimeSettings {
  return { threads: o.threads, executionProviders: o.executionProviders };
}

/** onnxruntime session options for a config. */
export function sessionOptions(config: SessionConfig = {}): ort.InferenceSession.SessionOptions {
  const options: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: config.threads ?? availableParallelism(),
    interOpNumThreads: config.interOpThreads ?? 1,
    graphOptimizationLevel: config.optimization ?? "all",
    executionMode: (config.interOpThreads ?? 1) > 1 ? "parallel" : "sequential",
    enableCpuMemArena: true,
    enableMemPattern: true,
  };
  if (config.executionProviders) options.executionProviders = [...config.executionProviders];
  if (config.dims) options.freeDimensionOverrides = { ...config.dims };
  if (config.optimizedModelPath) options.optimizedModelFilePath = config.optimizedModelPath;
  if (config.profilePrefix) {
    options.enableProfiling = true;
    options.profileFilePrefix = config.profilePrefix;
  }
  return options;
}

/** Serializes a graph (or takes model bytes) and opens an onnxruntime session on it. */
export async function createSession(
  model: Graph | Uint8Array,
  config: SessionConfig = {},
  modelOptions: ToModelOptions = {},
): Promise<ort.InferenceSession> {
  const bytes = model instanceof Uint8Array ? model : encodeModel(toModel(model, modelOptions));
  return ort.InferenceSession.create(bytes, sessionOptions(config));
}

/** Runs a session on plain tensors and returns plain tensors (no copies either way). */
export async function runSession(
  session: ort.InferenceSession,
  feeds: Record<string, Tensor>,
  fetches?: string[],
): Promise<Record<string, Tensor>> {
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrt(v);
  const out = fetches ? await session.run(ortFeeds, fetches) : await session.run(ortFeeds);
  const result: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(out)) result[k] = fromOrt(v as ort.Tensor);
  return result;
}
