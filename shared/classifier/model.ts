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
  const want = parameterShapes(config);
  for (const [name, shape] of want) {
    const got = parameters.get(name);
    if (!got) throw new Error(`classifier: parameter ${name} is missing`);
    if (got.dtype !== shape.dtype || got.dims.join() !== shape.dims.join()) {
      throw new Error(`classifier: ${name} is [${got.dims}] (type ${got.dtype}), expected [${shape.dims}]`);
    }
  }
  for (const name of parameters.keys()) {
    if (!want.has(name)) throw new Error(`classifier: ${name} is not a parameter of this network`);
  }
}

/** Parameter types and shapes by config (building the network to read them costs ~35 ms; runs check often). */
const shapes = new Map<string, Map<string, Pick<Tensor, "dtype" | "dims">>>();

function parameterShapes(config: ResNetConfig): Map<string, Pick<Tensor, "dtype" | "dims">> {
  const key = JSON.stringify(config);
  let found = shapes.get(key);
  if (found === undefined) {
    const { graph } = buildResNet(config);
    found = new Map(
      [...graph.params].map((name) => {
        const t = graph.initializers.get(name) as Tensor;
        return [name, { dtype: t.dtype, dims: [...t.dims] }];
      }),
    );
    shapes.set(key, found);
  }
  return found;
}
