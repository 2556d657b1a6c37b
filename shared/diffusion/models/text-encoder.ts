import type { OnnxComponent, Output } from "./component.js";
import type { TensorSpec } from "./io.js";

/**
 * The CLIP text encoder of a model folder. Reads token ids (int32 or int64, as the export declares) and returns
 * `last_hidden_state` [batch, sequence, hidden] — what Stable Diffusion conditions on. An `attention_mask`
 * input, where an export has one, gets all ones (diffusers passes no mask to SD 1.x's encoder).
 */
export class ClipTextEncoder {
  readonly component: OnnxComponent;
  readonly #ids: TensorSpec;
  readonly #mask: TensorSpec | undefined;
  readonly #output: string;

  constructor(component: OnnxComponent) {
    this.component = component;
    const ids =
      component.input("input_ids") ??
      component.io.inputs.find((s) => s.type === "int32" || s.type === "int64");
    if (!ids) throw new Error(`${component.name} has no integer token-id input`);
    this.#ids = ids;
    this.#mask = component.input("attention_mask");
    const others = component.io.inputs.filter((s) => s !== ids && s !== this.#mask);
    if (others.length > 0) {
      throw new Error(`${component.name}: unexpected inputs ${others.map((s) => s.name).join(", ")}`);
    }
    this.#output = (component.output("last_hidden_state") ?? component.io.outputs[0]).name;
    Object.freeze(this);
  }

  /** Hidden states [batch, sequence, hidden] for `ids` laid out batch-major as [batch, sequence]. */
  async encode(ids: Int32Array, batch: number, sequenceLength: number): Promise<Output> {
    if (ids.length !== batch * sequenceLength) {
      throw new RangeError(`${ids.length} token ids do not make ${batch}×${sequenceLength}`);
    }
    const dims = [batch, sequenceLength];
    const feeds: Record<string, { data: Int32Array; dims: number[] }> = {
      [this.#ids.name]: { data: ids, dims },
    };
    if (this.#mask) feeds[this.#mask.name] = { data: new Int32Array(ids.length).fill(1), dims };
    const out = await this.component.run(feeds, [this.#output]);
    return out[this.#output];
  }
}
