/**
 * Fine-tuning of diffusion model folders through the ONNX autodiff: textual inversion, DreamBooth-LoRA on
 * TI tokens, text-encoder LoRA and full UNet fine-tuning, with adapters written in the diffusers / PEFT /
 * kohya formats that `shared/diffusion/adapters` loads.
 */
export { type BatchPlan, type TrainingBatch, trainingBatch } from "./batch.js";
export {
  DATASET_BUDGET,
  type DatasetSize,
  datasetBudget,
  type SizedBudget,
  type SizedRecipe,
} from "./budget.js";
export {
  composeTrainingGraph,
  pruneTo,
  TEXT_ENCODER_PREFIX,
  TRAINING_INPUTS,
  type TrainingGraph,
  type TrainingShape,
  UNET_PREFIX,
} from "./compose.js";
export { encodeTrainingImages, type TrainingExamples } from "./examples.js";
export {
  type FineTuneEvent,
  type FineTuneOptions,
  type FineTuneResult,
  fineTune,
  fineTuneEvents,
  type LoadTrainingInputsOptions,
  loadTrainingInputs,
  type PlanBase,
  settingsFor,
  stagePlan,
  TI_STAGE_EMBEDDINGS,
  type TrainingInputs,
  withBatchSize,
} from "./finetune.js";
export {
  bypassWeightCasts,
  type ComponentGraph,
  inlineExternalData,
  readComponentGraph,
  weightsOnlyParams,
  widenFloat16,
} from "./graph-io.js";
export {
  addLoraPaths,
  type LoraKeyFormat,
  type LoraParam,
  type LoraSettings,
  loraLayers,
  loraStateDict,
  matchesTarget,
  TEXT_ENCODER_LORA_TARGETS,
  UNET_LORA_TARGETS,
} from "./lora.js";
export {
  DEFAULT_INITIALIZER_WORD,
  defaultClassToken,
  FINE_TUNE_METHODS,
  type FineTuneMethod,
  LORA_DEFAULTS,
  METHOD_DEFAULTS,
  type StageSettings,
} from "./methods.js";
export { TRAINING_OPSET, upgradeOpset } from "./opset.js";
export {
  checkpointPath,
  evaluateLoss,
  type FineTuneProgress,
  parseCheckpointName,
  runStage,
  type StageReport,
  type StageResult,
  type StageRunOptions,
} from "./run-stage.js";
export {
  OUTPUT_FILES,
  patchedUnetModel,
  type SaveOptions,
  saveFineTuneResult,
  writeFineTunedModel,
} from "./save.js";
export {
  fullUnetStage,
  loraStage,
  type StageGraph,
  type StageInputs,
  type StageOutput,
  textualInversionStage,
} from "./stages.js";
export { fillTemplate, IMAGENET_TEMPLATES_SMALL, KIT_TEMPLATES } from "./templates.js";
export {
  appendTokenRows,
  conceptVectors,
  findTokenTable,
  initialVectors,
  learnedConcepts,
  type TokenInitializer,
  textualInversionStateDict,
  tokenInitializers,
} from "./textual-inversion.js";
