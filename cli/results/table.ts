/**
 * The results table printed when a job ends: one row per method (baselines first) with top-1 per seed,
 * mean ± std over seeds, the gain over each baseline paired by seed, its optimizer steps and training top-1
 * (when the result has them), the synthetic images it trained on and its generation throughput; then the stages with their task count, summed task time, summed CPU
 * seconds and wall time.
 */
import type { GainInterval, Job, MeanStd, MethodResult, ResultWarning } from "../client/types.js";
import { formatDuration } from "../progress/bar.js";
import { formatMeanStd, percent, points, seconds } from "./format.js";
import { SEARCH_HEADER, searchRows, searchSummary } from "./search.js";
import { meanStd, pairedGain } from "./stats.js";

/** One method's row, as numbers (the HTML report formats the same rows). */
interface ResultsRow {
  readonly label: string;
  readonly kind: "diffda" | "baseline";
  /** Top-1 per seed of the job's seeds, in order (null: the run has no result). */
  readonly perSeed: readonly (number | null)[];
  readonly top1: MeanStd;
  /** Gain over each baseline (label → paired mean ± std; null for the baseline itself). */
  readonly gains: Readonly<Record<string, MeanStd | null>>;
  /** The gateway's paired interval of the gain over the reference baseline (null: none). */
  readonly interval: GainInterval | null;
  /** Synthetic images in one run's training set (the first seed's). */
  readonly syntheticImages: number;
  readonly imagesPerSecond: number | null;
  readonly trainSeconds: MeanStd;
  /** Optimizer steps of a run (the first seed's; null: the result predates them). */
  readonly steps: number | null;
  /** Top-1 on its own training images at the end of training, over seeds (how well the classifier fit). */
  readonly trainTop1: MeanStd;
}

/** The table's data. */
export interface ResultsData {
  readonly seeds: readonly number[];
  readonly baselines: readonly string[];
  readonly rows: readonly ResultsRow[];
  readonly classes: readonly string[];
  readonly testImages: number | null;
  /** The baseline the intervals are against (the gateway's reference), null when no row has one. */
  readonly intervalBaseline: string | null;
  /** Whether the result carries each run's compute and fit (steps, training top-1). */
  readonly hasCompute: boolean;
  readonly warnings: readonly ResultWarning[];
}

/** An interval in points, `[-1.2, +3.4]`; `—` when missing. */
export function formatInterval(interval: GainInterval | null): string {
  return interval === null ? "—" : `[${points(interval.low, 1)}, ${points(interval.high, 1)}]`;
}

/** The rows of a succeeded job's result. */
export function resultsData(job: Pick<Job, "spec" | "result">): ResultsData {
  const result = job.result;
  if (result === null) throw new Error("the job has no result (it did not succeed)");
  const seeds = job.spec.seeds;
  const baselines = result.methods.filter((m) => m.kind === "baseline");
  const rows = result.methods.map((method: MethodResult): ResultsRow => {
    const bySeed = new Map(method.runs.map((run) => [run.seed, run]));
    return {
      label: method.label,
      kind: method.kind,
      perSeed: seeds.map((seed) => bySeed.get(seed)?.top1Accuracy ?? null),
      top1: method.top1Accuracy,
      gains: Object.fromEntries(
        baselines.map((baseline) => [
          baseline.label,
          baseline.label === method.label ? null : pairedGain(method, baseline),
        ]),
      ),
      interval: method.gainOverBaseline?.interval ?? null,
      syntheticImages: method.runs[0]?.syntheticImages ?? 0,
      imagesPerSecond: method.generation?.imagesPerSecond ?? null,
      trainSeconds: meanStd(method.runs.map((run) => run.trainSeconds)),
      steps: method.runs[0]?.steps ?? null,
      trainTop1: meanStd(method.runs.map((run) => run.finalTrainAccuracy)),
    };
  });
  const testImages = result.methods[0]?.runs[0]?.sampleCount ?? null;
  const intervalBaseline =
    result.methods.find((m) => m.gainOverBaseline?.interval != null)?.gainOverBaseline?.baseline ?? null;
  return {
    seeds,
    baselines: baselines.map((b) => b.label),
    rows,
    classes: result.classes,
    testImages,
    intervalBaseline,
    hasCompute: rows.some((row) => row.steps !== null),
    warnings: result.warnings ?? [],
  };
}

type Align = "left" | "right";

/** Columns padded to their widest cell, two spaces apart, with a rule under the header. */
export function renderTextTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly Align[],
): string {
  const width = header.map((h, c) => Math.max(h.length, ...rows.map((row) => (row[c] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, c) => (align[c] === "right" ? cell.padStart(width[c]) : cell.padEnd(width[c])))
      .join("  ")
      .trimEnd();
  return [line(header), width.map((w) => "─".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** Options of {@link formatResultsTable}. */
export interface TableOptions {
  /** Wall seconds per stage measured from the event stream. */
  readonly wallSeconds?: Partial<Record<string, number>>;
  /** The whole job's wall time. */
  readonly jobSeconds?: number;
}

/** The results of a succeeded job as text. */
export function formatResultsTable(job: Pick<Job, "spec" | "result">, options: TableOptions = {}): string {
  const data = resultsData(job);
  const header = [
    "method",
    ...data.seeds.map((seed) => `seed ${seed}`),
    "mean ± std",
    ...data.baselines.map((b) => `Δ ${b}`),
    ...(data.intervalBaseline !== null ? [`95% CI Δ ${data.intervalBaseline}`] : []),
    ...(data.hasCompute ? ["steps", "train top-1"] : []),
    "synthetic",
    "gen img/s",
  ];
  const rows = data.rows.map((row) => [
    row.kind === "baseline" ? `${row.label} (baseline)` : row.label,
    ...row.perSeed.map((v) => percent(v)),
    formatMeanStd(row.top1),
    ...data.baselines.map((b) => {
      const gain = row.gains[b];
      return gain === null || gain === undefined ? "—" : formatMeanStd(gain, { signed: true });
    }),
    ...(data.intervalBaseline !== null ? [formatInterval(row.interval)] : []),
    ...(data.hasCompute ? [row.steps === null ? "—" : String(row.steps), formatMeanStd(row.trainTop1)] : []),
    String(row.syntheticImages),
    row.imagesPerSecond === null ? "—" : row.imagesPerSecond.toFixed(2),
  ]);
  const align: Align[] = header.map((_, c) => (c === 0 ? "left" : "right"));
  const title = `Top-1 accuracy (%)${data.testImages !== null ? ` on ${data.testImages} test images` : ""}, ${data.classes.length} classes, seeds ${data.seeds.join(", ")}; Δ in points, paired by seed`;

  const stages = Object.entries(job.result?.stages ?? {});
  const order = ["finetune", "generate", "train", "evaluate", "summarize"];
  stages.sort(([a], [b]) => order.indexOf(a) - order.indexOf(b));
  const stageRows = stages.map(([stage, s]) => [
    stage,
    String(s.tasks),
    seconds(s.seconds),
    seconds(s.cpuSeconds),
    options.wallSeconds?.[stage] !== undefined ? formatDuration(options.wallSeconds[stage] ?? 0) : "—",
  ]);
  const stageTable = renderTextTable(["stage", "tasks", "task time", "cpu", "wall"], stageRows, [
    "left",
    "right",
    "right",
    "right",
    "right",
  ]);
  const total =
    options.jobSeconds !== undefined ? `\nJob wall time: ${formatDuration(options.jobSeconds)}` : "";
  const warnings = data.warnings.map((w) => `\nwarning: ${w.message}`).join("");
  const intervalNote =
    data.intervalBaseline !== null
      ? "\n95% CI: paired bootstrap over seeds and test images; an interval that includes 0 does not resolve the gain."
      : "";
  const search = job.result?.search;
  const searchText =
    search == null
      ? ""
      : `\n\nSearch (${searchSummary(search)}; * the choice)\n\n${renderTextTable(SEARCH_HEADER, searchRows(search), ["left", "left", "right", "right", "right"])}`;
  return `${title}\n\n${renderTextTable(header, rows, align)}${intervalNote}${warnings}${searchText}\n\nStages (task time and cpu: summed over the stage's tasks; cpu as the services measured it)\n\n${stageTable}${total}`;
}
