import { FinetuneMethod, type FinetuneSpecSchema } from "../../shared/gen/diffda/finetune/v1/finetune_pb.js";
import { TINY } from "../../shared/testing/tiny-models.js";
import type { Init } from "./clients.js";

export { TINY, TINY_EDIT, type TinyModels, tinyModels } from "../../shared/testing/tiny-models.js";

/** A textual-inversion FinetuneSpec on the tiny model: classes cat and dog with their tokens. */
export function tinyInversionSpec(
  jobId: string,
  o: { readonly steps: number; readonly batchSize: number; readonly seed: bigint },
) {
  return {
    jobId,
    baseModel: { name: TINY },
    method: FinetuneMethod.TEXTUAL_INVERSION,
    classes: [
      { name: "cat", token: "<cat>" },
      { name: "dog", token: "<dog>" },
    ],
    hyperparameters: {
      batchSize: o.batchSize,
      seed: o.seed,
      templates: ["a photo of a {}"],
      textualInversion: { maxTrainSteps: o.steps, learningRate: 0.05, initializerToken: "cat" },
    },
  } satisfies Init<typeof FinetuneSpecSchema>;
}
