import type { Rng } from "../../random/index.js";
import { allocate, numel, type Tensor } from "../onnx/tensor.js";
import type { DataType } from "../onnx/types.js";

function filled(dtype: DataType, dims: number[], draw: () => number): Tensor {
  const data = allocate(dtype, numel(dims)) as Float32Array;
  for (let i = 0; i < data.length; i++) data[i] = draw();
  return { dtype, dims, data };
}

/** Zeros. */
export function zeros(dtype: DataType, dims: number[]): Tensor {
  return { dtype, dims, data: allocate(dtype, numel(dims)) };
}

/** Ones. */
export function ones(dtype: DataType, dims: number[]): Tensor {
  return filled(dtype, dims, () => 1);
}

/** N(0, std²). */
export function normal(rng: Rng, dtype: DataType, dims: number[], std: number): Tensor {
  return filled(dtype, dims, () => rng.nextNormal() * std);
}

/** U(−bound, bound). */
export function uniform(rng: Rng, dtype: DataType, dims: number[], bound: number): Tensor {
  return filled(dtype, dims, () => (2 * rng.nextFloat() - 1) * bound);
}

/** Kaiming (He) normal for ReLU-family layers: std = gain/√fanIn. */
export function kaimingNormal(
  rng: Rng,
  dtype: DataType,
  dims: number[],
  fanIn: number,
  gain = Math.SQRT2,
): Tensor {
  return normal(rng, dtype, dims, gain / Math.sqrt(fanIn));
}

/** Xavier (Glorot) uniform: bound = gain·√(6/(fanIn+fanOut)). */
export function xavierUniform(
  rng: Rng,
  dtype: DataType,
  dims: number[],
  fanIn: number,
  fanOut: number,
  gain = 1,
): Tensor {
  return uniform(rng, dtype, dims, gain * Math.sqrt(6 / (fanIn + fanOut)));
}
