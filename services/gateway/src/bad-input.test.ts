/**
 * Bad input over a real socket (supertest against the listening app): what the route-by-route tests do not
 * sweep. Every POST route needs an Idempotency-Key and every scoped route its scope, checked from the
 * OpenAPI document so that a new route is covered without editing this file; a job submission replays
 * instead of planning twice; the inline (base64) upload path refuses bombs and bad formats as the zip path
 * does; a user's test split (train/ and test/ folders, or JSON images marked test) is refused when its
 * classes or layout are off, and its files meet the same limits as training files; a body without
 * Content-Length is cut off at the limit. Every refusal is checked to be a
 * problem+json document whose code and status agree with the catalog, and to leave no file and no row.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import supertest from "supertest";
import { bombPng, noisePng, solidImage } from "../../../shared/data/test-images.js";
import { API_ERRORS, type ApiErrorCode } from "./errors.js";
import { REPLAY_HEADER } from "./plugins/idempotency.js";
import type { JobStore } from "./store/index.js";
import {
  bearer,
  type CraftedEntry,
  craftZip,
  idemKey,
  openTestStore,
  png,
  TEST_LIMITS,
  type TestGateway,
  testGateway,
} from "./test-support.js";

/** A response as supertest gives it. */
type Res = supertest.Response;

/** A problem document as the API sends it. */
interface ProblemBody {
  code: string;
  status: number;
  type: string;
  title: string;
  detail: string;
  errors?: { field: string; message: string }[];
}

/** Checks that `res` is the catalog's problem document for `code`, and returns it. */
function expectProblem(
  res: { status: number; headers: Record<string, unknown>; text: string },
  code: ApiErrorCode,
): ProblemBody {
  const status = API_ERRORS[code].status;
  assert.equal(res.status, status, `${res.status} ${res.text}`);
  assert.match(String(res.headers["content-type"]), /^application\/problem\+json/);
  const body = JSON.parse(res.text) as ProblemBody;
  assert.equal(body.code, code, res.text);
  assert.equal(body.status, status);
  assert.equal(body.type, `urn:diffda:problem:${code}`);
  assert.equal(body.title, API_ERRORS[code].title);
  assert.ok(typeof body.detail === "string" && body.detail.length > 0);
  return body;
}

describe("bad input over HTTP: idempotency and scopes on every route, inline uploads, unbounded bodies", () => {
  let store: JobStore;
  let gw: TestGateway;
  let base: string;
  let admin: Record<string, string>;
  let submitter: Record<string, string>;
  let datasetId: string;
  let operations: { method: string; path: string; scope: string | undefined }[];

  before(async () => {
    store = await openTestStore();
    gw = await testGateway({ store });
    base = await gw.app.listen({ host: "127.0.0.1", port: 0 });
    admin = (await bearer(store, ["admin"])).headers;
    submitter = (await bearer(store, ["submit", "read"])).headers;
    const dataset = await supertest(base)
      .post("/v1/datasets")
      .set(submitter)
      .set("idempotency-key", idemKey())
      .send({
        images: await Promise.all(
          ["a", "a", "b", "b"].map(async (label, i) => ({
            label,
            data: (await png(8, 8, 40 * i)).toString("base64"),
          })),
        ),
      });
    assert.equal(dataset.status, 201, dataset.text);
    datasetId = dataset.body.id;
    const doc = (await supertest(base).get("/openapi.json")).body as {
      paths: Record<string, Record<string, { "x-scope"?: string }>>;
    };
    operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ method, path, scope: op["x-scope"] })),
    );
  });
  after(async () => {
    await gw?.close();
    await store?.close();
  });

  /** `path` with every `{param}` filled by a uuid that names nothing. */
  const concrete = (path: string) => path.replace(/\{[^}]+\}/g, () => randomUUID());
  const call = (method: string, path: string) =>
    (supertest(base) as unknown as Record<string, (url: string) => supertest.Test>)[method](concrete(path));

  /** Rows of the tables a request could write to. */
  const rows = async () =>
    (
      await store.db.query<{ n: number }>(
        "select (select count(*) from datasets) + (select count(*) from jobs) + (select count(*) from api_keys) as n",
      )
    ).rows[0].n;

  /** Runs `refuse` and checks that it left no row (datasets, jobs, keys) and no file. */
  async function nothingWritten(refuse: () => Promise<Res>): Promise<Res> {
    const files = (await gw.files()).sort();
    const before = await rows();
    const res = await refuse();
    assert.deepEqual((await gw.files()).sort(), files, "no file was written");
    assert.equal(await rows(), before, "no row was written");
    return res;
  }

  test("every POST route answers 400 idempotency_key_missing without the header, whatever the body", async () => {
    const posts = operations.filter((op) => op.method === "post");
    assert.deepEqual(posts.map((op) => op.path).sort(), [
      "/v1/adapters",
      "/v1/datasets",
      "/v1/jobs",
      "/v1/jobs/{id}/cancel",
      "/v1/keys",
      "/v1/keys/{id}/revoke",
      "/v1/webhook-secret",
    ]);
    for (const op of posts) {
      const res = await nothingWritten(() => call("post", op.path).set(admin).send({ not: "checked yet" }));
      const problem = expectProblem(res, "idempotency_key_missing");
      assert.deepEqual(
        problem.errors,
        [{ field: "/headers/idempotency-key", message: "is required" }],
        op.path,
      );
    }
  });

  test("every scoped route is 401 without a key or with a revoked one, and 403 for a key without its scope", async () => {
    const scoped = operations.filter((op) => op.scope !== undefined);
    assert.ok(scoped.length >= 14, `${scoped.length} scoped operations`);
    const revoked = await bearer(store, ["admin"]);
    assert.equal(await store.apiKeys.revoke(revoked.id), true);
    const keys = {
      read: (await bearer(store, ["read"])).headers,
      submit: (await bearer(store, ["submit"])).headers,
    };
    for (const op of scoped) {
      const what = `${op.method.toUpperCase()} ${op.path}`;
      const anonymous = await call(op.method, op.path);
      expectProblem(anonymous, "unauthorized");
      assert.equal(anonymous.headers["www-authenticate"], 'Bearer realm="diffda"', what);
      expectProblem(await call(op.method, op.path).set(revoked.headers), "unauthorized");
      // The scope is checked before the body, the Idempotency-Key or the resource: a key that may not
      // call a route learns nothing else about it.
      for (const [scope, headers] of Object.entries(keys)) {
        if (scope === op.scope) continue;
        const res = await nothingWritten(() => {
          const req = call(op.method, op.path).set(headers);
          return op.method === "post" ? req.send({ garbage: true }) : req;
        });
        assert.match(expectProblem(res, "forbidden").detail, new RegExp(`${op.scope} scope`), what);
      }
    }
  });

  test("a job submitted twice under one key is planned once and replayed; another payload is 422", async () => {
    const key = idemKey();
    const body = { datasetId, methods: [{ preset: "real-guidance" }], baselines: ["no-augmentation"] };
    const first = await supertest(base)
      .post("/v1/jobs")
      .set(submitter)
      .set("idempotency-key", key)
      .send(body);
    assert.equal(first.status, 201, first.text);
    const tasks = (await store.tasks.list(first.body.id)).length;
    assert.ok(tasks > 0);
    const again = await nothingWritten(() =>
      supertest(base).post("/v1/jobs").set(submitter).set("idempotency-key", key).send(body),
    );
    assert.equal(again.status, 201);
    assert.equal(again.headers[REPLAY_HEADER], "true");
    assert.equal(again.body.id, first.body.id);
    assert.equal(again.headers.location, first.headers.location);
    assert.equal((await store.tasks.list(first.body.id)).length, tasks, "the DAG was planned once");
    const other = await nothingWritten(() =>
      supertest(base)
        .post("/v1/jobs")
        .set(submitter)
        .set("idempotency-key", key)
        .send({ ...body, seeds: [0, 1] }),
    );
    expectProblem(other, "idempotency_mismatch");
  });

  test("bad filtering is a problem+json naming the field: 400 for its shape, 422 for its rules", async () => {
    const submitJob = (body: Record<string, unknown>) =>
      nothingWritten(() =>
        supertest(base)
          .post("/v1/jobs")
          .set(submitter)
          .set("idempotency-key", idemKey())
          .send({ datasetId, ...body }),
      );
    const method = (filtering: unknown) => ({ methods: [{ preset: "real-guidance", filtering }] });
    const shapes: [unknown, string][] = [
      [{ scorer: "entropy", keepFraction: 0.5 }, "/body/methods/0/filtering/scorer"],
      [{ keepFraction: 0.5 }, "/body/methods/0/filtering/scorer"],
      [{ scorer: "clip", keepFraction: 0 }, "/body/methods/0/filtering/keepFraction"],
      [{ scorer: "clip", keepFraction: 1.5 }, "/body/methods/0/filtering/keepFraction"],
      [{ scorer: "clip", minScore: -1 }, "/body/methods/0/filtering/minScore"],
      [{ scorer: "clip", keepFraction: "half" }, "/body/methods/0/filtering/keepFraction"],
      [{ scorer: "clip", keepFraction: 0.5, topK: 3 }, "/body/methods/0/filtering/topK"],
    ];
    for (const [filtering, field] of shapes) {
      const problem = expectProblem(await submitJob(method(filtering)), "validation_failed");
      assert.ok(
        problem.errors?.some((e) => e.field === field),
        `${JSON.stringify(filtering)}: ${JSON.stringify(problem.errors)}`,
      );
    }
    const rules: [Record<string, unknown>, string][] = [
      [method({ scorer: "classifier" }), "/body/methods/0/filtering"],
      [method({ scorer: "none", keepFraction: 0.5 }), "/body/methods/0/filtering/keepFraction"],
      [
        method({ scorer: "classifier", keepFraction: 0.5, sourceWeight: 0.3 }),
        "/body/methods/0/filtering/sourceWeight",
      ],
      [
        {
          methods: [
            { preset: "no-augmentation", label: "plain", filtering: { scorer: "clip", keepFraction: 0.5 } },
          ],
        },
        "/body/methods/0/filtering/scorer",
      ],
      [
        { ...method({ scorer: "classifier", keepFraction: 0.5 }), baselines: ["traditional"] },
        "/body/methods/0/filtering/scorer",
      ],
      [{ ...method({ scorer: "clip", keepFraction: 0.5 }), kind: "generate" }, "/body/methods/0/filtering"],
    ];
    for (const [body, field] of rules) {
      const problem = expectProblem(await submitJob(body), "invalid_job_spec");
      assert.ok(
        problem.errors?.some((e) => e.field === field),
        `${JSON.stringify(body)}: ${JSON.stringify(problem.errors)}`,
      );
    }
  });

  /** Posts images inline (base64) with labels. */
  const postImages = (images: { label: string; data: Uint8Array }[]) =>
    nothingWritten(() =>
      supertest(base)
        .post("/v1/datasets")
        .set(submitter)
        .set("idempotency-key", idemKey())
        .send({
          images: images.map((i) => ({ label: i.label, data: Buffer.from(i.data).toString("base64") })),
        }),
    );

  /** Posts a zip archive. */
  const postArchive = (archive: Buffer) =>
    nothingWritten(() =>
      supertest(base)
        .post("/v1/datasets")
        .set(submitter)
        .set("idempotency-key", idemKey())
        .set("content-type", "application/zip")
        .send(archive),
    );

  /** A train/ and test/ archive: `<split>/<class>/<i>.png` for each listed file, then `extra` as is. */
  const splitArchive = (splits: Record<string, Record<string, Uint8Array[]>>, extra: CraftedEntry[] = []) =>
    craftZip([
      ...Object.entries(splits).flatMap(([split, classes]) =>
        Object.entries(classes).flatMap(([label, files]) =>
          files.map((data, i) => ({ name: `${split}/${label}/${i}.png`, data })),
        ),
      ),
      ...extra,
    ]);

  test("inline images: a decompression bomb is 413 image_too_large, checked before decoding", async () => {
    const good = await png();
    expectProblem(
      await postImages([
        { label: "a", data: good },
        { label: "a", data: good },
        { label: "b", data: bombPng(30_000, 30_000) },
      ]),
      "image_too_large",
    );
  });

  test("inline images: GIF, TIFF and bytes that are no image are 415 unsupported_format", async () => {
    const good = await png();
    const tiff = await sharp(Buffer.alloc(8 * 8 * 3, 90), { raw: { width: 8, height: 8, channels: 3 } })
      .tiff()
      .toBuffer();
    for (const bad of [
      await solidImage("gif", 8, 8, [1, 2, 3]),
      tiff,
      Buffer.from("<svg xmlns='http://www.w3.org/2000/svg'/>"),
    ]) {
      const res = await postImages([
        { label: "a", data: good },
        { label: "a", data: good },
        { label: "b", data: bad },
      ]);
      expectProblem(res, "unsupported_format");
    }
  });

  test("inline images: a PNG cut short is 422 corrupt_image", async () => {
    const whole = await noisePng(32);
    const res = await postImages([
      { label: "a", data: whole },
      { label: "a", data: whole },
      { label: "b", data: whole.subarray(0, Math.floor(whole.length / 2)) },
    ]);
    expectProblem(res, "corrupt_image");
  });

  test("inline images: one file over the per-file limit is 413 payload_too_large; too many files is 413 too_many_files", async () => {
    const big = await noisePng(300); // ~270 KB of noise, over the 256 KiB limit, under the pixel limit
    assert.ok(big.length > TEST_LIMITS.upload.maxFileBytes);
    const good = await png();
    expectProblem(
      await postImages([
        { label: "a", data: good },
        { label: "a", data: good },
        { label: "b", data: big },
      ]),
      "payload_too_large",
    );
    const many = Array.from({ length: TEST_LIMITS.upload.maxFiles + 1 }, (_, i) => ({
      label: `c${i % 2}`,
      data: good,
    }));
    expectProblem(await postImages(many), "too_many_files");
  });

  test("zip entries with an absolute path, a backslash, a drive letter or a control character are 400 archive_unsafe_path", async () => {
    const image = await png();
    for (const name of [
      "/etc/cron.d/x.png",
      "cat\\..\\..\\x.png",
      "C:/x.png",
      "cat/x\u0001.png",
      "cat/./x.png",
    ]) {
      const res = await postArchive(
        craftZip([
          { name: "cat/0.png", data: image },
          { name, data: image },
        ]),
      );
      expectProblem(res, "archive_unsafe_path");
    }
  });

  test("an encrypted zip entry is 400 archive_invalid; images at the root, outside any class folder, too", async () => {
    const image = await png();
    const encrypted = craftZip([{ name: "cat/0.png", data: image, method: "store" }]);
    encrypted.writeUInt16LE(0x0801, 6); // local header: general purpose flag bit 0 = encrypted
    encrypted.writeUInt16LE(0x0801, encrypted.readUInt32LE(encrypted.length - 22 + 16) + 8);
    const flat = craftZip([
      { name: "0.png", data: image },
      { name: "1.png", data: image },
    ]);
    for (const archive of [encrypted, flat]) expectProblem(await postArchive(archive), "archive_invalid");
  });

  test("a test/ class that train/ lacks is 422 invalid_dataset naming every such class", async () => {
    const image = await png();
    const res = await postArchive(
      splitArchive({ train: { cat: [image, image] }, test: { cat: [image], dog: [image], bird: [image] } }),
    );
    assert.match(expectProblem(res, "invalid_dataset").detail, /"bird", "dog"/);
  });

  test("a test/ without images is 422 invalid_dataset: empty, with empty class folders, or missing", async () => {
    const image = await png();
    const train = { cat: [image, image], dog: [image, image] };
    const folder = (name: string) => ({ name, data: new Uint8Array(0) });
    for (const extra of [
      [],
      [folder("test/")],
      [folder("test/"), folder("test/cat/"), folder("test/dog/")],
    ]) {
      const problem = expectProblem(await postArchive(splitArchive({ train }, extra)), "invalid_dataset");
      assert.match(problem.detail, /test\/ holds no images/);
    }
  });

  test("an archive mixing train/ and test/ with other entries is 422 invalid_dataset naming one", async () => {
    const image = await png();
    const res = await postArchive(
      splitArchive({ train: { cat: [image, image] }, test: { cat: [image] } }, [
        { name: "dog/0.png", data: image },
      ]),
    );
    const problem = expectProblem(res, "invalid_dataset");
    assert.match(problem.detail, /"dog\/0\.png" is outside train\/ and test\//);
    assert.deepEqual(problem.errors, [{ field: "/body", message: 'entry "dog/0.png": mixed_layout' }]);
  });

  test("a file over a limit is refused alike in test/ and in train/: count, bytes, pixels, format, pixels decoded", async () => {
    const image = await png();
    const whole = await noisePng(32);
    const cases: [string, Uint8Array[], ApiErrorCode][] = [
      [
        "too many files",
        Array.from({ length: TEST_LIMITS.upload.maxFiles - 3 }, () => image),
        "too_many_files",
      ],
      ["a file over the per-file limit", [await noisePng(300)], "archive_bomb"], // declared size, as in train
      ["a decompression bomb", [bombPng(30_000, 30_000)], "image_too_large"],
      ["a GIF", [await solidImage("gif", 8, 8, [1, 2, 3])], "unsupported_format"],
      ["a PNG cut short", [whole.subarray(0, Math.floor(whole.length / 2))], "corrupt_image"],
    ];
    const train = { a: [image, image], b: [image, image] };
    for (const [what, files, code] of cases) {
      const inTest = await postArchive(splitArchive({ train, test: { a: files } }));
      assert.equal(expectProblem(inTest, code).code, code, `${what} in test/`);
      const inTrain = await postArchive(
        splitArchive({ train: { ...train, c: files }, test: { a: [image] } }),
      );
      assert.equal(expectProblem(inTrain, code).code, code, `${what} in train/`);
    }
    // The JSON path likewise: an image marked "test" is checked as any other.
    const marked = (data: Uint8Array, split: "train" | "test", label = "a") => ({
      label,
      split,
      data: Buffer.from(data).toString("base64"),
    });
    for (const [, [bad], code] of cases.slice(2)) {
      const res = await nothingWritten(() =>
        supertest(base)
          .post("/v1/datasets")
          .set(submitter)
          .set("idempotency-key", idemKey())
          .send({ images: [marked(image, "train"), marked(image, "train", "b"), marked(bad, "test")] }),
      );
      expectProblem(res, code);
    }
  });

  test("a body sent without Content-Length is cut off at the upload limit with 413 payload_too_large", async () => {
    const chunk = Buffer.alloc(64 * 1024, 7);
    const total = TEST_LIMITS.uploadBodyBytes + 8 * chunk.length;
    const files = (await gw.files()).sort();
    const { status, headers, text } = await new Promise<{
      status: number;
      headers: Record<string, unknown>;
      text: string;
    }>((resolve, reject) => {
      const req = httpRequest(`${base}/v1/datasets`, {
        method: "POST",
        headers: {
          ...submitter,
          "idempotency-key": idemKey(),
          "content-type": "application/zip",
          "transfer-encoding": "chunked",
        },
      });
      req.on("response", (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (part: string) => {
          body += part;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: body }));
      });
      // The server may answer and close while the client still writes: that is the point.
      req.on("error", (error: NodeJS.ErrnoException) => {
        if (error.code !== "EPIPE" && error.code !== "ECONNRESET") reject(error);
      });
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once("drain", pump);
        }
        req.end();
      };
      pump();
    });
    expectProblem({ status, headers, text }, "payload_too_large");
    assert.deepEqual((await gw.files()).sort(), files, "no file was written");
  });
});
