/**
 * The finetune task: sends the job's real training images to the finetune service (inline, or in chunks
 * over FinetuneUpload when the set is large), streams its progress into the job's events, and keeps the
 * adapter files it returns in the artifact store (`adapter/<method>-<hash>/<file>`), checked against
 * their digests. Its output lists the adapters for the generate tasks that depend on it.
 */
import { AdapterKind } from "../../../../../shared/gen/diffda/common/v1/model_pb.js";
import type {
  FinetuneResponse,
  FinetuneUploadResponse,
} from "../../../../../shared/gen/diffda/finetune/v1/finetune_pb.js";
import { RpcError } from "../../../../../shared/rpc/index.js";
import { TOKEN_METHODS } from "../../presets.js";
import type { FinetuneInput } from "../planner.js";
import { classTokens, FINETUNE_METHOD_PB, finetuneHyperparameters, labelledPng } from "../proto.js";
import type { TaskHandler } from "../task-runner.js";
import { chunkBytesOf, chunkImages, fitsInline, imageWireBytes } from "../uploads.js";
import type { HandlerDeps, JobLoader } from "./context.js";
import { registerTrainedAdapters } from "./trained-adapters.js";

/** One adapter file as a finetune task's output records it. */
export interface AdapterRecord {
  kind: AdapterKind;
  name: string;
  mediaType: string;
  sha256: string;
  bytes: number;
  tokens: string[];
  loraRank: number;
  loraAlpha: number;
}

/** Output of a finetune task. */
export interface FinetuneOutput {
  baseModel: string;
  adapters: AdapterRecord[];
  /** Placeholder tokens per class (class order), or null when no token was learned. */
  tokens: string[] | null;
  steps: number;
  finalLoss: number;
  durationSeconds: number;
  /** CPU seconds the finetune service reported for the run; null when it measured none. */
  cpuSeconds: number | null;
  /** The adapter resources its LoRA and TI files became (GET /v1/adapters/{id}); absent on older outputs. */
  adapterIds?: string[];
}

/** The artifact key prefix of a finetune task's adapters. */
function adapterPrefix(taskKey: string): string {
  return `adapter/${taskKey.replace(/^finetune:/, "").replace(/[^A-Za-z0-9._-]+/g, "-")}/`;
}

/** Builds the handler. */
export function finetuneHandler(deps: HandlerDeps, loader: JobLoader): TaskHandler {
  return async (task, { signal }) => {
    const input = task.input as FinetuneInput;
    const job = await loader.view(task.jobId, input.split);
    const { classes, promptNames, train } = job.images;
    const tokens = TOKEN_METHODS.has(input.finetuning.method) ? classTokens(classes) : null;
    const report = loader.progress(task.jobId, task.key);
    const spec = {
      jobId: task.jobId,
      baseModel: { name: deps.models.base },
      method: FINETUNE_METHOD_PB[input.finetuning.method],
      hyperparameters: finetuneHyperparameters(input.finetuning, input.seed),
      // The fine-tuning prompts (and the TI tokens' starting words) use the prompt names.
      classes: promptNames.map((name, i) => ({ name, token: tokens?.[i] ?? "" })),
    };
    const images = train.map((image, i) => labelledPng(image.png, image.label, i));
    const chunkBytes = chunkBytesOf(deps);
    const stream: AsyncIterable<FinetuneResponse | FinetuneUploadResponse> = fitsInline(
      images.reduce((sum, image) => sum + imageWireBytes(image), 0),
      chunkBytes,
    )
      ? deps.clients.finetune.finetune({ spec, images }, { signal })
      : deps.clients.finetune.finetuneUpload(
          (async function* () {
            yield { payload: { case: "header" as const, value: { spec, imageCount: images.length } } };
            for await (const chunk of chunkImages(images, chunkBytes))
              yield { payload: { case: "chunk" as const, value: chunk } };
          })(),
          { signal },
        );
    for await (const message of stream) {
      if (message.event.case === "progress") {
        await report(message.event.value);
        continue;
      }
      if (message.event.case !== "result") continue;
      const result = message.event.value;
      const adapters: AdapterRecord[] = [];
      for (const adapter of result.adapters?.adapters ?? []) {
        const file = adapter.file;
        if (file === undefined) throw new RpcError("invalid_argument", "an adapter came without its file");
        const blob = await deps.artifacts.put(file.content);
        if (file.sha256 !== "" && file.sha256 !== blob.sha256) {
          throw new RpcError("checksum_mismatch", `adapter ${file.name} does not match its sha256`);
        }
        const name = file.name.replace(/[^A-Za-z0-9._-]+/g, "_") || "adapter";
        const record: AdapterRecord = {
          kind: adapter.kind,
          name: file.name,
          mediaType: file.mediaType || "application/octet-stream",
          sha256: blob.sha256,
          bytes: blob.bytes,
          tokens: [...adapter.tokens],
          loraRank: adapter.loraRank,
          loraAlpha: adapter.loraAlpha,
        };
        await deps.store.artifacts.put({
          jobId: task.jobId,
          key: `${adapterPrefix(task.key)}${name}`,
          kind: "adapter",
          sha256: blob.sha256,
          bytes: blob.bytes,
          path: blob.path,
          meta: {
            mediaType: record.mediaType,
            adapterKind: AdapterKind[adapter.kind],
            tokens: record.tokens,
          },
        });
        adapters.push(record);
      }
      const learned = adapters.find((a) => a.kind === AdapterKind.TEXTUAL_INVERSION)?.tokens;
      const baseModel = result.adapters?.baseModel?.name || deps.models.base;
      const owner = await deps.store.jobs.get(task.jobId);
      // A search's adapters learned part of the training images: scaffolding, not something to reuse.
      const adapterIds =
        owner === undefined || input.split !== undefined
          ? []
          : await registerTrainedAdapters(
              deps.store,
              { id: owner.id, apiKeyId: owner.apiKeyId, name: job.spec.name },
              task.key,
              baseModel,
              adapters,
            );
      const output: FinetuneOutput = {
        baseModel,
        adapters,
        tokens: learned !== undefined && learned.length === classes.length ? learned : tokens,
        steps: result.steps,
        finalLoss: result.finalLoss,
        durationSeconds: result.durationSeconds,
        cpuSeconds: result.cpuSeconds ?? null,
        adapterIds,
      };
      return { output };
    }
    // The stream ended without a result: the server broke the contract, or the connection dropped.
    throw new RpcError("unavailable", "the finetune stream ended without a result");
  };
}
