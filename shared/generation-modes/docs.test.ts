import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MODES_DOC, renderModesDoc } from "./docs.js";
import { MODE_SPECS } from "./specs.js";

describe(MODES_DOC, () => {
  it("is the rendering of the mode declarations (regenerate: node --import tsx shared/generation-modes/write-docs.ts)", () => {
    assert.equal(readFileSync(join(import.meta.dirname, "../..", MODES_DOC), "utf8"), renderModesDoc());
  });

  it("lists every mode with a section of its own", () => {
    const doc = renderModesDoc();
    for (const m of MODE_SPECS) assert.match(doc, new RegExp(`^## \`${m.name}\`$`, "m"));
  });
});
