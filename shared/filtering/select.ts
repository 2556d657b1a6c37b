/**
 * Sample filtering's selection rule, a pure function: one score per synthetic image in, the images to keep
 * and per-class counts out. Rules apply per class, so a class the scorer finds hard is thinned as much as an
 * easy one and never emptied by a global cut: `keepFraction` keeps the best ⌈fraction·n⌉ images of each
 * class (at least one of a non-empty class), `minScore` then drops every image scoring below it.
 */

/** What to keep; at least one of the two. */
export interface SelectionRule {
  /** Share of each class's images to keep, in (0, 1]: the best-scoring ⌈keepFraction·n⌉. */
  readonly keepFraction?: number;
  /** Lowest score an image may have and be kept. */
  readonly minScore?: number;
}

/** One scored image: its class (the label it trains under) and its score (higher is better). */
export interface ScoredSample {
  readonly label: number;
  /** NaN (a scorer that could not judge the image) ranks below every number. */
  readonly score: number;
}

/** The outcome for one class. */
export interface ClassSelection {
  readonly label: number;
  readonly total: number;
  readonly kept: number;
  readonly dropped: number;
  /** The lowest score kept: the threshold the rule ended up applying (null: nothing kept). */
  readonly threshold: number | null;
}

/** The outcome for a whole set. */
export interface Selection {
  /** Indices of the kept samples, ascending. */
  readonly kept: number[];
  /** Indices of the dropped samples, ascending. */
  readonly dropped: number[];
  /** One entry per class 0 … classCount − 1 (zeros for a class without samples). */
  readonly perClass: ClassSelection[];
}

/** Thrown for a rule no selection can follow. */
export class SelectionRuleError extends Error {
  override readonly name = "SelectionRuleError";
}

/** Checks a rule: at least one bound, a fraction in (0, 1], a finite minimum. */
export function checkSelectionRule(rule: SelectionRule): void {
  const { keepFraction, minScore } = rule;
  if (keepFraction === undefined && minScore === undefined)
    throw new SelectionRuleError("a selection rule needs keepFraction, minScore or both");
  if (keepFraction !== undefined && !(keepFraction > 0 && keepFraction <= 1))
    throw new SelectionRuleError(`keepFraction must be in (0, 1], got ${keepFraction}`);
  if (minScore !== undefined && !Number.isFinite(minScore))
    throw new SelectionRuleError(`minScore must be a finite number, got ${minScore}`);
}

/** Descending score, NaN last, ties by index so that equal inputs select equally. */
function better(samples: readonly ScoredSample[]) {
  return (a: number, b: number): number => {
    const sa = samples[a].score;
    const sb = samples[b].score;
    const na = Number.isNaN(sa);
    const nb = Number.isNaN(sb);
    if (na !== nb) return na ? 1 : -1;
    if (!na && sa !== sb) return sb - sa;
    return a - b;
  };
}

/** Applies `rule` per class to `samples` (labels in [0, classCount)). */
export function selectSamples(
  samples: readonly ScoredSample[],
  classCount: number,
  rule: SelectionRule,
): Selection {
  checkSelectionRule(rule);
  const byClass: number[][] = Array.from({ length: classCount }, () => []);
  samples.forEach((s, i) => {
    if (!(Number.isInteger(s.label) && s.label >= 0 && s.label < classCount))
      throw new SelectionRuleError(`sample ${i} has label ${s.label}, outside [0, ${classCount})`);
    byClass[s.label].push(i);
  });
  const keep = new Uint8Array(samples.length);
  const perClass = byClass.map((members, label): ClassSelection => {
    const ranked = [...members].sort(better(samples));
    let count = ranked.length;
    if (rule.keepFraction !== undefined && count > 0)
      count = Math.min(count, Math.max(1, Math.ceil(rule.keepFraction * ranked.length - 1e-9)));
    const minScore = rule.minScore;
    if (minScore !== undefined) {
      while (count > 0 && !(samples[ranked[count - 1]].score >= minScore)) count--;
    }
    for (let r = 0; r < count; r++) keep[ranked[r]] = 1;
    return {
      label,
      total: ranked.length,
      kept: count,
      dropped: ranked.length - count,
      threshold: count === 0 ? null : samples[ranked[count - 1]].score,
    };
  });
  const kept: number[] = [];
  const dropped: number[] = [];
  for (let i = 0; i < keep.length; i++) (keep[i] ? kept : dropped).push(i);
  return { kept, dropped, perClass };
}
