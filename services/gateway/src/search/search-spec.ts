/**
 * The `auto` method: instead of naming a preset, a job may ask the service to choose one. The request's
 * search space (presets × strengths × replacement probabilities) becomes a list of candidate methods, each a
 * fully resolved method, plus the no-augmentation reference; the planner runs them on a validation split
 * carved from the training images (successive halving over classifier seeds) and the best one, or no
 * augmentation when none beats it, then runs on the whole training set and is scored on the test split
 * like any other method. docs/methods.md#auto says how it chooses.
 */

import { modeSpec } from "../../../../shared/generation-modes/specs.js";
import type { FieldIssue } from "../errors.js";
import type { MethodRequest, ResolvedMethod } from "../job-spec.js";
import { presetById } from "../presets.js";

/** The preset id a job request names to ask for the search. */
export const AUTO_PRESET = "auto";

/** A preset the search tries, by id, or with overrides of its components (its fine-tuning budget, say). */
type SearchPreset = string | Pick<MethodRequest, "preset" | "finetuning" | "generation" | "utilization">;

/** What a request may say about the search (every field optional). */
export interface SearchRequest {
  /** DiffDA presets to try (default {@link DEFAULT_SEARCH}.presets). */
  presets?: SearchPreset[];
  /** SDEdit strengths to try, for presets whose generation mode takes one. */
  strengths?: number[];
  /** Replacement probabilities p to try; a concatenating preset is tried with local replacement at p. */
  replaceProbabilities?: number[];
  /** Share of each class's training images held out to score the candidates. */
  validationFraction?: number;
  /** Rounds of successive halving; round r trains each survivor with 2^r more classifier seeds. */
  rungs?: number;
  /** How much better (top-1 on validation, 0–1) than no augmentation the best candidate must be. */
  minGain?: number;
  /**
   * Level of the paired interval of the best candidate's validation gain; it is chosen only when the
   * interval's lower end is above 0.
   */
  confidence?: number;
}

/** The search space and budget when a request names none. */
export const DEFAULT_SEARCH: Required<SearchRequest> & { presets: string[] } = {
  presets: ["real-guidance", "da-fusion", "diffusemix"],
  strengths: [0.3, 0.6, 0.9],
  replaceProbabilities: [0.2, 0.5],
  validationFraction: 0.3,
  rungs: 2,
  minGain: 0.02,
  confidence: 0.9,
};

/** The setting a candidate tries (null: the preset's own or not applicable). */
export interface CandidateSetting {
  preset: string;
  strength: number | null;
  replaceProbability: number | null;
}

/** A candidate: a resolved method (its label `<auto label>.c<k>`) and the setting it stands for. */
export interface SearchCandidate extends ResolvedMethod {
  setting: CandidateSetting;
  /**
   * The candidate whose synthetic images it trains on: candidates that differ only in utilization share
   * one generation. Its own label when it generates; null for the reference.
   */
  syntheticOf: string | null;
}

/** The search as a job's spec stores it. */
export interface SearchSpec {
  /** Label of the chosen method in the results. */
  label: string;
  /** Candidate 0 is the no-augmentation reference; every rung keeps it. */
  candidates: SearchCandidate[];
  validationFraction: number;
  /** Seed of the validation split and of the candidates' generation (the job's first seed). */
  seed: number;
  /** The classifier seeds each rung adds for the candidates it keeps. */
  rungSeeds: number[][];
  minGain: number;
  /** Absent in specs stored before it: 0.9. */
  confidence?: number;
}

/** Label of candidate k of a search. */
function candidateLabel(search: Pick<SearchSpec, "label">, k: number): string {
  return `${search.label}.c${k}`;
}

/** Candidates a request's space expands to, at most this many (each costs a generation and several runs). */
export const MAX_CANDIDATES = 24;

/** The reference preset every search compares against. */
const REFERENCE = "no-augmentation";

/**
 * Expands an `auto` method request into its search. `resolve` is the job resolver's own method resolution,
 * so a candidate is exactly what the same request would run as a preset with overrides.
 */
export function resolveSearch(
  request: MethodRequest & { search?: SearchRequest },
  label: string,
  seed: number,
  at: string,
  issues: FieldIssue[],
  resolve: (request: MethodRequest, at: string) => Omit<ResolvedMethod, "label">,
): SearchSpec | undefined {
  const space = { ...DEFAULT_SEARCH, ...request.search };
  const before = issues.length;
  for (const field of ["finetuning", "generation", "utilization", "adapters"] as const) {
    if (request[field] !== undefined)
      issues.push({
        field: `${at}/${field}`,
        message: "auto chooses the components itself; set search instead",
      });
  }
  const bases = space.presets.map((entry) => (typeof entry === "string" ? { preset: entry } : entry));
  bases.forEach(({ preset: id }, k) => {
    const preset = id === undefined ? undefined : presetById(id);
    if (preset === undefined || preset.kind !== "diffda")
      issues.push({ field: `${at}/search/presets/${k}`, message: `${id} is not a DiffDA preset` });
  });
  if (issues.length > before) return undefined;

  const candidates: SearchCandidate[] = [];
  const generators = new Map<string, string>();
  const add = (setting: CandidateSetting, method: MethodRequest, where: string) => {
    const resolved = resolve(method, where);
    const own = candidateLabel({ label }, candidates.length);
    // Built by the same resolver, equal components serialise equally.
    const makes = JSON.stringify([resolved.finetuning, resolved.generation]);
    const syntheticOf = resolved.generation === null ? null : (generators.get(makes) ?? own);
    if (syntheticOf === own) generators.set(makes, own);
    candidates.push({ label: own, ...resolved, setting, syntheticOf });
  };
  add({ preset: REFERENCE, strength: null, replaceProbability: null }, { preset: REFERENCE }, `${at}/search`);
  bases.forEach((base, k) => {
    const id = base.preset!;
    const preset = presetById(id)!;
    const mode = base.generation?.mode ?? preset.generation!.mode;
    const strengths = "strength" in modeSpec(mode).parameters ? space.strengths : [null];
    for (const strength of strengths as (number | null)[])
      for (const p of space.replaceProbabilities) {
        // LRR and GRR presets keep their own rule; the others replace locally (a real image by its own samples).
        const utilization = preset.utilization.mode === "grr" ? "grr" : "lrr";
        add(
          { preset: id, strength, replaceProbability: p },
          {
            ...base,
            ...(strength === null ? {} : { generation: { ...base.generation, strength } }),
            utilization: { ...base.utilization, mode: utilization, replaceProbability: p },
          },
          `${at}/search/presets/${k}`,
        );
      }
  });
  // Every candidate of a preset repeats its overrides' problems: report each once.
  const seen = new Set<string>();
  const unique = issues
    .splice(before)
    .filter((i) => !seen.has(`${i.field}\n${i.message}`) && seen.add(`${i.field}\n${i.message}`));
  issues.push(...unique);
  if (unique.length > 0) return undefined;
  if (candidates.length - 1 > MAX_CANDIDATES) {
    issues.push({
      field: `${at}/search`,
      message: `the search space holds ${candidates.length - 1} candidates, more than ${MAX_CANDIDATES}`,
    });
    return undefined;
  }
  const rungSeeds: number[][] = [];
  for (let r = 0, next = seed; r < space.rungs; r++) {
    const count = 2 ** r;
    rungSeeds.push(Array.from({ length: count }, (_, i) => next + i));
    next += count;
  }
  return {
    label,
    candidates,
    validationFraction: space.validationFraction,
    seed,
    rungSeeds,
    minGain: space.minGain,
    confidence: space.confidence,
  };
}

/** Candidates that survive a rung: the reference always, and the better half of the others (at least one). */
export function survivorsOf(ranked: readonly { label: string; mean: number }[], reference: string): string[] {
  const others = ranked.filter((c) => c.label !== reference);
  const keep = Math.max(1, Math.ceil(others.length / 2));
  return [reference, ...others.slice(0, keep).map((c) => c.label)];
}
