/** Reading counters and histogram sums from a Prometheus text endpoint (what the services serve on /metrics). */

/** A sample's labels and value. */
interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Samples by metric name (histograms as their `_sum` and `_count` series). */
export type Scrape = ReadonlyMap<string, readonly Sample[]>;

/** Parses the text exposition format (the subset prom-client writes: no timestamps, escaped quotes). */
function parseMetrics(text: string): Scrape {
  const out = new Map<string, Sample[]>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[pair[1]] = pair[2];
    const list = out.get(match[1]) ?? [];
    list.push({ labels, value: Number(match[4]) });
    out.set(match[1], list);
  }
  return out;
}

/** Fetches and parses `url`. */
export async function scrape(url: string): Promise<Scrape> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return parseMetrics(await response.text());
}

/** Sums `name` by the value of label `by` (e.g. phase seconds by phase). */
export function sumBy(s: Scrape, name: string, by: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const sample of s.get(name) ?? []) {
    const key = sample.labels[by] ?? "";
    out[key] = (out[key] ?? 0) + sample.value;
  }
  return out;
}

/** `after − before`, per key. */
export function difference(
  after: Record<string, number>,
  before: Record<string, number>,
): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
}
