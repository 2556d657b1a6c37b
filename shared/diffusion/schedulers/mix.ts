/**
 * ca·a + cb·b for a batch of samples laid end to end, with (ca, cb) from each sample's timestep: the one
 * definition behind adding noise (DDPM/DDIM's √ᾱ·x₀ + √(1−ᾱ)·ε, Euler's x₀ + σ·ε, DPM-Solver's α·x₀ + σ·ε)
 * and the v-prediction target. One timestep applies to the whole batch; several split it evenly.
 */
export function mixPerSample(
  a: Float32Array,
  b: Float32Array,
  timesteps: number | readonly number[],
  coefficients: (timestep: number) => readonly [number, number],
): Float32Array {
  if (a.length !== b.length) {
    throw new RangeError(`sample and noise lengths differ: ${a.length} vs ${b.length}`);
  }
  const perSample = typeof timesteps === "number" ? [timesteps] : timesteps;
  const batch = perSample.length;
  if (batch === 0 || a.length % batch !== 0) {
    throw new RangeError(`${a.length} values cannot be split into ${batch} samples`);
  }
  const size = a.length / batch;
  const out = new Float32Array(a.length);
  for (let s = 0; s < batch; s++) {
    const [ca, cb] = coefficients(perSample[s]);
    const end = (s + 1) * size;
    for (let i = s * size; i < end; i++) out[i] = ca * a[i] + cb * b[i];
  }
  return out;
}
