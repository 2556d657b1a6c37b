/**
 * The two rules every JSON input passes before a route sees it: the text rule (no U+0000, no other
 * control character but tab/LF/CR, no lone surrogate, at any depth, in the body, the query and the path)
 * and strict types (a JSON body is never coerced; the query string keeps its documented coercion). Each
 * case is one the hardening campaign found answering 500 (a NUL reaching the database) or 201 (a wrong
 * type silently stored as something else); here each must be a 400 naming its field, on an otherwise
 * valid request, leaving nothing behind.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { JobStore } from "./store/index.js";
import { bearer, idemKey, openTestStore, png, type TestGateway, testGateway } from "./test-support.js";

interface Problem {
  code: string;
  errors?: { field: string; message: string }[];
}

describe("input rules: text that the store can hold, JSON types as sent", () => {
  let store: JobStore;
  let gw: TestGateway;
  let headers: Record<string, string>;
  let datasetId: string;
  let jobId: string;

  const inject = (
    method: "GET" | "POST",
    url: string,
    payload?: unknown,
    extra: Record<string, string> = {},
  ) =>
    gw.app.inject({
      method,
      url,
      headers: { ...headers, ...(method === "POST" ? { "idempotency-key": idemKey() } : {}), ...extra },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });

  const job = (overrides: Record<string, unknown> = {}, method: Record<string, unknown> = {}) => ({
    datasetId,
    name: "ok",
    methods: [{ preset: "real-guidance", ...method }],
    seeds: [0],
    ...overrides,
  });

  /** Asserts a 400 validation_failed whose first issue is at `field`, and returns the message. */
  function expectFieldRefused(res: { statusCode: number; body: string }, field: string): string {
    assert.equal(res.statusCode, 400, res.body);
    const problem = JSON.parse(res.body) as Problem;
    assert.equal(problem.code, "validation_failed", res.body);
    assert.equal(problem.errors?.[0]?.field, field, res.body);
    return problem.errors[0].message;
  }

  const rows = async () =>
    (
      await store.db.query<{ n: number }>(
        "select (select count(*) from datasets) + (select count(*) from jobs) + (select count(*) from api_keys) as n",
      )
    ).rows[0].n;

  before(async () => {
    store = await openTestStore();
    gw = await testGateway({ store });
    headers = (await bearer(store, ["admin"])).headers;
    const images = await Promise.all(
      ["a", "a", "a", "b", "b", "b"].map(async (label, i) => ({
        label,
        data: (await png(8, 8, 30 * i)).toString("base64"),
      })),
    );
    const dataset = await inject("POST", "/v1/datasets", { name: "abc", images });
    assert.equal(dataset.statusCode, 201, dataset.body);
    datasetId = dataset.json().id;
    const submitted = await inject("POST", "/v1/jobs", job());
    assert.equal(submitted.statusCode, 201, submitted.body);
    jobId = submitted.json().id;
  });
  after(async () => {
    await gw?.close();
    await store?.close();
  });

  const NUL = "a\u0000b";
  const textCases: { name: string; send: () => ReturnType<typeof inject>; field: string }[] = [
    { name: "job name", send: () => inject("POST", "/v1/jobs", job({ name: NUL })), field: "/body/name" },
    {
      name: "prompt template",
      send: () =>
        inject(
          "POST",
          "/v1/jobs",
          job({}, { generation: { sampling: { promptTemplates: [`a {} ${NUL}`] } } }),
        ),
      field: "/body/methods/0/generation/sampling/promptTemplates/0",
    },
    {
      name: "negative prompt",
      send: () => inject("POST", "/v1/jobs", job({}, { generation: { sampling: { negativePrompt: NUL } } })),
      field: "/body/methods/0/generation/sampling/negativePrompt",
    },
    {
      name: "dataset name in a JSON upload",
      send: () => inject("POST", "/v1/datasets", { name: NUL, images: [] }),
      field: "/body/name",
    },
    {
      name: "dataset name in ?name=",
      send: () =>
        inject("POST", "/v1/datasets?name=a%00b", Buffer.from("PK"), { "content-type": "application/zip" }),
      field: "/query/name",
    },
    {
      name: "key name",
      send: () => inject("POST", "/v1/keys", { name: NUL, scopes: ["read"] }),
      field: "/body/name",
    },
    {
      name: "artifact listing ?prefix=",
      send: () => inject("GET", `/v1/jobs/${jobId}/artifacts?prefix=a%00`),
      field: "/query/prefix",
    },
    {
      name: "artifact listing ?after=",
      send: () => inject("GET", `/v1/jobs/${jobId}/artifacts?after=%00`),
      field: "/query/after",
    },
    {
      name: "artifact key",
      send: () => inject("GET", `/v1/jobs/${jobId}/artifacts/job.json%00`),
      field: "/params/*",
    },
  ];
  for (const c of textCases) {
    test(`a NUL in the ${c.name} is a 400 naming the field, and nothing is written`, async () => {
      const before = await rows();
      const message = expectFieldRefused(await c.send(), c.field);
      assert.match(message, /U\+0000/);
      assert.equal(await rows(), before);
    });
  }

  test("other control characters and lone surrogates are refused too; tab, newline and emoji are text", async () => {
    for (const bad of ["\u0007", "\u001b[31m", "\u007f", "\ud800", "x\udc00"]) {
      expectFieldRefused(await inject("POST", "/v1/jobs", job({ name: bad })), "/body/name");
    }
    expectFieldRefused(await inject("POST", "/v1/jobs", job({ ["k\u0000"]: 1 })), "/body/k\u0000");
    const fine = await inject("POST", "/v1/jobs", job({ name: "tab\tline\nreturn\r 🐱 ünïcode" }));
    assert.equal(fine.statusCode, 201, fine.body);
    assert.equal(fine.json().name, "tab\tline\nreturn\r 🐱 ünïcode");
  });

  const typeCases: { name: string; body: () => unknown; field: string }[] = [
    {
      name: "replaceProbability: null",
      body: () => job({}, { utilization: { replaceProbability: null } }),
      field: "/body/methods/0/utilization/replaceProbability",
    },
    { name: "shardSize: true", body: () => job({ shardSize: true }), field: "/body/shardSize" },
    { name: "seeds: null", body: () => job({ seeds: null }), field: "/body/seeds" },
    { name: 'seeds: "1"', body: () => job({ seeds: "1" }), field: "/body/seeds" },
    { name: 'seeds: ["1"]', body: () => job({ seeds: ["1"] }), field: "/body/seeds/0" },
    { name: "name: 5", body: () => job({ name: 5 }), field: "/body/name" },
    {
      name: "strength: '0.5'",
      body: () => job({}, { generation: { strength: "0.5" } }),
      field: "/body/methods/0/generation/strength",
    },
    {
      name: "an unknown classifier architecture",
      body: () => job({ classifier: { architecture: "resnet-9000" } }),
      field: "/body/classifier/architecture",
    },
  ];
  for (const c of typeCases) {
    test(`a JSON body is not coerced: ${c.name} is a 400 naming the field`, async () => {
      const before = await rows();
      const res = await inject("POST", "/v1/jobs", c.body());
      assert.equal(res.statusCode, 400, res.body);
      const problem = res.json() as Problem;
      assert.equal(problem.code, "validation_failed");
      assert.ok(
        problem.errors?.some((e) => e.field === c.field),
        `${c.field} among ${JSON.stringify(problem.errors)}`,
      );
      assert.equal(await rows(), before);
    });
  }

  test("a body nested deeper than 64 levels is refused, even on a route without a body schema", async () => {
    // Sent as text: light-my-request would stringify an object, and so overflow the test's own stack.
    const deep = `${"[".repeat(5000)}${"]".repeat(5000)}`;
    const res = await inject("POST", `/v1/jobs/${jobId}/cancel`, deep, {
      "content-type": "application/json",
    });
    assert.equal(res.statusCode, 400, res.body);
    assert.match(res.json().errors[0].message, /deeper than 64/);
  });

  test("a query number that coercion makes infinite is refused", async () => {
    expectFieldRefused(await inject("GET", `/v1/jobs/${jobId}/artifacts?limit=1e999`), "/query/limit");
  });

  test("the query string keeps its coercion: ?limit=1 is the integer 1", async () => {
    const res = await inject("GET", "/v1/jobs?limit=1");
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().items.length, 1);
    expectFieldRefused(await inject("GET", "/v1/jobs?limit=one"), "/query/limit");
  });
});
