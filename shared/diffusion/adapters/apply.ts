import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import {
  DataType,
  decodeModel,
  encodeModel,
  type ModelProto,
  type TensorProto,
} from "../../ml/onnx/index.js";
import { loadSafetensors } from "../../ml/safetensors/index.js";
import {
  ClipTextEncoder,
  type DiffusionComponents,
  type DiffusionModel,
  type OnnxComponent,
  openComponent,
  Unet,
} from "../models/index.js";
import { type LoraAdapter, mergeLoraWeights } from "./lora.js";
import { type LoraComponent, type ParseLoraOptions, parseLora } from "./lora-keys.js";
import { indexModuleWeights, replaceInitializers } from "./onnx-weights.js";
import {
  addConceptRows,
  expandConceptTokens,
  parseTextualInversion,
  type TextualInversion,
} from "./textual-inversion.js";

/** Adapters to apply to a model for one job. */
export interface AdapterSet {
  readonly loras?: readonly LoraAdapter[];
  readonly textualInversions?: readonly TextualInversion[];
}

/** Reads a LoRA `.safetensors` file (any convention of {@link parseLora}). */
export async function loadLoraFile(
  path: string,
  options: ParseLoraOptions & { scale?: number } = {},
): Promise<LoraAdapter> {
  const { tensors } = await loadSafetensors(path);
  return { layers: parseLora(tensors, options), scale: options.scale };
}

/** Reads a textual-inversion `.safetensors` file (diffusers or A1111 `emb_params`). */
export async function loadTextualInversionFile(path: string, token?: string): Promise<TextualInversion[]> {
  const { tensors } = await loadSafetensors(path);
  return parseTextualInversion(tensors, token);
}

/** The module path of the CLIP token embedding, where its initializer is named (else: the Gather on input_ids). */
const TOKEN_EMBEDDING = "text_model.embeddings.token_embedding";

/** The text encoder's token-embedding table: the named one, else the single Gather on the token ids. */
export function tokenEmbedding(model: ModelProto, index: ReturnType<typeof indexModuleWeights>) {
  const named = index.get(TOKEN_EMBEDDING);
  if (named?.layout === "embedding") return named;
  // Anonymous table: the Gather whose indices are the graph's integer input (through Casts).
  const ids = new Set<string>(
    model.graph.input
      .filter((v) => {
        const type = v.type?.tensorType?.elemType;
        return type === DataType.INT32 || type === DataType.INT64;
      })
      .map((v) => v.name),
  );
  const producers = new Map(model.graph.node.flatMap((n) => n.output.map((o) => [o, n] as const)));
  for (const node of model.graph.node) {
    if (node.opType === "Cast" && ids.has(node.input[0])) ids.add(node.output[0]);
  }
  const tables = new Set<string>();
  for (const node of model.graph.node) {
    if (node.opType !== "Gather" || !ids.has(node.input[1])) continue;
    let data = node.input[0];
    for (
      let p = producers.get(data);
      p && (p.opType === "Cast" || p.opType === "Identity");
      p = producers.get(data)
    ) {
      data = p.input[0];
    }
    tables.add(data);
  }
  const found = [...index.values()].filter((r) => r.layout === "embedding" && tables.has(r.initializer));
  if (found.length !== 1)
    throw new Error("no single token-embedding table (a Gather on the token ids) in the text encoder");
  return found[0];
}

/** Fingerprint of an adapter set (the weights' bytes and scales): keeps caches of adapted models apart. */
export function adapterFingerprint(adapters: AdapterSet): string {
  const hash = createHash("sha256");
  for (const lora of adapters.loras ?? []) {
    hash.update(`lora:${lora.scale ?? 1};`);
    for (const layer of lora.layers) {
      hash.update(`${layer.component}|${layer.name}|${layer.alpha ?? ""};`);
      for (const t of [layer.down, layer.up])
        hash.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
  }
  for (const c of adapters.textualInversions ?? []) {
    hash.update(`ti:${c.token};`);
    hash.update(new Uint8Array(c.vectors.buffer, c.vectors.byteOffset, c.vectors.byteLength));
  }
  return hash.digest("hex").slice(0, 16);
}

async function patchComponent(
  model: DiffusionModel,
  component: OnnxComponent,
  part: LoraComponent,
  adapters: AdapterSet,
  withTable?: (proto: ModelProto, index: ReturnType<typeof indexModuleWeights>) => Promise<TensorProto>,
): Promise<OnnxComponent> {
  const proto = decodeModel(await readFile(component.modelPath));
  const index = indexModuleWeights(proto);
  const initializers = new Map(proto.graph.initializer.map((t) => [t.name, t]));
  const replacements = await mergeLoraWeights(
    part,
    adapters.loras ?? [],
    index,
    initializers,
    component.modelPath,
  );
  if (withTable) {
    const table = await withTable(proto, index);
    replacements.set(table.name, table);
  }
  let patched = replaceInitializers(proto, replacements);
  // Old exporters also list initializers as graph inputs: keep those declarations in step with new shapes.
  patched = {
    ...patched,
    graph: {
      ...patched.graph,
      input: patched.graph.input.map((v) => {
        const r = replacements.get(v.name);
        const tt = v.type?.tensorType;
        if (!r || !tt) return v;
        return {
          ...v,
          type: { ...v.type, tensorType: { ...tt, shape: { dim: r.dims.map((d) => ({ dimValue: d })) } } },
        };
      }),
    },
  };
  return openComponent(component.name, component.modelPath, model.settings, encodeModel(patched));
}

/**
 * A model with LoRA weights and textual-inversion embeddings merged in, for one job. The base model's files
 * are never rewritten: each affected component (UNet and/or text encoder) is decoded, its initializers are
 * patched in memory (W += scale·alpha/rank·B·A in the weight's own layout and dtype; new token-embedding rows)
 * and a new session is opened from the bytes, external data still read from the base folder. Untouched
 * components share the base model's sessions. Release the result with `release()` when the job ends.
 */
export async function withAdapters(model: DiffusionModel, adapters: AdapterSet): Promise<DiffusionModel> {
  const loras = adapters.loras ?? [];
  const concepts = adapters.textualInversions ?? [];
  const touches = (part: LoraComponent) =>
    loras.some((l) => l.layers.some((layer) => layer.component === part));
  const opened: OnnxComponent[] = [];
  const changes: { -readonly [K in keyof DiffusionComponents]?: DiffusionComponents[K] } = {};
  try {
    if (touches("unet")) {
      const unet = await patchComponent(model, model.unet.component, "unet", adapters);
      opened.push(unet);
      changes.unet = new Unet(unet, model.unet.inChannels);
    }
    if (touches("text_encoder") || concepts.length > 0) {
      let tokenizer = model.tokenizer;
      const encoder = await patchComponent(
        model,
        model.textEncoder.component,
        "text_encoder",
        adapters,
        concepts.length > 0
          ? async (proto, index) => {
              const table = tokenEmbedding(proto, index);
              const tensor = proto.graph.initializer.find((t) => t.name === table.initializer);
              if (!tensor) throw new Error(`initializer ${table.initializer} missing`);
              const added = await addConceptRows(
                model.tokenizer,
                concepts,
                table,
                tensor,
                model.textEncoder.component.modelPath,
              );
              tokenizer = added.tokenizer;
              return added.replacement;
            }
          : undefined,
      );
      opened.push(encoder);
      changes.textEncoder = new ClipTextEncoder(encoder);
      changes.tokenizer = tokenizer;
      const expand = expandConceptTokens(concepts);
      if (expand) {
        const previous = model.promptTransform;
        changes.promptTransform = previous ? (p) => expand(previous(p)) : expand;
      }
    }
    changes.fingerprint = `${model.fingerprint}+${adapterFingerprint(adapters)}`;
    return model.derive(changes, opened);
  } catch (error) {
    await Promise.allSettled(opened.map((c) => c.release()));
    throw error;
  }
}
