import { BytePairEncoder, END_OF_WORD, parseMerges } from "./bpe.js";
import { fromByteLevel, toByteLevel } from "./byte-level.js";

/**
 * CLIP's pre-tokenizer pattern (OpenAI CLIP `simple_tokenizer.py` and transformers' `CLIPTokenizer`): the two
 * special tokens, English contractions, runs of letters, single digits, runs of other non-space characters.
 * Case-insensitive as in CLIP (text is lowercased first anyway).
 */
export const CLIP_PRETOKENIZE_PATTERN =
  /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;

/** Special tokens and length of a CLIP tokenizer (tokenizer_config.json / special_tokens_map.json fields). */
export interface ClipTokenizerOptions {
  /** Sequence length the text encoder takes (`model_max_length`); 77 for CLIP. */
  readonly modelMaxLength?: number;
  readonly bosToken?: string;
  readonly eosToken?: string;
  /** Padding token; CLIP / SD1.x use `<|endoftext|>`, SD2's OpenCLIP tokenizer uses `!`. */
  readonly padToken?: string;
  readonly unkToken?: string;
}

/** Options of {@link ClipTokenizer.encode}; the defaults are what Stable Diffusion pipelines use. */
export interface EncodeOptions {
  /** Pad to `maxLength` (`"max_length"`, default) or not at all (`false`). */
  readonly padding?: "max_length" | false;
  /** Cut the text so that bos + text + eos fits in `maxLength` (default true). */
  readonly truncation?: boolean;
  /** Default: the tokenizer's `modelMaxLength`. */
  readonly maxLength?: number;
  /** Add bos/eos (default true). */
  readonly addSpecialTokens?: boolean;
}

/** One encoded text. */
export interface Encoding {
  readonly inputIds: readonly number[];
  /** 1 for real tokens (bos and eos included), 0 for padding. */
  readonly attentionMask: readonly number[];
}

/** Several texts encoded to the same length, batch-major. */
export interface BatchEncoding {
  readonly inputIds: Int32Array;
  readonly attentionMask: Int32Array;
  readonly batchSize: number;
  readonly sequenceLength: number;
}

/** A tokenizer with new whole-word tokens and their ids (see {@link ClipTokenizer.withAddedTokens}). */
export interface AddedTokens {
  readonly tokenizer: ClipTokenizer;
  /** Ids of the requested tokens, in order: rows to append to the text encoder's token embedding. */
  readonly ids: readonly number[];
}

const DEFAULTS = {
  modelMaxLength: 77,
  bosToken: "<|startoftext|>",
  eosToken: "<|endoftext|>",
  padToken: "<|endoftext|>",
  unkToken: "<|endoftext|>",
} as const;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Shared, immutable core of a tokenizer family: vocabulary and merges. */
interface Core {
  readonly encoder: ReadonlyMap<string, number>;
  readonly decoder: ReadonlyMap<number, string>;
  readonly bpe: BytePairEncoder;
  /** One past the largest vocabulary id. */
  readonly end: number;
}

/**
 * The CLIP tokenizer of Stable Diffusion (transformers' `CLIPTokenizer`): NFC, whitespace collapsed and trimmed,
 * lowercase, CLIP's regex pre-tokenizer, byte-level BPE with a `</w>` end-of-word suffix, then
 * `<|startoftext|> … <|endoftext|>`, truncated and padded to `model_max_length`. Added tokens (special tokens
 * and textual-inversion tokens) are matched as whole strings before anything else, case-sensitively.
 * Immutable: {@link withAddedTokens} returns a new tokenizer, so per-job tokens never leak between requests.
 */
export class ClipTokenizer {
  readonly #core: Core;
  /** Added tokens → id (special tokens included), matched before BPE. */
  readonly #added: ReadonlyMap<string, number>;
  readonly #addedById: ReadonlyMap<number, string>;
  readonly #splitter: RegExp;
  readonly modelMaxLength: number;
  readonly bosToken: string;
  readonly eosToken: string;
  readonly padToken: string;
  readonly unkToken: string;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  readonly padTokenId: number;
  readonly unkTokenId: number;

  private constructor(core: Core, added: ReadonlyMap<string, number>, options: ClipTokenizerOptions) {
    this.#core = core;
    const settings = { ...DEFAULTS, ...definedOnly(options) };
    if (!Number.isInteger(settings.modelMaxLength) || settings.modelMaxLength < 2) {
      throw new RangeError(`model_max_length must be an integer ≥ 2, got ${settings.modelMaxLength}`);
    }
    this.modelMaxLength = settings.modelMaxLength;
    this.bosToken = settings.bosToken;
    this.eosToken = settings.eosToken;
    this.padToken = settings.padToken;
    this.unkToken = settings.unkToken;
    const lookup = (token: string, role: string): number => {
      const id = added.get(token) ?? core.encoder.get(token);
      if (id === undefined)
        throw new RangeError(`${role} token ${JSON.stringify(token)} is not in the vocabulary`);
      return id;
    };
    this.bosTokenId = lookup(settings.bosToken, "bos");
    this.eosTokenId = lookup(settings.eosToken, "eos");
    this.padTokenId = lookup(settings.padToken, "pad");
    this.unkTokenId = lookup(settings.unkToken, "unk");
    const all = new Map(added);
    for (const token of [this.bosToken, this.eosToken, this.padToken, this.unkToken]) {
      if (!all.has(token)) all.set(token, lookup(token, "special"));
    }
    this.#added = all;
    this.#addedById = new Map([...all].map(([token, id]) => [id, token]));
    const alternatives = [...all.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp);
    this.#splitter = new RegExp(alternatives.join("|"), "gu");
    Object.freeze(this);
  }

  /**
   * From a `vocab.json` object and `merges.txt` content (the SD `tokenizer/` folder), plus special tokens.
   * `addedTokens` (token → id) registers tokens saved beside them (added_tokens.json, added_tokens_decoder).
   */
  static fromVocabAndMerges(
    vocab: Readonly<Record<string, number>>,
    merges: string | readonly unknown[],
    options: ClipTokenizerOptions = {},
    addedTokens: Readonly<Record<string, number>> = {},
  ): ClipTokenizer {
    const encoder = new Map<string, number>();
    for (const [token, id] of Object.entries(vocab)) {
      if (!Number.isInteger(id) || id < 0)
        throw new TypeError(`vocab id of ${JSON.stringify(token)} must be a non-negative integer`);
      encoder.set(token, id);
    }
    const decoder = new Map<number, string>();
    for (const [token, id] of encoder) decoder.set(id, token);
    let end = 0;
    for (const id of decoder.keys()) end = Math.max(end, id + 1);
    const core: Core = { encoder, decoder, bpe: new BytePairEncoder(parseMerges(merges)), end };
    const added = new Map<string, number>();
    for (const [token, id] of Object.entries(addedTokens)) {
      // Tokens already in the vocabulary under the same id are still matched whole, as in transformers.
      if (encoder.get(token) === id) {
        added.set(token, id);
        continue;
      }
      if (!Number.isInteger(id) || id < 0 || decoder.has(id) || encoder.has(token)) {
        throw new RangeError(
          `added token ${JSON.stringify(token)} has id ${id}, which the vocabulary already uses`,
        );
      }
      added.set(token, id);
    }
    return new ClipTokenizer(core, added, options);
  }

  /**
   * From a Hugging Face `tokenizer.json` holding a CLIP-style BPE model (`model.type` "BPE",
   * `end_of_word_suffix` "</w>"); its `added_tokens` are registered as whole-word tokens.
   */
  static fromTokenizerJson(json: unknown, options: ClipTokenizerOptions = {}): ClipTokenizer {
    const root = json as { model?: Record<string, unknown>; added_tokens?: unknown };
    const model = root?.model;
    if (typeof model !== "object" || model === null || model["type"] !== "BPE") {
      throw new TypeError('tokenizer.json must hold a BPE model (model.type "BPE")');
    }
    if (model["end_of_word_suffix"] !== END_OF_WORD) {
      throw new TypeError(
        `tokenizer.json is not CLIP-style: model.end_of_word_suffix must be "${END_OF_WORD}"`,
      );
    }
    if (model["dropout"] !== undefined && model["dropout"] !== null && model["dropout"] !== 0) {
      throw new TypeError("BPE dropout is not supported (tokenization must be deterministic)");
    }
    const vocab = model["vocab"];
    const merges = model["merges"];
    if (typeof vocab !== "object" || vocab === null || !Array.isArray(merges)) {
      throw new TypeError("tokenizer.json model needs a vocab object and a merges array");
    }
    const added: Record<string, number> = {};
    if (Array.isArray(root.added_tokens)) {
      for (const entry of root.added_tokens as { id?: unknown; content?: unknown }[]) {
        if (typeof entry?.content !== "string" || typeof entry.id !== "number") {
          throw new TypeError("tokenizer.json added_tokens entries need an id and a content");
        }
        added[entry.content] = entry.id;
      }
    }
    return ClipTokenizer.fromVocabAndMerges(vocab as Record<string, number>, merges, options, added);
  }

  /** Size of the base vocabulary (vocab.json). */
  get vocabSize(): number {
    return this.#core.encoder.size;
  }

  /** Number of ids in use: base vocabulary plus added tokens beyond it (rows the embedding table needs). */
  get size(): number {
    let end = this.#core.end;
    for (const id of this.#addedById.keys()) end = Math.max(end, id + 1);
    return end;
  }

  /** The id of a token (BPE symbol or added token), if it has one. */
  tokenToId(token: string): number | undefined {
    return this.#added.get(token) ?? this.#core.encoder.get(token);
  }

  /** The token of an id, if any. */
  idToToken(id: number): string | undefined {
    return this.#addedById.get(id) ?? this.#core.decoder.get(id);
  }

  /**
   * A tokenizer that also knows `tokens` as whole words (textual inversion placeholders such as `<sks>`), with
   * ids appended after every id in use, in order. Throws if a token is empty, repeated or already known (as
   * diffusers' textual inversion does), so an embedding row is never silently shared.
   */
  withAddedTokens(tokens: readonly string[]): AddedTokens {
    const added = new Map(this.#added);
    let next = this.size;
    const ids: number[] = [];
    for (const token of tokens) {
      if (typeof token !== "string" || token.length === 0)
        throw new TypeError("added tokens must be non-empty strings");
      if (added.has(token) || this.#core.encoder.has(token)) {
        throw new RangeError(`token ${JSON.stringify(token)} is already in the tokenizer`);
      }
      added.set(token, next);
      ids.push(next++);
    }
    const tokenizer = new ClipTokenizer(this.#core, added, {
      modelMaxLength: this.modelMaxLength,
      bosToken: this.bosToken,
      eosToken: this.eosToken,
      padToken: this.padToken,
      unkToken: this.unkToken,
    });
    return Object.freeze({ tokenizer, ids: Object.freeze(ids) });
  }

  /** The tokens of a text: added tokens whole, everything else through normalisation, regex and BPE. */
  tokenize(text: string): string[] {
    const tokens: string[] = [];
    const normalized = text.normalize("NFC");
    let last = 0;
    for (const match of normalized.matchAll(this.#splitter)) {
      if (match[0].length === 0) continue;
      this.#tokenizeChunk(normalized.slice(last, match.index), tokens);
      tokens.push(match[0]);
      last = match.index + match[0].length;
    }
    this.#tokenizeChunk(normalized.slice(last), tokens);
    return tokens;
  }

  #tokenizeChunk(chunk: string, out: string[]): void {
    const cleaned = chunk.replace(/\s+/gu, " ").trim().toLowerCase();
    if (cleaned === "") return;
    for (const [word] of cleaned.matchAll(CLIP_PRETOKENIZE_PATTERN)) {
      for (const symbol of this.#core.bpe.encode(toByteLevel(word))) out.push(symbol);
    }
  }

  /** Token ids of a text, without special tokens; unknown symbols become the unk id. */
  tokenIds(text: string): number[] {
    return this.tokenize(text).map((token) => this.tokenToId(token) ?? this.unkTokenId);
  }

  /** `<|startoftext|> text <|endoftext|>`, truncated and padded as `options` say (SD's defaults). */
  encode(text: string, options: EncodeOptions = {}): Encoding {
    const maxLength = options.maxLength ?? this.modelMaxLength;
    const special = options.addSpecialTokens ?? true;
    if (!Number.isInteger(maxLength) || maxLength < (special ? 2 : 1)) {
      throw new RangeError(`maxLength must be an integer ≥ ${special ? 2 : 1}, got ${maxLength}`);
    }
    let ids = this.tokenIds(text);
    if (options.truncation ?? true) ids = ids.slice(0, maxLength - (special ? 2 : 0));
    if (special) ids = [this.bosTokenId, ...ids, this.eosTokenId];
    const attentionMask = ids.map(() => 1);
    if ((options.padding ?? "max_length") === "max_length") {
      while (ids.length < maxLength) {
        ids.push(this.padTokenId);
        attentionMask.push(0);
      }
    }
    return Object.freeze({ inputIds: Object.freeze(ids), attentionMask: Object.freeze(attentionMask) });
  }

  /** Encodes texts to one batch-major int32 array (padded to `maxLength`, truncated). */
  encodeBatch(texts: readonly string[], options: Omit<EncodeOptions, "padding"> = {}): BatchEncoding {
    const encodings = texts.map((text) => this.encode(text, { ...options, padding: "max_length" }));
    const sequenceLength = Math.max(0, ...encodings.map((e) => e.inputIds.length));
    const inputIds = new Int32Array(texts.length * sequenceLength).fill(this.padTokenId);
    const attentionMask = new Int32Array(texts.length * sequenceLength);
    encodings.forEach((encoding, b) => {
      inputIds.set(encoding.inputIds, b * sequenceLength);
      attentionMask.set(encoding.attentionMask, b * sequenceLength);
    });
    return Object.freeze({ inputIds, attentionMask, batchSize: texts.length, sequenceLength });
  }

  /** Text of token ids: `</w>` becomes a space, bytes are decoded as UTF-8; special tokens kept unless skipped. */
  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    const specials = new Set([this.bosTokenId, this.eosTokenId, this.padTokenId, this.unkTokenId]);
    const parts: string[] = [];
    let run = "";
    const flush = () => {
      if (run !== "") parts.push(fromByteLevel(run).replaceAll(END_OF_WORD, " ").trim());
      run = "";
    };
    for (const id of ids) {
      if (options.skipSpecialTokens && specials.has(id)) continue;
      const added = this.#addedById.get(id);
      if (added !== undefined) {
        flush();
        parts.push(added);
        continue;
      }
      run += this.#core.decoder.get(id) ?? "";
    }
    flush();
    return parts.filter((part) => part !== "").join(" ");
  }
}

function definedOnly(options: ClipTokenizerOptions): Partial<ClipTokenizerOptions> {
  return Object.fromEntries(
    Object.entries(options).filter(([, value]) => value !== undefined && value !== null),
  );
}
