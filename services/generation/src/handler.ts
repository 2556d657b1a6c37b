import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  type GenerateShardResponseSchema,
  GenerationService,
} from "../../../shared/gen/diffda/generation/v1/generation_pb.js";
import type { ServiceImpl } from "../../../shared/rpc/index.js";
import type { ModelRegistry } from "../../../shared/service/index.js";
import { pngBytesImageData } from "../../../shared/service/wire/index.js";
import { type ShardLimits, validateShardRequest } from "./request.js";
import { generateShard, type ShardDeps, type ShardEvent } from "./shard.js";

type Response = MessageInitShape<typeof GenerateShardResponseSchema>;

/** A shard event as a GenerateShardResponse. */
export function toResponse(event: ShardEvent, seed: bigint): Response {
  switch (event.kind) {
    case "progress":
      return {
        event: {
          case: "progress",
          value: {
            stage: event.stage,
            step: event.step,
            totalSteps: event.totalSteps,
            message: event.message,
            etaSeconds: event.etaSeconds,
          },
        },
      };
    case "image": {
      const { sample, image } = event;
      return {
        event: {
          case: "image",
          value: {
            sampleIndex: sample.index,
            seed,
            prompt: image.prompt,
            sample: {
              image: pngBytesImageData(image.png, image, image.sha256),
              label: sample.label,
              sourceIndex: sample.sourceIndex,
              interClass:
                sample.interClassStrength === undefined
                  ? undefined
                  : { sourceLabel: sample.sourceLabel, strength: sample.interClassStrength },
            },
          },
        },
      };
    }
    case "completed":
      return {
        event: {
          case: "completed",
          value: {
            imageCount: event.imageCount,
            durationSeconds: event.seconds,
            cpuSeconds: event.cpuSeconds,
          },
        },
      };
  }
}

/** The GenerationService handlers: validate, run the shard, map its events to messages. */
export function generationHandlers(
  deps: ShardDeps & { readonly registry: ModelRegistry; readonly limits: ShardLimits },
): ServiceImpl<typeof GenerationService> {
  return {
    async *generateShard(request, context) {
      const shard = validateShardRequest(request, deps.registry, deps.limits);
      for await (const event of generateShard(shard, deps, context.signal))
        yield toResponse(event, request.seed);
    },
  };
}

export { GenerationService };
