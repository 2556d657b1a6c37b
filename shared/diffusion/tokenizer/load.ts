import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ClipTokenizer, type ClipTokenizerOptions } from "./clip-tokenizer.js";

async function readJson(path: string): Promise<unknown | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`cannot read ${path}: ${(error as Error).message}`);
  }
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** A special token as tokenizer configs store it: a string or an AddedToken object `{content: …}`. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { content?: unknown }).content === "string"
  ) {
    return (value as { content: string }).content;
  }
  return undefined;
}

/** Largest sane model_max_length; transformers writes 1e30 when a tokenizer has none. */
const MAX_SANE_LENGTH = 1_000_000;

/**
 * Special tokens and length from `tokenizer_config.json` and `special_tokens_map.json` (the latter wins, as in
 * transformers). A missing or absurd `model_max_length` (transformers' 1e30 "unset" value) is left to the
 * default of 77.
 */
export function tokenizerOptionsFromConfig(
  tokenizerConfig: unknown,
  specialTokensMap: unknown = {},
): ClipTokenizerOptions {
  const config = (tokenizerConfig ?? {}) as Record<string, unknown>;
  const map = (specialTokensMap ?? {}) as Record<string, unknown>;
  const pick = (key: string) => tokenContent(map[key]) ?? tokenContent(config[key]);
  const length = config["model_max_length"];
  return {
    modelMaxLength:
      typeof length === "number" && Number.isInteger(length) && length <= MAX_SANE_LENGTH
        ? length
        : undefined,
    bosToken: pick("bos_token"),
    eosToken: pick("eos_token"),
    padToken: pick("pad_token"),
    unkToken: pick("unk_token"),
  };
}

/** Added tokens recorded in `added_tokens.json` and `tokenizer_config.json`'s `added_tokens_decoder`. */
function savedAddedTokens(tokenizerConfig: unknown, addedTokensJson: unknown): Record<string, number> {
  const added: Record<string, number> = {};
  const decoder = (tokenizerConfig as { added_tokens_decoder?: unknown } | undefined)?.added_tokens_decoder;
  if (typeof decoder === "object" && decoder !== null) {
    for (const [id, entry] of Object.entries(decoder)) {
      const content = tokenContent(entry);
      if (content !== undefined) added[content] = Number(id);
    }
  }
  if (typeof addedTokensJson === "object" && addedTokensJson !== null) {
    for (const [content, id] of Object.entries(addedTokensJson))
      if (typeof id === "number") added[content] = id;
  }
  return added;
}

/**
 * Loads the CLIP tokenizer of a diffusers model folder (`<model>/tokenizer/`): `vocab.json` + `merges.txt`
 * when present (what diffusers' `CLIPTokenizer` reads), otherwise `tokenizer.json`; special tokens and length
 * from `tokenizer_config.json` / `special_tokens_map.json`; saved added tokens (textual inversion) from
 * `added_tokens.json` / `added_tokens_decoder`. `dir` comes from the model registry, never from a request.
 */
export async function loadClipTokenizer(
  dir: string,
  overrides: ClipTokenizerOptions = {},
): Promise<ClipTokenizer> {
  const [tokenizerConfig, specialTokensMap, addedTokensJson] = await Promise.all([
    readJson(join(dir, "tokenizer_config.json")),
    readJson(join(dir, "special_tokens_map.json")),
    readJson(join(dir, "added_tokens.json")),
  ]);
  const fromConfig = tokenizerOptionsFromConfig(tokenizerConfig, specialTokensMap);
  const options = {
    ...fromConfig,
    ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)),
  };
  const [vocab, merges] = await Promise.all([
    readJson(join(dir, "vocab.json")),
    readText(join(dir, "merges.txt")),
  ]);
  if (vocab !== undefined && merges !== undefined) {
    return ClipTokenizer.fromVocabAndMerges(
      vocab as Record<string, number>,
      merges,
      options,
      savedAddedTokens(tokenizerConfig, addedTokensJson),
    );
  }
  const tokenizerJson = await readJson(join(dir, "tokenizer.json"));
  if (tokenizerJson === undefined) {
    throw new Error(`${dir} holds neither vocab.json + merges.txt nor tokenizer.json`);
  }
  return ClipTokenizer.fromTokenizerJson(tokenizerJson, options);
}
