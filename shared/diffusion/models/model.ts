import { access, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { decodeModel, encodeModel } from "../../ml/onnx/index.js";
import { type AnyScheduler, type SchedulerName, schedulerFromConfig } from "../schedulers/index.js";
import { type ClipTokenizer, loadClipTokenizer } from "../tokenizer/index.js";
import { type OnnxComponent, openComponent } from "./component.js";
import {
  type DiffusionModelConfig,
  readComponentConfig,
  readJsonObject,
  resolveModelConfig,
} from "./config.js";
import type { SessionSettings } from "./session.js";
import { ClipTextEncoder } from "./text-encoder.js";
import { Unet } from "./unet.js";
import { seedVaeEncoderNoise, VaeDecoder, VaeEncoder } from "./vae.js";

/** Component folder names of the diffusers / Optimum ONNX layout. */
export const COMPONENT_DIRS = Object.freeze({
  textEncoder: "text_encoder",
  unet: "unet",
  vaeEncoder: "vae_encoder",
  vaeDecoder: "vae_decoder",
  tokenizer: "tokenizer",
  scheduler: "scheduler",
});

/** The model file of a component folder. */
export function componentModelPath(dir: string, component: string): string {
  return join(dir, component, "model.onnx");
}

/** What a {@link DiffusionModel} is made of. */
export interface DiffusionComponents {
  readonly dir: string;
  readonly modelIndex: Readonly<Record<string, unknown>>;
  readonly config: DiffusionModelConfig;
  readonly schedulerConfig: Readonly<Record<string, unknown>>;
  readonly tokenizer: ClipTokenizer;
  readonly textEncoder: ClipTextEncoder;
  readonly unet: Unet;
  /** Absent in folders without a VAE encoder (text-to-image only). */
  readonly vaeEncoder?: VaeEncoder;
  readonly vaeDecoder: VaeDecoder;
  readonly settings: SessionSettings;
  /**
   * Rewrites a prompt before tokenization (multi-vector textual-inversion tokens expand to several tokens);
   * identity by default.
   */
  readonly promptTransform?: (prompt: string) => string;
  /** Identifies the weights (folder + adapters): part of cache keys such as Diff-II's inversion cache. */
  readonly fingerprint: string;
}

/**
 * A loaded diffusion model: tokenizer, text encoder, UNet, VAE encoder/decoder, scheduler config and the
 * resolved model config. Immutable; adapters return a new model that shares the untouched sessions
 * ({@link DiffusionModel.derive}). Pipelines take a model and never hold scheduler math.
 */
export class DiffusionModel implements DiffusionComponents {
  // jscpd:ignore-start (the class restates the fields of the interface it implements)
  readonly dir: string;
  readonly modelIndex: Readonly<Record<string, unknown>>;
  readonly config: DiffusionModelConfig;
  readonly schedulerConfig: Readonly<Record<string, unknown>>;
  readonly tokenizer: ClipTokenizer;
  readonly textEncoder: ClipTextEncoder;
  readonly unet: Unet;
  readonly vaeEncoder?: VaeEncoder;
  readonly vaeDecoder: VaeDecoder;
  readonly settings: SessionSettings;
  readonly promptTransform?: (prompt: string) => string;
  readonly fingerprint: string;
  // jscpd:ignore-end
  readonly #owned: readonly OnnxComponent[];

  constructor(components: DiffusionComponents, owned: readonly OnnxComponent[]) {
    this.dir = components.dir;
    this.modelIndex = components.modelIndex;
    this.config = components.config;
    this.schedulerConfig = components.schedulerConfig;
    this.tokenizer = components.tokenizer;
    this.textEncoder = components.textEncoder;
    this.unet = components.unet;
    this.vaeEncoder = components.vaeEncoder;
    this.vaeDecoder = components.vaeDecoder;
    this.settings = components.settings;
    this.promptTransform = components.promptTransform;
    this.fingerprint = components.fingerprint;
    this.#owned = owned;
    Object.freeze(this);
  }

  /**
   * The folder's scheduler config reused for scheduler `name` (diffusers' `X.from_config(pipe.scheduler.config)`),
   * or the folder's own scheduler class when `name` is omitted.
   */
  scheduler(name?: SchedulerName): AnyScheduler {
    return name ? schedulerFromConfig(this.schedulerConfig, name) : schedulerFromConfig(this.schedulerConfig);
  }

  /** The VAE encoder, or an error naming the method that needs it. */
  requireVaeEncoder(who: string): VaeEncoder {
    if (!this.vaeEncoder) throw new Error(`${who} needs a vae_encoder, and ${this.dir} has none`);
    return this.vaeEncoder;
  }

  /** The prompt as the tokenizer should see it. */
  preparePrompt(prompt: string): string {
    return this.promptTransform ? this.promptTransform(prompt) : prompt;
  }

  /**
   * A model with some components replaced (adapters). Sessions created for the new model are released by its
   * {@link release}; the shared ones stay with the model they came from.
   */
  derive(changes: Partial<DiffusionComponents>, newSessions: readonly OnnxComponent[]): DiffusionModel {
    return new DiffusionModel({ ...this, ...changes }, newSessions);
  }

  /** Releases the sessions this model created (not the ones it shares with the model it derives from). */
  async release(): Promise<void> {
    await Promise.all(this.#owned.map((c) => c.release()));
  }
}

/** Options of {@link loadDiffusionModel}. */
export interface LoadDiffusionModelOptions extends SessionSettings {
  /** Values that win over the folder's configs (for exports without config.json and non-SD sizes). */
  readonly config?: Partial<DiffusionModelConfig>;
  /** Skip the VAE encoder (text-to-image only). */
  readonly skipVaeEncoder?: boolean;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}

/**
 * Loads a diffusers / Optimum ONNX model folder: `model_index.json`, `scheduler/scheduler_config.json`,
 * `tokenizer/`, `text_encoder/model.onnx`, `unet/model.onnx`, `vae_decoder/model.onnx` and, when present,
 * `vae_encoder/model.onnx` (with external data files beside them where the export has them). Input names,
 * element types and ranks come from the sessions; see the README for the conventions accepted. `dir` comes
 * from the model registry, never from a request.
 */
export async function loadDiffusionModel(
  dir: string,
  options: LoadDiffusionModelOptions = {},
): Promise<DiffusionModel> {
  const root = resolve(dir);
  const modelIndex = await readJsonObject(join(root, "model_index.json"));
  if (!modelIndex) throw new Error(`${root} has no model_index.json: not a diffusers model folder`);
  const schedulerConfig = await readJsonObject(join(root, COMPONENT_DIRS.scheduler, "scheduler_config.json"));
  if (!schedulerConfig) throw new Error(`${root} has no scheduler/scheduler_config.json`);
  const settings: SessionSettings = {
    executionProviders: options.executionProviders,
    sessionOptions: options.sessionOptions,
  };
  const opened: OnnxComponent[] = [];
  const open = async (component: string, bytes?: Uint8Array) => {
    const c = await openComponent(component, componentModelPath(root, component), settings, bytes);
    opened.push(c);
    return c;
  };
  try {
    const tokenizer = await loadClipTokenizer(join(root, COMPONENT_DIRS.tokenizer));
    const [unetConfig, vaeDecoderConfig, vaeEncoderConfig] = await Promise.all([
      readComponentConfig(root, COMPONENT_DIRS.unet),
      readComponentConfig(root, COMPONENT_DIRS.vaeDecoder),
      readComponentConfig(root, COMPONENT_DIRS.vaeEncoder),
    ]);
    const textEncoderComponent = await open(COMPONENT_DIRS.textEncoder);
    const unetComponent = await open(COMPONENT_DIRS.unet);
    const vaeDecoderComponent = await open(COMPONENT_DIRS.vaeDecoder);
    const config = resolveModelConfig(
      {
        unetConfig,
        vaeConfig: vaeDecoderConfig ?? vaeEncoderConfig,
        unetSample: unetComponent.input("sample"),
        unetOutput: unetComponent.io.outputs[0],
        vaeDecoderInput: vaeDecoderComponent.io.inputs[0],
      },
      options.config,
    );
    let vaeEncoder: VaeEncoder | undefined;
    const encoderPath = componentModelPath(root, COMPONENT_DIRS.vaeEncoder);
    if (!options.skipVaeEncoder && (await exists(encoderPath))) {
      let component = await open(COMPONENT_DIRS.vaeEncoder);
      if (component.output("latent_sample") && !component.output("latent_parameters")) {
        const seeded = seedVaeEncoderNoise(decodeModel(await readFile(encoderPath)));
        if (seeded) {
          await component.release();
          opened.splice(opened.indexOf(component), 1);
          component = await open(COMPONENT_DIRS.vaeEncoder, encodeModel(seeded));
        }
      }
      vaeEncoder = new VaeEncoder(component, config.latentChannels, config.vaeScaleFactor);
    }
    return new DiffusionModel(
      {
        dir: root,
        modelIndex,
        config,
        schedulerConfig,
        tokenizer,
        textEncoder: new ClipTextEncoder(textEncoderComponent),
        unet: new Unet(unetComponent, config.unetInChannels),
        vaeEncoder,
        vaeDecoder: new VaeDecoder(vaeDecoderComponent),
        settings,
        fingerprint: root,
      },
      opened,
    );
  } catch (error) {
    await Promise.allSettled(opened.map((c) => c.release()));
    throw error;
  }
}
