/**
 * The evaluate task: scores a run's checkpoint on the dataset's held-out test images (inline, or in
 * chunks over EvaluateUpload when the test set is large).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  EvaluateResponse,
  EvaluateSpecSchema,
  EvaluateUploadResponse,
} from "../../../../../shared/gen/diffda/classifier/v1/classifier_pb.js";
import { RpcError } from "../../../../../shared/rpc/index.js";
import type { EvaluateInput } from "../planner.js";
import { labelledPng } from "../proto.js";
import type { TaskHandler } from "../task-runner.js";
import { chunkBytesOf, chunkImages, fitsInline, imageWireBytes, type LabelledImageInit } from "../uploads.js";
import type { HandlerDeps, JobLoader } from "./context.js";
import type { SkippedRun, TrainOutput } from "./train.js";

/** Output of an evaluate task. NaN accuracies (a class without test images) are stored as null. */
export interface EvaluateOutput {
  sampleCount: number;
  top1Accuracy: number;
  perClassAccuracy: (number | null)[];
  meanLoss: number | null;
  confusionMatrix: { classCount: number; counts: number[] };
  /** CPU seconds the classifier service reported for the evaluation; null when it measured none. */
  cpuSeconds: number | null;
  /**
   * Per test image in the dataset's order, 1 when the checkpoint predicted its label: what the paired
   * intervals of the result resample. Absent in outputs of services that predate predictions.
   */
  correct?: number[];
}

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** Runs a checkpoint over labelled images: inline, or in chunks over EvaluateUpload when they are large. */
export async function evaluateImages(
  deps: HandlerDeps,
  spec: MessageInitShape<typeof EvaluateSpecSchema>,
  images: LabelledImageInit[],
  signal: AbortSignal,
): Promise<EvaluateResponse | EvaluateUploadResponse> {
  const chunkBytes = chunkBytesOf(deps);
  return fitsInline(
    images.reduce((sum, image) => sum + imageWireBytes(image), 0),
    chunkBytes,
  )
    ? await deps.clients.classifier.evaluate({ spec, images }, { signal })
    : await deps.clients.classifier.evaluateUpload(
        (async function* () {
          yield { payload: { case: "header" as const, value: { spec, imageCount: images.length } } };
          for await (const chunk of chunkImages(images, chunkBytes))
            yield { payload: { case: "chunk" as const, value: chunk } };
        })(),
        { signal },
      );
}

/** Builds the handler. */
export function evaluateHandler(deps: HandlerDeps, loader: JobLoader): TaskHandler {
  return async (task, { signal }) => {
    const input = task.input as EvaluateInput;
    const job = await loader.view(task.jobId, input.split);
    const trained = (await loader.outputs(task.jobId, [input.trainTask])).get(input.trainTask) as
      | TrainOutput
      | SkippedRun;
    // A search candidate dropped at an earlier rung trained nothing, so there is nothing to score.
    if ("skipped" in trained) return { output: trained };
    const content = await deps.artifacts.read(trained.checkpoint.sha256);
    const spec = {
      jobId: task.jobId,
      checkpoint: {
        name: trained.checkpoint.name,
        mediaType: trained.checkpoint.mediaType,
        content,
        sha256: trained.checkpoint.sha256,
      },
    };
    const images = job.images.test.map((image, i) => labelledPng(image.png, image.label, i));
    const response = await evaluateImages(deps, spec, images, signal);
    const metrics = response.metrics;
    if (metrics === undefined) throw new RpcError("invalid_argument", "the evaluation holds no metrics");
    const output: EvaluateOutput = {
      sampleCount: metrics.sampleCount,
      top1Accuracy: metrics.top1Accuracy,
      perClassAccuracy: metrics.perClassAccuracy.map(finite),
      meanLoss: finite(metrics.meanLoss),
      confusionMatrix: {
        classCount: metrics.confusionMatrix?.classCount ?? 0,
        counts: [...(metrics.confusionMatrix?.counts ?? [])],
      },
      cpuSeconds: response.cpuSeconds ?? null,
    };
    // Only a full answer lines up with the test images; a shorter one would pair the wrong images.
    if (metrics.predictions.length === images.length)
      output.correct = metrics.predictions.map((p, i) => (p === job.images.test[i].label ? 1 : 0));
    return { output };
  };
}
