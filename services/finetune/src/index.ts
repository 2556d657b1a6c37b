/**
 * The finetune service: FinetuneService.Finetune / FinetuneUpload over shared/finetune (textual inversion,
 * TI+LoRA, text-encoder LoRA, full UNet), returning adapter files with their sha256. `main.ts` is the process.
 */
export { FINETUNE_ENV, FINETUNE_PORTS, type FinetuneLimits } from "./config.js";
export { FinetuneService, finetuneHandlers } from "./handlers.js";
export { createFinetuneMetrics, type FinetuneMetrics } from "./metrics.js";
export { adaptersOf, type FinetuneDeps, type FinetuneEvent, runFinetune } from "./run.js";
export { setupFinetune } from "./service.js";
export { type FinetunePlan, validateFinetuneSpec } from "./spec.js";
