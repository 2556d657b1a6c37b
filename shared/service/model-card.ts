/**
 * What a caller needs to choose a served model: the folder's digest (so two replicas, or a job's result
 * and a later audit, can tell whether they used the same bytes), its size, the image size it draws at,
 * and its model card. Read from the folder alone, once per process.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { readComponentConfig, readJsonObject, resolveModelConfig } from "../diffusion/models/config.js";
import type { ModelEntry } from "./models.js";

/** A served model as `ListModels` describes it. */
export interface ModelDescription {
  readonly id: string;
  /** SHA-256 over "<file sha256>  <relative path>\n" of every file, sorted by path (sha256sum's format). */
  readonly sha256: string;
  readonly bytes: number;
  readonly nativeHeight: number;
  readonly nativeWidth: number;
  /** `_class_name` of model_index.json, "" if absent. */
  readonly pipeline: string;
  /** The card's first paragraph. */
  readonly summary: string;
  /** The card (MODEL_CARD.md or README.md), at most {@link MAX_CARD_BYTES}. */
  readonly card: string;
}

/** Most bytes of a model card a description carries. */
const MAX_CARD_BYTES = 32 * 1024;
const CARD_FILES = ["MODEL_CARD.md", "README.md"];

/** Every file under `dir`, as paths relative to it with `/` separators, sorted by byte order. */
async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split(sep).join("/"))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

async function fileDigest(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** The folder digest and total size (streamed: a 4 GiB Stable Diffusion export is never held in memory). */
export async function folderDigest(dir: string): Promise<{ sha256: string; bytes: number }> {
  const listing = createHash("sha256");
  let bytes = 0;
  for (const path of await files(dir)) {
    const full = join(dir, ...path.split("/"));
    bytes += (await stat(full)).size;
    listing.update(`${await fileDigest(full)}  ${path}\n`);
  }
  return { sha256: listing.digest("hex"), bytes };
}

/** The card's first paragraph that is not a heading, an image or a table, on one line. */
export function cardSummary(card: string): string {
  for (const block of card.split(/\n\s*\n/)) {
    const text = block.trim();
    if (text === "" || /^(#|!\[|\||```|<)/.test(text)) continue;
    return text.replace(/\s+/g, " ");
  }
  return "";
}

async function readCard(dir: string): Promise<string> {
  for (const name of CARD_FILES) {
    try {
      const bytes = await readFile(join(dir, name));
      return bytes.subarray(0, MAX_CARD_BYTES).toString("utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  return "";
}

/** Describes one registered model folder. */
export async function describeModel(model: ModelEntry): Promise<ModelDescription> {
  const [digest, card, index, unetConfig, decoderConfig, encoderConfig] = await Promise.all([
    folderDigest(model.dir),
    readCard(model.dir),
    readJsonObject(join(model.dir, "model_index.json")),
    readComponentConfig(model.dir, "unet"),
    readComponentConfig(model.dir, "vae_decoder"),
    readComponentConfig(model.dir, "vae_encoder"),
  ]);
  // Without config.json files (the diffusers ONNX script writes none) this is the SD 1.x size.
  const config = resolveModelConfig({ unetConfig, vaeConfig: decoderConfig ?? encoderConfig });
  const side = config.sampleSize * config.vaeScaleFactor;
  return {
    id: model.id,
    ...digest,
    nativeHeight: side,
    nativeWidth: side,
    pipeline: typeof index?._class_name === "string" ? index._class_name : "",
    summary: cardSummary(card),
    card,
  };
}
