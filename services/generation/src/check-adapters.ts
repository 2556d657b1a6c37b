import {
  type AdapterMismatch,
  type ComponentWeights,
  type LoraComponent,
  loraMismatch,
  readComponentWeights,
  type TextualInversion,
  textualInversionMismatch,
} from "../../../shared/diffusion/index.js";
import { COMPONENT_DIRS, componentModelPath } from "../../../shared/diffusion/models/index.js";
import type { AdapterSet } from "../../../shared/gen/diffda/common/v1/model_pb.js";
import type { Tensor } from "../../../shared/ml/onnx/index.js";
import { RpcError } from "../../../shared/rpc/index.js";
import type { ModelRegistry } from "../../../shared/service/index.js";
import { lora, tensorsOf, textualInversions } from "./engine/adapters.js";
import type { AdapterFile } from "./engine/types.js";
import { modelSpec } from "./request.js";

/** Reads a model folder's component weight indexes once per process (they never change while served). */
export function componentWeightCache() {
  const cache = new Map<string, Promise<ComponentWeights>>();
  return (dir: string, component: LoraComponent): Promise<ComponentWeights> => {
    const key = `${component}|${dir}`;
    let entry = cache.get(key);
    if (!entry) {
      const path = componentModelPath(
        dir,
        component === "unet" ? COMPONENT_DIRS.unet : COMPONENT_DIRS.textEncoder,
      );
      entry = readComponentWeights(path, component === "text_encoder");
      entry.catch(() => cache.delete(key));
      cache.set(key, entry);
    }
    return entry;
  };
}

function refused(file: AdapterFile, mismatch: AdapterMismatch): RpcError {
  const field = `${file.field}.file.content`;
  const shapes =
    mismatch.expected && mismatch.found
      ? ` (expected ${JSON.stringify(mismatch.expected)}, found ${JSON.stringify(mismatch.found)})`
      : "";
  const details: Record<string, string> = { field, key: mismatch.key };
  if (mismatch.expected) details.expected = JSON.stringify(mismatch.expected);
  if (mismatch.found) details.found = JSON.stringify(mismatch.found);
  return new RpcError("invalid_field", `${field}: key "${mismatch.key}": ${mismatch.reason}${shapes}`, {
    details,
  });
}

/** The file key a textual-inversion concept came from (A1111 files hold one unnamed tensor). */
function conceptKey(tensors: ReadonlyMap<string, Tensor>): (c: TextualInversion) => string {
  for (const key of ["emb_params", "string_to_param.*"]) if (tensors.has(key)) return () => key;
  const keys = [...tensors.keys()].filter((k) => k !== "__metadata__");
  return keys.length === 1 ? () => keys[0] : (c) => c.token;
}

/**
 * CheckAdapters: validates the set like a shard request's model, then resolves each file against the base
 * model's UNet and text encoder the way merging does, without loading a session or any weight.
 */
export async function checkAdapters(
  set: AdapterSet | undefined,
  registry: ModelRegistry,
  weightsOf: (dir: string, component: LoraComponent) => Promise<ComponentWeights>,
): Promise<void> {
  const spec = modelSpec(set, registry);
  for (const file of spec.adapters) {
    if (file.kind === "full_unet") {
      throw new RpcError("unimplemented", `${file.field}.kind: full UNet files are not checked`, {
        details: { field: `${file.field}.kind` },
      });
    }
    const tensors = tensorsOf(file);
    let mismatch: AdapterMismatch | undefined;
    if (file.kind === "textual_inversion") {
      const concepts = textualInversions(file, tensors);
      mismatch = textualInversionMismatch(
        concepts,
        conceptKey(tensors),
        await weightsOf(spec.dir, "text_encoder"),
      );
    } else {
      const { layers } = lora(file, tensors);
      const parts = new Set(layers.map((l) => l.component));
      const weights = {
        unet: parts.has("unet") ? await weightsOf(spec.dir, "unet") : EMPTY,
        text_encoder: parts.has("text_encoder") ? await weightsOf(spec.dir, "text_encoder") : EMPTY,
      };
      mismatch = loraMismatch(
        tensors,
        layers,
        file.kind === "text_encoder_lora" ? "text_encoder" : "unet",
        weights,
      );
    }
    if (mismatch) throw refused(file, mismatch);
  }
}

const EMPTY: ComponentWeights = { index: new Map(), flattened: new Map() };
