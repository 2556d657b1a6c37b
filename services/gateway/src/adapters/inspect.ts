/**
 * What the gateway checks of an adapter upload before asking a replica: that the body is a well-formed
 * safetensors file (8-byte header length, a JSON header, known dtypes, every tensor's offsets inside the
 * file and the right size for its shape) holding at least one tensor, and what the kind needs of it.
 */
import { decodeSafetensors } from "../../../../shared/ml/safetensors/index.js";
import { ApiError } from "../errors.js";
import type { Adapter } from "../store/index.js";

/** The A1111 / kohya textual-inversion keys: one tensor whose token the caller names. */
const A1111_KEYS = ["emb_params", "string_to_param.*"];

/** What an upload holds, once its header is known to be sound. */
export interface InspectedAdapter {
  /** The tensor keys, in header order. */
  readonly keys: readonly string[];
  /** Textual inversion: the tokens to record (the caller's, else the file's keys); LoRA: none. */
  readonly tokens: readonly string[];
}

/** The JSON Pointer an `invalid_adapter` problem names a file's key by (`/body` for the file itself). */
function keyPointer(key: string | undefined): string {
  return key === undefined ? "/body" : `/body/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`;
}

/** An `invalid_adapter` problem naming `key` (or the whole body). */
export function refuseAdapter(detail: string, key?: string): ApiError {
  return new ApiError("invalid_adapter", detail, { errors: [{ field: keyPointer(key), message: detail }] });
}

/** Checks an upload's safetensors header and the tokens of a textual inversion; throws `invalid_adapter`. */
export function inspectAdapter(
  body: Uint8Array,
  kind: Adapter["kind"],
  tokens: readonly string[] | undefined,
): InspectedAdapter {
  let keys: string[];
  try {
    keys = [...decodeSafetensors(body).tensors.keys()];
  } catch (error) {
    throw refuseAdapter(`not a safetensors file: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (keys.length === 0) throw refuseAdapter("the safetensors file holds no tensor");
  if (kind === "lora") {
    if (tokens !== undefined) throw refuseAdapter("`tokens` is for textual inversion, not LoRA");
    return { keys, tokens: [] };
  }
  const a1111 = keys.find((k) => A1111_KEYS.includes(k));
  if (a1111 !== undefined) {
    if (tokens?.length !== 1)
      throw refuseAdapter(`an A1111 embedding (${a1111}) needs exactly one token in \`tokens\``, a1111);
    return { keys, tokens };
  }
  if (tokens === undefined) return { keys, tokens: keys };
  if (tokens.length === 1 && keys.length === 1) return { keys, tokens };
  const missing = tokens.filter((t) => !keys.includes(t));
  if (missing.length > 0)
    throw refuseAdapter(`the file does not define ${missing.map((t) => `"${t}"`).join(", ")}`);
  return { keys, tokens };
}
