import { createHash } from "node:crypto";
import {
  type DiffusionModel,
  type LoraAdapter,
  openComponent,
  parseLora,
  parseTextualInversion,
  type TextualInversion,
  Unet,
  withAdapters,
} from "../../../../shared/diffusion/index.js";
import { COMPONENT_DIRS, componentModelPath } from "../../../../shared/diffusion/models/index.js";
import { patchedUnetModel } from "../../../../shared/finetune/index.js";
import type { Tensor } from "../../../../shared/ml/onnx/index.js";
import { decodeSafetensors } from "../../../../shared/ml/safetensors/index.js";
import { RpcError } from "../../../../shared/rpc/index.js";
import type { AdapterFile, ModelSpec } from "./types.js";

function invalid(field: string, message: string): RpcError {
  return new RpcError("invalid_field", `${field}: ${message}`, { details: { field } });
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The engine's key of a base model with adapters: the id alone, or a hash of the id and the files' hashes. */
export function modelKey(spec: Pick<ModelSpec, "id" | "adapters">): string {
  if (spec.adapters.length === 0) return spec.id;
  const hash = createHash("sha256").update(spec.id);
  for (const a of spec.adapters) hash.update(`|${a.kind}:${a.sha256}:${a.tokens.join(",")}:${a.loraAlpha}`);
  return `${spec.id}+${hash.digest("hex").slice(0, 24)}`;
}

/** The file's tensors; `invalid_field` on its content when it is not safetensors. */
export function tensorsOf(file: AdapterFile): Map<string, Tensor> {
  try {
    return decodeSafetensors(file.bytes).tensors;
  } catch (error) {
    throw invalid(`${file.field}.file.content`, `not a safetensors file (${message(error)})`);
  }
}

/** A textual-inversion file's concepts, checked to define the tokens it was sent with. */
export function textualInversions(file: AdapterFile, tensors: Map<string, Tensor>): TextualInversion[] {
  let concepts: TextualInversion[];
  try {
    concepts = parseTextualInversion(tensors, file.tokens.length === 1 ? file.tokens[0] : undefined);
  } catch (error) {
    throw invalid(`${file.field}.file.content`, message(error));
  }
  if (file.tokens.length > 0) {
    const defined = new Set(concepts.map((c) => c.token));
    const missing = file.tokens.filter((t) => !defined.has(t));
    if (missing.length > 0) {
      throw invalid(
        `${file.field}.tokens`,
        `the file does not define ${missing.map((t) => `"${t}"`).join(", ")}`,
      );
    }
  }
  return concepts;
}

/** A LoRA file's layers (at least one), parsed in the component its kind names. */
export function lora(file: AdapterFile, tensors: Map<string, Tensor>): LoraAdapter {
  try {
    const layers = parseLora(tensors, {
      component: file.kind === "text_encoder_lora" ? "text_encoder" : "unet",
      alpha: file.loraAlpha > 0 ? file.loraAlpha : undefined,
    });
    if (layers.length === 0) throw new Error("the file holds no LoRA layer");
    return { layers };
  } catch (error) {
    throw invalid(`${file.field}.file.content`, message(error));
  }
}

/** A model with adapters and how to free what applying them opened (never the base model's sessions). */
export interface AdaptedModel {
  readonly model: DiffusionModel;
  release(): Promise<void>;
}

/**
 * The base model with a request's adapters applied, in memory: textual inversion and LoRA (UNet and text
 * encoder) merged by `withAdapters`, a full UNet replacement written into a new UNet session. Files that do
 * not parse, or do not fit the model, are `invalid_field` errors naming the adapter.
 */
export async function applyAdapters(
  base: DiffusionModel,
  adapters: readonly AdapterFile[],
): Promise<AdaptedModel> {
  const concepts: TextualInversion[] = [];
  const loras: LoraAdapter[] = [];
  let fullUnet: { file: AdapterFile; weights: Map<string, Tensor> } | undefined;
  for (const file of adapters) {
    const tensors = tensorsOf(file);
    if (file.kind === "textual_inversion") concepts.push(...textualInversions(file, tensors));
    else if (file.kind === "full_unet") {
      if (fullUnet) throw invalid(file.field, "only one full UNet adapter may be applied");
      fullUnet = { file, weights: tensors };
    } else loras.push(lora(file, tensors));
  }
  if (fullUnet && loras.some((l) => l.layers.some((layer) => layer.component === "unet"))) {
    throw invalid(fullUnet.file.field, "a full UNet adapter cannot be combined with a UNet LoRA");
  }
  const opened: DiffusionModel[] = [];
  const release = async () => {
    for (const m of opened.reverse()) await m.release();
  };
  let model = base;
  try {
    if (concepts.length > 0 || loras.length > 0) {
      const field = adapters.length === 1 ? adapters[0].field : "model.adapters";
      try {
        model = await withAdapters(base, { loras, textualInversions: concepts });
      } catch (error) {
        throw invalid(field, `the adapters do not fit the base model: ${message(error)}`);
      }
      opened.push(model);
    }
    if (fullUnet) {
      const { file, weights } = fullUnet;
      let bytes: Uint8Array;
      try {
        bytes = await patchedUnetModel(base.dir, weights);
      } catch (error) {
        throw invalid(`${file.field}.file.content`, message(error));
      }
      const unetPath = componentModelPath(base.dir, COMPONENT_DIRS.unet);
      const component = await openComponent(COMPONENT_DIRS.unet, unetPath, base.settings, bytes);
      model = model.derive(
        {
          unet: new Unet(component, base.config.unetInChannels),
          fingerprint: `${model.fingerprint}+unet:${file.sha256}`,
        },
        [component],
      );
      opened.push(model);
    }
  } catch (error) {
    await release();
    throw error;
  }
  return { model, release };
}
