import type { GraphBuilder } from "../graph/builder.js";

/** k×k max pooling (stride defaults to k). */
export function maxPool2d(b: GraphBuilder, x: string, kernel: number, stride = kernel, padding = 0): string {
  return b.op("MaxPool", [x], {
    kernel_shape: [kernel, kernel],
    strides: [stride, stride],
    pads: [padding, padding, padding, padding],
  });
}

/** k×k average pooling (stride defaults to k). */
export function avgPool2d(b: GraphBuilder, x: string, kernel: number, stride = kernel): string {
  return b.op("AveragePool", [x], { kernel_shape: [kernel, kernel], strides: [stride, stride] });
}

/** Mean over H and W: [N, C, H, W] → [N, C]. */
export function globalAvgPool(b: GraphBuilder, x: string): string {
  return b.op("Flatten", [b.op("GlobalAveragePool", [x])], { axis: 1 });
}
