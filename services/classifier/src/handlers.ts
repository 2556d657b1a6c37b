import { ClassifierService } from "../../../shared/gen/diffda/classifier/v1/classifier_pb.js";
import type { ServiceImpl } from "../../../shared/rpc/index.js";
import { ChunkAssembler, intField, invalidField, receiveUpload } from "../../../shared/service/wire/index.js";
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
      const upload = receiveUpload(requests, {
        headerOf: (message) => (message.payload.case === "header" ? message.payload.value : undefined),
        open: (header) => {
          const plan = validateTrainSpec(header.spec, deps.limits);
          intField(header.realCount, "header.real_count", { min: 1, max: deps.limits.maxImages });
          intField(header.syntheticCount, "header.synthetic_count", { max: deps.limits.maxImages });
          return {
            plan,
            real: new ChunkAssembler("real_chunk", header.realCount),
            synthetic: new ChunkAssembler("synthetic_chunk", header.syntheticCount),
            total: header.realCount + header.syntheticCount,
          };
        },
        add: (state, { payload }) => {
          if (payload.case === "realChunk") state.real.add(payload.value);
          else if (payload.case === "syntheticChunk") state.synthetic.add(payload.value);
          else throw invalidField("payload", "a message after the header must carry a chunk");
        },
      });
      let next = await upload.next();
      for (let first = true; !next.done; next = await upload.next(), first = false) {
        if (first) continue; // progress after each chunk, not after the header
        const { real, synthetic, total } = next.value;
        const step = real.received + synthetic.received;
        yield { event: { case: "progress", value: { stage: "upload", step, totalSteps: total } } };
      }
      const { plan, real, synthetic } = next.value;
      for await (const event of runTraining(plan, real.finish(), synthetic.finish(), deps, context.signal)) {
        yield toResponse(event);
      }
    },

    async evaluate(request, context) {
      const plan = validateEvaluateSpec(request.spec);
      return await runEvaluation(plan, request.images, deps, context.signal);
    },

    async evaluateUpload(requests, context) {
      const upload = receiveUpload(requests, {
        headerOf: (message) => (message.payload.case === "header" ? message.payload.value : undefined),
        open: (header) => {
          const plan = validateEvaluateSpec(header.spec);
          intField(header.imageCount, "header.image_count", { min: 1, max: deps.limits.maxImages });
          return { plan, images: new ChunkAssembler("chunk", header.imageCount) };
        },
        add: (state, { payload }) => {
          if (payload.case === "chunk") state.images.add(payload.value);
          else throw invalidField("payload", "a message after the header must carry a chunk");
        },
      });
      let next = await upload.next();
      while (!next.done) next = await upload.next();
      const { plan, images } = next.value;
      return await runEvaluation(plan, images.finish(), deps, context.signal);
    },
  };
}

export { ClassifierService };
