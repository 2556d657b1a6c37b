/**
 * Scheduler configuration: the fields of a diffusers `scheduler_config.json`, in camelCase, with each
 * scheduler's diffusers defaults. Reading a JSON object ignores keys the scheduler does not know (as
 * diffusers' `from_config` does) and rejects values it cannot honour with a {@link SchedulerConfigError}.
 */

/** How betas are laid out over the training timesteps (diffusers `beta_schedule`). */
export type BetaSchedule = "linear" | "scaled_linear" | "squaredcos_cap_v2";
/** What the denoiser predicts (diffusers `prediction_type`). */
export type PredictionType = "epsilon" | "v_prediction" | "sample";
/** How inference timesteps are spread over the training range (diffusers `timestep_spacing`). */
export type TimestepSpacing = "leading" | "trailing" | "linspace";

/** Fields every scheduler here shares: the noise schedule and the timestep grid. */
export interface NoiseScheduleConfig {
  readonly numTrainTimesteps: number;
  readonly betaStart: number;
  readonly betaEnd: number;
  readonly betaSchedule: BetaSchedule;
  /** Explicit betas; when set, `betaStart`, `betaEnd` and `betaSchedule` are ignored. */
  readonly trainedBetas: readonly number[] | null;
  /** Rescale betas to zero terminal SNR (Lin et al. 2023, Algorithm 1). */
  readonly rescaleBetasZeroSnr: boolean;
  readonly predictionType: PredictionType;
  readonly timestepSpacing: TimestepSpacing;
  readonly stepsOffset: number;
}

/** Error for a scheduler configuration that is malformed or asks for something not implemented. */
export class SchedulerConfigError extends Error {
  override readonly name = "SchedulerConfigError";
}

/** How one JSON key is read: its camelCase name and a parser that throws on bad values. */
export interface FieldSpec {
  readonly key: string;
  readonly parse: (value: unknown, where: string) => unknown;
}

function describe(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/** A finite number, optionally an integer within bounds. */
export function numberField(
  key: string,
  options: { integer?: boolean; min?: number; max?: number; exclusiveMin?: number } = {},
): FieldSpec {
  return {
    key,
    parse(value, where) {
      if (typeof value !== "number" || !Number.isFinite(value)) {
        throw new SchedulerConfigError(`${where} must be a finite number, got ${describe(value)}`);
      }
      if (options.integer && !Number.isInteger(value)) {
        throw new SchedulerConfigError(`${where} must be an integer, got ${value}`);
      }
      if (options.min !== undefined && value < options.min) {
        throw new SchedulerConfigError(`${where} must be ≥ ${options.min}, got ${value}`);
      }
      if (options.exclusiveMin !== undefined && value <= options.exclusiveMin) {
        throw new SchedulerConfigError(`${where} must be > ${options.exclusiveMin}, got ${value}`);
      }
      if (options.max !== undefined && value > options.max) {
        throw new SchedulerConfigError(`${where} must be ≤ ${options.max}, got ${value}`);
      }
      return value;
    },
  };
}

/** A number that may also be JSON's stand-in for −∞ (diffusers writes `-Infinity` for `lambda_min_clipped`). */
export function extendedNumberField(key: string): FieldSpec {
  return {
    key,
    parse(value, where) {
      if (value === "-inf" || value === "-Infinity" || value === Number.NEGATIVE_INFINITY) {
        return Number.NEGATIVE_INFINITY;
      }
      if (typeof value !== "number" || Number.isNaN(value) || value === Number.POSITIVE_INFINITY) {
        throw new SchedulerConfigError(`${where} must be a number or -Infinity, got ${describe(value)}`);
      }
      return value;
    },
  };
}

/** A boolean. */
export function booleanField(key: string): FieldSpec {
  return {
    key,
    parse(value, where) {
      if (typeof value !== "boolean") {
        throw new SchedulerConfigError(`${where} must be true or false, got ${describe(value)}`);
      }
      return value;
    },
  };
}

/** One of a fixed set of strings; `unsupported` lists known diffusers values this implementation rejects. */
export function enumField<T extends string>(
  key: string,
  allowed: readonly T[],
  unsupported: readonly string[] = [],
): FieldSpec {
  return {
    key,
    parse(value, where) {
      if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value;
      if (typeof value === "string" && unsupported.includes(value)) {
        throw new SchedulerConfigError(
          `${where} = ${JSON.stringify(value)} is not implemented here; supported: ${allowed.join(", ")}`,
        );
      }
      throw new SchedulerConfigError(`${where} must be one of ${allowed.join(", ")}, got ${describe(value)}`);
    },
  };
}

/** A diffusers flag this implementation only supports at one value (for example `thresholding: false`). */
export function fixedField(key: string, supported: unknown, reason: string): FieldSpec {
  return {
    key,
    parse(value, where) {
      if (value !== supported) {
        throw new SchedulerConfigError(`${where} = ${describe(value)} is not supported: ${reason}`);
      }
      return value;
    },
  };
}

/** A non-empty array of betas in (0, 1]. */
function betasField(key: string): FieldSpec {
  return {
    key,
    parse(value, where) {
      if (!Array.isArray(value) || value.length === 0) {
        throw new SchedulerConfigError(`${where} must be a non-empty array of numbers or null`);
      }
      for (const beta of value) {
        if (typeof beta !== "number" || !(beta > 0 && beta <= 1)) {
          throw new SchedulerConfigError(`${where} must hold numbers in (0, 1], got ${describe(beta)}`);
        }
      }
      return Object.freeze([...value]);
    },
  };
}

/** JSON keys shared by every scheduler, mapped to {@link NoiseScheduleConfig}. */
export const NOISE_SCHEDULE_FIELDS: Readonly<Record<string, FieldSpec>> = {
  num_train_timesteps: numberField("numTrainTimesteps", { integer: true, min: 1 }),
  beta_start: numberField("betaStart", { exclusiveMin: 0, max: 1 }),
  beta_end: numberField("betaEnd", { exclusiveMin: 0, max: 1 }),
  beta_schedule: enumField<BetaSchedule>(
    "betaSchedule",
    ["linear", "scaled_linear", "squaredcos_cap_v2"],
    ["sigmoid", "laplace"],
  ),
  trained_betas: betasField("trainedBetas"),
  rescale_betas_zero_snr: booleanField("rescaleBetasZeroSnr"),
  prediction_type: enumField<PredictionType>(
    "predictionType",
    ["epsilon", "v_prediction", "sample"],
    ["flow_prediction"],
  ),
  timestep_spacing: enumField<TimestepSpacing>("timestepSpacing", ["leading", "trailing", "linspace"]),
  steps_offset: numberField("stepsOffset", { integer: true, min: 0 }),
  thresholding: fixedField(
    "thresholding",
    false,
    "dynamic thresholding is for pixel-space models, not latent diffusion",
  ),
  // Only used with thresholding; accepted so that configs written with them still load.
  dynamic_thresholding_ratio: numberField("dynamicThresholdingRatio"),
  sample_max_value: numberField("sampleMaxValue"),
};

/**
 * Builds a scheduler config from defaults, a diffusers-style JSON object (snake_case keys) and the fields
 * the scheduler knows. Keys starting with `_` and unknown keys are ignored, `null` means "use the default",
 * and every known key is validated. `className` prefixes error messages.
 */
export function readConfig<C extends object>(
  className: string,
  defaults: C,
  fields: Readonly<Record<string, FieldSpec>>,
  json: unknown,
): C {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new SchedulerConfigError(`${className} config must be a JSON object`);
  }
  const result: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [jsonKey, value] of Object.entries(json)) {
    if (jsonKey.startsWith("_") || value === null || value === undefined) continue;
    const field = Object.hasOwn(fields, jsonKey) ? fields[jsonKey] : undefined;
    if (field === undefined) continue;
    const parsed = field.parse(value, `${className}.${jsonKey}`);
    if (field.key in defaults) result[field.key] = parsed;
  }
  return result as C;
}

/** Checks a config object given directly in TypeScript (camelCase) against the same rules as JSON. */
export function validateConfig<C extends object>(
  className: string,
  config: C,
  fields: Readonly<Record<string, FieldSpec>>,
): C {
  const result: Record<string, unknown> = { ...(config as Record<string, unknown>) };
  for (const [jsonKey, field] of Object.entries(fields)) {
    const value = result[field.key];
    if (value === null || value === undefined) continue;
    result[field.key] = field.parse(value, `${className}.${jsonKey}`);
  }
  return Object.freeze(result) as C;
}

/**
 * The `scheduler/scheduler_config.json` of Stable Diffusion v1.5 (a PNDM config). Any scheduler here can be
 * built from it, as diffusers' `Scheduler.from_config(pipe.scheduler.config)` does: keys a scheduler does not
 * know (`skip_prk_steps`) are ignored and missing ones take that scheduler's defaults.
 */
export const SD15_SCHEDULER_CONFIG = Object.freeze({
  _class_name: "PNDMScheduler",
  _diffusers_version: "0.6.0",
  beta_end: 0.012,
  beta_schedule: "scaled_linear",
  beta_start: 0.00085,
  clip_sample: false,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
});

/**
 * Parses a diffusers JSON file. Python's `json.dump` writes `Infinity`, `-Infinity` and `NaN` bare (diffusers
 * saves `"lambda_min_clipped": -Infinity`), which `JSON.parse` rejects; outside strings they are read here as
 * the strings "Infinity", "-Infinity" and "NaN", which the config fields then accept or reject.
 */
export function parseDiffusersJson(text: string): unknown {
  let out = "";
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === "\\") out += text[++i] ?? "";
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
      continue;
    }
    const rest = text.slice(i, i + 9);
    const token = rest.startsWith("-Infinity")
      ? "-Infinity"
      : rest.startsWith("Infinity")
        ? "Infinity"
        : rest.startsWith("NaN")
          ? "NaN"
          : null;
    if (token !== null) {
      out += JSON.stringify(token);
      i += token.length - 1;
    } else {
      out += c;
    }
  }
  return JSON.parse(out);
}
