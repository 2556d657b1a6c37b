/**
 * A fuzz suite over the REST API, generated from the gateway's own OpenAPI document so that a new route
 * or field is covered without editing this file. For every operation it sends requests that are wrong
 * in one way each — every body field with wrong types, out-of-range numbers, overlong and NUL-bearing
 * strings, unknown and missing fields; every query and path parameter likewise; broken JSON, wrong
 * content types, bad headers — over a real socket, with a seeded generator. Whatever comes back must be
 * below 500, and every error a problem+json document whose code is in the catalog. The counts by status
 * are printed.
 */
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, test } from "node:test";
import { Rng } from "../../../shared/random/index.js";
import { API_ERRORS } from "./errors.js";
import type { JobStore } from "./store/index.js";
import {
  bearer,
  dereferenced,
  idemKey,
  openTestStore,
  png,
  type TestGateway,
  testGateway,
} from "./test-support.js";

type Schema = Record<string, unknown>;
interface Operation {
  method: string;
  path: string;
  parameters: { name: string; in: string; schema: Schema }[];
  body?: Schema;
}
interface Sent {
  label: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}
interface Received {
  status: number;
  contentType: string;
  text: string;
}

/** One request over a fresh connection; an event stream is cut once its headers arrive. */
function send(base: URL, sent: Sent): Promise<Received> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: base.hostname,
        port: base.port,
        method: sent.method,
        path: sent.path,
        headers: { connection: "close", ...sent.headers },
        timeout: 10_000,
      },
      (res) => {
        const contentType = String(res.headers["content-type"] ?? "");
        if (contentType.startsWith("text/event-stream")) {
          res.destroy();
          resolve({ status: res.statusCode ?? 0, contentType, text: "" });
          return;
        }
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, contentType, text: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${sent.label}: no answer in 10 s`)));
    req.on("error", reject);
    req.end(sent.body);
  });
}

/** A value that satisfies the common cases of `schema` (first branch of a union, first enum value). */
function sample(schema: Schema, name: string, ids: Record<string, string>): unknown {
  if (Array.isArray(schema.enum)) return schema.enum[0];
  for (const union of ["anyOf", "oneOf"] as const) {
    if (Array.isArray(schema[union])) return sample((schema[union] as Schema[])[0], name, ids);
  }
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "object": {
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      const required = new Set((schema.required ?? []) as string[]);
      return Object.fromEntries(
        Object.entries(properties)
          .filter(([key]) => required.has(key))
          .map(([key, child]) => [key, sample(child, key, ids)]),
      );
    }
    case "array":
      return Array.from({ length: Number(schema.minItems ?? 1) }, () =>
        sample((schema.items ?? {}) as Schema, name, ids),
      );
    case "integer":
    case "number":
      return Number(schema.minimum ?? schema.default ?? 1);
    case "boolean":
      return true;
    case "string":
      if (ids[name]) return ids[name];
      if (schema.format === "uuid") return "00000000-0000-4000-8000-000000000000";
      return "a".repeat(Math.max(1, Number(schema.minLength ?? 1)));
    default:
      return null;
  }
}

/** Every field of a body schema with its JSON Pointer, depth first (union branches included). */
function fields(schema: Schema, pointer = ""): { pointer: string; schema: Schema }[] {
  const out: { pointer: string; schema: Schema }[] = [];
  for (const union of ["anyOf", "oneOf"] as const) {
    for (const branch of (schema[union] ?? []) as Schema[]) out.push(...fields(branch, pointer));
  }
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  for (const [key, child] of Object.entries(properties)) {
    out.push({ pointer: `${pointer}/${key}`, schema: child }, ...fields(child, `${pointer}/${key}`));
  }
  if (schema.items && typeof schema.items === "object")
    out.push(...fields(schema.items as Schema, `${pointer}/0`));
  return out;
}

/** Values of the wrong kind or out of range for a field of `schema`. */
function badValues(schema: Schema, random: () => number): unknown[] {
  const values: unknown[] = [
    null,
    true,
    0,
    -1,
    1e308,
    "",
    "x\u0000y",
    "\ud800",
    [],
    {},
    [[[[[[[[[[[]]]]]]]]]]],
  ];
  if (typeof schema.maxLength === "number") values.push("b".repeat(schema.maxLength + 1));
  if (typeof schema.maximum === "number") values.push(schema.maximum + 1, schema.maximum + 0.5);
  if (typeof schema.minimum === "number") values.push(schema.minimum - 1);
  if (typeof schema.maxItems === "number") values.push(Array.from({ length: schema.maxItems + 1 }, () => 1));
  values.push(String.fromCharCode(...Array.from({ length: 8 }, () => Math.floor(random() * 0xffff))));
  return values;
}

/** Sets the value at a JSON Pointer inside a copy of `root`, creating objects on the way. */
function setAt(root: unknown, pointer: string, value: unknown): unknown {
  const copy = structuredClone(root ?? {}) as Record<string, unknown>;
  const parts = pointer.split("/").slice(1);
  let node: Record<string, unknown> = copy;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== "object" || node[part] === null) node[part] = /^\d+$/.test(part) ? [] : {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
  return copy;
}

/** The requests for one operation. */
function casesFor(
  op: Operation,
  ids: Record<string, string>,
  auth: Record<string, string>,
  random: () => number,
): Sent[] {
  const json = { "content-type": "application/json" };
  const fillPath = (override?: { name: string; value: string }) =>
    op.path.replace(/\{([^}]+)\}/g, (_, name: string) =>
      override?.name === name ? override.value : encodeURIComponent(ids[name] ?? ids.id),
    );
  const post = op.method === "post";
  const headers = (extra: Record<string, string> = {}) => ({
    ...auth,
    ...(post ? { "idempotency-key": idemKey() } : {}),
    ...extra,
  });
  const out: Sent[] = [];
  const base = { method: op.method.toUpperCase(), path: fillPath() };

  // Path parameters: not ids, overlong, NUL, traversal, broken percent-encoding.
  for (const p of op.parameters.filter((p) => p.in === "path")) {
    for (const value of ["not-a-uuid", "a".repeat(300), "%00", "..%2F..%2Fetc%2Fpasswd", "%E0%A4%A", "%"]) {
      out.push({
        ...base,
        label: `${op.method} ${op.path} path ${p.name}=${value.slice(0, 20)}`,
        path: fillPath({ name: p.name, value }),
        headers: headers(json),
        body: post ? "{}" : undefined,
      });
    }
  }
  // Query parameters: wrong types, out of range, NUL, overlong, repeated.
  for (const p of op.parameters.filter((p) => p.in === "query")) {
    const values = ["", "-1", "1e999", "true", "%00", "a%00b", "x".repeat(2000), "%ZZ", "\u00e9"];
    if (typeof p.schema.maximum === "number") values.push(String(p.schema.maximum + 1));
    for (const value of values) {
      const q = `${encodeURIComponent(p.name)}=${/%/.test(value) ? value : encodeURIComponent(value)}`;
      out.push({
        ...base,
        label: `${op.method} ${op.path} ?${p.name}=${value.slice(0, 20)}`,
        path: `${base.path}?${q}`,
        headers: headers(json),
        body: post ? "{}" : undefined,
      });
    }
    out.push({
      ...base,
      label: `${op.method} ${op.path} ?${p.name} twice`,
      path: `${base.path}?${p.name}=1&${p.name}=2`,
      headers: headers(json),
      body: post ? "{}" : undefined,
    });
  }
  // Unknown query parameters and headers that are wrong.
  out.push({
    ...base,
    label: `${op.method} ${op.path} unknown query`,
    path: `${base.path}?nope=1`,
    headers: headers(json),
    body: post ? "{}" : undefined,
  });
  out.push({
    ...base,
    label: `${op.method} ${op.path} bad bearer`,
    headers: { ...headers(json), authorization: "Bearer dda_\u00ff" },
    body: post ? "{}" : undefined,
  });
  if (post) {
    out.push({
      ...base,
      label: `${op.method} ${op.path} bad idempotency key`,
      headers: { ...headers(json), "idempotency-key": "a b\tc" },
      body: "{}",
    });
  }

  if (!post) return out;
  // Raw bodies that are not the JSON the route wants.
  for (const [label, body, type] of [
    ["invalid JSON", "{", "application/json"],
    ["truncated JSON", '{"name": "a', "application/json"],
    ["JSON array", "[]", "application/json"],
    ["JSON string", '"x"', "application/json"],
    ["JSON null", "null", "application/json"],
    ["empty body", "", "application/json"],
    ["text/plain", "hello", "text/plain"],
    ["form", "a=1", "application/x-www-form-urlencoded"],
    ["deep nesting", `${"[".repeat(5000)}${"]".repeat(5000)}`, "application/json"],
    ["lone surrogate escape", '{"name": "\\ud800"}', "application/json"],
    ["NUL escape", '{"name": "\\u0000"}', "application/json"],
    [
      "invalid UTF-8",
      Buffer.from([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
      "application/json",
    ],
  ] as const) {
    out.push({
      ...base,
      label: `${op.method} ${op.path} ${label}`,
      headers: headers({ "content-type": type }),
      body,
    });
  }
  if (!op.body) return out;
  const valid = sample(op.body, "", ids);
  const json1 = (value: unknown) => JSON.stringify(value);
  out.push({
    ...base,
    label: `${op.method} ${op.path} unknown field`,
    headers: headers(json),
    body: json1({ ...(valid as object), zzUnknown: 1 }),
  });
  for (const required of (op.body.required ?? []) as string[]) {
    const missing = { ...(valid as Record<string, unknown>) };
    delete missing[required];
    out.push({
      ...base,
      label: `${op.method} ${op.path} without ${required}`,
      headers: headers(json),
      body: json1(missing),
    });
  }
  for (const field of fields(op.body)) {
    for (const value of badValues(field.schema, random)) {
      out.push({
        ...base,
        label: `${op.method} ${op.path} ${field.pointer}=${json1(value)?.slice(0, 30)}`,
        headers: headers(json),
        body: json1(setAt(valid, field.pointer, value)),
      });
    }
  }
  return out;
}

describe("REST fuzz: requests generated from the OpenAPI document", () => {
  let store: JobStore;
  let gw: TestGateway;
  let base: URL;
  const ids: Record<string, string> = {};
  let auth: Record<string, string>;

  before(async () => {
    store = await openTestStore();
    gw = await testGateway({ store });
    base = new URL(await gw.app.listen({ host: "127.0.0.1", port: 0 }));
    auth = (await bearer(store, ["admin"])).headers;
    const images = await Promise.all(
      ["a", "a", "a", "b", "b", "b"].map(async (label, i) => ({
        label,
        data: (await png(8, 8, 30 * i)).toString("base64"),
      })),
    );
    const post = async (path: string, body: unknown) => {
      const res = await gw.app.inject({
        method: "POST",
        url: path,
        headers: { ...auth, "idempotency-key": idemKey() },
        payload: body as object,
      });
      assert.ok(res.statusCode < 300, res.body);
      return res.json() as { id: string; key?: { id: string } };
    };
    ids.datasetId = (await post("/v1/datasets", { name: "fuzz", images })).id;
    ids.id = (
      await post("/v1/jobs", { datasetId: ids.datasetId, methods: [{ preset: "real-guidance" }] })
    ).id;
    ids.key = "job.json";
  });
  after(async () => {
    await gw?.close();
    await store?.close();
  });

  test("at least 500 bad requests, none answered 5xx, every error a catalog problem", async () => {
    const doc = dereferenced(
      JSON.parse((await send(base, { label: "doc", method: "GET", path: "/openapi.json" })).text),
    ) as {
      paths: Record<
        string,
        Record<
          string,
          {
            parameters?: Operation["parameters"];
            requestBody?: { content: Record<string, { schema: Schema }> };
          }
        >
      >;
    };
    const operations: Operation[] = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        method,
        path,
        parameters: op.parameters ?? [],
        body: op.requestBody?.content["application/json"]?.schema,
      })),
    );
    // Seeded, so that a failing case can be replayed.
    const rng = new Rng(20261207);
    const random = () => rng.nextFloat();
    const cases = operations.flatMap((op) => casesFor(op, ids, auth, random));
    assert.ok(cases.length >= 500, `${cases.length} cases`);
    const byStatus = new Map<number, number>();
    const codes = new Map<string, number>();
    const problems: string[] = [];
    const deadline = Date.now() + 120_000;
    for (const c of cases) {
      assert.ok(Date.now() < deadline, "the suite took over 2 minutes");
      const res = await send(base, c);
      byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
      if (res.status >= 500) problems.push(`${c.label}: ${res.status} ${res.text.slice(0, 200)}`);
      if (res.status >= 400) {
        if (!res.contentType.startsWith("application/problem+json")) {
          problems.push(`${c.label}: ${res.status} as ${res.contentType}`);
          continue;
        }
        const code = (JSON.parse(res.text) as { code: string }).code;
        codes.set(code, (codes.get(code) ?? 0) + 1);
        if (!(code in API_ERRORS) || API_ERRORS[code as keyof typeof API_ERRORS].status !== res.status) {
          problems.push(`${c.label}: ${res.status} with code ${code}`);
        }
      }
    }
    const table = [...byStatus].sort(([a], [b]) => a - b).map(([status, n]) => `${status}: ${n}`);
    console.log(
      `REST fuzz: ${cases.length} requests over ${operations.length} operations; by status ${table.join(", ")}`,
    );
    console.log(
      `REST fuzz: by code ${[...codes]
        .sort()
        .map(([c, n]) => `${c} ${n}`)
        .join(", ")}`,
    );
    assert.deepEqual(problems, []);
    const health = await send(base, { label: "health", method: "GET", path: "/healthz" });
    assert.equal(health.status, 200, "the gateway still answers");
  });
});
