import { readFile, rename, writeFile } from "node:fs/promises";
import type { Tensor } from "../onnx/tensor.js";
import { decodeSafetensors, encodeSafetensors, type Safetensors } from "./format.js";

/** Writes a .safetensors file atomically (temp file + rename). */
export async function saveSafetensors(
  path: string,
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  await writeFile(tmp, encodeSafetensors(tensors, metadata));
  await rename(tmp, path);
}

/** Reads a .safetensors file. */
export async function loadSafetensors(path: string): Promise<Safetensors> {
  const buf = await readFile(path);
  return decodeSafetensors(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
}
