/**
 * Every generation mode's runtime half, looked up by proto oneof case (validation) or engine kind
 * (dispatch). Only the generation service loads this file: it pulls in the pipelines.
 */
import { clipGuidedPerturbationRunner } from "./clip-guided-perturbation/run.js";
import { ddimInversionInterpolationRunner } from "./ddim-inversion-interpolation/run.js";
import { img2imgFlipCropRunner } from "./img2img-flip-crop/run.js";
import { img2imgInterClassRunner } from "./img2img-inter-class/run.js";
import { img2imgIntraClassRunner } from "./img2img-intra-class/run.js";
import { instructEditRunner } from "./instruct-edit/run.js";
import type { ModeRunner } from "./runtime.js";
import { MODE_SPECS } from "./specs.js";
import { textToImageRunner } from "./text-to-image/run.js";

const RUNNERS: readonly ModeRunner[] = [
  textToImageRunner,
  img2imgIntraClassRunner,
  img2imgInterClassRunner,
  instructEditRunner,
  ddimInversionInterpolationRunner,
  clipGuidedPerturbationRunner,
  img2imgFlipCropRunner,
];

// Every declared mode has exactly one runner (a mode added to specs.ts but not here fails at load).
for (const spec of MODE_SPECS) {
  if (RUNNERS.filter((r) => r.spec === spec).length !== 1)
    throw new Error(`mode ${spec.name} needs one runner`);
}

const BY_CASE: ReadonlyMap<string, ModeRunner> = new Map(RUNNERS.map((r) => [r.spec.protoCase, r]));
const BY_KIND: ReadonlyMap<string, ModeRunner> = new Map(RUNNERS.map((r) => [r.spec.kind, r]));

/** The runner of a proto oneof case, or undefined. */
export function runnerOfCase(protoCase: string | undefined): ModeRunner | undefined {
  return protoCase === undefined ? undefined : BY_CASE.get(protoCase);
}

/** The runner of an engine kind (a batch's `method.kind`), or undefined. */
export function runnerOfKind(kind: string): ModeRunner | undefined {
  return BY_KIND.get(kind);
}
