import { FinetuneService } from "../../../shared/gen/diffda/finetune/v1/finetune_pb.js";
import type { ServiceImpl } from "../../../shared/rpc/index.js";
import type { ModelRegistry } from "../../../shared/service/index.js";
import { ChunkAssembler, intField, invalidField, required } from "../../../shared/service/wire/index.js";
import { type FinetuneDeps, type FinetuneEvent, runFinetune } from "./run.js";
import { validateFinetuneSpec } from "./spec.js";

/** A run event as the `event` oneof shared by FinetuneResponse and FinetuneUploadResponse. */
function toResponse(event: FinetuneEvent) {
  return {
    event:
      "progress" in event
        ? { case: "progress" as const, value: event.progress }
        : { case: "result" as const, value: event.result },
  };
}

/** The FinetuneService handlers: validate, read the images (inline or chunked), fine-tune. */
export function finetuneHandlers(
  deps: FinetuneDeps & { readonly registry: ModelRegistry },
): ServiceImpl<typeof FinetuneService> {
  return {
    async *finetune(request, context) {
      const plan = validateFinetuneSpec(request.spec, deps.registry, deps.limits);
      for await (const event of runFinetune(plan, request.images, deps, context.signal))
        yield toResponse(event);
    },

    async *finetuneUpload(requests, context) {
      let plan: ReturnType<typeof validateFinetuneSpec> | undefined;
      let images: ChunkAssembler | undefined;
      let declared = 0;
      for await (const message of requests) {
        const payload = message.payload;
        if (!plan) {
          if (payload.case !== "header")
            throw invalidField("payload", "the first message must be the header");
          plan = validateFinetuneSpec(payload.value.spec, deps.registry, deps.limits);
          declared = intField(payload.value.imageCount, "header.image_count", { max: deps.limits.maxImages });
          images = new ChunkAssembler("chunk", declared);
          continue;
        }
        if (payload.case !== "chunk") {
          throw invalidField("payload", "only the first message may be the header; later ones carry chunks");
        }
        images?.add(payload.value);
        yield {
          event: {
            case: "progress",
            value: { stage: "upload", step: images?.received ?? 0, totalSteps: declared },
          },
        };
      }
      const header = required(plan, "header");
      const set = (images as ChunkAssembler).finish();
      for await (const event of runFinetune(header, set, deps, context.signal)) yield toResponse(event);
    },
  };
}

export { FinetuneService };
