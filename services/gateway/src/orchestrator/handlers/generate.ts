/**
 * The generate task: one shard of one (method, seed) run. It asks a generation replica (round-robin by
 * shard, the next one on each retry) for samples [first, first + count), telling it which samples an
 * earlier attempt already stored (`skip_sample_indices`), and writes each image into the artifact store
 * keyed by (job, method, seed, shard, index): a re-run shard writes each image once. The shard succeeds
 * only when every one of its samples is stored.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { sniffFormat } from "../../../../../shared/data/index.js";
import type { LabelledImageSchema } from "../../../../../shared/gen/diffda/common/v1/dataset_pb.js";
import { modeSpec } from "../../../../../shared/generation-modes/specs.js";
import { RpcError } from "../../../../../shared/rpc/index.js";
import { adapterKindOf } from "../../adapters/kind.js";
import type { SyntheticMeta } from "../../exports/synthetic-set.js";
import type { ResolvedAdapter } from "../../job-spec.js";
import type { GenerateInput } from "../planner.js";
import { generationFields, labelledPng } from "../proto.js";
import type { TaskHandler } from "../task-runner.js";
import type { HandlerDeps, JobLoader } from "./context.js";
import type { FinetuneOutput } from "./finetune.js";

/** Output of a generate task. */
export interface GenerateOutput {
  /** Samples of the shard now stored. */
  images: number;
  /** Of which this attempt generated. */
  generated: number;
  /** Server seconds of this attempt (0 when every sample was already stored). */
  durationSeconds: number;
  /** CPU seconds the replica reported for this attempt (0 when every sample was already stored; null: not measured). */
  cpuSeconds: number | null;
  replica: string;
  /** Size of the images this attempt generated (from the first PNG's header); null when it generated none. */
  imageSize?: { height: number; width: number } | null;
  /** The base model the replica drew with and its folder digest (absent: an older replica, or nothing generated). */
  model?: { id: string; sha256: string } | null;
}

/** Height and width from a PNG's IHDR chunk (bytes 16–23), or null for anything else. */
function pngSize(bytes: Uint8Array): { height: number; width: number } | null {
  if (bytes.length < 24 || sniffFormat(bytes) !== "png") return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** Artifact key prefix of a run's synthetic images. */
export function syntheticPrefix(method: string, seed: number): string {
  return `synthetic/${method}/seed=${seed}/`;
}

/** Artifact key of one synthetic image. */
function syntheticKey(method: string, seed: number, shardIndex: number, sampleIndex: number): string {
  return `${syntheticPrefix(method, seed)}${String(shardIndex).padStart(5, "0")}/${String(sampleIndex).padStart(7, "0")}`;
}

/**
 * The class tokens of stored adapters: a textual inversion with one token per class binds them in class
 * order (as fine-tuning's does); otherwise prompts use the class names and may name the tokens themselves.
 */
function storedClassTokens(
  adapters: readonly ResolvedAdapter[],
  classCount: number,
): readonly string[] | undefined {
  return adapters.find((a) => a.kind === "textual_inversion" && a.tokens.length === classCount)?.tokens;
}

/** Builds the handler. */
export function generateHandler(deps: HandlerDeps, loader: JobLoader): TaskHandler {
  return async (task, { signal, lease }) => {
    const input = task.input as GenerateInput;
    const { job, method } = await loader.method(task.jobId, input.method, input.split);
    const generation = method.generation;
    if (generation === null)
      throw new RpcError("invalid_argument", `method ${input.method} generates nothing`);
    const { classes, promptNames, train } = job.images;
    // A search's shards are numbered over every training image; the split leaves fewer, so clip the range.
    const count = Math.max(
      0,
      Math.min(input.count, train.length * input.samplesPerSource - input.firstSampleIndex),
    );
    const shardPrefix = `${syntheticPrefix(input.method, input.seed)}${String(input.shardIndex).padStart(5, "0")}/`;
    const stored = async () =>
      new Set(
        (await deps.store.artifacts.list(task.jobId, { prefix: shardPrefix, limit: count + 1 })).map(
          (a) => (a.meta as SyntheticMeta).sampleIndex,
        ),
      );
    const done = await stored();
    const { client, address } = deps.clients.generation.pick(input.shardIndex, lease.attempt);
    if (done.size >= count)
      return {
        output: { images: done.size, generated: 0, durationSeconds: 0, cpuSeconds: 0, replica: address },
      };

    let adapters: FinetuneOutput | undefined;
    if (input.finetuneTask !== null) {
      adapters = (await loader.outputs(task.jobId, [input.finetuneTask])).get(
        input.finetuneTask,
      ) as FinetuneOutput;
    }
    const last = input.firstSampleIndex + count - 1;
    const firstSource = Math.floor(input.firstSampleIndex / input.samplesPerSource);
    const lastSource = Math.floor(last / input.samplesPerSource);
    const mode = modeSpec(generation.mode);
    // A mode that pairs a source with others of its class (Diff-II) gets every real image.
    const wanted = mode.sources === "all" ? [0, train.length - 1] : [firstSource, lastSource];
    const sources: MessageInitShape<typeof LabelledImageSchema>[] = [];
    for (let i = wanted[0]; i <= wanted[1] && i < train.length; i++) {
      sources.push(labelledPng(train[i].png, train[i].label, i));
    }
    const model = generation.model ?? (mode.model === "instruct" ? deps.models.instruct : deps.models.base);
    const adapterFiles = [];
    for (const adapter of adapters?.adapters ?? []) {
      adapterFiles.push({
        kind: adapter.kind,
        file: {
          name: adapter.name,
          mediaType: adapter.mediaType,
          content: await deps.artifacts.read(adapter.sha256),
          sha256: adapter.sha256,
        },
        tokens: adapter.tokens,
        loraRank: adapter.loraRank,
        loraAlpha: adapter.loraAlpha,
      });
    }
    // Stored adapters (POST /v1/adapters) the method names instead of fine-tuning.
    for (const adapter of method.adapters ?? []) {
      adapterFiles.push({
        kind: adapterKindOf(adapter),
        file: {
          name: `${adapter.id}.safetensors`,
          mediaType: "application/vnd.safetensors",
          content: await deps.artifacts.read(adapter.sha256),
          sha256: adapter.sha256,
        },
        tokens: adapter.tokens,
        loraRank: adapter.rank,
        loraAlpha: adapter.alpha,
      });
    }
    const classTokens = adapters?.tokens ?? storedClassTokens(method.adapters ?? [], classes.length);
    const report = loader.progress(task.jobId, task.key);
    const stream = client.generateShard(
      {
        jobId: task.jobId,
        shardIndex: input.shardIndex,
        firstSampleIndex: input.firstSampleIndex,
        count,
        seed: BigInt(input.seed),
        samplesPerSource: input.samplesPerSource,
        model: { baseModel: { name: adapters?.baseModel ?? model }, adapters: adapterFiles },
        // Prompts say each class's prompt name; the samples keep the class name (meta below).
        classes: promptNames.map((name, i) => ({ name, token: classTokens?.[i] ?? "" })),
        sources,
        skipSampleIndices: [...done],
        ...generationFields(generation),
      },
      { signal },
    );
    let generated = 0;
    let imageSize: GenerateOutput["imageSize"] = null;
    let durationSeconds = 0;
    let cpuSeconds: number | null = null;
    let drewWith: GenerateOutput["model"] = null;
    let completed = false;
    for await (const message of stream) {
      const event = message.event;
      if (event.case === "progress") await report(event.value);
      else if (event.case === "completed") {
        completed = true;
        durationSeconds = event.value.durationSeconds;
        cpuSeconds = event.value.cpuSeconds ?? null;
        if (event.value.modelId) drewWith = { id: event.value.modelId, sha256: event.value.modelSha256 };
      } else if (event.case === "image") {
        const { sampleIndex, sample, prompt } = event.value;
        if (sampleIndex < input.firstSampleIndex || sampleIndex > last) {
          throw new RpcError("out_of_range", `sample ${sampleIndex} is outside shard ${input.shardIndex}`);
        }
        const bytes = sample?.image?.data;
        if (sample === undefined || bytes === undefined || bytes.length === 0) {
          throw new RpcError("invalid_argument", `sample ${sampleIndex} carries no image`);
        }
        imageSize ??= pngSize(bytes);
        const blob = await deps.artifacts.put(bytes);
        if (sample.image?.sha256 && sample.image.sha256 !== blob.sha256) {
          throw new RpcError("checksum_mismatch", `sample ${sampleIndex} does not match its sha256`);
        }
        const meta: SyntheticMeta = {
          mediaType: "image/png",
          method: input.method,
          seed: input.seed,
          shardIndex: input.shardIndex,
          sampleIndex,
          label: sample.label,
          className: classes[sample.label] ?? String(sample.label),
          sourceIndex: sample.sourceIndex,
          prompt,
          interClass: sample.interClass
            ? { sourceLabel: sample.interClass.sourceLabel, strength: sample.interClass.strength }
            : null,
          model: adapters?.baseModel ?? model,
          strength: generation.strength ?? null,
        };
        const put = await deps.store.artifacts.put({
          jobId: task.jobId,
          key: syntheticKey(input.method, input.seed, input.shardIndex, sampleIndex),
          kind: "synthetic_image",
          sha256: blob.sha256,
          bytes: blob.bytes,
          path: blob.path,
          meta,
        });
        if (put.created) {
          generated++;
          deps.metrics?.generatedImages.inc();
        }
      }
    }
    if (!completed)
      throw new RpcError("unavailable", `shard ${input.shardIndex}: the stream ended before ShardCompleted`);
    const now = await stored();
    if (now.size < count) {
      throw new RpcError("aborted", `shard ${input.shardIndex}: ${now.size} of ${count} samples stored`);
    }
    const output: GenerateOutput = {
      images: now.size,
      generated,
      durationSeconds,
      cpuSeconds,
      replica: address,
      imageSize,
      model: drewWith,
    };
    return { output };
  };
}
