import {
  BYTE_ENCODER,
  CLIP_PRETOKENIZE_PATTERN,
  ClipTokenizer,
  END_OF_WORD,
  toByteLevel,
} from "../diffusion/index.js";
import { KIT_MAX_LENGTH } from "./corpus.js";

const BOS = "<|startoftext|>";
const EOS = "<|endoftext|>";

/** A CLIP-format tokenizer folder's contents. */
export interface KitTokenizerFiles {
  /** vocab.json: token → id. */
  readonly vocab: Record<string, number>;
  /** merges.txt, with the "#version" header. */
  readonly merges: string;
  readonly tokenizerConfig: Record<string, unknown>;
  readonly specialTokensMap: Record<string, unknown>;
}

/**
 * Builds a small CLIP-style BPE vocabulary from a text corpus, in CLIP's layout: the 256 byte-level symbols,
 * the same 256 with `</w>`, then one token per learned merge, then `<|startoftext|>` and `<|endoftext|>`.
 * Merges are learned greedily (most frequent pair first, ties by the pair's text) until every word of the
 * corpus is one token, so corpus words are single tokens and any other text still tokenizes to byte symbols.
 */
export function buildKitTokenizer(texts: readonly string[], maxLength = KIT_MAX_LENGTH): KitTokenizerFiles {
  const wordCounts = new Map<string, number>();
  for (const text of texts) {
    for (const [word] of text.toLowerCase().matchAll(CLIP_PRETOKENIZE_PATTERN)) {
      const w = toByteLevel(word);
      wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
    }
  }
  const words = [...wordCounts].map(([w, count]) => {
    const chars = Array.from(w);
    return { symbols: [...chars.slice(0, -1), chars[chars.length - 1] + END_OF_WORD], count };
  });
  const merges: [string, string][] = [];
  for (;;) {
    const pairs = new Map<string, number>();
    for (const { symbols, count } of words) {
      for (let i = 0; i < symbols.length - 1; i++) {
        const key = `${symbols[i]} ${symbols[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + count);
      }
    }
    if (pairs.size === 0) break;
    let best = "";
    let bestCount = -1;
    for (const [key, count] of pairs) {
      if (count > bestCount || (count === bestCount && key < best)) {
        best = key;
        bestCount = count;
      }
    }
    const [a, b] = best.split(" ");
    merges.push([a, b]);
    for (const word of words) {
      const next: string[] = [];
      for (let i = 0; i < word.symbols.length; i++) {
        if (i < word.symbols.length - 1 && word.symbols[i] === a && word.symbols[i + 1] === b) {
          next.push(a + b);
          i++;
        } else next.push(word.symbols[i]);
      }
      word.symbols = next;
    }
  }
  const vocab: Record<string, number> = {};
  let id = 0;
  for (const ch of BYTE_ENCODER) vocab[ch] = id++;
  for (const ch of BYTE_ENCODER) vocab[ch + END_OF_WORD] = id++;
  for (const [a, b] of merges) if (vocab[a + b] === undefined) vocab[a + b] = id++;
  vocab[BOS] = id++;
  vocab[EOS] = id++;
  return {
    vocab,
    merges: `#version: 0.2\n${merges.map(([a, b]) => `${a} ${b}`).join("\n")}\n`,
    tokenizerConfig: {
      tokenizer_class: "CLIPTokenizer",
      model_max_length: maxLength,
      bos_token: BOS,
      eos_token: EOS,
      pad_token: EOS,
      unk_token: EOS,
      do_lower_case: true,
    },
    specialTokensMap: { bos_token: BOS, eos_token: EOS, pad_token: EOS, unk_token: EOS },
  };
}

/** The tokenizer of built files. */
export function kitTokenizer(files: KitTokenizerFiles): ClipTokenizer {
  return ClipTokenizer.fromVocabAndMerges(files.vocab, files.merges, {
    modelMaxLength: files.tokenizerConfig.model_max_length as number,
  });
}
