/**
 * Job files: a `POST /v1/jobs` body in a JSON file, where the dataset may be named inline — `dataset` holds
 * a built-in few-shot task (`{"builtin": "fashion-mnist", "shots": 5, …}`) that is registered first — so
 * one committed file reproduces a whole run. `$comment` keys are dropped.
 */
import { readFile } from "node:fs/promises";
import type { BuiltinDatasetRequest, JobRequest } from "./types.js";

/** A job file's content. */
export interface JobFile {
  /** The job request without `datasetId` (unless the file names one). */
  readonly request: Omit<JobRequest, "datasetId"> & { datasetId?: string };
  /** A built-in task to register and run on. */
  readonly dataset: BuiltinDatasetRequest | undefined;
}

function stripComments(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripComments);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key]) => key !== "$comment")
        .map(([key, inner]) => [key, stripComments(inner)]),
    );
  }
  return value;
}

/** Parses a job file's text; `source` names it in errors. */
export function parseJobFile(text: string, source = "job file"): JobFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source}: not JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(`${source}: expected a JSON object`);
  }
  const { dataset, ...request } = stripComments(parsed) as Record<string, unknown>;
  if (!Array.isArray(request.methods) || request.methods.length === 0) {
    throw new Error(`${source}: "methods" must list at least one method`);
  }
  if (dataset !== undefined && (typeof dataset !== "object" || dataset === null || !("builtin" in dataset))) {
    throw new Error(
      `${source}: "dataset" must be a built-in task such as {"builtin": "fashion-mnist", "shots": 5}`,
    );
  }
  return {
    request: request as unknown as JobFile["request"],
    dataset: dataset as BuiltinDatasetRequest | undefined,
  };
}

/** Reads and parses a job file. */
export async function readJobFile(path: string): Promise<JobFile> {
  return parseJobFile(await readFile(path, "utf8"), path);
}
