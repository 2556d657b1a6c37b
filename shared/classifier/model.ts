import { buildResNet, type ResNetConfig } from "../ml/models/resnet.js";
import type { Tensor } from "../ml/onnx/index.js";

/** A trained classifier: the architecture, its weights, and the class names its outputs stand for. */
export interface Classifier {
  readonly config: ResNetConfig;
  /** Every parameter of the network by name (as {@link buildResNet} names them). */
  readonly parameters: Map<string, Tensor>;
  /** Class k's name (length = config.numClasses). */
  readonly classNames: readonly string[];
}

/**
 * Checks that `parameters` are exactly the parameters of the network `config` describes (same names, types
 * and shapes); throws naming the first difference.
 */
export function checkParameters(config: ResNetConfig, parameters: Map<string, Tensor>): void {
  const { graph } = buildResNet(config);
  for (const name of graph.params) {
    const want = graph.initializers.get(name) as Tensor;
    const got = parameters.get(name);
    if (!got) throw new Error(`classifier: parameter ${name} is missing`);
    if (got.dtype !== want.dtype || got.dims.join() !== want.dims.join()) {
      throw new Error(`classifier: ${name} is [${got.dims}] (type ${got.dtype}), expected [${want.dims}]`);
    }
  }
  for (const name of parameters.keys()) {
    if (!graph.params.has(name)) throw new Error(`classifier: ${name} is not a parameter of this network`);
  }
}
