import { FinetuneService } from "../../../shared/gen/diffda/finetune/v1/finetune_pb.js";
import type { ServiceImpl } from "../../../shared/rpc/index.js";
import type { ModelRegistry } from "../../../shared/service/index.js";
import { ChunkAssembler, intField, invalidField, receiveUpload } from "../../../shared/service/wire/index.js";
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
      const upload = receiveUpload(requests, {
        headerOf: (message) => (message.payload.case === "header" ? message.payload.value : undefined),
        open: (header) => {
          const plan = validateFinetuneSpec(header.spec, deps.registry, deps.limits);
          const declared = intField(header.imageCount, "header.image_count", { max: deps.limits.maxImages });
          return { plan, declared, images: new ChunkAssembler("chunk", declared) };
        },
        add: (state, { payload }) => {
          if (payload.case === "chunk") state.images.add(payload.value);
          else throw invalidField("payload", "a message after the header must carry a chunk");
        },
      });
      let next = await upload.next();
      for (let first = true; !next.done; next = await upload.next(), first = false) {
        if (first) continue; // progress after each chunk, not after the header
        const { images, declared } = next.value;
        yield {
          event: {
            case: "progress",
            value: { stage: "upload", step: images.received, totalSteps: declared },
          },
        };
      }
      const { plan, images } = next.value;
      for await (const event of runFinetune(plan, images.finish(), deps, context.signal))
        yield toResponse(event);
    },
  };
}

export { FinetuneService };
