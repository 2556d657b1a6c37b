import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DecodedImageCache } from "./decoded-images.js";
import { measuresAccuracy } from "./train.js";

describe("measuresAccuracy", () => {
  it("measures every epoch of a short run, about ten of a long one, and always the last", () => {
    const measured = (epochs: number) =>
      Array.from({ length: epochs }, (_, e) => e).filter((e) => measuresAccuracy(e, epochs));
    assert.deepEqual(measured(3), [0, 1, 2]);
    assert.deepEqual(measured(10), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const epochs of [11, 30, 97, 1000]) {
      const points = measured(epochs);
      assert.ok(points.length >= 10 && points.length <= 11, `${epochs} epochs: ${points.length} points`);
      assert.equal(points.at(-1), epochs - 1);
    }
    assert.deepEqual(measured(30), [2, 5, 8, 11, 14, 17, 20, 23, 26, 29]);
  });
});

describe("DecodedImageCache", () => {
  const images = (text: string) => [{ header: "png,0,0,0,", bytes: new TextEncoder().encode(text) }];

  it("decodes a list once, keys on every byte and header, and evicts the least recently used", async () => {
    const cache = new DecodedImageCache(16); // room for two 2-float blocks
    let decodes = 0;
    const decode = (value: number) => async () => {
      decodes++;
      return new Float32Array([value, value]);
    };
    const a = DecodedImageCache.key(images("a"), "1x2");
    assert.equal((await cache.get(a, decode(1)))[0], 1);
    assert.equal((await cache.get(a, decode(9)))[0], 1, "a hit returns the first decode");
    assert.notEqual(DecodedImageCache.key(images("b"), "1x2"), a);
    assert.notEqual(DecodedImageCache.key(images("a"), "3x2"), a, "another shape is another block");
    assert.notEqual(
      DecodedImageCache.key([{ header: "png,0,0,0,abc", bytes: new TextEncoder().encode("a") }], "1x2"),
      a,
      "another declared checksum is another block (it must still be verified)",
    );
    await cache.get(DecodedImageCache.key(images("b"), "1x2"), decode(2));
    await cache.get(DecodedImageCache.key(images("c"), "1x2"), decode(3)); // evicts a
    assert.equal((await cache.get(a, decode(4)))[0], 4);
    assert.equal(decodes, 4);
    assert.equal(cache.hits, 1);
  });
});
