import type { SchedulerName } from "../../../shared/diffusion/index.js";
import type { LabelledImage } from "../../../shared/gen/diffda/common/v1/dataset_pb.js";
import type { ImageData } from "../../../shared/gen/diffda/common/v1/image_pb.js";
import { AdapterKind, type AdapterSet } from "../../../shared/gen/diffda/common/v1/model_pb.js";
import type {
  GenerateShardRequest,
  SamplingParameters,
} from "../../../shared/gen/diffda/generation/v1/generation_pb.js";
import { checkWire, protoFieldName } from "../../../shared/generation-modes/parameters.js";
import { runnerOfCase } from "../../../shared/generation-modes/runners.js";
import type { ModeRunner } from "../../../shared/generation-modes/runtime.js";
import { RpcError } from "../../../shared/rpc/index.js";
import type { ModelRegistry } from "../../../shared/service/index.js";
import {
  countField,
  enumField,
  intField,
  invalidField,
  numberField,
  optionalInt,
  optionalNumber,
  seedField,
  sha256Hex,
  stringField,
  verifyArtifact,
} from "../../../shared/service/wire/index.js";
import type { AdapterFile, AdapterKind as EngineAdapterKind, ModelSpec } from "./engine/types.js";

/** Bounds a shard request must stay within (from configuration). */
export interface ShardLimits {
  /** Most samples in one shard. */
  readonly maxShardSamples: number;
  /** Most source images in one request. */
  readonly maxSources: number;
  /** Most denoising (or inversion) steps. */
  readonly maxSteps: number;
  /** Largest output width or height in pixels. */
  readonly maxSide: number;
}

/** Scheduler names of the contract → the engine's (diffusers class names). */
export const SCHEDULER_NAMES: Readonly<Record<string, SchedulerName>> = Object.freeze({
  ddim: "DDIMScheduler",
  ddpm: "DDPMScheduler",
  dpm_solver_multistep: "DPMSolverMultistepScheduler",
  euler_ancestral: "EulerAncestralDiscreteScheduler",
});

/** Default prompt template (the contract's). */
export const DEFAULT_TEMPLATE = "a photo of a {}";

/** A class of the job: the phrase prompts use is its token when set, else its name. */
interface ShardClass {
  readonly name: string;
  readonly token: string;
}

/** A real source image of the shard (pixels decoded lazily, only when the method needs them). */
interface ShardSource {
  readonly label: number;
  readonly image: ImageData | undefined;
  /** Request field, e.g. "sources[3]". */
  readonly field: string;
}

/** Denoising settings of the request; undefined: the method's default. */
interface ShardSampling {
  readonly steps?: number;
  readonly scheduler?: SchedulerName;
  readonly guidanceScale?: number;
  readonly templates: readonly string[];
  /** True when the request gave no templates (GIF then uses its own prompt scheme). */
  readonly defaultTemplates: boolean;
  readonly negativePrompt?: string;
  readonly width?: number;
  readonly height?: number;
}

/** The generation mode of a shard: its runner (shared/generation-modes) and its resolved parameters. */
interface ShardMethod {
  /** The mode's name in metrics, logs and engine batches. */
  readonly kind: string;
  readonly runner: ModeRunner;
  readonly resolved: unknown;
}

/** A validated GenerateShard request. */
export interface ShardRequest {
  readonly jobId: string;
  readonly shardIndex: number;
  readonly firstSampleIndex: number;
  readonly count: number;
  readonly seed: number;
  readonly samplesPerSource: number;
  readonly model: ModelSpec;
  readonly classes: readonly ShardClass[];
  /** By source_index. */
  readonly sources: ReadonlyMap<number, ShardSource>;
  readonly sampling: ShardSampling;
  readonly skip: ReadonlySet<number>;
  readonly method: ShardMethod;
}

const TEXT = { maxLength: 1000 };
const TOKEN = /^\S{1,100}$/;
const ADAPTER_KINDS: Readonly<Record<number, EngineAdapterKind>> = {
  [AdapterKind.TEXTUAL_INVERSION]: "textual_inversion",
  [AdapterKind.UNET_LORA]: "unet_lora",
  [AdapterKind.TEXT_ENCODER_LORA]: "text_encoder_lora",
  [AdapterKind.FULL_UNET]: "full_unet",
};

/** A request's base model and adapter files, checked field by field (`model` is the field name). */
export function modelSpec(set: AdapterSet | undefined, registry: ModelRegistry): ModelSpec {
  if (!set) throw invalidField("model", "is required");
  const base = registry.resolve(set.baseModel?.name ?? "", "model.base_model.name");
  countField(set.adapters, "model.adapters", { max: 16 });
  const adapters: AdapterFile[] = set.adapters.map((adapter, i) => {
    const field = `model.adapters[${i}]`;
    const kind = enumField(adapter.kind, `${field}.kind`, AdapterKind);
    const bytes = verifyArtifact(adapter.file, `${field}.file`);
    countField(adapter.tokens, `${field}.tokens`, { max: 1000 });
    for (const [k, t] of adapter.tokens.entries()) {
      stringField(t, `${field}.tokens[${k}]`, { pattern: TOKEN, patternName: "a token without whitespace" });
    }
    if (kind === AdapterKind.TEXTUAL_INVERSION && adapter.tokens.length === 0) {
      throw invalidField(`${field}.tokens`, "a textual-inversion adapter must list its tokens");
    }
    numberField(adapter.loraAlpha, `${field}.lora_alpha`, { min: 0, max: 1e6 });
    intField(adapter.loraRank, `${field}.lora_rank`, { min: 0, max: 4096 });
    return {
      kind: ADAPTER_KINDS[kind],
      bytes,
      sha256: adapter.file?.sha256 || sha256Hex(bytes),
      tokens: [...adapter.tokens],
      loraAlpha: adapter.loraAlpha,
      field,
    };
  });
  return { id: base.id, dir: base.dir, adapters };
}

function sampling(s: SamplingParameters | undefined, limits: ShardLimits): ShardSampling {
  const steps = optionalInt(
    s?.numInferenceSteps,
    "sampling.num_inference_steps",
    { min: 1, max: limits.maxSteps },
    undefined,
  );
  let scheduler: SchedulerName | undefined;
  if (s && s.scheduler !== "") {
    scheduler = SCHEDULER_NAMES[s.scheduler];
    if (!scheduler) {
      throw new RpcError(
        "unimplemented",
        `sampling.scheduler: "${s.scheduler}" is not implemented (${Object.keys(SCHEDULER_NAMES).join(", ")})`,
        { details: { field: "sampling.scheduler" } },
      );
    }
  }
  const templates = countField(s?.promptTemplates ?? [], "sampling.prompt_templates", { max: 256 });
  templates.forEach((t, i) => {
    const field = `sampling.prompt_templates[${i}]`;
    stringField(t, field, { minLength: 1, ...TEXT });
    if (!t.includes("{}")) throw invalidField(field, 'must contain "{}" for the class phrase');
  });
  const side = { min: 8, max: limits.maxSide };
  return {
    steps,
    scheduler,
    guidanceScale: optionalNumber(
      s?.guidanceScale,
      "sampling.guidance_scale",
      { min: 0, max: 100 },
      undefined,
    ),
    templates: templates.length > 0 ? [...templates] : [DEFAULT_TEMPLATE],
    defaultTemplates: templates.length === 0,
    negativePrompt: s?.negativePrompt
      ? stringField(s.negativePrompt, "sampling.negative_prompt", TEXT)
      : undefined,
    width: optionalInt(s?.width, "sampling.width", side, undefined),
    height: optionalInt(s?.height, "sampling.height", side, undefined),
  };
}

/**
 * The request's generation mode, looked up in the registry by its oneof case: every declared parameter
 * checked against its declaration (field `<mode>.<parameter>`), then the mode's own resolution.
 */
function method(req: GenerateShardRequest, registry: ModelRegistry): ShardMethod {
  const runner = runnerOfCase(req.method.case);
  if (!runner) throw invalidField("method", "exactly one generation method must be set");
  const { spec } = runner;
  const message = req.method.value as unknown as Readonly<Record<string, unknown>>;
  const values: Record<string, unknown> = {};
  for (const [name, parameter] of Object.entries(spec.parameters)) {
    values[name] = checkWire(parameter, message[name], `${spec.name}.${protoFieldName(name)}`);
  }
  const resolved = runner.resolve(values, message, {
    resolveModel: (name, field) => registry.resolve(name, field),
  });
  return { kind: spec.kind, runner, resolved };
}

function sources(
  list: readonly LabelledImage[],
  classCount: number,
  limits: ShardLimits,
): Map<number, ShardSource> {
  countField(list, "sources", { max: limits.maxSources });
  const out = new Map<number, ShardSource>();
  list.forEach((s, i) => {
    const field = `sources[${i}]`;
    intField(s.label, `${field}.label`, { min: 0, max: classCount - 1 });
    if (out.has(s.sourceIndex)) {
      throw invalidField(`${field}.source_index`, `source_index ${s.sourceIndex} appears twice`);
    }
    out.set(s.sourceIndex, { label: s.label, image: s.image, field });
  });
  return out;
}

/**
 * Validates every field of a GenerateShard request and resolves names (models, schedulers, adapter
 * kinds); the first problem found is an RpcError naming its field: `invalid_field` for a bad value,
 * `model_not_found` for an unknown model id, `unimplemented` for a scheduler or option not implemented,
 * `checksum_mismatch` for an adapter whose bytes do not match their sha256. Source images are decoded later,
 * when a sample needs them.
 */
export function validateShardRequest(
  req: GenerateShardRequest,
  registry: ModelRegistry,
  limits: ShardLimits,
): ShardRequest {
  const jobId = stringField(req.jobId, "job_id", { minLength: 1, maxLength: 256 });
  const count = intField(req.count, "count", { min: 1, max: limits.maxShardSamples });
  const firstSampleIndex = req.firstSampleIndex;
  if (firstSampleIndex + count > 2 ** 32) {
    throw invalidField("count", "first_sample_index + count must stay below 2^32");
  }
  const seed = seedField(req.seed, "seed");
  const samplesPerSource = intField(req.samplesPerSource, "samples_per_source", { min: 1, max: 1_000_000 });
  const classes = countField(req.classes, "classes", { min: 1, max: 10_000 }).map((c, i) => ({
    name: stringField(c.name, `classes[${i}].name`, { minLength: 1, maxLength: 200 }),
    token:
      c.token === ""
        ? ""
        : stringField(c.token, `classes[${i}].token`, {
            pattern: TOKEN,
            patternName: "a token without whitespace",
          }),
  }));
  const skip = new Set<number>();
  countField(req.skipSampleIndices, "skip_sample_indices", { max: count });
  for (const index of req.skipSampleIndices) {
    if (index < firstSampleIndex || index >= firstSampleIndex + count) {
      throw invalidField(
        "skip_sample_indices",
        `${index} is outside the shard [${firstSampleIndex}, ${firstSampleIndex + count})`,
      );
    }
    skip.add(index);
  }
  const m = method(req, registry);
  return {
    jobId,
    shardIndex: req.shardIndex,
    firstSampleIndex,
    count,
    seed,
    samplesPerSource,
    model: modelSpec(req.model, registry),
    classes,
    sources: sources(req.sources, classes.length, limits),
    sampling: sampling(req.sampling, limits),
    skip,
    method: m,
  };
}
