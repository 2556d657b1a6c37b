/**
 * ScoreImages over the bundled kit: PNGs of kit glyphs labelled with their class score high under the
 * kit CLIP, the same glyph labelled as another class scores low, and bad requests are refused naming
 * the field.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { encodePng } from "../../../shared/data/index.js";
import { ScoreImagesRequestSchema } from "../../../shared/gen/diffda/generation/v1/generation_pb.js";
import { buildCorpus, KIT_CLASSES, KIT_MODEL_DIR } from "../../../shared/kit/index.js";
import { RpcError } from "../../../shared/rpc/index.js";
import { loadModelRegistry, type ModelRegistry } from "../../../shared/service/index.js";
import { sha256Hex } from "../../../shared/service/wire/index.js";
import { findClipFolder } from "./engine/clip.js";
import { scoreImages } from "./score-images.js";

const PICKED = [1, 7, 12]; // trousers, sneaker, handwritten digit two
const classes = PICKED.map((c) => ({ name: KIT_CLASSES[c].name }));

describe("ScoreImages (kit CLIP)", () => {
  let registry: ModelRegistry;
  let glyphs: Uint8Array[];
  before(async () => {
    registry = await loadModelRegistry(KIT_MODEL_DIR);
    const corpus = await buildCorpus("test");
    const plane = 3 * 32 * 32;
    glyphs = await Promise.all(
      PICKED.map((c) => {
        const i = corpus.classes.indexOf(c);
        return encodePng(corpus.images.slice(i * plane, (i + 1) * plane), {
          channels: 3,
          height: 32,
          width: 32,
        });
      }),
    );
  });
  const deps = () => ({ registry, clipFolder: findClipFolder, maxImages: 64 });
  const image = (png: Uint8Array, label: number, sourceIndex = 0) => ({
    image: { format: 1, data: png, sha256: sha256Hex(png) },
    label,
    sourceIndex,
  });
  const request = (init: Record<string, unknown>) =>
    create(ScoreImagesRequestSchema, { model: { name: registry.models[0].id }, classes, ...init });

  it("scores each glyph far higher under its own class than under another", async () => {
    const right = glyphs.map((png, label) => image(png, label));
    const wrong = glyphs.map((png, label) => image(png, (label + 1) % 3));
    const { scores } = await scoreImages(request({ images: [...right, ...wrong] }), deps());
    assert.equal(scores?.length, 6);
    const s = scores as number[];
    for (let i = 0; i < 3; i++) assert.ok(s[i] > 0.5 && s[i + 3] < 0.5, `right ${s[i]}, wrong ${s[i + 3]}`);
  });

  it("mixes in similarity to the source image when weighted: the same image scores more", async () => {
    const images = [image(glyphs[0], 0, 5), image(glyphs[0], 0, 6)];
    const sources = [image(glyphs[0], 0, 5), image(glyphs[2], 2, 6)];
    const { scores } = await scoreImages(request({ images, sources, sourceWeight: 0.5 }), deps());
    const s = scores as number[];
    assert.ok(s[0] > s[1], `${s}`);
  });

  it("refuses bad requests naming the field", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ images: [] }, "images"],
      [{ images: [image(glyphs[0], 7)] }, "images[0].label"],
      [{ images: [image(glyphs[0], 0)], sourceWeight: 2 }, "source_weight"],
      [{ images: [image(glyphs[0], 0)], sourceWeight: 0.5 }, "images[0].source_index"],
      [{ images: [image(glyphs[0], 0)], classes: [{ name: "one" }] }, "classes"],
      [{ images: [image(new Uint8Array([1, 2, 3]), 0)] }, "images[0].image"],
    ];
    for (const [init, field] of cases) {
      await assert.rejects(scoreImages(request(init), deps()), (e: unknown) => {
        assert.ok(e instanceof RpcError, String(e));
        assert.equal(e.grpcCode, 3, `${field}: ${e.message}`);
        assert.ok(e.message.includes(field), `${field}: ${e.message}`);
        return true;
      });
    }
    await assert.rejects(
      scoreImages(request({ images: [image(glyphs[0], 0)], model: { name: "no-such" } }), deps()),
      (e: unknown) => e instanceof RpcError && e.grpcCode === 5,
    );
  });
});
