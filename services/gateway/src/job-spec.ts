/**
 * From a job request to the resolved spec the job stores and the planner reads: presets expanded,
 * overrides applied, defaults filled, baselines added, and every cross-field rule the JSON Schema cannot
 * express checked (a parameter its component does not take, a baseline with generation, labels that
 * collide, a plan over the limits). Problems come back as field issues for a 422 `invalid_job_spec`.
 */
import { BACKBONES, backboneMismatch } from "../../../shared/classifier/backbones.js";
import { MODE_SPECS, modeSpec } from "../../../shared/generation-modes/specs.js";
import type { FieldIssue } from "./errors.js";
import {
  checkJobFiltering,
  type FilteringRequest,
  type FilteringSpec,
  resolveFiltering,
} from "./filtering-spec.js";
import {
  BASELINE_IDS,
  FINETUNE_PARAMETERS,
  type FinetuningSpec,
  type GenerationOverride,
  type GenerationSpec,
  type MethodPreset,
  presetById,
  type SamplingSpec,
  type UtilizationSpec,
} from "./presets.js";
import { AUTO_PRESET, resolveSearch, type SearchRequest, type SearchSpec } from "./search/search-spec.js";
import type { JobWebhook, WebhookEvent } from "./store/index.js";

/** A method as a request sends it (already schema-valid). */
export interface MethodRequest {
  preset?: string;
  label?: string;
  finetuning?: Partial<FinetuningSpec>;
  generation?: GenerationOverride;
  utilization?: Partial<UtilizationSpec>;
  /** Sample filtering between generation and utilization (default: scorer none). */
  filtering?: FilteringRequest;
  /** Stored adapters (POST /v1/adapters) to generate with instead of fine-tuning, by id. */
  adapters?: string[];
  /** With preset "auto": the space and budget of the search (search/search-spec.ts). */
  search?: SearchRequest;
}

/** Classifier settings of a job; unset fields take the classifier service's defaults. */
export interface ClassifierSpec {
  architecture?: string;
  /**
   * Where the weights start: "scratch" (default) or a pretrained backbone (shared/classifier/backbones.ts),
   * fine-tuned per run with a new head; a backbone fixes the architecture (filled in when unset).
   */
  backbone?: string;
  /**
   * What runs of a job share: "steps" (default) the optimizer steps and batch size of the no-augmentation
   * baseline, "epochs" the number of passes over each run's own training set (the paper's view).
   */
  budget?: "steps" | "epochs";
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  optimizer?: "sgd" | "adamw";
  weightDecay?: number;
  labelSmoothing?: number;
  imageSize?: number;
}

/**
 * What a job does: "evaluate" (the default) generates, trains and scores a classifier per (method, seed)
 * beside the baselines; "generate" only makes the synthetic sets (no baselines, no classifier), for a
 * pipeline that trains its own model on them.
 */
type JobKind = "evaluate" | "generate";

/** `POST /v1/jobs` body (already schema-valid). */
export interface JobRequest {
  datasetId: string;
  kind?: JobKind;
  name?: string;
  methods: MethodRequest[];
  seeds?: number[];
  baselines?: string[];
  classifier?: ClassifierSpec;
  shardSize?: number;
  webhook?: WebhookRequest;
}

/** Where a job's events are posted, as requested. */
interface WebhookRequest {
  url: string;
  /** Default {@link DEFAULT_WEBHOOK_EVENTS}. */
  events?: WebhookEvent[];
}

/** The events a webhook gets when the request names none: the job's end, whichever it is. */
const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEvent[] = ["job.succeeded", "job.failed", "job.cancelled"];

/** A method with every component resolved. */
export interface ResolvedMethod {
  /** Unique in the job; names the method in task keys, artifacts and results. */
  label: string;
  preset: string | null;
  kind: "diffda" | "baseline";
  finetuning: FinetuningSpec;
  generation: GenerationSpec | null;
  utilization: UtilizationSpec;
  /** Sample filtering; absent: none (every preset's default). */
  filtering?: FilteringSpec;
  /** Stored adapters the generation applies, in order (absent: none); fine-tuning is then "none". */
  adapters?: ResolvedAdapter[];
}

/** A stored adapter as a job's spec records it: what the generate task sends, by the file's digest. */
export interface ResolvedAdapter {
  id: string;
  kind: "lora" | "textual_inversion";
  model: string;
  sha256: string;
  tokens: string[];
  rank: number;
  alpha: number;
}

/** The spec a job stores: what ran, reproducibly. */
export interface JobSpec {
  version: 1;
  /** Absent in specs stored before generation-only jobs: "evaluate". */
  kind?: JobKind;
  name: string | null;
  datasetId: string;
  seeds: number[];
  /** Baselines first, then the requested methods in request order. */
  methods: ResolvedMethod[];
  classifier: ClassifierSpec;
  shardSize: number;
  /** Absent when the job has no webhook. */
  webhook?: JobWebhook;
  /** The `auto` method's search; absent when the job names no auto method. */
  search?: SearchSpec;
}

/** Facts and limits the resolution needs. */
export interface ResolveContext {
  /** Real training images of the dataset (each yields `syntheticPerReal` samples per seed). */
  trainCount: number;
  /** Default shard size (config SHARD_SIZE). */
  shardSize: number;
  /** Most synthetic images one job may generate, over methods and seeds. */
  maxSyntheticImages: number;
  /** Most (method, seed) runs one job may hold. */
  maxRuns: number;
  /** The stored adapters the methods name that the caller may use, by id (absent ids are refused). */
  adapters?: ReadonlyMap<string, ResolvedAdapter>;
}

/** The modes whose samples carry soft labels. */
const INTER_CLASS_MODES = MODE_SPECS.filter((m) => m.interClass).map((m) => m.name);

const DEFAULT_SAMPLING: SamplingSpec = {
  scheduler: "dpm_solver_multistep",
  numInferenceSteps: 25,
  guidanceScale: 7.5,
};

/** Keys of `value` whose value is not undefined. */
function given<T extends object>(value: T | undefined): (keyof T)[] {
  return value === undefined ? [] : (Object.keys(value) as (keyof T)[]).filter((k) => value[k] !== undefined);
}

/**
 * The stored adapters a method names, checked: they replace fine-tuning (which must be "none"), need a
 * generating method, must be visible to the caller, and must all fit the method's model. A method that
 * names no model takes the adapters' one.
 */
function resolveAdapters(
  request: MethodRequest,
  method: Omit<ResolvedMethod, "label">,
  at: string,
  issues: FieldIssue[],
  known: ReadonlyMap<string, ResolvedAdapter> | undefined,
): ResolvedAdapter[] | undefined {
  const ids = request.adapters;
  if (ids === undefined || ids.length === 0) return undefined;
  const before = issues.length;
  if (method.generation === null) {
    issues.push({ field: `${at}/adapters`, message: "a method that generates nothing applies no adapters" });
    return undefined;
  }
  if (method.finetuning.method !== "none") {
    issues.push({
      field: `${at}/finetuning/method`,
      message: `adapters replace fine-tuning: set finetuning.method to none, not ${method.finetuning.method}`,
    });
  }
  const adapters: ResolvedAdapter[] = [];
  ids.forEach((id, k) => {
    const adapter = known?.get(id);
    if (adapter === undefined) {
      issues.push({ field: `${at}/adapters/${k}`, message: `names no adapter visible to this key (${id})` });
      return;
    }
    const model = method.generation?.model ?? adapters[0]?.model ?? adapter.model;
    if (adapter.model !== model) {
      issues.push({
        field: `${at}/adapters/${k}`,
        message: `adapter ${id} fits model "${adapter.model}", the method generates with "${model}"`,
      });
      return;
    }
    adapters.push(structuredClone(adapter));
  });
  if (issues.length > before) return undefined;
  if (method.generation.model === undefined) method.generation.model = adapters[0].model;
  return adapters;
}

function resolveMethod(
  request: MethodRequest,
  at: string,
  issues: FieldIssue[],
  known?: ReadonlyMap<string, ResolvedAdapter>,
): Omit<ResolvedMethod, "label"> {
  const components = resolveComponents(request, at, issues);
  const filtering = resolveFiltering(request.filtering, components.generation !== null, at, issues);
  const method = filtering === undefined ? components : { ...components, filtering };
  const adapters = resolveAdapters(request, method, at, issues, known);
  return adapters === undefined ? method : { ...method, adapters };
}

function resolveComponents(
  request: MethodRequest,
  at: string,
  issues: FieldIssue[],
): Omit<ResolvedMethod, "label"> {
  const issue = (field: string, message: string) => issues.push({ field: `${at}/${field}`, message });
  const preset: MethodPreset | undefined =
    request.preset === undefined ? undefined : presetById(request.preset);
  const kind = preset?.kind ?? "diffda";

  // Fine-tuning: the request's method (or the preset's), its blocks merged over the preset's.
  const ft = request.finetuning ?? {};
  const finetuneMethod = ft.method ?? preset?.finetuning.method ?? "none";
  const finetuning: FinetuningSpec = { method: finetuneMethod };
  const ftAllowed = new Set<string>(FINETUNE_PARAMETERS[finetuneMethod]);
  for (const key of given(ft)) {
    if (key !== "method" && !ftAllowed.has(key)) {
      issue(`finetuning/${key}`, `fine-tuning method ${finetuneMethod} takes no ${key}`);
    }
  }
  for (const key of ftAllowed) {
    const k = key as keyof FinetuningSpec;
    const fromPreset = preset?.finetuning[k];
    const fromRequest = ft[k];
    const merged =
      typeof fromRequest === "object" && !Array.isArray(fromRequest) && typeof fromPreset === "object"
        ? { ...(fromPreset as object), ...(fromRequest as object) }
        : (fromRequest ?? fromPreset);
    if (merged !== undefined) (finetuning as unknown as Record<string, unknown>)[k] = structuredClone(merged);
  }

  // Generation: none for baselines.
  let generation: GenerationSpec | null = null;
  const gen = request.generation;
  if (kind === "baseline") {
    if (gen !== undefined) issue("generation", "a baseline generates no images");
    if (request.finetuning !== undefined && finetuneMethod !== "none") {
      issue("finetuning/method", "a baseline fine-tunes nothing");
    }
  } else {
    const base = preset?.generation ?? undefined;
    const mode = gen?.mode ?? base?.mode;
    if (mode === undefined) {
      issue("generation/mode", "is required for a method without a preset");
    } else {
      const declared = modeSpec(mode);
      const allowed = new Set<string>(Object.keys(declared.parameters));
      for (const key of given(gen)) {
        if (
          !["mode", "syntheticPerReal", "model", "sampling"].includes(key as string) &&
          !allowed.has(key as string)
        ) {
          issue(`generation/${key as string}`, `generation mode ${mode} takes no ${key as string}`);
        }
      }
      const resolved: Record<string, unknown> = {
        mode,
        syntheticPerReal: gen?.syntheticPerReal ?? base?.syntheticPerReal ?? 5,
        sampling: { ...(base?.sampling ?? DEFAULT_SAMPLING), ...gen?.sampling },
      };
      const model = gen?.model ?? base?.model;
      if (model !== undefined) resolved.model = model;
      const fromRequest = (gen ?? {}) as Record<string, unknown>;
      const fromPreset = (base ?? {}) as Record<string, unknown>;
      for (const key of allowed) {
        // A preset's parameter survives only while the mode is the preset's own.
        const value = fromRequest[key] ?? (base?.mode === mode ? fromPreset[key] : undefined);
        if (value !== undefined) resolved[key] = structuredClone(value);
      }
      for (const key of declared.required) {
        if (resolved[key] === undefined) issue(`generation/${key}`, `is required for ${mode}`);
      }
      generation = resolved as unknown as GenerationSpec;
    }
  }

  // Utilization.
  const util = request.utilization ?? {};
  const baseUtil = preset?.utilization;
  const mode = util.mode ?? baseUtil?.mode;
  const utilization: UtilizationSpec = {
    mode: mode ?? "fc",
    traditionalAugmentation: util.traditionalAugmentation ?? baseUtil?.traditionalAugmentation ?? "flip_crop",
  };
  if (mode === undefined && kind === "diffda")
    issue("utilization/mode", "is required for a method without a preset");
  if (kind === "baseline" && utilization.mode !== "real_only") {
    issue("utilization/mode", "a baseline trains on real images only (real_only)");
  }
  if (kind === "diffda" && utilization.mode === "real_only") {
    issue("utilization/mode", "real_only would ignore the generated images; use a baseline instead");
  }
  const sameMode = baseUtil?.mode === utilization.mode;
  const p = util.replaceProbability ?? (sameMode ? baseUtil?.replaceProbability : undefined);
  if (utilization.mode === "lrr" || utilization.mode === "grr") {
    utilization.replaceProbability = p ?? 0.5;
  } else if (util.replaceProbability !== undefined) {
    issue(
      "utilization/replaceProbability",
      `utilization ${utilization.mode} replaces nothing (only lrr and grr)`,
    );
  }
  const gamma = util.softLabelGamma ?? (sameMode ? baseUtil?.softLabelGamma : undefined);
  if (gamma !== undefined) {
    if (generation !== null && modeSpec(generation.mode).interClass) utilization.softLabelGamma = gamma;
    else if (util.softLabelGamma !== undefined) {
      issue(
        "utilization/softLabelGamma",
        `soft labels need inter-class samples (generation mode ${INTER_CLASS_MODES.join(" or ")})`,
      );
    }
  }
  const mixing =
    utilization.traditionalAugmentation === "mixup" || utilization.traditionalAugmentation === "cutmix";
  for (const key of ["mixAlpha", "mixProbability"] as const) {
    const value = util[key] ?? baseUtil?.[key];
    if (mixing) utilization[key] = value ?? (key === "mixAlpha" ? 1.0 : 0.5);
    else if (util[key] !== undefined) {
      issue(
        `utilization/${key}`,
        `traditionalAugmentation ${utilization.traditionalAugmentation} does no mixing`,
      );
    }
  }
  return { preset: request.preset ?? null, kind, finetuning, generation, utilization };
}

/** The classifier settings as stored: a pretrained backbone's architecture filled in, or an issue. */
function resolveClassifier(request: ClassifierSpec | undefined, issues: FieldIssue[]): ClassifierSpec {
  const classifier = { ...request };
  const entry = classifier.backbone === undefined ? undefined : BACKBONES[classifier.backbone];
  if (classifier.backbone === undefined || entry === undefined) return classifier;
  const architecture = classifier.architecture ?? entry.architecture;
  const mismatch = backboneMismatch(classifier.backbone, architecture, classifier.imageSize);
  if (mismatch !== undefined) issues.push({ field: "/body/classifier/backbone", message: mismatch });
  return { ...classifier, architecture };
}

/**
 * Resolves a schema-valid request. Returns the spec, or the issues that make it a 422. Baselines named in
 * `baselines` (default: both) are prepended unless the request lists the same label itself.
 */
export function resolveJobSpec(
  request: JobRequest,
  context: ResolveContext,
): { spec: JobSpec; issues: [] } | { spec: undefined; issues: FieldIssue[] } {
  const issues: FieldIssue[] = [];
  const kind = request.kind ?? "evaluate";
  const methods: ResolvedMethod[] = [];
  const labels = new Map<string, string>();
  const claim = (label: string, field: string): boolean => {
    if (labels.has(label)) {
      issues.push({
        field,
        message: `label ${JSON.stringify(label)} is already used by ${labels.get(label)}`,
      });
      return false;
    }
    labels.set(label, field);
    return true;
  };
  // Explicit labels first, so an automatic label never takes one the caller chose.
  request.methods.forEach((m, i) => {
    if (m.label !== undefined) claim(m.label, `/body/methods/${i}/label`);
  });
  const seeds = request.seeds ?? [0];
  let search: SearchSpec | undefined;
  const resolved: ResolvedMethod[] = [];
  request.methods.forEach((m, i) => {
    const at = `/body/methods/${i}`;
    if (m.preset !== AUTO_PRESET) {
      resolved.push(resolvedRequest(m, i));
      return;
    }
    if (search !== undefined || kind === "generate") {
      issues.push({
        field: `${at}/preset`,
        message:
          search !== undefined ? "a job holds one auto method" : "a generation-only job chooses nothing",
      });
      return;
    }
    const label = m.label ?? AUTO_PRESET;
    if (m.label === undefined && !claim(label, at)) return;
    search = resolveSearch(m, label, seeds[0], at, issues, (r, where) => resolveMethod(r, where, issues));
  });
  function resolvedRequest(m: MethodRequest, i: number): ResolvedMethod {
    if (m.search !== undefined)
      issues.push({ field: `/body/methods/${i}/search`, message: `only the ${AUTO_PRESET} method searches` });
    const method = resolveMethod(m, `/body/methods/${i}`, issues, context.adapters);
    let label = m.label;
    if (label === undefined) {
      const stem = m.preset ?? "custom";
      label = stem;
      for (let n = 2; labels.has(label); n++) label = `${stem}-${n}`;
      labels.set(label, `/body/methods/${i}`);
    }
    return { label, ...method };
  }
  if (kind === "generate" && request.baselines !== undefined && request.baselines.length > 0)
    issues.push({
      field: "/body/baselines",
      message: "a generation-only job trains no classifier: no baselines",
    });
  for (const id of kind === "generate" ? [] : (request.baselines ?? BASELINE_IDS)) {
    if (labels.has(id)) continue; // the caller listed it among the methods, possibly with overrides
    labels.set(id, "/body/baselines");
    methods.push({ label: id, ...resolveMethod({ preset: id }, "/body/baselines", issues) });
  }
  methods.push(...resolved);

  if (kind === "generate") {
    resolved.forEach((m, i) => {
      if (m.generation === null)
        issues.push({
          field: `/body/methods/${i}`,
          message: `${m.label} generates nothing, and a generation-only job has nothing else to do`,
        });
    });
  }
  checkJobFiltering(methods, resolved, kind, issues);
  const runs = methods.length * seeds.length + (search === undefined ? 0 : searchRuns(search, seeds));
  if (runs > context.maxRuns) {
    issues.push({
      field: "/body/methods",
      message: `${methods.length} methods × ${seeds.length} seeds = ${runs} runs, more than ${context.maxRuns}`,
    });
  }
  const synthetic = methods.reduce(
    (sum, m) =>
      sum + (m.generation === null ? 0 : m.generation.syntheticPerReal * context.trainCount * seeds.length),
    0,
  );
  const searched = search === undefined ? 0 : searchImages(search, context.trainCount);
  if (synthetic + searched > context.maxSyntheticImages) {
    issues.push({
      field: "/body/methods",
      message: `the job would generate ${synthetic + searched} images, more than ${context.maxSyntheticImages}`,
    });
  }
  const classifier = resolveClassifier(request.classifier, issues);
  if (issues.length > 0) return { spec: undefined, issues };
  return {
    spec: {
      version: 1,
      kind,
      name: request.name ?? null,
      datasetId: request.datasetId,
      seeds,
      methods,
      classifier,
      shardSize: request.shardSize ?? context.shardSize,
      ...(search === undefined ? {} : { search }),
      ...(request.webhook === undefined
        ? {}
        : {
            webhook: {
              url: request.webhook.url,
              events: [...(request.webhook.events ?? DEFAULT_WEBHOOK_EVENTS)],
            },
          }),
    },
    issues: [],
  };
}

/** Classifier runs a search costs: every candidate on the first rung's seeds, survivors on the later ones, then the choice per job seed. */
function searchRuns(search: SearchSpec, seeds: readonly number[]): number {
  let runs = 0;
  let alive = search.candidates.length;
  for (const rung of search.rungSeeds) {
    runs += alive * rung.length;
    alive = 1 + Math.max(1, Math.ceil((alive - 1) / 2));
  }
  return runs + seeds.length;
}

/** Synthetic images a search generates: one set per distinct generation, over the training images (an upper bound). */
function searchImages(search: SearchSpec, trainCount: number): number {
  return search.candidates
    .filter((c) => c.syntheticOf === c.label)
    .reduce((sum, c) => sum + (c.generation?.syntheticPerReal ?? 0) * trainCount, 0);
}
