/**
 * The backbones a classifier run may start from: "scratch" (the seeded initialisation) or a network
 * pretrained here on data disjoint from every benchmark task (models/backbones/<id>/, made by
 * models/scripts/pretrain-backbone.ts). Kept free of the ML engine so the gateway can validate names.
 */

/** The seeded initialisation: no pretraining. */
export const SCRATCH_BACKBONE = "scratch";

/** A pretrained backbone: which registry network it is and what it was pretrained on. */
export interface BackboneEntry {
  /** The network (shared/classifier/architectures.ts) whose weights it holds. */
  readonly architecture: string;
  /** One line on its pretraining data, for API docs and results. */
  readonly pretraining: string;
}

export const BACKBONES: Readonly<Record<string, BackboneEntry>> = Object.freeze({
  "tinted-digits-resnet8": {
    architecture: "resnet8",
    pretraining:
      "the mnist train split redrawn as 32×32 RGB, a random ink colour on black, offset and noise (shared/data/tinted-digits.ts)",
  },
});

/** Every name a request may give: scratch first. */
export const BACKBONE_IDS: readonly string[] = Object.freeze([SCRATCH_BACKBONE, ...Object.keys(BACKBONES)]);

/**
 * Why a backbone cannot serve a run of `architecture` at `imageSize` px, or undefined when it can. The
 * weights are those of a 3×3 stride-1 stem (inputs up to 64 px, architectures.ts stemFor); a larger
 * input takes the ImageNet stem, whose weights the backbone does not have.
 */
export function backboneMismatch(id: string, architecture: string, imageSize?: number): string | undefined {
  if (id === SCRATCH_BACKBONE) return undefined;
  const entry = BACKBONES[id];
  if (entry === undefined) return `unknown backbone "${id}" (${BACKBONE_IDS.join(", ")})`;
  if (entry.architecture !== architecture)
    return `backbone "${id}" holds ${entry.architecture} weights, not ${architecture}`;
  if (imageSize !== undefined && imageSize > 64)
    return `backbone "${id}" takes images of at most 64 px (its stem is 3×3 stride 1), not ${imageSize}`;
  return undefined;
}
