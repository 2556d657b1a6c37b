/**
 * The results table (`bench/results/diffda-grid.json`) from the stored cells: per (task, shots, method)
 * the top-1 mean ± std over seeds, the gain over each baseline paired by seed, and the cost in CPU seconds
 * (per stage, per synthetic image) averaged over the jobs; the sweep's strength × p grid; and what ran.
 * Only methods stored under the fingerprint the current configuration gives them count; the others are
 * reported as stale and left out.
 */
import type { MethodCpu } from "../../cli/client/types.js";
import { cellFor } from "./cells.js";
import type { GridConfig } from "./config.js";
import { type MeanStd, meanStd, pairedGain, type SeedStats, seedStats } from "./stats.js";
import { type CellRecord, cellStatus, roundNumbers, type StoredMethod } from "./store.js";

/** Format of the table file. */
const TABLE_FORMAT = 1;

/** CPU figures of a row: each averaged over the row's jobs (one per seed). */
export type RowCost = { readonly [K in Exclude<keyof MethodCpu, "finetuneSharedWith">]: MeanStd } & {
  /** Synthetic images one job generated for the method. */
  readonly syntheticImages: MeanStd;
  /** Methods sharing the fine-tuning task (whose CPU is counted in full for each). */
  readonly finetuneSharedWith: readonly string[];
};

/** One (task, shots, method). */
export interface TableRow {
  readonly task: string;
  readonly shots: number;
  readonly method: string;
  readonly kind: "diffda" | "baseline";
  readonly top1: SeedStats;
  /** Gain over each baseline, paired by seed (null for the baseline itself). */
  readonly gains: Readonly<Record<string, SeedStats | null>>;
  readonly cost: RowCost;
}

/** One variant of the sweep. */
interface SweepRow {
  readonly label: string;
  readonly strength: number;
  readonly replaceProbability: number;
  readonly top1: SeedStats;
  /** Over the sweep's first baseline, paired by seed. */
  readonly gain: SeedStats | null;
  readonly cpuSecondsPerSyntheticImage: MeanStd;
}

/** The sweep's results. */
export interface SweepTable {
  readonly method: string;
  readonly task: string;
  readonly shots: number;
  readonly baseline: string;
  readonly baselineTop1: SeedStats | null;
  readonly strength: readonly number[];
  readonly replaceProbability: readonly number[];
  readonly rows: readonly SweepRow[];
}

/** A job the table's figures come from. */
interface TableJob {
  readonly cell: string;
  readonly id: string;
  readonly methods: number;
  readonly wallSeconds: number | null;
  readonly cpuSeconds: number | null;
}

/** The whole table. */
export interface GridTable {
  readonly format: number;
  readonly name: string;
  readonly generatedAt: string;
  readonly tasks: readonly { id: string; title: string; classes: readonly string[] }[];
  readonly shots: readonly number[];
  readonly baselines: readonly string[];
  readonly methods: readonly string[];
  readonly rows: readonly TableRow[];
  readonly sweep: SweepTable | null;
  readonly jobs: readonly TableJob[];
  /** Stored method results left out because the configuration now gives them another fingerprint. */
  readonly staleResults: number;
}

/** Method results of the stored cells that match the configuration, by cell. */
function currentResults(
  config: GridConfig,
  records: readonly CellRecord[],
  modelDigest: string | null,
): { cells: { record: CellRecord; methods: StoredMethod[] }[]; stale: number } {
  const cells: { record: CellRecord; methods: StoredMethod[] }[] = [];
  let stale = 0;
  for (const record of records) {
    const cell = cellFor(config, record);
    if (cell === undefined) continue;
    const { done } = cellStatus(cell, record, modelDigest);
    stale += Object.keys(record.methods).length - done.length;
    cells.push({ record, methods: done.map((m) => record.methods[m.label]) });
  }
  return { cells, stale };
}

function cpuStats(methods: readonly StoredMethod[], pick: (cpu: MethodCpu) => number | null): MeanStd {
  return meanStd(methods.map((m) => (m.cpuSeconds === null ? null : pick(m.cpuSeconds))));
}

function rowCost(methods: readonly StoredMethod[]): RowCost {
  return {
    finetune: cpuStats(methods, (c) => c.finetune),
    generate: cpuStats(methods, (c) => c.generate),
    train: cpuStats(methods, (c) => c.train),
    evaluate: cpuStats(methods, (c) => c.evaluate),
    total: cpuStats(methods, (c) => c.total),
    perSyntheticImage: cpuStats(methods, (c) => c.perSyntheticImage),
    perSyntheticImageWithFinetune: cpuStats(methods, (c) => c.perSyntheticImageWithFinetune),
    syntheticImages: meanStd(methods.map((m) => m.generation?.images ?? 0)),
    finetuneSharedWith: [...new Set(methods.flatMap((m) => m.cpuSeconds?.finetuneSharedWith ?? []))].sort(),
  };
}

/** Top-1 by seed of one label over cells. */
function bySeed(cells: readonly { record: CellRecord; methods: StoredMethod[] }[], label: string) {
  const out = new Map<number, number>();
  for (const { record, methods } of cells) {
    const found = methods.find((m) => m.label === label);
    if (found !== undefined) out.set(record.seed, found.top1);
  }
  return out;
}

function gridRows(config: GridConfig, cells: { record: CellRecord; methods: StoredMethod[] }[]): TableRow[] {
  const rows: TableRow[] = [];
  for (const shots of config.shots) {
    for (const task of config.tasks) {
      const here = cells.filter(
        (c) => c.record.kind === "grid" && c.record.task === task.id && c.record.shots === shots,
      );
      if (here.length === 0) continue;
      for (const method of [...config.baselines, ...config.methods]) {
        const stored = here.flatMap((c) => c.methods.filter((m) => m.label === method));
        if (stored.length === 0) continue;
        const own = bySeed(here, method);
        rows.push({
          task: task.id,
          shots,
          method,
          kind: stored[0].kind,
          top1: seedStats(own),
          gains: Object.fromEntries(
            config.baselines.map((b) => [b, b === method ? null : pairedGain(own, bySeed(here, b))]),
          ),
          cost: rowCost(stored),
        });
      }
    }
  }
  return rows;
}

function sweepTable(
  config: GridConfig,
  cells: { record: CellRecord; methods: StoredMethod[] }[],
): SweepTable | null {
  const sweep = config.sweep;
  if (sweep === null) return null;
  const here = cells.filter(
    (c) => c.record.kind === "sweep" && c.record.task === sweep.task && c.record.shots === sweep.shots,
  );
  if (here.length === 0) return null;
  const baseline = sweep.baselines[0];
  const reference = bySeed(here, baseline);
  const rows: SweepRow[] = [];
  for (const strength of sweep.strength) {
    for (const p of sweep.replaceProbability) {
      const stored = here.flatMap((c) =>
        c.methods.filter((m) => m.sweep?.strength === strength && m.sweep.replaceProbability === p),
      );
      if (stored.length === 0) continue;
      const label = stored[0].label;
      const own = bySeed(here, label);
      rows.push({
        label,
        strength,
        replaceProbability: p,
        top1: seedStats(own),
        gain: reference.size > 0 ? pairedGain(own, reference) : null,
        cpuSecondsPerSyntheticImage: cpuStats(stored, (c) => c.perSyntheticImage),
      });
    }
  }
  return {
    method: sweep.method,
    task: sweep.task,
    shots: sweep.shots,
    baseline,
    baselineTop1: reference.size > 0 ? seedStats(reference) : null,
    strength: sweep.strength,
    replaceProbability: sweep.replaceProbability,
    rows,
  };
}

/** Builds the table from the stored cells (those of other configurations are ignored). */
export function buildTable(
  config: GridConfig,
  records: readonly CellRecord[],
  options: { modelDigest?: string | null; now?: Date } = {},
): GridTable {
  const { cells, stale } = currentResults(config, records, options.modelDigest ?? null);
  const jobs: TableJob[] = cells.flatMap(({ record }) =>
    record.jobs.map((job) => {
      const cpu = Object.values(job.stages).map((s) => s.cpuSeconds ?? null);
      return {
        cell: record.id,
        id: job.id,
        methods: job.methods.length,
        wallSeconds: job.wallSeconds,
        cpuSeconds: cpu.some((c) => c === null) ? null : cpu.reduce((a: number, b) => a + (b ?? 0), 0),
      };
    }),
  );
  return roundNumbers({
    format: TABLE_FORMAT,
    name: config.name,
    generatedAt: (options.now ?? new Date()).toISOString(),
    tasks: config.tasks.map((t) => ({ id: t.id, title: t.title, classes: t.classes })),
    shots: config.shots,
    baselines: config.baselines,
    methods: [...config.baselines, ...config.methods],
    rows: gridRows(config, cells),
    sweep: sweepTable(config, cells),
    jobs,
    staleResults: stale,
  });
}
