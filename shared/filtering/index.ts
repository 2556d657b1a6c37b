/** Sample filtering: score synthetic images, keep the best of each class (docs/methods.md#filtering). */
export { classifierScores, labelProbabilities } from "./classifier-scorer.js";
export { ClipImageScorer, type ClipScoreOptions, clipScores } from "./clip-scorer.js";
export {
  type ClassSelection,
  checkSelectionRule,
  type ScoredSample,
  type Selection,
  type SelectionRule,
  SelectionRuleError,
  selectSamples,
} from "./select.js";
