/**
 * The grid configuration (`bench/grid/grid.json`): the tasks, shots, seeds and methods of the benchmark,
 * the classifier recipe, and the miniature budget. Every budget entry is at once an override the jobs
 * apply and a documented deviation from the paper (its value there, and why it differs here), so the
 * two cannot drift apart; the loader checks each entry's paper value against the preset it overrides.
 */
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BASELINE_IDS, DIFFDA_IDS, PRESETS } from "../../services/gateway/src/presets.js";
import { AUTO_PRESET } from "../../services/gateway/src/search/search-spec.js";
import { BUILTIN_DATASETS } from "../../shared/data/index.js";

/** The committed grid configuration. */
export const DEFAULT_CONFIG = join(dirname(fileURLToPath(import.meta.url)), "grid.json");

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A few-shot task on a built-in dataset. */
export interface GridTask {
  /** Short id used in cell names and flags (`seen`, `novel`, `ood`). */
  readonly id: string;
  readonly title: string;
  readonly description: string;
  /** The built-in dataset the task draws from: the task's `dataset`, else the configuration's. */
  readonly dataset: string;
  /** The dataset's classes, by name, in label order. */
  readonly classes: readonly string[];
}

/**
 * One deviation from the paper that the jobs apply: `value` at `path` (in a method request for
 * `finetuning.*`, `generation.*`, `utilization.*`; in the job's classifier for `classifier.*`; in the
 * dataset request for `dataset.*`), for `methods` when the path is a method's.
 */
interface BudgetEntry {
  readonly path: string;
  readonly value: Json;
  /** The paper's value: a number or boolean checked against the presets, or a description. */
  readonly paper: Json;
  readonly methods?: readonly string[];
  readonly reason: string;
}

/** A deviation the jobs cannot override (the bundled kit instead of Stable Diffusion, the classifier …). */
interface Note {
  readonly what: string;
  readonly paper: string;
  readonly here: string;
  readonly reason: string;
}

/** A strength × replacement-probability sweep of one method on one task. */
interface SweepConfig {
  readonly method: string;
  readonly task: string;
  readonly shots: number;
  readonly seeds: readonly number[];
  readonly strength: readonly number[];
  readonly replaceProbability: readonly number[];
  /** Baselines run beside the variants (gains are over the first). */
  readonly baselines: readonly string[];
}

/** Per-unit CPU costs measured on this machine, for `--dry-run`'s time estimate. */
export interface Calibration {
  /** When, where and how the figures were measured. */
  readonly measured: string;
  /** Generation CPU seconds per synthetic image, per method (at this config's budget). */
  readonly cpuSecondsPerSyntheticImage: Readonly<Record<string, number>>;
  /** Fine-tuning CPU seconds per optimizer step of each stage. */
  readonly cpuSecondsPerFinetuneStep: { readonly textualInversion: number; readonly lora: number };
  /** Fixed CPU seconds of one fine-tuning task (model load, image encoding). */
  readonly cpuSecondsPerFinetuneTask: number;
  /** Classifier training CPU seconds per image per epoch (at this config's batch size). */
  readonly cpuSecondsPerTrainImageEpoch: number;
  /** Classifier CPU seconds per epoch besides the images (the epoch-end accuracy pass, its session). */
  readonly cpuSecondsPerTrainEpoch: number;
  /** Evaluation CPU seconds per test image. */
  readonly cpuSecondsPerTestImage: number;
  /** A job's wall seconds per CPU second its services reported (2 cores, overlapping services). */
  readonly wallSecondsPerCpuSecond: number;
  /** Wall seconds to start the embedded stack. */
  readonly stackStartSeconds: number;
}

/** The whole configuration. */
export interface GridConfig {
  readonly name: string;
  readonly description: string;
  /** Built-in dataset of the tasks that name none. */
  readonly dataset: string;
  readonly tasks: readonly GridTask[];
  readonly shots: readonly number[];
  readonly seeds: readonly number[];
  /** Baseline presets (always run; gains are reported over each). */
  readonly baselines: readonly string[];
  /** DiffDA presets, in table order; `auto` runs the service's own search (see `auto`). */
  readonly methods: readonly string[];
  /** The search of the `auto` method (its presets take the budget entries of theirs); null: the service's defaults. */
  readonly auto: Readonly<Record<string, Json>> | null;
  /** The job's classifier settings before budget entries. */
  readonly classifier: Readonly<Record<string, Json>>;
  readonly budget: readonly BudgetEntry[];
  readonly notes: readonly Note[];
  readonly sweep: SweepConfig | null;
  readonly calibration: Calibration | null;
}

/** A configuration that cannot be used; the message names the field. */
export class GridConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GridConfigError";
  }
}

const METHOD_ROOTS = new Set(["finetuning", "generation", "utilization"]);
/** Most methods one job may hold (the `methods` array of `POST /v1/jobs`). */
const MAX_JOB_METHODS = 16;
const JOB_ROOTS = new Set(["classifier", "dataset"]);

/** The value at a dotted path, or undefined. */
function getPath(value: unknown, path: string): unknown {
  let at = value;
  for (const part of path.split(".")) {
    if (typeof at !== "object" || at === null) return undefined;
    at = (at as Record<string, unknown>)[part];
  }
  return at;
}

/** Sets `value` at a dotted path of `target`, creating objects on the way. */
export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split(".");
  let at = target;
  for (const part of parts.slice(0, -1)) {
    const next = at[part];
    if (typeof next !== "object" || next === null || Array.isArray(next)) at[part] = {};
    at = at[part] as Record<string, unknown>;
  }
  at[parts[parts.length - 1]] = value;
}

function fail(field: string, message: string): never {
  throw new GridConfigError(`${field}: ${message}`);
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(field, "must be an object");
  return value as Record<string, unknown>;
}

function text(value: unknown, field: string): string {
  if (typeof value !== "string" || value.trim() === "") fail(field, "must be a non-empty string");
  return value;
}

function builtin(value: unknown, field: string): string {
  const name = text(value, field);
  if (!(BUILTIN_DATASETS as readonly string[]).includes(name))
    fail(field, `unknown built-in dataset ${JSON.stringify(name)}; known: ${BUILTIN_DATASETS.join(", ")}`);
  return name;
}

function ints(value: unknown, field: string, min: number): number[] {
  if (!Array.isArray(value) || value.length === 0) fail(field, "must be a non-empty array of integers");
  for (const v of value) if (!Number.isInteger(v) || v < min) fail(field, `${v} is not an integer ≥ ${min}`);
  if (new Set(value).size !== value.length) fail(field, "must not repeat");
  return value as number[];
}

function fractions(value: unknown, field: string): number[] {
  if (!Array.isArray(value) || value.length === 0) fail(field, "must be a non-empty array of numbers");
  for (const v of value)
    if (typeof v !== "number" || !(v > 0 && v <= 1)) fail(field, `${v} is not in (0, 1]`);
  return value as number[];
}

function presetIds(value: unknown, field: string, allowed: readonly string[], what: string): string[] {
  if (!Array.isArray(value)) fail(field, "must be an array of preset ids");
  for (const id of value) {
    if (!allowed.includes(id as string))
      fail(field, `unknown ${what} ${JSON.stringify(id)}; known: ${allowed.join(", ")}`);
  }
  if (new Set(value).size !== value.length) fail(field, "must not repeat");
  return value as string[];
}

function budgetEntry(raw: unknown, field: string, methods: readonly string[]): BudgetEntry {
  const entry = object(raw, field);
  const path = text(entry.path, `${field}.path`);
  const root = path.split(".")[0];
  if (!METHOD_ROOTS.has(root) && !JOB_ROOTS.has(root))
    fail(`${field}.path`, `must start with one of ${[...METHOD_ROOTS, ...JOB_ROOTS].join(", ")}`);
  if (!("value" in entry)) fail(`${field}.value`, "is required");
  if (!("paper" in entry)) fail(`${field}.paper`, "is required: the paper's value or a description of it");
  const reason = text(entry.reason, `${field}.reason`);
  if (!METHOD_ROOTS.has(root)) {
    if (entry.methods !== undefined) fail(`${field}.methods`, `a ${root}.* entry applies to the whole job`);
    return { path, value: entry.value as Json, paper: entry.paper as Json, reason };
  }
  const applies = presetIds(entry.methods, `${field}.methods`, methods, "method");
  if (applies.length === 0) fail(`${field}.methods`, "must name at least one method");
  for (const id of applies) {
    const preset = PRESETS.find((p) => p.id === id);
    const component = getPath(preset, root);
    if (component === null || component === undefined)
      fail(`${field}.methods`, `${id} has no ${root} component to override`);
    // A numeric or boolean paper value must be what the preset (the paper's recipe as data) holds.
    if (typeof entry.paper === "number" || typeof entry.paper === "boolean") {
      const presetValue = getPath(preset, path);
      if (presetValue !== entry.paper)
        fail(
          `${field}.paper`,
          `${id}'s preset holds ${JSON.stringify(presetValue)} at ${path}, not ${JSON.stringify(entry.paper)}`,
        );
    }
  }
  return { path, value: entry.value as Json, paper: entry.paper as Json, methods: applies, reason };
}

function note(raw: unknown, field: string): Note {
  const entry = object(raw, field);
  return {
    what: text(entry.what, `${field}.what`),
    paper: text(entry.paper, `${field}.paper`),
    here: text(entry.here, `${field}.here`),
    reason: text(entry.reason, `${field}.reason`),
  };
}

function sweepConfig(raw: unknown, tasks: readonly GridTask[], config: { methods: string[] }): SweepConfig {
  const s = object(raw, "sweep");
  const method = text(s.method, "sweep.method");
  if (!config.methods.includes(method))
    fail("sweep.method", `${JSON.stringify(method)} is not one of the grid's methods`);
  const preset = PRESETS.find((p) => p.id === method);
  if (preset?.generation?.strength === undefined || preset.utilization.replaceProbability === undefined)
    fail("sweep.method", `${method} takes no strength and replacement probability`);
  const task = text(s.task, "sweep.task");
  if (!tasks.some((t) => t.id === task)) fail("sweep.task", `unknown task ${JSON.stringify(task)}`);
  const [shots] = ints([s.shots], "sweep.shots", 1);
  const strength = fractions(s.strength, "sweep.strength");
  const replaceProbability = fractions(s.replaceProbability, "sweep.replaceProbability");
  const baselines = presetIds(
    s.baselines ?? ["no-augmentation"],
    "sweep.baselines",
    BASELINE_IDS,
    "baseline",
  );
  if (baselines.length === 0) fail("sweep.baselines", "must name at least one baseline");
  const methods = strength.length * replaceProbability.length + baselines.length;
  if (methods > MAX_JOB_METHODS)
    fail("sweep", `${methods} methods in one job; a job holds at most ${MAX_JOB_METHODS} (POST /v1/jobs)`);
  return {
    method,
    task,
    shots,
    seeds: ints(s.seeds, "sweep.seeds", 0),
    strength,
    replaceProbability,
    baselines,
  };
}

function calibration(raw: unknown): Calibration | null {
  if (raw === undefined || raw === null) return null;
  const c = object(raw, "calibration");
  const number = (value: unknown, field: string) => {
    if (typeof value !== "number" || !(value >= 0)) fail(field, "must be a number ≥ 0");
    return value;
  };
  const perImage = object(c.cpuSecondsPerSyntheticImage, "calibration.cpuSecondsPerSyntheticImage");
  const perStep = object(c.cpuSecondsPerFinetuneStep, "calibration.cpuSecondsPerFinetuneStep");
  return {
    measured: text(c.measured, "calibration.measured"),
    cpuSecondsPerSyntheticImage: Object.fromEntries(
      Object.entries(perImage).map(([k, v]) => [
        k,
        number(v, `calibration.cpuSecondsPerSyntheticImage.${k}`),
      ]),
    ),
    cpuSecondsPerFinetuneStep: {
      textualInversion: number(
        perStep.textualInversion,
        "calibration.cpuSecondsPerFinetuneStep.textualInversion",
      ),
      lora: number(perStep.lora, "calibration.cpuSecondsPerFinetuneStep.lora"),
    },
    cpuSecondsPerFinetuneTask: number(c.cpuSecondsPerFinetuneTask, "calibration.cpuSecondsPerFinetuneTask"),
    cpuSecondsPerTrainImageEpoch: number(
      c.cpuSecondsPerTrainImageEpoch,
      "calibration.cpuSecondsPerTrainImageEpoch",
    ),
    cpuSecondsPerTrainEpoch: number(c.cpuSecondsPerTrainEpoch, "calibration.cpuSecondsPerTrainEpoch"),
    cpuSecondsPerTestImage: number(c.cpuSecondsPerTestImage, "calibration.cpuSecondsPerTestImage"),
    wallSecondsPerCpuSecond: number(c.wallSecondsPerCpuSecond, "calibration.wallSecondsPerCpuSecond"),
    stackStartSeconds: number(c.stackStartSeconds, "calibration.stackStartSeconds"),
  };
}

/** The auto method's search: its presets must be DiffDA presets (the gateway checks the rest). */
function autoConfig(raw: unknown): Record<string, Json> {
  const auto = object(raw, "auto") as Record<string, Json>;
  if (auto.presets !== undefined) presetIds(auto.presets, "auto.presets", DIFFDA_IDS, "DiffDA preset");
  return auto;
}

/** Checks a parsed configuration and returns it typed. */
export function parseGridConfig(raw: unknown): GridConfig {
  const c = object(raw, "config");
  const dataset = builtin(c.dataset, "dataset");
  const taskList = c.tasks;
  if (!Array.isArray(taskList) || taskList.length === 0) fail("tasks", "must be a non-empty array");
  const tasks = taskList.map((t, i): GridTask => {
    const task = object(t, `tasks[${i}]`);
    const id = text(task.id, `tasks[${i}].id`);
    if (!/^[a-z0-9][a-z0-9-]*$/.test(id)) fail(`tasks[${i}].id`, "must be lower-case letters, digits and -");
    const classes = task.classes;
    if (!Array.isArray(classes) || classes.length < 2 || classes.some((x) => typeof x !== "string"))
      fail(`tasks[${i}].classes`, "must list at least two class names");
    return {
      id,
      title: text(task.title, `tasks[${i}].title`),
      description: text(task.description, `tasks[${i}].description`),
      dataset: task.dataset === undefined ? dataset : builtin(task.dataset, `tasks[${i}].dataset`),
      classes: classes as string[],
    };
  });
  if (new Set(tasks.map((t) => t.id)).size !== tasks.length) fail("tasks", "ids must not repeat");
  const baselines = presetIds(c.baselines, "baselines", BASELINE_IDS, "baseline");
  if (baselines.length === 0)
    fail("baselines", "must name at least one baseline: gains are measured over them");
  const methods = presetIds(c.methods, "methods", [...DIFFDA_IDS, AUTO_PRESET], "DiffDA method");
  const all = [...baselines, ...methods];
  const budgetList = c.budget ?? [];
  if (!Array.isArray(budgetList)) fail("budget", "must be an array");
  const notes = c.notes ?? [];
  if (!Array.isArray(notes)) fail("notes", "must be an array");
  return {
    name: text(c.name, "name"),
    description: text(c.description, "description"),
    dataset,
    tasks,
    shots: ints(c.shots, "shots", 1),
    seeds: ints(c.seeds, "seeds", 0),
    baselines,
    methods,
    classifier: object(c.classifier ?? {}, "classifier") as Record<string, Json>,
    budget: budgetList.map((b, i) => budgetEntry(b, `budget[${i}]`, all)),
    notes: notes.map((n, i) => note(n, `notes[${i}]`)),
    sweep: c.sweep === undefined || c.sweep === null ? null : sweepConfig(c.sweep, tasks, { methods }),
    auto: c.auto === undefined || c.auto === null ? null : autoConfig(c.auto),
    calibration: calibration(c.calibration),
  };
}

/** Reads and checks a configuration file. */
export async function loadGridConfig(path = DEFAULT_CONFIG): Promise<GridConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new GridConfigError(`${path}: ${(error as Error).message}`);
  }
  try {
    return parseGridConfig(raw);
  } catch (error) {
    if (error instanceof GridConfigError) throw new GridConfigError(`${path}: ${error.message}`);
    throw error;
  }
}
