/**
 * Every generation mode's declaration, in listing order (the REST enum's order). The gateway derives its
 * REST schema, its spec type and its proto mapping from this list; the generation service its validation.
 * Adding a mode: docs/adding-a-method.md.
 */
import { clipGuidedPerturbation } from "./clip-guided-perturbation/spec.js";
import { ddimInversionInterpolation } from "./ddim-inversion-interpolation/spec.js";
import { img2imgFlipCrop } from "./img2img-flip-crop/spec.js";
import { img2imgInterClass } from "./img2img-inter-class/spec.js";
import { img2imgIntraClass } from "./img2img-intra-class/spec.js";
import { instructEdit } from "./instruct-edit/spec.js";
import type { ModeSpec, ModeValues } from "./mode.js";
import { textToImage } from "./text-to-image/spec.js";

/** The modes, in listing order. */
export const MODE_SPECS = [
  textToImage,
  img2imgIntraClass,
  img2imgInterClass,
  instructEdit,
  ddimInversionInterpolation,
  clipGuidedPerturbation,
  img2imgFlipCrop,
] as const;

type Spec = (typeof MODE_SPECS)[number];

/** A generation mode's name. */
export type GenerationModeName = Spec["name"];

/** The mode names, in listing order. */
export const MODE_NAMES: readonly GenerationModeName[] = MODE_SPECS.map((s) => s.name);

/** Every parameter of every mode, optional: what a request may send (checked against the mode after). */
export type AnyModeParameters = Partial<UnionToIntersection<ModeValues<Spec>>>;

/**
 * One mode with its parameter values: `{ mode, ...parameters }`, discriminated by `mode`. Another mode's
 * parameter is typed `never` (absent), so any member reads as undefined for it.
 */
export type ModeParameters = {
  [S in Spec as S["name"]]: { mode: S["name"] } & ModeValues<S> & {
      [K in Exclude<keyof AnyModeParameters, keyof ModeValues<S>>]?: never;
    };
}[GenerationModeName];

type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void
  ? I
  : never;

const BY_NAME: ReadonlyMap<string, ModeSpec> = new Map(MODE_SPECS.map((s) => [s.name, s]));

/** A mode's declaration by name. */
export function modeSpec(name: GenerationModeName): ModeSpec {
  const spec = BY_NAME.get(name);
  if (!spec) throw new Error(`no generation mode ${name}`);
  return spec;
}
