/** The safetensors format (Hugging Face): reader and writer, no dependencies. */

export { loadSafetensors, saveSafetensors } from "./file.js";
export { decodeSafetensors, encodeSafetensors, type Safetensors } from "./format.js";
