/**
 * The onnxruntime execution providers a service runs on, chosen at boot from `EXECUTION_PROVIDER`
 * (`cpu` or `cuda`). `cuda` is only a wish: the CUDA provider needs the CUDA build of onnxruntime-node's
 * provider libraries (installed in the `*-cuda` images), the CUDA and cuDNN runtime libraries, and a GPU
 * the container can use. When any of these is missing the service runs on the CPU and says so in one
 * warning log line, instead of failing every request or refusing to start on a node without a GPU.
 *
 * Every service wires it the same way: `...runtimeEnv()` (or `...executionProviderEnv()`) in its schema,
 * and `await selectRuntime(config, host.logger)` (or `selectExecutionProviders`) once in its setup, whose
 * result it passes down to every session it opens (shared/ml's `RuntimeSettings`, taken by shared/classifier
 * and shared/finetune, and shared/diffusion's `SessionSettings`). shared/ never reads the variables itself.
 */
import * as ort from "onnxruntime-node";
import { int, oneOf } from "../config/index.js";
import { GraphBuilder } from "../ml/graph/builder.js";
import { toModel } from "../ml/graph/model.js";
import { DataType, encodeModel } from "../ml/onnx/index.js";
import type { RuntimeSettings } from "../ml/runtime/index.js";

/** The execution providers a service may be configured with. */
const EXECUTION_PROVIDERS = ["cpu", "cuda"] as const;

/** A configured execution provider. */
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

/** The `EXECUTION_PROVIDER` variable, to spread into a service's configuration schema. */
export function executionProviderEnv() {
  return {
    EXECUTION_PROVIDER: oneOf(EXECUTION_PROVIDERS, {
      default: "cpu",
      description:
        "onnxruntime execution provider: cuda (falls back to cpu with a warning when unusable) or cpu",
    }),
  } as const;
}

/** Where the selection logs (a pino logger fits). */
export interface ExecutionProviderLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** Whether a provider can run here: `undefined` when it can, else why not. */
export type ProviderProbe = (provider: Exclude<ExecutionProvider, "cpu">) => Promise<string | undefined>;

/**
 * Opens a one-node model (Identity) with only `provider` and runs it once: this loads the provider's
 * shared libraries and the CUDA runtime, and creates a device context, so it fails exactly where a real
 * session would.
 */
export const probeProvider: ProviderProbe = async (provider) => {
  const b = new GraphBuilder({ name: "execution_provider_probe" });
  b.output(b.op("Identity", [b.input("x", [1], DataType.FLOAT)]), "y");
  try {
    const session = await ort.InferenceSession.create(encodeModel(toModel(b.graph)), {
      executionProviders: [provider],
    });
    try {
      await session.run({ x: new ort.Tensor("float32", new Float32Array([1]), [1]) });
    } finally {
      await session.release();
    }
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message.split("\n")[0] : String(error);
  }
};

/**
 * The execution providers to open sessions with for the configured `choice`, in order of preference:
 * `["cpu"]`, or `["cuda", "cpu"]` when the CUDA provider works here (onnxruntime then places on the CPU
 * only the nodes CUDA has no kernel for). When it does not, logs one `execution_provider_fallback`
 * warning with the reason and returns `["cpu"]`.
 */
export async function selectExecutionProviders(
  choice: ExecutionProvider,
  log: ExecutionProviderLog,
  probe: ProviderProbe = probeProvider,
): Promise<ExecutionProvider[]> {
  if (choice === "cpu") {
    log.info({ event: "execution_provider", configured: "cpu", using: "cpu" }, "onnxruntime on the CPU");
    return ["cpu"];
  }
  const reason = await probe(choice);
  if (reason !== undefined) {
    log.warn(
      { event: "execution_provider_fallback", configured: choice, using: "cpu", reason },
      `EXECUTION_PROVIDER=${choice} is not usable here; running onnxruntime on the CPU`,
    );
    return ["cpu"];
  }
  log.info({ event: "execution_provider", configured: choice, using: choice }, `onnxruntime on ${choice}`);
  return [choice, "cpu"];
}

/** `EXECUTION_PROVIDER` and `ORT_THREADS`: where a service that runs onnxruntime runs it. */
export function runtimeEnv() {
  return {
    ...executionProviderEnv(),
    ORT_THREADS: int({
      min: 1,
      max: 1024,
      optional: true,
      description: "onnxruntime intra-op threads (default: all cores)",
    }),
  } as const;
}

/**
 * The runtime settings a service passes to every session it opens: the configured threads and the
 * execution providers {@link selectExecutionProviders} chose (probing cuda, logging a fallback).
 */
export async function selectRuntime(
  config: { readonly EXECUTION_PROVIDER: ExecutionProvider; readonly ORT_THREADS?: number },
  log: ExecutionProviderLog,
): Promise<RuntimeSettings> {
  return {
    threads: config.ORT_THREADS,
    executionProviders: await selectExecutionProviders(config.EXECUTION_PROVIDER, log),
  };
}
