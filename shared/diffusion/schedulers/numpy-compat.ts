/**
 * The few numpy routines diffusers builds its timestep grids with, reproduced operation for operation so
 * that the grids come out identical (numpy rounds half to even, and `arange` with a fractional step fills
 * `start + i·delta` where `delta = (start + step) − start`).
 */

/** `np.round` on a scalar: round half to even. */
export function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** `np.linspace(start, stop, num)` (endpoint included), in float64. */
export function linspace(start: number, stop: number, num: number): number[] {
  if (num <= 0) return [];
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  const values = new Array<number>(num);
  for (let i = 0; i < num; i++) values[i] = i * step + start;
  values[num - 1] = stop;
  return values;
}

/** `np.arange(start, stop, step)` with a float step, in float64. */
export function arange(start: number, stop: number, step: number): number[] {
  const length = Math.max(0, Math.ceil((stop - start) / step));
  const values = new Array<number>(length);
  if (length === 0) return values;
  values[0] = start;
  if (length === 1) return values;
  values[1] = start + step;
  const delta = values[1] - start;
  for (let i = 2; i < length; i++) values[i] = start + i * delta;
  return values;
}

/** `np.interp(x, arange(table.length), table)`: linear interpolation on an integer grid, clamped at the ends. */
export function interpOnIntegerGrid(x: number, table: ArrayLike<number>): number {
  const last = table.length - 1;
  if (x <= 0) return table[0];
  if (x >= last) return table[last];
  const low = Math.floor(x);
  const weight = x - low;
  if (weight === 0) return table[low];
  return table[low] + (table[low + 1] - table[low]) * weight;
}
