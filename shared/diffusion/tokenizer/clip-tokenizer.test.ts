import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  BYTE_ENCODER,
  CLIP_PRETOKENIZE_PATTERN,
  ClipTokenizer,
  fromByteLevel,
  loadClipTokenizer,
  toByteLevel,
} from "./index.js";

/**
 * A tiny CLIP-layout vocabulary: single byte-level characters, their `</w>` forms, merge results and the two
 * special tokens. The merges build "photo</w>" (p h → ph, ph o → pho, t o</w> → to</w>, pho to</w>),
 * "of</w>" and "cat</w>" (a t</w> → at</w>, c at</w>); "a" is a one-character word, so it is "a</w>".
 */
const VOCAB: Record<string, number> = {
  a: 0,
  c: 1,
  f: 2,
  h: 3,
  o: 4,
  p: 5,
  t: 6,
  "a</w>": 7,
  "f</w>": 8,
  "o</w>": 9,
  "t</w>": 10,
  ph: 11,
  pho: 12,
  "to</w>": 13,
  "of</w>": 14,
  "at</w>": 15,
  "photo</w>": 16,
  "cat</w>": 17,
  "<|startoftext|>": 18,
  "<|endoftext|>": 19,
};
const MERGES = [
  "#version: 0.2",
  "p h",
  "ph o",
  "t o</w>",
  "pho to</w>",
  "o f</w>",
  "a t</w>",
  "c at</w>",
].join("\n");
const tokenizer = ClipTokenizer.fromVocabAndMerges(VOCAB, MERGES);
const [BOS, EOS] = [18, 19];

describe("byte-level alphabet (GPT-2 / CLIP bytes_to_unicode)", () => {
  it("maps printable Latin-1 to itself and the other bytes to U+0100 … in order", () => {
    assert.equal(BYTE_ENCODER[0x21], "!");
    assert.equal(BYTE_ENCODER[0x7e], "~");
    assert.equal(BYTE_ENCODER[0xff], "ÿ");
    assert.equal(BYTE_ENCODER[0x00], "Ā"); // U+0100
    assert.equal(BYTE_ENCODER[0x0a], "Ċ"); // U+010A
    assert.equal(BYTE_ENCODER[0x20], "Ġ"); // U+0120, the famous GPT-2 space
    assert.equal(BYTE_ENCODER[0x7f], "ġ"); // U+0121: 33 bytes 0x00–0x20 come first
    assert.equal(BYTE_ENCODER[0xad], "Ń"); // U+0143: the soft hyphen is the last non-printable byte
    assert.equal(new Set(BYTE_ENCODER).size, 256);
  });

  it("writes UTF-8 bytes, so é is 'Ã©', and round-trips", () => {
    assert.equal(toByteLevel("é"), "Ã©");
    assert.equal(toByteLevel("a b"), "aĠb");
    for (const text of ["héllo wörld", "猫 🐱", "tab\tnewline\n"])
      assert.equal(fromByteLevel(toByteLevel(text)), text);
  });
});

describe("CLIP pre-tokenizer pattern", () => {
  const split = (text: string) => Array.from(text.matchAll(CLIP_PRETOKENIZE_PATTERN), (m) => m[0]);

  it("splits contractions, single digits, letter runs and punctuation runs", () => {
    assert.deepEqual(split("don't stop 2024 hello!! café"), [
      "don",
      "'t",
      "stop",
      "2",
      "0",
      "2",
      "4",
      "hello",
      "!!",
      "café",
    ]);
  });

  it("matches transformers' slow/fast agreement text (checked with Python's regex module)", () => {
    const text = "a 'll 11p223rf☆ho!!to?'d'd''d of a cat to-$''d.";
    assert.deepEqual(split(text), [
      "a",
      "'ll",
      "1",
      "1",
      "p",
      "2",
      "2",
      "3",
      "rf",
      "☆",
      "ho",
      "!!",
      "to",
      "?'",
      "d",
      "'d",
      "''",
      "d",
      "of",
      "a",
      "cat",
      "to",
      "-$''",
      "d",
      ".",
    ]);
  });
});

describe("ClipTokenizer on a tiny vocabulary", () => {
  it('encodes "a photo of a cat" as bos a</w> photo</w> of</w> a</w> cat</w> eos', () => {
    assert.deepEqual(tokenizer.tokenize("a photo of a cat"), [
      "a</w>",
      "photo</w>",
      "of</w>",
      "a</w>",
      "cat</w>",
    ]);
    const { inputIds, attentionMask } = tokenizer.encode("a photo of a cat", { padding: false });
    assert.deepEqual(inputIds, [BOS, 7, 16, 14, 7, 17, EOS]);
    assert.deepEqual(attentionMask, [1, 1, 1, 1, 1, 1, 1]);
  });

  it("lowercases, collapses whitespace and applies NFC", () => {
    assert.deepEqual(tokenizer.tokenIds("  A\tPHOTO\n of  A   Cat "), tokenizer.tokenIds("a photo of a cat"));
    assert.deepEqual(tokenizer.tokenize("xa\u0303y"), tokenizer.tokenize("x\u00e3y"));
  });

  it("pads to model_max_length (77) with the pad token and masks the padding", () => {
    const { inputIds, attentionMask } = tokenizer.encode("a cat");
    assert.equal(inputIds.length, 77);
    assert.deepEqual(inputIds.slice(0, 4), [BOS, 7, 17, EOS]);
    assert.ok(inputIds.slice(4).every((id) => id === EOS));
    assert.equal(
      attentionMask.reduce((s, v) => s + v, 0),
      4,
    );
  });

  it("truncates to bos + 75 tokens + eos", () => {
    const { inputIds, attentionMask } = tokenizer.encode(Array(100).fill("a").join(" "));
    assert.equal(inputIds.length, 77);
    assert.equal(inputIds[0], BOS);
    assert.equal(inputIds[76], EOS);
    assert.ok(inputIds.slice(1, 76).every((id) => id === 7));
    assert.ok(attentionMask.every((v) => v === 1));
  });

  it("maps symbols missing from the vocabulary to the unk token", () => {
    assert.deepEqual(tokenizer.tokenIds("z"), [EOS]);
  });

  it("encodes a batch to one int32 array", () => {
    const batch = tokenizer.encodeBatch(["a cat", "a photo of a cat"], { maxLength: 8 });
    assert.equal(batch.sequenceLength, 8);
    assert.deepEqual(Array.from(batch.inputIds), [
      BOS,
      7,
      17,
      EOS,
      EOS,
      EOS,
      EOS,
      EOS,
      BOS,
      7,
      16,
      14,
      7,
      17,
      EOS,
      EOS,
    ]);
    assert.deepEqual(Array.from(batch.attentionMask), [1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0]);
  });

  it("decodes ids back to text", () => {
    const ids = tokenizer.encode("a photo of a cat").inputIds;
    assert.equal(tokenizer.decode(ids, { skipSpecialTokens: true }), "a photo of a cat");
    assert.equal(tokenizer.decode([BOS, 17, EOS]), "<|startoftext|> cat <|endoftext|>");
  });

  it("matches transformers' own CLIP tokenizer test (tests/models/clip/test_tokenization_clip.py)", () => {
    const words = [
      "l",
      "o",
      "w",
      "e",
      "r",
      "s",
      "t",
      "i",
      "d",
      "n",
      "lo",
      "l</w>",
      "w</w>",
      "r</w>",
      "t</w>",
    ];
    const rest = [
      "low</w>",
      "er</w>",
      "lowest</w>",
      "newer</w>",
      "wider",
      "<unk>",
      "<|startoftext|>",
      "<|endoftext|>",
    ];
    const vocab = Object.fromEntries([...words, ...rest].map((token, id) => [token, id]));
    const hf = ClipTokenizer.fromVocabAndMerges(vocab, "#version: 0.2\nl o\nlo w</w>\ne r</w>", {
      unkToken: "<unk>",
    });
    assert.deepEqual(hf.tokenize("lower newer"), ["lo", "w", "er</w>", "n", "e", "w", "er</w>"]);
    assert.deepEqual([...hf.tokenIds("lower newer"), hf.unkTokenId], [10, 2, 16, 9, 3, 2, 16, 20]);
  });
});

describe("added tokens (textual inversion)", () => {
  const { tokenizer: withTi, ids } = tokenizer.withAddedTokens(["<sks>", "<cat-toy>"]);

  it("appends ids after the vocabulary and matches the tokens whole before BPE", () => {
    assert.deepEqual(ids, [20, 21]);
    assert.equal(withTi.size, 22);
    assert.deepEqual(withTi.encode("a photo of <sks> cat", { padding: false }).inputIds, [
      BOS,
      7,
      16,
      14,
      20,
      17,
      EOS,
    ]);
    assert.deepEqual(withTi.tokenize("a<cat-toy>cat"), ["a</w>", "<cat-toy>", "cat</w>"]);
    assert.equal(withTi.decode([BOS, 7, 21, EOS], { skipSpecialTokens: true }), "a <cat-toy>");
  });

  it("leaves the original tokenizer unchanged", () => {
    assert.equal(tokenizer.tokenToId("<sks>"), undefined);
    assert.equal(tokenizer.size, 20);
    assert.notDeepEqual(tokenizer.tokenIds("<sks>"), [20]);
  });

  it("matches case-sensitively, as transformers' added-token trie does", () => {
    assert.ok(!withTi.tokenIds("<SKS>").includes(20));
  });

  it("refuses empty, repeated or already known tokens", () => {
    assert.throws(() => tokenizer.withAddedTokens([""]), TypeError);
    assert.throws(() => tokenizer.withAddedTokens(["<x>", "<x>"]), /already in the tokenizer/);
    assert.throws(() => withTi.withAddedTokens(["<sks>"]), /already in the tokenizer/);
    assert.throws(() => tokenizer.withAddedTokens(["cat</w>"]), /already in the tokenizer/);
  });

  it("matches the special tokens in text", () => {
    assert.deepEqual(tokenizer.tokenIds("a<|endoftext|>cat"), [7, EOS, 17]);
  });
});

describe("tokenizer.json (Hugging Face fast tokenizer layout)", () => {
  const merges = MERGES.split("\n").slice(1);
  const json = {
    added_tokens: [
      { id: 18, content: "<|startoftext|>", special: true },
      { id: 19, content: "<|endoftext|>", special: true },
      { id: 20, content: "<sks>", special: false },
    ],
    model: { type: "BPE", dropout: null, end_of_word_suffix: "</w>", vocab: VOCAB, merges },
  };

  it("encodes like vocab.json + merges.txt, with added tokens registered", () => {
    const fast = ClipTokenizer.fromTokenizerJson(json);
    assert.deepEqual(
      fast.encode("a photo of <sks> a cat").inputIds,
      tokenizer.withAddedTokens(["<sks>"]).tokenizer.encode("a photo of <sks> a cat").inputIds,
    );
    const pairs = ClipTokenizer.fromTokenizerJson({
      ...json,
      model: { ...json.model, merges: merges.map((m) => m.split(" ")) },
    });
    assert.deepEqual(pairs.tokenIds("a photo of a cat"), [7, 16, 14, 7, 17]);
  });

  it("rejects models that are not CLIP-style BPE", () => {
    assert.throws(
      () => ClipTokenizer.fromTokenizerJson({ model: { ...json.model, type: "WordPiece" } }),
      /BPE model/,
    );
    assert.throws(
      () => ClipTokenizer.fromTokenizerJson({ model: { ...json.model, end_of_word_suffix: "" } }),
      /CLIP-style/,
    );
    assert.throws(
      () => ClipTokenizer.fromTokenizerJson({ model: { ...json.model, dropout: 0.1 } }),
      /dropout/,
    );
  });
});

describe("loadClipTokenizer (diffusers tokenizer/ folder)", () => {
  it("reads vocab, merges, config, special tokens map and saved added tokens", async () => {
    const dir = await mkdtemp(join(tmpdir(), "diffda-tok-"));
    try {
      await writeFile(join(dir, "vocab.json"), JSON.stringify({ ...VOCAB, "!": 20 }));
      await writeFile(join(dir, "merges.txt"), MERGES);
      // model_max_length 8; pad "!" as SD 2's tokenizer has it, in AddedToken form in the map (which wins).
      await writeFile(
        join(dir, "tokenizer_config.json"),
        JSON.stringify({
          model_max_length: 8,
          pad_token: "<|endoftext|>",
          added_tokens_decoder: { "21": { content: "<sks>" } },
        }),
      );
      await writeFile(
        join(dir, "special_tokens_map.json"),
        JSON.stringify({ pad_token: { content: "!", lstrip: false } }),
      );
      const loaded = await loadClipTokenizer(dir);
      assert.equal(loaded.modelMaxLength, 8);
      assert.equal(loaded.padTokenId, 20);
      assert.deepEqual(loaded.encode("a <sks>").inputIds, [BOS, 7, 21, EOS, 20, 20, 20, 20]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("falls back to tokenizer.json and ignores transformers' 1e30 'unset' length", async () => {
    const dir = await mkdtemp(join(tmpdir(), "diffda-tok-"));
    try {
      const merges = MERGES.split("\n").slice(1);
      await writeFile(
        join(dir, "tokenizer.json"),
        JSON.stringify({ model: { type: "BPE", end_of_word_suffix: "</w>", vocab: VOCAB, merges } }),
      );
      await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify({ model_max_length: 1e30 }));
      const loaded = await loadClipTokenizer(dir);
      assert.equal(loaded.modelMaxLength, 77);
      assert.deepEqual(loaded.tokenIds("a photo of a cat"), [7, 16, 14, 7, 17]);
      await assert.rejects(loadClipTokenizer(join(dir, "missing")), /neither vocab.json/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
