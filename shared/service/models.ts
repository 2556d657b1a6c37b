import { access, readdir } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { string } from "../config/index.js";
import { RpcError } from "../rpc/index.js";

/** Model ids: what a request may name (never a path). */
export const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * The variables of a service that serves model folders: `MODEL_DIR` is one diffusers/Optimum ONNX folder
 * (it holds `model_index.json`; its id is `MODEL_ID`, default the folder's name) or a folder of such
 * folders (each id is its sub-folder's name, e.g. `models/` with `diffda-kit-v1/`, `diffda-kit-v1-edit/`).
 */
export function modelEnv() {
  return {
    MODEL_DIR: string({ minLength: 1, description: "a model folder, or a folder of model folders" }),
    MODEL_ID: string({
      pattern: MODEL_ID,
      optional: true,
      description: "id of MODEL_DIR when it is a single model folder (default: its folder name)",
    }),
  } as const;
}

/** A configured model: the id requests use and the folder the server reads. */
export interface ModelEntry {
  readonly id: string;
  readonly dir: string;
}

/** Model ids mapped to folders, fixed at boot. */
export interface ModelRegistry {
  /** Every model, in id order. */
  readonly models: readonly ModelEntry[];
  /**
   * The model a request names; `invalid_field` for an empty or malformed name (naming `field`),
   * `model_not_found` (NOT_FOUND) for an id the server does not serve.
   */
  resolve(name: string, field: string): ModelEntry;
  /** The model of `id`, if served. */
  get(id: string): ModelEntry | undefined;
}

async function isModelFolder(dir: string): Promise<boolean> {
  try {
    await access(join(dir, "model_index.json"));
    return true;
  } catch {
    return false;
  }
}

/** Builds the registry of `MODEL_DIR` (see {@link modelEnv}); throws when it holds no model folder. */
export async function loadModelRegistry(modelDir: string, modelId?: string): Promise<ModelRegistry> {
  const root = resolve(modelDir);
  const entries: ModelEntry[] = [];
  if (await isModelFolder(root)) {
    const id = modelId ?? basename(root);
    if (!MODEL_ID.test(id))
      throw new Error(`MODEL_DIR's folder name "${id}" is not a valid id; set MODEL_ID`);
    entries.push({ id, dir: root });
  } else {
    let children: string[];
    try {
      children = (await readdir(root, { withFileTypes: true }))
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch (error) {
      throw new Error(`MODEL_DIR ${root} cannot be read: ${(error as Error).message}`);
    }
    for (const name of children.sort()) {
      if (MODEL_ID.test(name) && (await isModelFolder(join(root, name))))
        entries.push({ id: name, dir: join(root, name) });
    }
  }
  if (entries.length === 0) throw new Error(`MODEL_DIR ${root} holds no model folder (model_index.json)`);
  const byId = new Map(entries.map((e) => [e.id, e]));
  return {
    models: entries,
    get: (id) => byId.get(id),
    resolve(name, field) {
      if (name === "")
        throw new RpcError("invalid_field", `${field} must name a model`, { details: { field } });
      if (!MODEL_ID.test(name)) {
        throw new RpcError("invalid_field", `${field} is not a model id`, { details: { field } });
      }
      const entry = byId.get(name);
      if (!entry) {
        throw new RpcError("model_not_found", `no model "${name}" on this server`, {
          details: { field, model: name },
        });
      }
      return entry;
    },
  };
}
