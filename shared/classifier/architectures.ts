import type { ResNetConfig } from "../ml/models/resnet.js";

/** Architecture overrides of a registry entry (input size, channels and classes come from the data). */
export type Architecture = Partial<Pick<ResNetConfig, "widths" | "blocksPerStage" | "groups">>;

/**
 * The networks a TrainSpec may name. `resnetN` are GroupNorm ResNets with basic blocks over three stages
 * (N = 2 + 6 × blocks per stage); `resnet-mini` is a two-stage toy for tests and smoke runs.
 */
export const ARCHITECTURES: Readonly<Record<string, Architecture>> = Object.freeze({
  resnet8: { widths: [32, 64, 128], blocksPerStage: 1, groups: 8 },
  resnet14: { widths: [32, 64, 128], blocksPerStage: 2, groups: 8 },
  resnet20: { widths: [32, 64, 128], blocksPerStage: 3, groups: 8 },
  "resnet8-wide": { widths: [64, 128, 256], blocksPerStage: 1, groups: 8 },
  "resnet-mini": { widths: [8, 16], blocksPerStage: 1, groups: 4 },
});

/** The stem for an input size: 3×3 stride 1 up to 64 px, the ImageNet stem (7×7 stride 2 + max pool) above. */
export function stemFor(imageSize: number): ResNetConfig["stem"] {
  return imageSize > 64 ? { kernel: 7, stride: 2, maxPool: true } : { kernel: 3, stride: 1, maxPool: false };
}
