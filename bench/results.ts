import { existsSync } from "node:fs";
import { readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The engine's figures file, shared with the engine benchmarks (each writes only its own keys). */
const ENGINE_RESULTS = join(dirname(fileURLToPath(import.meta.url)), "results", "engine.json");

/**
 * Merges `figures` into a JSON results file: keys already there and not in `figures` are kept, so
 * benchmarks that own different keys can share one file.
 */
export async function mergeResults(figures: Record<string, unknown>, path = ENGINE_RESULTS): Promise<void> {
  const current = existsSync(path)
    ? (JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>)
    : {};
  const merged = { ...current, ...figures };
  const sorted = Object.fromEntries(
    Object.keys(merged)
      .sort()
      .map((k) => [k, merged[k]]),
  );
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(sorted, null, 2)}\n`);
  await rename(tmp, path);
}

/** Rounds to `digits` decimals (for figures written to JSON). */
export function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
