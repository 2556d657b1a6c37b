import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { GATEWAY_ENV } from "./config.js";
import { API_ERRORS } from "./errors.js";

const doc = readFileSync(new URL("../../../docs/api.md", import.meta.url), "utf8");

describe("docs/api.md", () => {
  test("documents exactly the error catalog: code, status and description", () => {
    const rows = [...doc.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \| (.+) \|$/gm)];
    const documented = Object.fromEntries(rows.map((m) => [m[1], `${m[2]} ${m[3].replaceAll("\\|", "|")}`]));
    const actual = Object.fromEntries(
      Object.entries(API_ERRORS).map(([code, e]) => [code, `${e.status} ${e.description}`]),
    );
    assert.deepEqual(documented, actual);
  });

  test("documents every configuration variable", () => {
    for (const name of Object.keys(GATEWAY_ENV)) assert.match(doc, new RegExp(`\\| \`${name}\` \\|`), name);
  });
});
