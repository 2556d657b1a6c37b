import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { buildCorpus, KIT_CLASSES, zeroShotPrompt } from "../../../shared/kit/corpus.js";
import { kitTokenizer } from "../../../shared/kit/tokenizer.js";
import { createSession, runSession } from "../../../shared/ml/runtime/index.js";
import { Rng } from "../../../shared/random/index.js";
import { KIT_DIR } from "./config.js";
import { idsTensor, imageBatch, loadTokenizerFiles, pick } from "./kit-data.js";

/** Zero-shot accuracy of the CLIP model on the test split, seen classes only, among the seen-class prompts. */
export async function zeroShot(limit = 2000): Promise<number> {
  const tok = kitTokenizer(await loadTokenizerFiles());
  const seen = KIT_CLASSES.filter((c) => !c.heldOut);
  const text = await createSession(await readFile(join(KIT_DIR, "clip", "text_model.onnx")));
  const vision = await createSession(await readFile(join(KIT_DIR, "clip", "vision_model.onnx")));
  const enc = tok.encodeBatch(seen.map(zeroShotPrompt));
  const te = (await runSession(text, { input_ids: idsTensor(enc.inputIds, seen.length) })).text_embeds
    .data as Float32Array;
  const test = await buildCorpus("test");
  const idx: number[] = [];
  for (let i = 0; i < test.count; i++) if (!KIT_CLASSES[test.classes[i]].heldOut) idx.push(i);
  const rng = new Rng(7);
  const chosen = idx.length > limit ? pick(rng, limit, idx.length).map((k) => idx[k]) : idx;
  let correct = 0;
  for (let s = 0; s < chosen.length; s += 256) {
    const part = chosen.slice(s, s + 256);
    const ie = (await runSession(vision, { pixel_values: imageBatch(test, part) })).image_embeds
      .data as Float32Array;
    part.forEach((i, k) => {
      let best = -1;
      let bestSim = -Infinity;
      seen.forEach((_, c) => {
        let sim = 0;
        for (let d = 0; d < 64; d++) sim += ie[k * 64 + d] * te[c * 64 + d];
        if (sim > bestSim) {
          bestSim = sim;
          best = c;
        }
      });
      if (seen[best].id === test.classes[i]) correct++;
    });
  }
  await text.release();
  await vision.release();
  return correct / chosen.length;
}
