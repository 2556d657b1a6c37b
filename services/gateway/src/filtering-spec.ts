/**
 * The filtering component of a method (docs/methods.md#filtering): between generation and utilization,
 * each synthetic image is scored and only the best of each class train the classifier. Every preset's
 * filtering is "none" (a resolved method then carries no `filtering` at all, so specs, plans and results
 * of jobs that do not filter are exactly what they were before the component existed).
 */
import type { FieldIssue } from "./errors.js";

/** How synthetic images are scored: not at all, by the real-only baseline classifier, or by CLIP. */
export const FILTER_SCORERS = ["none", "classifier", "clip"] as const;
type FilterScorer = (typeof FILTER_SCORERS)[number];

/** The label of the baseline whose classifier the "classifier" scorer asks (trained on real images only). */
export const FILTER_BASELINE = "no-augmentation";

/** The component as a request sends it (already schema-valid). */
export interface FilteringRequest {
  scorer: FilterScorer;
  keepFraction?: number;
  minScore?: number;
  sourceWeight?: number;
}

/** A resolved filtering component that filters (scorer other than "none"). */
export interface FilteringSpec {
  scorer: Exclude<FilterScorer, "none">;
  /** Share of each class's images kept, best first (absent: no fraction rule). */
  keepFraction?: number;
  /** Lowest score kept (absent: no floor). */
  minScore?: number;
  /** clip only: weight of image–source similarity in the score (absent: 0). */
  sourceWeight?: number;
}

/**
 * Resolves a method's filtering: undefined for "none" (or no request), else the spec. `generates` is false
 * for a method without generation (a baseline), which has nothing to filter.
 */
export function resolveFiltering(
  request: FilteringRequest | undefined,
  generates: boolean,
  at: string,
  issues: FieldIssue[],
): FilteringSpec | undefined {
  if (request === undefined) return undefined;
  const issue = (field: string, message: string) =>
    issues.push({ field: `${at}/filtering${field}`, message });
  const { scorer, keepFraction, minScore, sourceWeight } = request;
  if (scorer === "none") {
    for (const [key, value] of Object.entries({ keepFraction, minScore, sourceWeight }))
      if (value !== undefined) issue(`/${key}`, "scorer none filters nothing; choose classifier or clip");
    return undefined;
  }
  if (!generates) issue("/scorer", "the method generates no images to filter");
  if (keepFraction === undefined && minScore === undefined)
    issue("", `scorer ${scorer} needs keepFraction, minScore or both`);
  if (sourceWeight !== undefined && scorer !== "clip")
    issue("/sourceWeight", "only the clip scorer compares an image with its source");
  const spec: FilteringSpec = { scorer };
  if (keepFraction !== undefined) spec.keepFraction = keepFraction;
  if (minScore !== undefined) spec.minScore = minScore;
  if (sourceWeight !== undefined) spec.sourceWeight = sourceWeight;
  return spec;
}

/**
 * Job-wide rules of the component: filtering happens before classifier training, so a generation-only job
 * cannot filter; the classifier scorer needs the no-augmentation baseline in the job.
 */
export function checkJobFiltering(
  methods: readonly FilteringMethod[],
  requested: readonly FilteringMethod[],
  kind: "evaluate" | "generate",
  issues: FieldIssue[],
): void {
  const hasBaseline = methods.some((m) => m.label === FILTER_BASELINE && m.kind === "baseline");
  requested.forEach((method, i) => {
    if (method.filtering === undefined) return;
    const at = `/body/methods/${i}/filtering`;
    if (kind === "generate") {
      issues.push({
        field: at,
        message: "a generation-only job trains no classifier, and filtering selects what it trains on",
      });
    } else if (method.filtering.scorer === "classifier" && !hasBaseline) {
      issues.push({
        field: `${at}/scorer`,
        message: `the classifier scorer uses the ${FILTER_BASELINE} baseline's classifier; keep it in baselines`,
      });
    }
  });
}

/** What the job-wide rules read of a resolved method. */
interface FilteringMethod {
  label: string;
  kind: "diffda" | "baseline";
  filtering?: FilteringSpec;
}
