/**
 * A look at a training run before it ends: copies the kit folder to `<out>` and replaces its UNet with the
 * weights of the stage's latest checkpoint, so `KIT_OUT_DIR=<out> npm run bench:kit` measures it.
 *
 *   node --import tsx models/scripts/snapshot.ts unet /tmp/kitsnap
 */
import { cp } from "node:fs/promises";
import { join } from "node:path";
import { loadSafetensors } from "../../shared/ml/safetensors/index.js";
import { exportOnnx, log } from "./lib/common.js";
import { CACHE_DIR, KIT_DIR, UNET } from "./lib/config.js";
import { unetGraph } from "./lib/graphs.js";

const [stage, out] = process.argv.slice(2);
if (stage !== "unet" || !out) throw new Error("usage: snapshot.ts unet <out-dir>");
const { tensors, metadata } = await loadSafetensors(join(CACHE_DIR, `${stage}.ckpt.safetensors`));
await cp(KIT_DIR, out, { recursive: true });
// The checkpoint also holds optimizer slots (`<param>.<slot>`); exportOnnx keeps only the graph's parameters.
await exportOnnx(join(out, "unet", "model.onnx"), unetGraph(UNET, false), tensors);
log("snapshot", `${stage} at step ${metadata.step} → ${out}`);
