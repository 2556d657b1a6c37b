/**
 * The grid definition: which jobs the benchmark runs. A cell is one job — one few-shot draw (task,
 * shots, seed) with every method of the grid on it — so the methods of a cell share the real images,
 * the classifier seed and the test images, and their gains pair by seed. The dataset seed draws the
 * few-shot images, and the job's one seed (the same number) drives fine-tuning, generation and
 * classifier training: each seed is a different draw, as in the paper's per-shot × seed runs.
 *
 * Each method of a cell carries a fingerprint of everything that determines its result (the dataset
 * request, the classifier, the method request with the budget applied), so a finished method is
 * recognised on a re-run and a changed configuration is not mistaken for a finished one.
 */
import { createHash } from "node:crypto";
import { UsageError } from "../../cli/args.js";
import type { BuiltinDatasetRequest, MethodRequest } from "../../cli/client/types.js";
import { canonicalJson } from "../../services/gateway/src/orchestrator/planner.js";
import { PRESETS } from "../../services/gateway/src/presets.js";
import { AUTO_PRESET, DEFAULT_SEARCH } from "../../services/gateway/src/search/search-spec.js";
import { type GridConfig, type GridTask, type Json, setPath } from "./config.js";

/** Bumped when the meaning of a fingerprint changes (old cells then count as stale). */
const FINGERPRINT_VERSION = 1;

/** One method of a cell. */
export interface CellMethod {
  /** Unique in the cell: the preset id, or `<preset>-s<strength %>-p<p %>` for a sweep variant. */
  readonly label: string;
  readonly preset: string;
  readonly kind: "diffda" | "baseline";
  /** The method as the job request sends it (label included). */
  readonly request: MethodRequest;
  readonly fingerprint: string;
  /** The swept values of a sweep variant. */
  readonly sweep?: { readonly strength: number; readonly replaceProbability: number };
}

/** One job of the benchmark. */
export interface Cell {
  /** File name stem: `seen-5shot-seed0`, `sweep-da-fusion-seen-5shot-seed0`. */
  readonly id: string;
  readonly kind: "grid" | "sweep";
  readonly task: GridTask;
  readonly shots: number;
  readonly seed: number;
  readonly dataset: BuiltinDatasetRequest;
  readonly classifier: Readonly<Record<string, Json>>;
  /** Baselines first, then the DiffDA methods in table order. */
  readonly methods: readonly CellMethod[];
}

/** What a run covers, from the command line. */
export interface Selection {
  readonly tasks: readonly string[];
  readonly shots: readonly number[];
  readonly seeds: readonly number[];
  /** Seeds of the sweep (`--seeds` when given, else the sweep's own). */
  readonly sweepSeeds: readonly number[];
  /** DiffDA methods (baselines always run: every gain is measured against them). */
  readonly methods: readonly string[];
  readonly grid: boolean;
  readonly sweep: boolean;
}

/** Options as parsed from flags (undefined: the configuration's). */
export interface SelectionOptions {
  readonly tasks?: readonly string[];
  readonly shots?: readonly number[];
  readonly seeds?: readonly number[];
  readonly methods?: readonly string[];
  readonly sweep?: boolean;
  readonly sweepOnly?: boolean;
}

/** Checks the options against the configuration; an unknown task, shot count or method is a usage error. */
export function resolveSelection(config: GridConfig, options: SelectionOptions): Selection {
  const taskIds = config.tasks.map((t) => t.id);
  for (const task of options.tasks ?? []) {
    if (!taskIds.includes(task))
      throw new UsageError(`unknown task ${JSON.stringify(task)}; the grid's tasks: ${taskIds.join(", ")}`);
  }
  for (const shots of options.shots ?? []) {
    if (!config.shots.includes(shots))
      throw new UsageError(`${shots} shots is not in the grid; its shots: ${config.shots.join(", ")}`);
  }
  const known = [...config.baselines, ...config.methods];
  for (const method of options.methods ?? []) {
    if (!known.includes(method))
      throw new UsageError(
        `unknown method ${JSON.stringify(method)}; the grid's methods: ${known.join(", ")}`,
      );
  }
  const methods = options.methods?.filter((m) => config.methods.includes(m)) ?? config.methods;
  if (options.methods !== undefined && methods.length === 0)
    throw new UsageError("--methods names no DiffDA method (the baselines always run beside them)");
  if (options.sweepOnly && config.sweep === null) throw new UsageError("the configuration defines no sweep");
  return {
    tasks: options.tasks ?? taskIds,
    shots: options.shots ?? config.shots,
    seeds: options.seeds ?? config.seeds,
    sweepSeeds: options.seeds ?? config.sweep?.seeds ?? [],
    methods,
    grid: !options.sweepOnly,
    sweep: (options.sweep || options.sweepOnly) === true && config.sweep !== null,
  };
}

function fingerprint(parts: unknown): string {
  return createHash("sha256")
    .update(canonicalJson({ version: FINGERPRINT_VERSION, ...(parts as object) }))
    .digest("hex")
    .slice(0, 16);
}

/**
 * The budget entries applied to a method request (a deep copy). The auto method's search tries its presets
 * with their budget entries, so a candidate costs what the same preset costs in the grid.
 */
function methodRequest(config: GridConfig, preset: string, label: string): MethodRequest {
  if (preset === AUTO_PRESET) {
    const search = structuredClone(config.auto ?? {}) as Record<string, Json>;
    const presets = (search.presets as string[] | undefined) ?? DEFAULT_SEARCH.presets;
    search.presets = presets.map((id) => {
      const { label: _label, ...overrides } = methodRequest(config, id, id);
      return overrides as Json;
    });
    return { preset, label, search } as MethodRequest;
  }
  const request: Record<string, unknown> = { preset, label };
  for (const entry of config.budget) {
    if (entry.methods?.includes(preset)) setPath(request, entry.path, structuredClone(entry.value));
  }
  return request as MethodRequest;
}

/** The job-level settings (classifier, dataset) with the budget applied. */
function jobSettings(config: GridConfig): {
  classifier: Record<string, Json>;
  dataset: Record<string, Json>;
} {
  const settings = { classifier: structuredClone(config.classifier) as Record<string, Json>, dataset: {} };
  for (const entry of config.budget) {
    if (entry.methods === undefined) setPath(settings, entry.path, structuredClone(entry.value));
  }
  return settings;
}

function kindOf(preset: string): "diffda" | "baseline" {
  if (preset === AUTO_PRESET) return "diffda";
  const found = PRESETS.find((p) => p.id === preset);
  if (found === undefined) throw new Error(`unknown preset ${preset}`);
  return found.kind;
}

function makeCell(
  config: GridConfig,
  kind: Cell["kind"],
  id: string,
  task: GridTask,
  shots: number,
  seed: number,
  methods: readonly { label: string; preset: string; request: MethodRequest; sweep?: CellMethod["sweep"] }[],
): Cell {
  const { classifier, dataset: datasetSettings } = jobSettings(config);
  const dataset: BuiltinDatasetRequest = {
    builtin: task.dataset,
    shots,
    seed,
    classes: [...task.classes],
    ...(datasetSettings as Partial<BuiltinDatasetRequest>),
  };
  return {
    id,
    kind,
    task,
    shots,
    seed,
    dataset: { ...dataset, name: `bench-grid ${task.id} ${shots}-shot seed ${seed}` },
    classifier,
    methods: methods.map((m) => ({
      ...m,
      kind: kindOf(m.preset),
      fingerprint: fingerprint({ dataset, classifier, method: m.request }),
    })),
  };
}

/** The file stem of a grid cell. */
function gridCellId(task: string, shots: number, seed: number): string {
  return `${task}-${shots}shot-seed${seed}`;
}

/** The grid's cells for a selection, ordered shots → seed → task (a stop part-way leaves whole seeds). */
export function gridCells(config: GridConfig, selection: Selection): Cell[] {
  if (!selection.grid) return [];
  const cells: Cell[] = [];
  for (const shots of config.shots.filter((s) => selection.shots.includes(s))) {
    for (const seed of selection.seeds) {
      for (const task of config.tasks.filter((t) => selection.tasks.includes(t.id))) {
        const presets = [...config.baselines, ...config.methods.filter((m) => selection.methods.includes(m))];
        cells.push(
          makeCell(
            config,
            "grid",
            gridCellId(task.id, shots, seed),
            task,
            shots,
            seed,
            presets.map((preset) => ({
              label: preset,
              preset,
              request: methodRequest(config, preset, preset),
            })),
          ),
        );
      }
    }
  }
  return cells;
}

/** The label of a sweep variant: `da-fusion-s70-p30` for strength 0.7 and p 0.3. */
export function sweepLabel(method: string, strength: number, p: number): string {
  const pct = (x: number) => String(Math.round(x * 100));
  return `${method}-s${pct(strength)}-p${pct(p)}`;
}

/** The sweep's cells (one job per seed holding every strength × p variant), or none. */
export function sweepCells(config: GridConfig, selection: Selection): Cell[] {
  const sweep = config.sweep;
  if (!selection.sweep || sweep === null) return [];
  const task = config.tasks.find((t) => t.id === sweep.task);
  if (task === undefined) throw new Error(`sweep task ${sweep.task} is not a task`);
  return selection.sweepSeeds.map((seed) => {
    const variants = sweep.strength.flatMap((strength) =>
      sweep.replaceProbability.map((p) => {
        const label = sweepLabel(sweep.method, strength, p);
        const request = methodRequest(config, sweep.method, label);
        setPath(request as Record<string, unknown>, "generation.strength", strength);
        setPath(request as Record<string, unknown>, "utilization.replaceProbability", p);
        return { label, preset: sweep.method, request, sweep: { strength, replaceProbability: p } };
      }),
    );
    const baselines = sweep.baselines.map((preset) => ({
      label: preset,
      preset,
      request: methodRequest(config, preset, preset),
    }));
    return makeCell(
      config,
      "sweep",
      `sweep-${sweep.method}-${gridCellId(task.id, sweep.shots, seed)}`,
      task,
      sweep.shots,
      seed,
      [...baselines, ...variants],
    );
  });
}

/** Where a stored cell sits in the grid. */
export interface CellPlace {
  readonly id: string;
  readonly kind: Cell["kind"];
  readonly task: string;
  readonly shots: number;
  readonly seed: number;
}

/** The cell the configuration defines at a stored cell's place (every method), or undefined if none. */
export function cellFor(config: GridConfig, place: CellPlace): Cell | undefined {
  const everything: Selection = {
    tasks: [place.task],
    shots: [place.shots],
    seeds: [place.seed],
    sweepSeeds: [place.seed],
    methods: config.methods,
    grid: place.kind === "grid",
    sweep: place.kind === "sweep",
  };
  const cells = place.kind === "grid" ? gridCells(config, everything) : sweepCells(config, everything);
  return cells.find((c) => c.id === place.id);
}
