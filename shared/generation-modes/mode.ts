/**
 * The declarative half of a generation mode: what the gateway and the generation service both read (no
 * pipeline code, so the gateway loads no inference runtime). The runtime half (validation hooks, sample
 * planning, the pipeline call) is the mode's `run.ts`, which only the generation service loads.
 */
import type { Parameters, ValuesOf } from "./parameters.js";

/** A generation mode's declaration. */
export interface ModeSpec<Name extends string = string, P extends Parameters = Parameters> {
  /** The REST name (`generation.mode`) and the proto oneof field name of GenerateShardRequest.method. */
  readonly name: Name;
  /** The protobuf-es case of the oneof (the field name in camelCase). */
  readonly protoCase: string;
  /** The name in the service's metrics, logs and engine batches (stable: dashboards read it). */
  readonly kind: string;
  /** One line for the docs table: what the mode does. */
  readonly summary: string;
  /** The published methods (presets) that use it, for the docs table. */
  readonly usedBy: string;
  /** The mode's parameters, by REST name (= protobuf-es field name). */
  readonly parameters: P;
  /** Parameters a resolved gateway spec must set. */
  readonly required: readonly string[];
  /**
   * The kind of model it runs on: "base" a text-to-image model, "instruct" an instruction-edit
   * (InstructPix2Pix-style) one. The gateway's default model when a spec names none follows it.
   */
  readonly model: "base" | "instruct";
  /**
   * Which real images a shard must carry: "shard" the sources its samples derive from, "all" every training
   * image (a mode that pairs a source with others of its class).
   */
  readonly sources: "shard" | "all";
  /** True when samples derive from a source image (the model then needs a VAE encoder). */
  readonly needsImages: boolean;
  /** True when samples carry `inter_class` (source label and strength), so soft labels apply to them. */
  readonly interClass: boolean;
}

/** Declares a mode (the identity function, for the literal types). */
export function defineMode<const Name extends string, const P extends Parameters>(
  spec: ModeSpec<Name, P> & { readonly required: readonly (keyof P & string)[] },
): ModeSpec<Name, P> {
  return Object.freeze(spec);
}

/** The parameter values of a mode spec. */
export type ModeValues<S> = S extends ModeSpec<string, infer P> ? ValuesOf<P> : never;
