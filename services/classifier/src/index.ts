/**
 * The classifier service: ClassifierService.Train / TrainUpload (real + synthetic sets under any utilization
 * strategy) and Evaluate / EvaluateUpload, over shared/classifier. `main.ts` is the process.
 */
export { ARCHITECTURES, type Architecture, stemFor } from "../../../shared/classifier/architectures.js";
export { CLASSIFIER_ENV, CLASSIFIER_PORTS, type ClassifierLimits } from "./config.js";
export {
  EVALUATE_BATCH,
  type EvaluatePlan,
  type EvaluationOutcome,
  metricsFromLogits,
  runEvaluation,
  validateEvaluateSpec,
} from "./evaluate.js";
export { ClassifierService, classifierHandlers } from "./handlers.js";
export { type ClassifierMetrics, createClassifierMetrics } from "./metrics.js";
export { setupClassifier } from "./service.js";
export { limitPerReal, realSet, type SetShape, shapeOf, syntheticSet, testSet } from "./sets.js";
export { CHECKPOINT_NAME, runTraining, type TrainDeps, type TrainEvent } from "./train.js";
export {
  checkCounts,
  networkOf,
  type PlannedHyperparameters,
  type ResolvedHyperparameters,
  resolveHyperparameters,
  TRAIN_DEFAULTS,
  type TrainPlan,
  validateTrainSpec,
} from "./train-spec.js";
