import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { API_ERRORS, PROBLEM_CONTENT_TYPE } from "./errors.js";
import { PRESETS } from "./presets.js";
import { MIGRATIONS } from "./store/index.js";
import { bearer, dereferenced, type TestGateway, testGateway } from "./test-support.js";

describe("service routes, methods, OpenAPI and problem documents", () => {
  let gw: TestGateway;
  const lifecycle = { draining: false };
  before(async () => {
    gw = await testGateway({ lifecycle });
  });
  after(() => gw?.close());

  test("GET /healthz answers while the process runs, without a key", async () => {
    const res = await gw.app.inject({ method: "GET", url: "/healthz" });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: "ok" });
  });

  test("GET /readyz is ready with a migrated store and 503 problem while draining", async () => {
    const ready = await gw.app.inject({ method: "GET", url: "/readyz" });
    assert.equal(ready.statusCode, 200);
    assert.equal(ready.json().status, "ready");
    assert.equal(ready.json().checks.migrations, `${MIGRATIONS.length}/${MIGRATIONS.length}`);
    lifecycle.draining = true;
    try {
      const draining = await gw.app.inject({ method: "GET", url: "/readyz" });
      assert.equal(draining.statusCode, 503);
      assert.equal(draining.headers["content-type"], `${PROBLEM_CONTENT_TYPE}; charset=utf-8`);
      assert.equal(draining.json().code, "unavailable");
    } finally {
      lifecycle.draining = false;
    }
  });

  test("GET /metrics exposes diffda_ HTTP, job and queue metrics without job ids in labels", async () => {
    await gw.app.inject({ method: "GET", url: "/healthz" });
    const res = await gw.app.inject({ method: "GET", url: "/metrics" });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers["content-type"] as string, /^text\/plain/);
    const text = res.body;
    assert.match(text, /diffda_http_request_duration_seconds_bucket\{.*route="\/healthz".*\}/);
    assert.match(text, /# TYPE diffda_jobs_submitted_total counter/);
    assert.match(text, /# TYPE diffda_jobs_finished_total counter/);
    assert.match(text, /# TYPE diffda_queue_depth gauge/);
    assert.match(text, /# TYPE diffda_job_stage_duration_seconds histogram/);
    assert.doesNotMatch(text, /job_id=|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}/);
  });

  test("an unknown route is a problem+json 404 with the stable code", async () => {
    const res = await gw.app.inject({ method: "GET", url: "/v1/nothing?x=1" });
    assert.equal(res.statusCode, 404);
    assert.equal(res.headers["content-type"], `${PROBLEM_CONTENT_TYPE}; charset=utf-8`);
    assert.deepEqual(res.json(), {
      type: "urn:diffda:problem:not_found",
      title: API_ERRORS.not_found.title,
      status: 404,
      detail: "no route GET /v1/nothing",
      code: "not_found",
      instance: "/v1/nothing",
    });
  });

  test("GET /v1/methods lists the seven published presets, the flip-crop one and two baselines with their components", async () => {
    const key = await bearer(gw.store, ["read"]);
    const res = await gw.app.inject({ method: "GET", url: "/v1/methods", headers: key.headers });
    assert.equal(res.statusCode, 200);
    const items = res.json().items as {
      id: string;
      name: string;
      kind: string;
      generation: unknown;
      utilization: { mode: string };
    }[];
    assert.deepEqual(
      items.map((m) => m.name),
      [
        "No augmentation",
        "Traditional augmentation (MixUp)",
        "Real-Guidance",
        "GIF",
        "DiffuseMix",
        "DA-Fusion",
        "Diff-Aug",
        "Diff-Mix",
        "Diff-II",
        "Flip-crop guidance",
      ],
    );
    assert.deepEqual(
      res.json().items,
      JSON.parse(JSON.stringify(PRESETS)),
      "the response schema drops nothing",
    );
    const diffMix = items.find((m) => m.id === "diff-mix") as unknown as {
      generation: {
        mode: string;
        strength: number;
        syntheticPerReal: number;
        sampling: { numInferenceSteps: number; scheduler: string };
      };
      utilization: { mode: string; softLabelGamma: number; replaceProbability: number };
      finetuning: { method: string };
    };
    assert.equal(diffMix.finetuning.method, "ti_lora");
    assert.equal(diffMix.generation.mode, "img2img_inter_class");
    assert.equal(diffMix.generation.syntheticPerReal, 5);
    assert.equal(diffMix.generation.sampling.numInferenceSteps, 25);
    assert.equal(diffMix.generation.sampling.scheduler, "dpm_solver_multistep");
    assert.equal(diffMix.utilization.mode, "grr");
    assert.equal(diffMix.utilization.softLabelGamma, 0.5);
    assert.equal(items.filter((m) => m.kind === "baseline" && m.generation === null).length, 2);
  });

  test("GET /v1/methods without a key is a 401 problem with WWW-Authenticate", async () => {
    const res = await gw.app.inject({ method: "GET", url: "/v1/methods" });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().code, "unauthorized");
    assert.match(res.headers["www-authenticate"] as string, /^Bearer/);
  });

  test("a text/plain body is refused as unsupported_media_type", async () => {
    const key = await bearer(gw.store, ["submit"]);
    const res = await gw.app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: { ...key.headers, "content-type": "text/plain", "idempotency-key": "k-text" },
      payload: "hello",
    });
    assert.equal(res.statusCode, 415);
    assert.equal(res.json().code, "unsupported_media_type");
    assert.match(res.json().detail, /this route accepts application\/json$/);
    // A dataset upload names all of its types, in the detail and in Accept-Post.
    const upload = await gw.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { ...key.headers, "content-type": "application/x-7z-compressed", "idempotency-key": "k-7z" },
      payload: Buffer.from("not an archive we read"),
    });
    assert.equal(upload.statusCode, 415);
    const accepted =
      "application/json, application/zip, application/x-zip-compressed, application/x-tar, application/tar, application/gzip, application/x-gzip, application/x-compressed-tar";
    assert.match(upload.json().detail, new RegExp(`accepts ${accepted}$`));
    assert.equal(upload.headers["accept-post"], accepted);
  });

  test("malformed JSON is malformed_body", async () => {
    const key = await bearer(gw.store, ["submit"]);
    const res = await gw.app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: { ...key.headers, "content-type": "application/json", "idempotency-key": "k-bad-json" },
      payload: "{not json",
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, "malformed_body");
  });

  test("GET /openapi.json documents every route with request and response schemas", async () => {
    const res = await gw.app.inject({ method: "GET", url: "/openapi.json" });
    assert.equal(res.statusCode, 200);
    const doc = dereferenced(res.json());
    assert.equal(doc.openapi, "3.1.0");
    const expected = [
      "get /healthz",
      "get /readyz",
      "get /metrics",
      "get /openapi.json",
      "get /v1/methods",
      "post /v1/keys",
      "get /v1/keys",
      "post /v1/keys/{id}/revoke",
      "post /v1/datasets",
      "get /v1/datasets",
      "get /v1/datasets/{id}",
      "get /v1/datasets/{id}/files",
      "delete /v1/datasets/{id}",
      "post /v1/jobs",
      "get /v1/jobs",
      "get /v1/jobs/{id}",
      "post /v1/jobs/{id}/cancel",
      "get /v1/jobs/{id}/events",
      "get /v1/jobs/{id}/artifacts",
      "get /v1/jobs/{id}/artifacts/{key}",
      "get /v1/jobs/{id}/synthetic",
      "get /v1/jobs/{id}/synthetic.zip",
      "delete /v1/jobs/{id}",
      "get /v1/usage",
      "get /v1/models",
      "post /v1/adapters",
      "get /v1/adapters",
      "get /v1/adapters/{id}",
      "delete /v1/adapters/{id}",
      "post /v1/webhook-secret",
      "get /v1/jobs/{id}/webhook-deliveries",
    ];
    const present = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, ops]) => Object.keys(ops).map((method) => `${method} ${path}`),
    );
    assert.deepEqual(present.sort(), [...expected].sort());
    for (const [path, ops] of Object.entries(
      doc.paths as Record<string, Record<string, Record<string, unknown>>>,
    )) {
      for (const [method, op] of Object.entries(ops)) {
        const responses = op.responses as Record<string, { content?: Record<string, { schema?: unknown }> }>;
        const success = Object.keys(responses).find((s) => s.startsWith("2"));
        assert.ok(success, `${method} ${path} documents a success response`);
        // A 204 has no body; every other success documents its schema.
        if (success !== "204")
          assert.ok(responses[success].content, `${method} ${path} has a success schema`);
        for (const status of ["4XX", "5XX"]) {
          assert.ok(
            responses[status]?.content?.[PROBLEM_CONTENT_TYPE]?.schema,
            `${method} ${path} ${status} is problem+json`,
          );
        }
        if (method === "post") {
          const params = op.parameters as { name: string; in: string }[];
          assert.ok(
            params.some(
              (p) =>
                p.in === "header" && p.name === "Idempotency-Key" && (p as { required?: boolean }).required,
            ),
            `${method} ${path} documents Idempotency-Key`,
          );
          // Actions on a resource (and the secret rotation) take no body.
          if (!path.endsWith("/cancel") && !path.endsWith("/revoke") && path !== "/v1/webhook-secret") {
            assert.ok(
              (op.requestBody as { content?: unknown })?.content,
              `${method} ${path} has a request schema`,
            );
          }
        }
        if (op["x-scope"] !== undefined) assert.deepEqual(op.security, [{ bearer: [] }]);
        const declared = (op.parameters as { name: string; in: string }[])
          .filter((p) => p.in === "path")
          .map((p) => p.name);
        assert.deepEqual(
          declared.sort(),
          [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort(),
          `${method} ${path} path parameters`,
        );
        assert.ok(
          typeof op.operationId === "string" && typeof op.summary === "string",
          `${method} ${path} has an id and a summary`,
        );
      }
    }
    const upload = doc.paths["/v1/datasets"].post.requestBody.content;
    assert.deepEqual(Object.keys(upload).sort(), [
      "application/gzip",
      "application/json",
      "application/tar",
      "application/x-compressed-tar",
      "application/x-gzip",
      "application/x-tar",
      "application/x-zip-compressed",
      "application/zip",
    ]);
    assert.equal(
      doc.paths["/v1/jobs/{id}/events"].get.responses["200"].content["text/event-stream"].schema.type,
      "string",
    );
    assert.deepEqual(Object.keys(doc["x-error-catalog"]).sort(), Object.keys(API_ERRORS).sort());
    const ids = present.length;
    const operationIds = new Set(
      Object.values(doc.paths as Record<string, Record<string, { operationId: string }>>).flatMap((ops) =>
        Object.values(ops).map((op) => op.operationId),
      ),
    );
    assert.equal(operationIds.size, ids, "operationIds are unique");
  });

  test("the document: named components by $ref, shared plugin headers, an example on every operation that fits its schema", async () => {
    const raw = (await gw.app.inject({ method: "GET", url: "/openapi.json" })).json();
    const schemas = raw.components.schemas as Record<string, unknown>;
    for (const name of ["Job", "JobRequest", "Dataset", "Problem", "Artifact", "WebhookDelivery", "Usage"]) {
      assert.ok(schemas[name], `components.schemas.${name}`);
    }
    assert.deepEqual(raw.paths["/v1/jobs/{id}"].get.responses["200"].content["application/json"].schema, {
      $ref: "#/components/schemas/Job",
    });
    assert.deepEqual(raw.paths["/v1/jobs"].post.parameters, [
      { $ref: "#/components/parameters/IdempotencyKey" },
    ]);
    const doc = dereferenced(raw);
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats.default(ajv);
    const problems: string[] = [];
    let examples = 0;
    type Media = { schema?: object; example?: unknown };
    type Op = {
      parameters: { example?: unknown }[];
      requestBody?: { content: Record<string, Media> };
      responses: Record<string, { content?: Record<string, Media>; headers?: Record<string, unknown> }>;
      "x-scope"?: string;
    };
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, Op>>)) {
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method} ${path}`;
        const media: Media[] = [
          ...Object.values(op.requestBody?.content ?? {}),
          ...Object.values(op.responses).flatMap((r) => Object.values(r.content ?? {})),
        ];
        const withExample = media.filter((m) => m.example !== undefined);
        const paramExamples = (op.parameters as { example?: unknown }[]).filter(
          (p) => p.example !== undefined,
        );
        if (withExample.length + paramExamples.length === 0) problems.push(`${where}: no example`);
        for (const m of withExample) {
          examples++;
          if (typeof m.example === "string" || m.schema === undefined) continue;
          const validate = ajv.compile(m.schema);
          if (!validate(m.example))
            problems.push(`${where}: example does not fit: ${ajv.errorsText(validate.errors)}`);
        }
        if (op["x-scope"] !== undefined) {
          const success = Object.entries(op.responses).find(([status]) => status.startsWith("2"))?.[1] as {
            headers?: Record<string, unknown>;
          };
          assert.ok(success?.headers?.RateLimit, `${where}: RateLimit on success`);
          assert.ok(
            (op.responses["4XX"] as { headers?: Record<string, unknown> }).headers?.["Retry-After"],
            where,
          );
        }
      }
    }
    assert.deepEqual(problems, []);
    assert.ok(examples >= 20, `${examples} examples`);
  });
});
