import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  type GenerateShardResponseSchema,
  GenerationService,
} from "../../../shared/gen/diffda/generation/v1/generation_pb.js";
import type { ServiceImpl } from "../../../shared/rpc/index.js";
import { describeModel, type ModelDescription, type ModelRegistry } from "../../../shared/service/index.js";
import { pngBytesImageData } from "../../../shared/service/wire/index.js";
import { checkAdapters, componentWeightCache } from "./check-adapters.js";
import { type ShardLimits, validateShardRequest } from "./request.js";
import { scoreImages } from "./score-images.js";
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

/**
 * The GenerationService handlers: validate, run the shard, map its events to messages; list the models;
 * check adapter files against a model.
 */
export function generationHandlers(
  deps: ShardDeps & { readonly registry: ModelRegistry; readonly limits: ShardLimits },
): ServiceImpl<typeof GenerationService> {
  // Described once per process (hashing a large export takes a while) and shared by every call.
  let described: Promise<Map<string, ModelDescription>> | undefined;
  const descriptions = () => {
    described ??= Promise.all(deps.registry.models.map(describeModel)).then(
      (list) => new Map(list.map((d) => [d.id, d])),
    );
    described.catch(() => {
      described = undefined;
    });
    return described;
  };
  // Hashing starts with the service, in the background, rather than inside the first shard's
  // completion or the first ListModels: a large export takes seconds to hash.
  descriptions();
  const weightsOf = componentWeightCache();
  return {
    async *generateShard(request, context) {
      const shard = validateShardRequest(request, deps.registry, deps.limits);
      const base = shard.model.id;
      for await (const event of generateShard(shard, deps, context.signal)) {
        const response = toResponse(event, request.seed);
        if (response.event?.case === "completed") {
          const model = (await descriptions()).get(base);
          response.event.value = { ...response.event.value, modelId: base, modelSha256: model?.sha256 ?? "" };
        }
        yield response;
      }
    },
    async listModels() {
      return { models: [...(await descriptions()).values()].map((d) => ({ ...d, bytes: BigInt(d.bytes) })) };
    },
    async checkAdapters(request) {
      await checkAdapters(request.model, deps.registry, weightsOf);
      return {};
    },
    scoreImages(request) {
      return scoreImages(request, {
        registry: deps.registry,
        clipFolder: deps.clipFolder,
        maxImages: deps.limits.maxShardSamples,
      });
    },
  };
}

export { GenerationService };
