/**
 * How long a selection of cells will take, before running it (`--dry-run`): the work each job does —
 * synthetic images per method, fine-tuning steps per distinct fine-tuning task, classifier image-epochs,
 * test images — priced with the per-unit CPU costs measured on this machine (the configuration's
 * `calibration`), and turned into wall time with the measured wall seconds per CPU second of a job.
 * An estimate, not a promise: the calibration holds for the configuration's budget on an idle machine.
 */
import { canonicalJson } from "../../services/gateway/src/orchestrator/planner.js";
import { type MethodPreset, presetById } from "../../services/gateway/src/presets.js";
import { AUTO_PRESET } from "../../services/gateway/src/search/search-spec.js";
import {
  FASHION_MNIST_TEST_PER_CLASS,
  MNIST_TEST_FRACTION,
  TEXTURES_TEST_PER_CLASS,
} from "../../shared/data/index.js";
import type { Cell, CellMethod } from "./cells.js";
import type { Calibration } from "./config.js";

/** Test images per class of a built-in's full test split (when a task sets no `testPerClass`). */
const FULL_TEST_PER_CLASS: Readonly<Record<string, number>> = {
  "fashion-mnist": FASHION_MNIST_TEST_PER_CLASS,
  mnist: Math.round(1000 * MNIST_TEST_FRACTION), // about 1,000 images per class
  textures: TEXTURES_TEST_PER_CLASS,
};
/** The classifier service's batch size when a job sets none. */
const DEFAULT_BATCH = 128;

/** The work of one job. */
export interface JobWork {
  readonly syntheticImages: number;
  readonly finetuneTasks: number;
  readonly textualInversionSteps: number;
  readonly loraSteps: number;
  /** Classifier images × epochs over all training runs. */
  readonly trainImageEpochs: number;
  /** Epochs over all training runs. */
  readonly trainEpochs: number;
  readonly testImages: number;
}

/** Work with its estimated CPU and wall seconds. */
export interface JobEstimate extends JobWork {
  readonly cpuSeconds: { finetune: number; generate: number; train: number; evaluate: number; total: number };
  readonly wallSeconds: number;
}

/** The preset with a request's overrides merged in (deep for plain objects, like the gateway's resolution). */
function resolveMethod(method: CellMethod): MethodPreset {
  const preset = presetById(method.preset);
  if (preset === undefined) throw new Error(`unknown preset ${method.preset}`);
  const merge = (into: Record<string, unknown>, from: Record<string, unknown>) => {
    for (const [key, value] of Object.entries(from)) {
      const here = into[key];
      if (
        typeof value === "object" &&
        value !== null &&
        !Array.isArray(value) &&
        typeof here === "object" &&
        here
      ) {
        merge(here as Record<string, unknown>, value as Record<string, unknown>);
      } else into[key] = structuredClone(value);
    }
  };
  const { preset: _preset, label: _label, ...overrides } = method.request;
  merge(preset as unknown as Record<string, unknown>, overrides as Record<string, unknown>);
  return preset;
}

/** The work a job of `methods` on `cell` does. */
export function jobWork(cell: Cell, methods: readonly CellMethod[]): JobWork {
  const classes = cell.task.classes.length;
  const train = classes * cell.shots;
  const test =
    classes *
    (cell.dataset.testPerClass ?? FULL_TEST_PER_CLASS[cell.dataset.builtin] ?? FASHION_MNIST_TEST_PER_CLASS);
  const epochs = Number(cell.classifier.epochs ?? 0);
  const batch = Number(cell.classifier.batchSize ?? DEFAULT_BATCH);
  // The classifier drops an epoch's last partial batch once the epoch holds a full one.
  const perEpoch = (n: number) => (n >= batch ? Math.floor(n / batch) * batch : n);
  const finetunes = new Map<string, MethodPreset["finetuning"]>();
  let synthetic = 0;
  let imageEpochs = 0;
  for (const method of methods) {
    // The auto method's search is sized by the service at submission; the estimate leaves it out.
    if (method.preset === AUTO_PRESET) continue;
    const resolved = resolveMethod(method);
    const perReal = resolved.generation?.syntheticPerReal ?? 0;
    synthetic += train * perReal;
    if (resolved.generation !== null && resolved.finetuning.method !== "none")
      finetunes.set(canonicalJson(resolved.finetuning), resolved.finetuning);
    const pool =
      resolved.utilization.mode === "fc"
        ? train * (1 + perReal)
        : resolved.utilization.mode === "fr"
          ? train * perReal
          : train;
    imageEpochs += epochs * perEpoch(pool);
  }
  let ti = 0;
  let lora = 0;
  for (const ft of finetunes.values()) {
    if (ft.method === "textual_inversion" || ft.method === "ti_lora")
      ti += ft.textualInversion?.maxTrainSteps ?? 0;
    if (ft.method === "ti_lora" || ft.method === "text_encoder_lora") lora += ft.lora?.maxTrainSteps ?? 0;
  }
  return {
    syntheticImages: synthetic,
    finetuneTasks: finetunes.size,
    textualInversionSteps: ti,
    loraSteps: lora,
    trainImageEpochs: imageEpochs,
    trainEpochs: epochs * methods.length,
    testImages: test * methods.length,
  };
}

/**
 * Generation CPU of a method's images: the calibrated cost per image, scaled by strength for a variant
 * whose strength differs from its preset's (img2img runs about strength × steps denoising steps).
 */
function generationCpu(method: CellMethod, images: number, calibration: Calibration): number {
  const perImage = calibration.cpuSecondsPerSyntheticImage[method.preset];
  if (perImage === undefined) return 0;
  const base = presetById(method.preset)?.generation?.strength;
  const strength = resolveMethod(method).generation?.strength;
  const scale = base !== undefined && strength !== undefined && base > 0 ? strength / base : 1;
  return images * perImage * scale;
}

/** The estimated CPU and wall time of a job of `methods` on `cell`. */
export function estimateJob(
  cell: Cell,
  methods: readonly CellMethod[],
  calibration: Calibration,
): JobEstimate {
  const work = jobWork(cell, methods);
  const train = cell.task.classes.length * cell.shots;
  const generate = methods
    .filter((m) => m.preset !== AUTO_PRESET)
    .reduce(
      (sum, m) =>
        sum + generationCpu(m, train * (resolveMethod(m).generation?.syntheticPerReal ?? 0), calibration),
      0,
    );
  const c = calibration;
  const finetune =
    work.finetuneTasks * c.cpuSecondsPerFinetuneTask +
    work.textualInversionSteps * c.cpuSecondsPerFinetuneStep.textualInversion +
    work.loraSteps * c.cpuSecondsPerFinetuneStep.lora;
  const trainCpu =
    work.trainImageEpochs * c.cpuSecondsPerTrainImageEpoch + work.trainEpochs * c.cpuSecondsPerTrainEpoch;
  const evaluate = work.testImages * c.cpuSecondsPerTestImage;
  const total = finetune + generate + trainCpu + evaluate;
  return {
    ...work,
    cpuSeconds: { finetune, generate, train: trainCpu, evaluate, total },
    wallSeconds: total * c.wallSecondsPerCpuSecond,
  };
}
