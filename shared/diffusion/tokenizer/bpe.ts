/** End-of-word marker CLIP appends to the last symbol of every word. */
export const END_OF_WORD = "</w>";

const CACHE_LIMIT = 20_000;

/**
 * Byte-pair encoding with CLIP's end-of-word suffix: a word's last symbol carries `</w>`, and the lowest-ranked
 * adjacent pair is merged everywhere it occurs until no ranked pair is left (OpenAI CLIP `bpe()`).
 */
export class BytePairEncoder {
  readonly #ranks: ReadonlyMap<string, number>;
  readonly #cache = new Map<string, readonly string[]>();

  /** `merges` in priority order, each a pair of symbols. */
  constructor(merges: readonly (readonly [string, string])[]) {
    const ranks = new Map<string, number>();
    merges.forEach(([first, second], rank) => {
      const key = `${first} ${second}`;
      if (!ranks.has(key)) ranks.set(key, rank);
    });
    this.#ranks = ranks;
  }

  /** Number of merges. */
  get size(): number {
    return this.#ranks.size;
  }

  /** The symbols a byte-level word splits into. */
  encode(word: string): readonly string[] {
    const cached = this.#cache.get(word);
    if (cached !== undefined) return cached;
    const chars = Array.from(word);
    if (chars.length === 0) return [];
    let symbols = [...chars.slice(0, -1), chars[chars.length - 1] + END_OF_WORD];
    while (symbols.length > 1) {
      let bestRank = Number.POSITIVE_INFINITY;
      let bestFirst = "";
      let bestSecond = "";
      for (let i = 0; i < symbols.length - 1; i++) {
        const rank = this.#ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          bestFirst = symbols[i];
          bestSecond = symbols[i + 1];
        }
      }
      if (bestRank === Number.POSITIVE_INFINITY) break;
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i < symbols.length - 1 && symbols[i] === bestFirst && symbols[i + 1] === bestSecond) {
          merged.push(bestFirst + bestSecond);
          i++;
        } else {
          merged.push(symbols[i]);
        }
      }
      symbols = merged;
    }
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    const frozen = Object.freeze(symbols);
    this.#cache.set(word, frozen);
    return frozen;
  }
}

/**
 * Reads merges from a `merges.txt` (one "a b" pair per line; a first line starting with `#version` is a header)
 * or from a tokenizer.json `model.merges` array ("a b" strings or [a, b] pairs).
 */
export function parseMerges(merges: string | readonly unknown[]): [string, string][] {
  const lines: readonly unknown[] = typeof merges === "string" ? merges.split(/\r?\n/) : merges;
  const pairs: [string, string][] = [];
  lines.forEach((line, index) => {
    if (Array.isArray(line)) {
      if (line.length !== 2 || typeof line[0] !== "string" || typeof line[1] !== "string") {
        throw new TypeError(`merge ${index} must be a pair of strings`);
      }
      pairs.push([line[0], line[1]]);
      return;
    }
    if (typeof line !== "string") throw new TypeError(`merge ${index} must be a string`);
    const trimmed = line.trim();
    if (trimmed === "" || (index === 0 && trimmed.startsWith("#version"))) return;
    const parts = trimmed.split(/\s+/);
    if (parts.length !== 2)
      throw new TypeError(`merge ${index} must hold two symbols, got ${JSON.stringify(line)}`);
    pairs.push([parts[0], parts[1]]);
  });
  return pairs;
}
