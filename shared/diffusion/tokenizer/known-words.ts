import { CLIP_PRETOKENIZE_PATTERN, type ClipTokenizer } from "./clip-tokenizer.js";

/**
 * The token ids of `phrase` if the tokenizer knows every word of it as one vocabulary token, else
 * undefined. A word that BPE has to split is one the tokenizer's training text lacked or barely had: the
 * kit's tokenizer, merged until every caption word is one token, spells any other word in byte symbols or
 * merge fragments ("sandal" → s and a l, "trouser" → tr ous er), whose rows no caption ever trained.
 */
export function knownWordIds(tokenizer: ClipTokenizer, phrase: string): number[] | undefined {
  const ids: number[] = [];
  const words = [...phrase.normalize("NFC").toLowerCase().matchAll(CLIP_PRETOKENIZE_PATTERN)];
  if (words.length === 0) return undefined;
  for (const [word] of words) {
    const pieces = tokenizer.tokenize(word);
    if (pieces.length !== 1) return undefined;
    const id = tokenizer.tokenToId(pieces[0]);
    if (id === undefined || id === tokenizer.unkTokenId) return undefined;
    ids.push(id);
  }
  return ids;
}
