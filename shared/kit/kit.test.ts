import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CLIP_PRETOKENIZE_PATTERN } from "../diffusion/index.js";
import { Rng } from "../random/index.js";
import {
  allCaptions,
  allInstructions,
  applyEdit,
  buildKitTokenizer,
  captionsFor,
  drawCaption,
  HELD_OUT_CLASSES,
  HELD_OUT_WORDS,
  KIT_CLASSES,
  KIT_COLORS,
  KIT_EDITS,
  KIT_MAX_LENGTH,
  kitTokenizer,
} from "./index.js";

describe("kit corpus captions", () => {
  it("never name a held-out class, and held-out classes get only generic captions", () => {
    for (const caption of allCaptions()) {
      for (const word of HELD_OUT_WORDS) {
        assert.ok(!caption.split(/\s+/).includes(word), `"${caption}" contains held-out word "${word}"`);
      }
    }
    const held = KIT_CLASSES.filter((c) => c.heldOut).map((c) => c.name);
    assert.deepEqual(held, [...HELD_OUT_CLASSES]);
    for (const c of KIT_CLASSES.filter((k) => k.heldOut)) assert.equal(captionsFor(c, "red").named.length, 0);
  });

  it("put a colour word in about half of the captions of seen classes", () => {
    const rng = new Rng(1);
    let colored = 0;
    const n = 4000;
    for (let i = 0; i < n; i++) {
      const c = KIT_CLASSES[rng.nextInt(KIT_CLASSES.length)];
      const caption = drawCaption(rng, c, "green");
      if (caption.includes("green")) colored++;
    }
    assert.ok(colored / n > 0.3 && colored / n < 0.7, `${colored / n}`);
    assert.equal(KIT_COLORS.length, 8);
  });
});

describe("kit tokenizer", () => {
  const tok = kitTokenizer(buildKitTokenizer([...allCaptions(), ...allInstructions()]));

  it("makes every corpus word one token and fits captions and instructions in the sequence length", () => {
    for (const text of [...allCaptions(), ...allInstructions()]) {
      const words = [...text.matchAll(CLIP_PRETOKENIZE_PATTERN)].length;
      assert.equal(tok.tokenize(text).length, words, text);
      assert.ok(words + 2 <= KIT_MAX_LENGTH, text);
    }
  });

  it("tokenizes unseen words (held-out names, placeholders) into known byte symbols", () => {
    const enc = tok.encode("a photo of a sandal <sks> ünïcode");
    assert.equal(enc.inputIds.length, KIT_MAX_LENGTH);
    assert.ok(enc.inputIds.every((id) => id >= 0 && id < tok.size));
    const added = tok.withAddedTokens(["<sandal>"]);
    assert.equal(added.tokenizer.tokenize("a photo of a <sandal>").length, 5);
  });
});

describe("kit edits", () => {
  it("keep the image shape and values in [0, 1]", () => {
    const x = new Float32Array(3 * 32 * 32).map((_, i) => (i % 97) / 96);
    for (const e of KIT_EDITS) {
      const y = applyEdit(e.name, x, 3);
      assert.equal(y.length, x.length, e.name);
      assert.ok(
        y.every((v) => v >= 0 && v <= 1),
        e.name,
      );
    }
    assert.throws(() => applyEdit("nope", x));
  });
});
