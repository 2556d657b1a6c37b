/**
 * The store of finished cells: one small JSON file per cell (`<results>/grid/<cell id>.json`, committed
 * with the benchmark) holding each method's outcome with the fingerprint it was run under, and pending
 * markers (`<state>/pending/<cell id>.json`, not committed) naming the job a cell is waiting for, so an
 * interrupted run follows that job again instead of starting over.
 */
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { MethodCpu, SearchTrace } from "../../cli/client/types.js";
import type { Cell, CellMethod } from "./cells.js";
import type { Json } from "./config.js";

/** Version of the cell file format. */
export const CELL_FORMAT = 1;

/** One method's outcome in a cell (numbers rounded to 6 significant digits). */
export interface StoredMethod {
  readonly label: string;
  readonly preset: string;
  readonly kind: "diffda" | "baseline";
  readonly fingerprint: string;
  readonly jobId: string;
  /** SHA-256 prefix of the model kit's files when the runner could read them (embedded stack), else null. */
  readonly modelDigest: string | null;
  readonly sweep?: { readonly strength: number; readonly replaceProbability: number };
  readonly top1: number;
  readonly perClass: readonly (number | null)[];
  readonly meanLoss: number | null;
  readonly testImages: number;
  /** Synthetic images in the run's training pool. */
  readonly syntheticImages: number;
  /** Wall seconds of the classifier training. */
  readonly trainSeconds: number;
  readonly generation: { readonly images: number; readonly seconds: number } | null;
  readonly cpuSeconds: MethodCpu | null;
  /** The auto method's search trace (what it chose on validation, and on what evidence). */
  readonly search?: SearchTrace;
}

/** A job that produced some of a cell's methods. */
export interface StoredJob {
  readonly id: string;
  readonly gateway: string;
  readonly methods: readonly string[];
  readonly submittedAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly wallSeconds: number | null;
  readonly stages: Readonly<Record<string, { tasks: number; seconds: number; cpuSeconds?: number | null }>>;
}

/** A cell file. */
export interface CellRecord {
  readonly format: number;
  readonly id: string;
  readonly kind: Cell["kind"];
  readonly task: string;
  readonly shots: number;
  readonly seed: number;
  readonly classes: readonly string[];
  readonly dataset: { readonly trainCount: number; readonly testCount: number } & Record<string, Json>;
  readonly classifier: Readonly<Record<string, Json>>;
  readonly methods: Readonly<Record<string, StoredMethod>>;
  readonly jobs: readonly StoredJob[];
}

/** A submitted job a cell waits for. */
export interface PendingJob {
  readonly cell: string;
  readonly jobId: string;
  /** Which gateway holds it: its URL, or `embedded:<data dir>` (the embedded stack's port changes). */
  readonly gateway: string;
  /** Fingerprints of the methods it runs. */
  readonly fingerprints: readonly string[];
  readonly submittedAt: string;
}

/** Where a cell's file lives. */
function cellPath(resultsDir: string, id: string): string {
  return join(resultsDir, `${id}.json`);
}

/** Rounds every number of a JSON-able value to 6 significant digits (files stay small and diff well). */
export function roundNumbers<T>(value: T): T {
  if (typeof value === "number") return (Number.isFinite(value) ? Number(value.toPrecision(6)) : value) as T;
  if (Array.isArray(value)) return value.map(roundNumbers) as T;
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, roundNumbers(v)])) as T;
  }
  return value;
}

async function writeJson(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
  await rename(tmp, path);
}

/** Reads a cell file, or undefined when there is none. */
export async function readCell(resultsDir: string, id: string): Promise<CellRecord | undefined> {
  const path = cellPath(resultsDir, id);
  if (!existsSync(path)) return undefined;
  const record = JSON.parse(await readFile(path, "utf8")) as CellRecord;
  if (record.format !== CELL_FORMAT)
    throw new Error(`${path}: cell format ${record.format}, expected ${CELL_FORMAT}`);
  return record;
}

/** Writes a cell file atomically (a crash never leaves half a file that would read as finished). */
export async function writeCell(resultsDir: string, record: CellRecord): Promise<string> {
  await mkdir(resultsDir, { recursive: true });
  const path = cellPath(resultsDir, record.id);
  await writeJson(path, roundNumbers(record));
  return path;
}

/** Every cell file of a results directory. */
export async function listCells(resultsDir: string): Promise<CellRecord[]> {
  if (!existsSync(resultsDir)) return [];
  const names = (await readdir(resultsDir)).filter((n) => n.endsWith(".json")).sort();
  const records: CellRecord[] = [];
  for (const name of names) {
    const record = await readCell(resultsDir, name.slice(0, -".json".length));
    if (record !== undefined) records.push(record);
  }
  return records;
}

/** What is left to do in a cell. */
export interface CellStatus {
  /** Methods stored with the same fingerprint (and model, when both are known). */
  readonly done: readonly CellMethod[];
  /** Methods to run: missing, or stored under another fingerprint or model. */
  readonly todo: readonly CellMethod[];
  /** Labels of `todo` that are stored but stale. */
  readonly stale: readonly string[];
}

/** Compares a cell's stored methods with what the configuration asks. */
export function cellStatus(
  cell: Cell,
  record: CellRecord | undefined,
  modelDigest: string | null,
): CellStatus {
  const done: CellMethod[] = [];
  const todo: CellMethod[] = [];
  const stale: string[] = [];
  for (const method of cell.methods) {
    const stored = record?.methods[method.label];
    const sameModel =
      stored === undefined ||
      stored.modelDigest === null ||
      modelDigest === null ||
      stored.modelDigest === modelDigest;
    if (stored !== undefined && stored.fingerprint === method.fingerprint && sameModel) done.push(method);
    else {
      todo.push(method);
      if (stored !== undefined) stale.push(method.label);
    }
  }
  return { done, todo, stale };
}

/** A stored cell with new methods merged in: the new outcomes replace stale ones, finished ones stay. */
export function mergeCell(
  previous: CellRecord | undefined,
  next: Omit<CellRecord, "methods" | "jobs"> & { methods: Record<string, StoredMethod>; job: StoredJob },
): CellRecord {
  const { job, ...rest } = next;
  return {
    ...rest,
    methods: { ...(previous?.methods ?? {}), ...next.methods },
    jobs: [...(previous?.jobs ?? []), job],
  };
}

function pendingPath(stateDir: string, id: string): string {
  return join(stateDir, "pending", `${id}.json`);
}

/** The job a cell waits for, if an earlier run left one. */
export async function readPending(stateDir: string, id: string): Promise<PendingJob | undefined> {
  const path = pendingPath(stateDir, id);
  if (!existsSync(path)) return undefined;
  return JSON.parse(await readFile(path, "utf8")) as PendingJob;
}

/** Remembers the job a cell waits for. */
export async function writePending(stateDir: string, pending: PendingJob): Promise<void> {
  await mkdir(join(stateDir, "pending"), { recursive: true });
  await writeJson(pendingPath(stateDir, pending.cell), pending);
}

/** Forgets a cell's job (finished, or failed and to be resubmitted). */
export async function clearPending(stateDir: string, id: string): Promise<void> {
  await rm(pendingPath(stateDir, id), { force: true });
}
