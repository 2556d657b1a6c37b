import { ClassifierService } from "../../../shared/gen/diffda/classifier/v1/classifier_pb.js";
import type { ServiceImpl } from "../../../shared/rpc/index.js";
import { ChunkAssembler, intField, invalidField, required } from "../../../shared/service/wire/index.js";
import { type EvaluateDeps, runEvaluation, validateEvaluateSpec } from "./evaluate.js";
import { runTraining, type TrainDeps, type TrainEvent } from "./train.js";
import { validateTrainSpec } from "./train-spec.js";

/** A train event as the `event` oneof shared by TrainResponse and TrainUploadResponse. */
function toResponse(event: TrainEvent) {
  return {
    event:
      "progress" in event
        ? { case: "progress" as const, value: event.progress }
        : { case: "result" as const, value: event.result },
  };
}

/** The ClassifierService handlers: validate, read (inline or chunked) sets, train or evaluate. */
export function classifierHandlers(deps: TrainDeps & EvaluateDeps): ServiceImpl<typeof ClassifierService> {
  return {
    async *train(request, context) {
      const plan = validateTrainSpec(request.spec, deps.limits);
      for await (const event of runTraining(
        plan,
        request.realImages,
        request.syntheticImages,
        deps,
        context.signal,
      )) {
        yield toResponse(event);
      }
    },

    async *trainUpload(requests, context) {
      let plan: ReturnType<typeof validateTrainSpec> | undefined;
      let real: ChunkAssembler | undefined;
      let synthetic: ChunkAssembler | undefined;
      let total = 0;
      for await (const message of requests) {
        const payload = message.payload;
        if (!plan) {
          if (payload.case !== "header")
            throw invalidField("payload", "the first message must be the header");
          plan = validateTrainSpec(payload.value.spec, deps.limits);
          intField(payload.value.realCount, "header.real_count", { min: 1, max: deps.limits.maxImages });
          intField(payload.value.syntheticCount, "header.synthetic_count", { max: deps.limits.maxImages });
          real = new ChunkAssembler("real_chunk", payload.value.realCount);
          synthetic = new ChunkAssembler("synthetic_chunk", payload.value.syntheticCount);
          total = payload.value.realCount + payload.value.syntheticCount;
          continue;
        }
        if (payload.case === "realChunk") real?.add(payload.value);
        else if (payload.case === "syntheticChunk") synthetic?.add(payload.value);
        else
          throw invalidField("payload", "only the first message may be the header; later ones carry chunks");
        yield {
          event: {
            case: "progress",
            value: {
              stage: "upload",
              step: (real?.received ?? 0) + (synthetic?.received ?? 0),
              totalSteps: total,
            },
          },
        };
      }
      const header = required(plan, "header");
      const realImages = (real as ChunkAssembler).finish();
      const syntheticImages = (synthetic as ChunkAssembler).finish();
      for await (const event of runTraining(header, realImages, syntheticImages, deps, context.signal)) {
        yield toResponse(event);
      }
    },

    async evaluate(request, context) {
      const plan = validateEvaluateSpec(request.spec);
      return await runEvaluation(plan, request.images, deps, context.signal);
    },

    async evaluateUpload(requests, context) {
      let plan: ReturnType<typeof validateEvaluateSpec> | undefined;
      let images: ChunkAssembler | undefined;
      for await (const message of requests) {
        const payload = message.payload;
        if (!plan) {
          if (payload.case !== "header")
            throw invalidField("payload", "the first message must be the header");
          plan = validateEvaluateSpec(payload.value.spec);
          intField(payload.value.imageCount, "header.image_count", { min: 1, max: deps.limits.maxImages });
          images = new ChunkAssembler("chunk", payload.value.imageCount);
          continue;
        }
        if (payload.case !== "chunk") {
          throw invalidField("payload", "only the first message may be the header; later ones carry chunks");
        }
        images?.add(payload.value);
      }
      const header = required(plan, "header");
      return await runEvaluation(header, (images as ChunkAssembler).finish(), deps, context.signal);
    },
  };
}

export { ClassifierService };
