import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { GATEWAY_ENV } from "./config.js";
import { API_ERRORS } from "./errors.js";
import { bearer, testGateway } from "./test-support.js";

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

/** Citations of documents that are not in the repository (design notes, a paper summary, numbered sections). */
const FOREIGN_CITATION = /DESIGN|paper\.md|§/;

describe("citations", () => {
  test("GET /v1/methods and the OpenAPI document cite only docs/ pages that exist", async () => {
    const gw = await testGateway();
    try {
      const key = await bearer(gw.store, ["read"]);
      const methods = await gw.app.inject({ method: "GET", url: "/v1/methods", headers: key.headers });
      assert.equal(methods.statusCode, 200);
      const openapi = await gw.app.inject({ method: "GET", url: "/openapi.json" });
      assert.equal(openapi.statusCode, 200);
      for (const [name, body] of [
        ["/v1/methods", methods.body],
        ["/openapi.json", openapi.body],
      ]) {
        assert.doesNotMatch(body, FOREIGN_CITATION, name);
        for (const [page] of body.matchAll(/docs\/[a-z0-9/-]+\.md/g))
          assert.ok(existsSync(new URL(`../../../${page}`, import.meta.url)), `${name} cites ${page}`);
      }
    } finally {
      await gw.close();
    }
  });
});
