import assert from "node:assert/strict";
import { describe, test } from "node:test";
import sharp from "sharp";
import {
  createImageSet,
  DataError,
  decodePng,
  encodeImageSetPng,
  encodePng,
  GLYPH_HEIGHT,
  renderGrid,
  textWidth,
} from "./index.js";
import { solidImage } from "./test-images.js";

/** Values on the 8-bit grid, so a PNG round trip is exact. */
function ramp(length: number): Float32Array {
  return Float32Array.from({ length }, (_, i) => ((i * 37) % 256) / 255);
}

describe("PNG", () => {
  test("grayscale and RGB round-trip exactly through PNG bytes", async () => {
    for (const channels of [1, 3]) {
      const shape = { channels, height: 5, width: 7 };
      const data = ramp(channels * 35);
      const png = await encodePng(data, shape);
      const meta = await sharp(png).metadata();
      assert.deepEqual([meta.format, meta.channels, meta.width, meta.height], ["png", channels, 7, 5]);
      const back = await decodePng(png);
      assert.deepEqual([back.channels, back.height, back.width], [channels, 5, 7]);
      assert.deepEqual(back.data, data);
    }
  });

  test("values outside [0, 1] are clamped", async () => {
    const png = await encodePng(Float32Array.from([-1, 0.5, 2, Number.NaN]), {
      channels: 1,
      height: 2,
      width: 2,
    });
    const back = await decodePng(png);
    assert.deepEqual(
      Array.from(back.data, (v) => Math.round(v * 255)),
      [0, 128, 255, 0],
    );
  });

  test("decodePng refuses other formats even if allowed elsewhere", async () => {
    await assert.rejects(decodePng(await solidImage("jpeg", 4, 4, [1, 1, 1])), (error: unknown) => {
      return error instanceof DataError && error.code === "unsupported_format";
    });
  });

  test("encodeImageSetPng encodes one image of a set", async () => {
    const set = createImageSet({
      channels: 1,
      height: 2,
      width: 2,
      images: Float32Array.from([0, 0, 0, 0, 1, 1, 1, 1]),
      labels: Int32Array.from([0, 1]),
      classNames: ["a", "b"],
    });
    const back = await decodePng(await encodeImageSetPng(set, 1));
    assert.deepEqual([...back.data], [1, 1, 1, 1]);
    await assert.rejects(encodeImageSetPng(set, 2));
  });
});

describe("renderGrid", () => {
  const classNames = ["zero", "one", "T-shirt/top"];
  const set = createImageSet({
    channels: 1,
    height: 4,
    width: 4,
    images: Float32Array.from({ length: 7 * 16 }, (_, i) => (Math.floor(i / 16) % 2 === 0 ? 0 : 1)),
    labels: Int32Array.from([0, 1, 0, 1, 0, 1, 0]),
    classNames,
  });

  test("flat layout: ⌈√n⌉ columns by default, tiles scaled by nearest neighbour", async () => {
    const png = await renderGrid(set, { scale: 2, padding: 1 });
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    // 7 images → 3 columns × 3 rows of 8-px tiles with 1-px padding.
    assert.deepEqual([info.width, info.height, info.channels], [1 + 3 * 9, 1 + 3 * 9, 3]);
    const pixel = (x: number, y: number) => data[(y * info.width + x) * 3];
    assert.equal(pixel(0, 0), 255, "padding is background");
    assert.equal(pixel(1, 1), 0, "image 0 is black");
    assert.equal(pixel(10, 1), 255, "image 1 is white");
    assert.equal(pixel(8, 8), 0, "image 0 fills its 8×8 tile");
  });

  test("per-class rows carry the class name at the left", async () => {
    const png = await renderGrid(set, { perClass: 2, scale: 3, padding: 2 });
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const labelWidth = textWidth("zero"); // class 2 has no images, so its (longer) name is not drawn
    assert.deepEqual([info.width, info.height], [2 + labelWidth + 2 + 2 * 14, 2 + 2 * 14]);
    let ink = 0;
    for (let y = 2; y < 2 + GLYPH_HEIGHT + 4; y++) {
      for (let x = 2; x < 2 + labelWidth; x++) if (data[(y * info.width + x) * 3] === 0) ink++;
    }
    assert.ok(ink > 10, `label pixels drawn: ${ink}`);
    const again = await renderGrid(set, { perClass: 2, scale: 3, padding: 2 });
    assert.deepEqual(again, png, "deterministic bytes");
  });

  test("bad options are typed errors", async () => {
    await assert.rejects(renderGrid(set, { scale: 0 }), DataError);
    await assert.rejects(renderGrid(set, { indices: [9] }), DataError);
  });
});
