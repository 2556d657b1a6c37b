/** The API's adapter kinds as the generation contract names them. */
import { AdapterKind } from "../../../../shared/gen/diffda/common/v1/model_pb.js";

/** The contract's kind of a stored adapter (a LoRA file's text-encoder keys say so themselves). */
export function adapterKindOf(adapter: { kind: "lora" | "textual_inversion" }): AdapterKind {
  return adapter.kind === "lora" ? AdapterKind.UNET_LORA : AdapterKind.TEXTUAL_INVERSION;
}
