/**
 * Purposes of the per-sample random streams sample planning draws from (besides those of shared/diffusion's
 * NoisePurpose, 1–9): each draw depends only on (seed, sample index), so a sample is planned the same in
 * any shard, batch or retry.
 */
export const PLAN_PURPOSE = Object.freeze({
  template: 0x101,
  partner: 0x102,
  rotation: 0x103,
  flip: 0x104,
  crop: 0x105,
});
