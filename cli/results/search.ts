/**
 * The auto method's search as the CLI table and the HTML report show it: one line saying what it chose
 * and why, and one row per candidate with its validation top-1 and how far it got.
 */
import type { CandidateSetting, SearchTrace } from "../client/types.js";
import { percent, points, seconds } from "./format.js";

/** `real-guidance strength 0.3 p 0.5`. */
function describeSetting(setting: CandidateSetting): string {
  return [
    setting.preset,
    ...(setting.strength === null ? [] : [`strength ${setting.strength}`]),
    ...(setting.replaceProbability === null ? [] : [`p ${setting.replaceProbability}`]),
  ].join(" ");
}

/** What the search chose, on how much validation data, at what cost. */
export function searchSummary(search: SearchTrace): string {
  const reference = search.candidates[0];
  const chosen = search.candidates.find((c) => c.label === search.chosen?.label);
  const verdict =
    search.recommendation === "no_augmentation"
      ? "no candidate beat no-augmentation, so it ran without augmentation (the recommendation for this dataset)"
      : `chose ${chosen === undefined ? "?" : describeSetting(chosen.setting)}`;
  const scores =
    chosen === undefined
      ? ""
      : ` — validation top-1 ${percent(chosen.validation.mean)} vs no-augmentation ${percent(reference.validation.mean)}`;
  const interval = search.evidence?.interval;
  const evidence =
    search.evidence == null
      ? ""
      : ` (best gain ${points(search.evidence.gain, 1)}${interval ? `, ${Math.round(interval.level * 100)}% interval [${points(interval.low, 1)}, ${points(interval.high, 1)}]` : ""})`;
  return `${search.label}: ${verdict}${scores}${evidence}; ${search.candidates.length - 1} candidates, ${search.rungs.length} rung(s), ${search.validationImages} validation images, ${seconds(search.cpuSeconds)} CPU s for the search`;
}

/** One row per candidate, best validation score first: label, setting, validation top-1, rungs reached. */
export function searchRows(search: SearchTrace): string[][] {
  return [...search.candidates]
    .sort((a, b) => b.rungsReached - a.rungsReached || (b.validation.mean ?? -1) - (a.validation.mean ?? -1))
    .map((c) => [
      `${c.label}${c.label === search.chosen?.label ? " *" : ""}`,
      describeSetting(c.setting),
      percent(c.validation.mean),
      String(c.validation.runs.length),
      String(c.rungsReached),
    ]);
}

/** Header of {@link searchRows}. */
export const SEARCH_HEADER = ["candidate", "setting", "val top-1", "runs", "rungs"] as const;
