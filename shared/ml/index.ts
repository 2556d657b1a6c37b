/**
 * The ML engine: ONNX graphs built in TypeScript, reverse-mode autodiff appended in-graph, optimizers as
 * graph ops, and onnxruntime-node sessions, runners and a trainer. Import a module directly for its full API.
 */
export * as autodiff from "./autodiff/index.js";
export * as graph from "./graph/index.js";
export * as models from "./models/index.js";
export * as nn from "./nn/index.js";
export * as onnx from "./onnx/index.js";
export * as optim from "./optim/index.js";
export * as runtime from "./runtime/index.js";
export * as safetensors from "./safetensors/index.js";
