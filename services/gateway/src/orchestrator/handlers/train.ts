/**
 * The train task: trains a classifier for one (method, seed) run on the real training images and the
 * run's synthetic images (none for baselines), with the method's utilization, and keeps the checkpoint
 * in the artifact store (`checkpoint/<method>/seed=<seed>`). Sets over the upload chunk size go over
 * TrainUpload in chunks, the synthetic images read from the artifact store as they are sent.
 */
import { stepBudget } from "../../../../../shared/classifier/recipe.js";
import type {
  TrainResponse,
  TrainUploadResponse,
} from "../../../../../shared/gen/diffda/classifier/v1/classifier_pb.js";
import { RpcError } from "../../../../../shared/rpc/index.js";
import type { SyntheticMeta } from "../../exports/synthetic-set.js";
import type { ResolvedMethod } from "../../job-spec.js";
import type { SearchCandidate } from "../../search/search-spec.js";
import type { Artifact } from "../../store/index.js";
import type { TrainInput } from "../planner.js";
import { labelledPng, type TrainedHyperparameters, trainedHyperparameters, trainSpec } from "../proto.js";
import type { TaskHandler } from "../task-runner.js";
import {
  chunkBytesOf,
  chunkImages,
  fitsInline,
  imageWireBytes,
  type LabelledImageInit,
  wireBytes,
} from "../uploads.js";
import type { HandlerDeps, JobLoader, LoadedJob } from "./context.js";
import { type FilteringOutcome, filterSynthetic } from "./filter.js";
import { syntheticPrefix } from "./generate.js";
import type { SelectOutput } from "./select.js";

/** Output of a train task. */
export interface TrainOutput {
  /** The search candidate an auto method's run trained (absent: the task's own method). */
  method?: string;
  checkpoint: { name: string; mediaType: string; sha256: string; bytes: number };
  syntheticImages: number;
  parameterCount: number;
  /** Epochs trained (the per-epoch metrics the service sent). */
  epochs: number;
  /** Samples per step as the service resolved it (sized to the set when the job set none). */
  batchSize: number | null;
  /** Optimizer steps; null from a service older than the field. */
  steps: number | null;
  /** Samples trained on, the service's exact count; null from a service older than the field. */
  imagesSeen: number | null;
  /** The weights it started from ("scratch" or a backbone); null from a classifier older than the field. */
  backbone?: string | null;
  /** Every hyperparameter of the run, defaults filled in, as the service echoed them. */
  hyperparameters: TrainedHyperparameters | null;
  finalTrainLoss: number | null;
  finalTrainAccuracy: number | null;
  durationSeconds: number;
  /** CPU seconds the classifier service reported for the run; null when it measured none. */
  cpuSeconds: number | null;
  /** What filtering scored and dropped (absent: the method does not filter); syntheticImages counts the kept. */
  filtering?: FilteringOutcome;
}

/** Output of a search candidate's run that a rung dropped: nothing trained (nor scored). */
export interface SkippedRun {
  skipped: true;
  reason: string;
}

/** Artifact key of a run's checkpoint. */
function checkpointKey(method: string, seed: number): string {
  return `checkpoint/${method}/seed=${seed}`;
}

/** Builds the handler. */
export function trainHandler(deps: HandlerDeps, loader: JobLoader): TaskHandler {
  return async (task, { signal }) => {
    const input = task.input as TrainInput;
    const run = await resolveRun(loader, task.jobId, input);
    if ("skipped" in run) return { output: run };
    const { job, method, synthetic, sourceIndex } = run;
    const { classes, train } = job.images;
    // Only the listing is held at once; image bytes are read as they are sent.
    const rows: Artifact[] = [];
    if (method.generation !== null) {
      for (let after: string | undefined; ; ) {
        const page = await deps.store.artifacts.list(task.jobId, {
          prefix: syntheticPrefix(synthetic.method, synthetic.seed),
          afterKey: after,
          limit: 1000,
        });
        rows.push(...page);
        if (page.length < 1000) break;
        after = page[page.length - 1].key;
      }
    }
    // Filtering (docs/methods.md#filtering): only the images it keeps train the classifier.
    let filtering: FilteringOutcome | undefined;
    if (method.filtering !== undefined) {
      const filtered = await filterSynthetic(deps, loader, task.jobId, job, method, input, rows, signal);
      rows.splice(0, rows.length, ...filtered.kept);
      filtering = filtered.outcome;
    }
    const readSynthetic = async (artifact: Artifact): Promise<LabelledImageInit> => {
      const meta = artifact.meta as SyntheticMeta;
      return labelledPng(
        new Uint8Array(await deps.artifacts.read(artifact.sha256)),
        meta.label,
        sourceIndex(meta.sourceIndex),
        {
          ...(meta.interClass ? { interClass: meta.interClass } : {}),
        },
      );
    };
    const spec = {
      jobId: task.jobId,
      classes: classes.map((name) => ({ name })),
      ...trainSpec(
        method.utilization,
        job.spec.classifier,
        input.seed,
        { architecture: deps.models.architecture },
        job.spec.classifier.budget === "epochs" ? undefined : stepBudget(train.length, job.spec.classifier),
      ),
    };
    const real = train.map((image, i) => labelledPng(image.png, image.label, i));
    const chunkBytes = chunkBytesOf(deps);
    const totalBytes =
      real.reduce((sum, image) => sum + imageWireBytes(image), 0) +
      rows.reduce((sum, artifact) => sum + wireBytes(artifact.bytes), 0);
    const report = loader.progress(task.jobId, task.key);
    let stream: AsyncIterable<TrainResponse | TrainUploadResponse>;
    if (fitsInline(totalBytes, chunkBytes)) {
      const syntheticImages: LabelledImageInit[] = [];
      for (const artifact of rows) syntheticImages.push(await readSynthetic(artifact));
      stream = deps.clients.classifier.train({ spec, realImages: real, syntheticImages }, { signal });
    } else {
      stream = deps.clients.classifier.trainUpload(
        (async function* () {
          yield {
            payload: {
              case: "header" as const,
              value: { spec, realCount: real.length, syntheticCount: rows.length },
            },
          };
          for await (const chunk of chunkImages(real, chunkBytes))
            yield { payload: { case: "realChunk" as const, value: chunk } };
          const synthetic = (async function* () {
            for (const artifact of rows) yield await readSynthetic(artifact);
          })();
          for await (const chunk of chunkImages(synthetic, chunkBytes))
            yield { payload: { case: "syntheticChunk" as const, value: chunk } };
        })(),
        { signal },
      );
    }
    for await (const message of stream) {
      if (message.event.case === "progress") await report(message.event.value);
      else if (message.event.case === "result") {
        const result = message.event.value;
        const checkpoint = result.checkpoint;
        if (checkpoint === undefined || checkpoint.content.length === 0) {
          throw new RpcError("invalid_argument", "the training result holds no checkpoint");
        }
        const blob = await deps.artifacts.put(checkpoint.content);
        if (checkpoint.sha256 !== "" && checkpoint.sha256 !== blob.sha256) {
          throw new RpcError("checksum_mismatch", "the checkpoint does not match its sha256");
        }
        const mediaType = checkpoint.mediaType || "application/octet-stream";
        await deps.store.artifacts.put({
          jobId: task.jobId,
          key: checkpointKey(input.method, input.seed),
          kind: "classifier_checkpoint",
          sha256: blob.sha256,
          bytes: blob.bytes,
          path: blob.path,
          meta: { mediaType, name: checkpoint.name, method: input.method, seed: input.seed },
        });
        const lastEpoch = result.epochs.at(-1);
        const hyperparameters = trainedHyperparameters(result.hyperparameters);
        const output: TrainOutput = {
          ...(method.label === input.method ? {} : { method: method.label }),
          checkpoint: { name: checkpoint.name, mediaType, sha256: blob.sha256, bytes: blob.bytes },
          syntheticImages: rows.length,
          parameterCount: Number(result.parameterCount),
          epochs: result.epochs.length,
          batchSize: hyperparameters?.batchSize ?? null,
          steps: result.steps === undefined ? null : Number(result.steps),
          imagesSeen: result.imagesSeen === undefined ? null : Number(result.imagesSeen),
          backbone: result.backbone ?? null,
          hyperparameters,
          finalTrainLoss: lastEpoch?.trainLoss ?? null,
          finalTrainAccuracy: lastEpoch?.trainAccuracy ?? null,
          durationSeconds: result.durationSeconds,
          cpuSeconds: result.cpuSeconds ?? null,
          ...(filtering === undefined ? {} : { filtering }),
        };
        return { output };
      }
    }
    throw new RpcError("unavailable", "the training stream ended without a result");
  };
}

/** What a train task trains: its method (for the auto method, the chosen candidate) and synthetic set. */
interface Run {
  job: LoadedJob;
  method: ResolvedMethod;
  synthetic: { method: string; seed: number };
  /** A synthetic image's source index in this run's real images. */
  sourceIndex: (stored: number) => number;
}

async function resolveRun(loader: JobLoader, jobId: string, input: TrainInput): Promise<Run | SkippedRun> {
  const own = { method: input.method, seed: input.seed };
  if (input.survivorsOf !== undefined) {
    const selected = (await loader.outputs(jobId, [input.survivorsOf])).get(
      input.survivorsOf,
    ) as SelectOutput;
    if (!selected.survivors.includes(input.method))
      return { skipped: true, reason: `dropped by ${input.survivorsOf}` };
  }
  if (input.chosenBy === undefined) {
    const { job, method } = await loader.method(jobId, input.method, input.split);
    return { job, method, synthetic: input.synthetic ?? own, sourceIndex: (i) => i };
  }
  // The auto method's final run: the chosen candidate on every training image, with the synthetic set the
  // search generated (from the training images less validation, whose indices the split maps back).
  const selected = (await loader.outputs(jobId, [input.chosenBy])).get(input.chosenBy) as SelectOutput;
  const { job: searched, method } = await loader.method(jobId, selected.chosen, "search");
  const indices = searched.trainIndices ?? [];
  const seed = searched.spec.search?.seed ?? input.seed;
  const syntheticOf = (method as Partial<SearchCandidate>).syntheticOf ?? method.label;
  return {
    job: await loader.job(jobId),
    method,
    synthetic: { method: syntheticOf, seed },
    sourceIndex: (i) => indices[i] ?? i,
  };
}
