import { readFile } from "node:fs/promises";
import type * as ort from "onnxruntime-node";
import * as ortRuntime from "onnxruntime-node";
import { decodeModel } from "../../ml/onnx/index.js";
import {
  type ComponentIo,
  castForInput,
  type FeedData,
  ioFromModel,
  ioFromSession,
  outputAsFloat32,
  type TensorSpec,
} from "./io.js";
import { openSession, type SessionSettings } from "./session.js";

/** A tensor fed to a component: host values and dims; they are cast to the input's declared type. */
export interface Feed {
  readonly data: FeedData;
  readonly dims: readonly number[];
}

/** A component output converted to float32. */
export interface Output {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/**
 * One ONNX model of a diffusion model folder (text encoder, UNet, VAE encoder or decoder) with its session and
 * the input/output specs that session declares. `run` casts every feed to the declared element type (float16
 * included) and returns float32, so callers never hard-code names, dtypes or export conventions.
 */
export class OnnxComponent {
  readonly name: string;
  /** Absolute path of the component's `model.onnx`. */
  readonly modelPath: string;
  readonly session: ort.InferenceSession;
  readonly io: ComponentIo;

  constructor(name: string, modelPath: string, session: ort.InferenceSession, io: ComponentIo) {
    this.name = name;
    this.modelPath = modelPath;
    this.session = session;
    this.io = io;
    Object.freeze(this);
  }

  /** The spec of input `name`, if the component has it. */
  input(name: string): TensorSpec | undefined {
    return this.io.inputs.find((s) => s.name === name);
  }

  /** The spec of output `name`, if the component has it. */
  output(name: string): TensorSpec | undefined {
    return this.io.outputs.find((s) => s.name === name);
  }

  /** Runs the session; feeds are cast to their declared types, outputs are returned as float32. */
  async run(
    feeds: Readonly<Record<string, Feed>>,
    fetches?: readonly string[],
  ): Promise<Record<string, Output>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, feed] of Object.entries(feeds)) {
      const spec = this.input(name);
      if (!spec)
        throw new Error(`${this.name} has no input ${name} (inputs: ${this.inputNames().join(", ")})`);
      ortFeeds[name] = new ortRuntime.Tensor(spec.type, castForInput(feed.data, spec.type), [...feed.dims]);
    }
    const results = fetches
      ? await this.session.run(ortFeeds, [...fetches])
      : await this.session.run(ortFeeds);
    const out: Record<string, Output> = {};
    for (const [name, tensor] of Object.entries(results)) {
      out[name] = { data: outputAsFloat32(tensor as ort.Tensor), dims: [...(tensor as ort.Tensor).dims] };
    }
    return out;
  }

  /** Releases the native session. */
  release(): Promise<void> {
    return this.session.release();
  }

  private inputNames(): string[] {
    return this.io.inputs.map((s) => s.name);
  }
}

/**
 * Opens a component from its model file, or from patched bytes of it. Specs come from the session metadata,
 * or, where the binding has none, from the decoded model.
 */
export async function openComponent(
  name: string,
  modelPath: string,
  settings: SessionSettings,
  bytes?: Uint8Array,
): Promise<OnnxComponent> {
  const session = await openSession(modelPath, settings, bytes);
  const io =
    ioFromSession(session, name) ?? ioFromModel(decodeModel(bytes ?? (await readFile(modelPath))), name);
  return new OnnxComponent(name, modelPath, session, io);
}
