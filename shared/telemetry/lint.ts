/**
 * promtool-style checks of a Prometheus text exposition, so every registry the code builds can be linted
 * in a test: help text present, snake_case names, only counters ending in `_total`, base units, no
 * colons (reserved for recording rules), and diffda's own rules: its metrics carry the `diffda_` prefix
 * (or a stock gRPC name) and only labels with a documented meaning (labels.ts).
 */
import { LABEL_MEANINGS } from "./labels.js";
import { METRIC_NAME, METRIC_PREFIX, NON_BASE_UNITS, STOCK_PREFIXES } from "./metrics.js";

/** prom-client's default metrics, kept under their stock names and labels. */
const DEFAULT_METRIC_PREFIXES = ["process_", "nodejs_"];

/** The problems found, one line each ("<metric>: <problem>"); empty when the exposition is clean. */
export function lintExposition(text: string): string[] {
  const problems: string[] = [];
  const help = new Set<string>();
  const types = new Map<string, string>();
  const labels = new Map<string, Set<string>>();
  for (const line of text.split("\n")) {
    const helpLine = /^# HELP (\S+) (.*)$/.exec(line);
    if (helpLine) {
      if (helpLine[2].trim() !== "") help.add(helpLine[1]);
      continue;
    }
    const typeLine = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (typeLine) {
      if (types.has(typeLine[1])) problems.push(`${typeLine[1]}: declared twice`);
      types.set(typeLine[1], typeLine[2]);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? /.exec(line);
    if (!sample) continue;
    const family = [...types.keys()].find(
      (name) => sample[1] === name || sample[1].replace(/_(bucket|sum|count)$/, "") === name,
    );
    if (family === undefined) {
      problems.push(`${sample[1]}: a sample without a TYPE line`);
      continue;
    }
    const names = labels.get(family) ?? new Set<string>();
    for (const m of (sample[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) names.add(m[1]);
    labels.set(family, names);
  }
  for (const [name, type] of types) {
    if (!help.has(name)) problems.push(`${name}: no help text`);
    if (!METRIC_NAME.test(name)) problems.push(`${name}: not snake_case (colons are for recording rules)`);
    if (type === "counter" && !name.endsWith("_total"))
      problems.push(`${name}: a counter must end in _total`);
    if (type !== "counter" && name.endsWith("_total"))
      problems.push(`${name}: a ${type} must not end in _total`);
    if (NON_BASE_UNITS.test(name)) problems.push(`${name}: not in base units (seconds, bytes, ratio)`);
    if (DEFAULT_METRIC_PREFIXES.some((prefix) => name.startsWith(prefix))) continue;
    if (!name.startsWith(METRIC_PREFIX) && !STOCK_PREFIXES.some((prefix) => name.startsWith(prefix))) {
      problems.push(`${name}: neither ${METRIC_PREFIX}-prefixed nor a stock name`);
    }
    for (const label of labels.get(name) ?? []) {
      if (!(label in LABEL_MEANINGS)) problems.push(`${name}: label "${label}" has no documented meaning`);
    }
  }
  return problems;
}
