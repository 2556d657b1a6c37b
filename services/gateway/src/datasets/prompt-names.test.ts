import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { builtinClassNames } from "../../../../shared/data/index.js";
import { captionsFor, KIT_CLASSES } from "../../../../shared/kit/index.js";
import type { JobStore } from "../store/index.js";
import {
  bearer,
  idemKey,
  openTestStore,
  png,
  type TestGateway,
  testGateway,
  zipToBuffer,
} from "../test-support.js";
import { type ComputeGateway, startComputeGateway } from "../testing/compute-gateway.js";

describe("datasets: per-class prompt names", () => {
  let store: JobStore;
  let gw: TestGateway;
  let headers: Record<string, string>;
  before(async () => {
    store = await openTestStore();
    gw = await testGateway({ store });
    headers = (await bearer(store, ["submit", "read"])).headers;
  });
  after(async () => {
    await gw?.close();
    await store?.close();
  });

  const post = (payload: unknown) =>
    gw.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { ...headers, "idempotency-key": idemKey() },
      payload: payload as Record<string, unknown>,
    });
  const inline = async (promptNames: unknown) => {
    const images = [];
    for (const label of ["a", "b"])
      for (let i = 0; i < 3; i++) images.push({ label, data: (await png(8, 8, 30 * i)).toString("base64") });
    return post({ images, size: 8, promptNames });
  };

  test("fashion-mnist defaults to the kit's caption words; the classes keep their names", async () => {
    const res = await post({ builtin: "fashion-mnist", shots: 1 });
    assert.equal(res.statusCode, 201, res.body);
    const dataset = res.json();
    assert.deepEqual(dataset.classes, [...builtinClassNames("fashion-mnist")]);
    assert.equal(dataset.promptNames["T-shirt/top"], "t-shirt");
    assert.equal(dataset.promptNames.trouser, "trousers");
    assert.equal(dataset.promptNames.sneaker, "sneaker");
    // Every phrase is the kit's name of that garment, and a seen garment's captions say it.
    for (const [label, name] of dataset.classes.entries()) {
      const kit = KIT_CLASSES.find((c) => c.dataset === "fashion-mnist" && c.label === label);
      assert.ok(kit);
      assert.equal(dataset.promptNames[name], kit.name);
      if (!kit.heldOut) assert.ok(captionsFor(kit, "red").named.some((t) => t.includes(kit.name)));
    }
    const got = await gw.app.inject({ method: "GET", url: `/v1/datasets/${dataset.id}`, headers });
    assert.deepEqual(got.json().promptNames, dataset.promptNames);
  });

  test("a request's names win over the defaults, for the classes kept", async () => {
    const res = await post({
      builtin: "fashion-mnist",
      shots: 1,
      classes: ["T-shirt/top", "bag"],
      promptNames: { bag: "handbag" },
    });
    assert.equal(res.statusCode, 201, res.body);
    assert.deepEqual(res.json().promptNames, { "T-shirt/top": "t-shirt", bag: "handbag" });
    const mnist = await post({ builtin: "mnist", shots: 1, classes: ["seven"] });
    assert.deepEqual(mnist.json().promptNames, { seven: "seven" });
    const upload = await inline({ a: "apple" });
    assert.equal(upload.statusCode, 201, upload.body);
    assert.deepEqual(upload.json().promptNames, { a: "apple", b: "b" });
  });

  test("a name for a class the dataset lacks is a 422 naming it, and nothing is written", async () => {
    const before = (await store.datasets.list({ limit: 100 })).items.length;
    const unknown = await post({
      builtin: "fashion-mnist",
      shots: 1,
      classes: ["bag"],
      promptNames: { coat: "jacket" },
    });
    assert.equal(unknown.statusCode, 422, unknown.body);
    assert.match(unknown.headers["content-type"] as string, /application\/problem\+json/);
    assert.equal(unknown.json().code, "invalid_dataset");
    assert.match(unknown.json().detail, /"coat"/);
    const upload = await inline({ c: "cherry" });
    assert.equal(upload.statusCode, 422, upload.body);
    assert.match(upload.json().detail, /"c"/);
    assert.equal((await store.datasets.list({ limit: 100 })).items.length, before);
  });

  test("a malformed promptNames is a 400 naming the field", async () => {
    for (const promptNames of [
      ["t-shirt"],
      "t-shirt",
      { bag: "" },
      { bag: " " },
      { bag: 3 },
      { bag: "x".repeat(101) },
    ]) {
      const res = await post({ builtin: "fashion-mnist", shots: 1, promptNames });
      assert.equal(res.statusCode, 400, `${JSON.stringify(promptNames)}: ${res.body}`);
      assert.equal(res.json().code, "validation_failed", res.body);
      assert.match(JSON.stringify(res.json().errors), /promptNames/);
    }
    const upload = await inline({ a: "" });
    assert.equal(upload.statusCode, 400, upload.body);
  });
  test("an archive takes them as JSON text in the query, checked as the JSON body's", async () => {
    const files = [];
    for (const name of ["cat", "dog"])
      for (let i = 0; i < 3; i++) {
        const bytes = await png(8, 8, 40 * i);
        files.push({ name: `${name}/${i}.png`, read: async () => bytes });
      }
    const archive = await zipToBuffer(files);
    const postZip = (promptNames: string) =>
      gw.app.inject({
        method: "POST",
        url: `/v1/datasets?size=8&promptNames=${encodeURIComponent(promptNames)}`,
        headers: { ...headers, "content-type": "application/zip", "idempotency-key": idemKey() },
        payload: archive,
      });
    const ok = await postZip(JSON.stringify({ cat: "kitten" }));
    assert.equal(ok.statusCode, 201, ok.body);
    assert.deepEqual(ok.json().promptNames, { cat: "kitten", dog: "dog" });
    for (const bad of ["{cat", '["kitten"]', '{"cat": ""}', '{"cat": 1}']) {
      const res = await postZip(bad);
      assert.equal(res.statusCode, 400, `${bad}: ${res.body}`);
      assert.equal(res.json().code, "validation_failed");
      assert.match(res.json().errors[0].field, /^\/query\/promptNames/);
    }
    const unknown = await postZip(JSON.stringify({ bird: "robin" }));
    assert.equal(unknown.statusCode, 422, unknown.body);
    assert.match(unknown.json().detail, /"bird"/);
  });
});

describe("prompt names reach fine-tuning and generation; results keep the class names", () => {
  let stack: ComputeGateway;
  before(async () => {
    stack = await startComputeGateway({ app: () => ({ authMode: "loopback-open" }) });
  });
  after(() => stack?.close());

  test("shards and the fine-tuning spec say the prompt names; samples are labelled by class name", async () => {
    const { gw, compute } = stack;
    // The tiny built-in's classes are "shoe" and "bag".
    const dataset = await gw.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { "idempotency-key": idemKey() },
      payload: { builtin: "fashion-mnist", shots: 2, promptNames: { shoe: "sneaker" } },
    });
    assert.equal(dataset.statusCode, 201, dataset.body);
    assert.deepEqual(dataset.json().classes, ["shoe", "bag"]);
    const submitted = await gw.app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: { "idempotency-key": idemKey() },
      payload: {
        datasetId: dataset.json().id,
        methods: [{ preset: "real-guidance" }, { preset: "da-fusion" }],
        seeds: [0],
      },
    });
    assert.equal(submitted.statusCode, 201, submitted.body);
    const job = await stack.waitFinal(submitted.json().id);
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));

    assert.ok(compute.calls.shards.length > 0);
    for (const { request } of compute.calls.shards) {
      assert.deepEqual(
        request.classes.map((c) => c.name),
        ["sneaker", "bag"],
      );
    }
    assert.equal(compute.calls.finetune.length, 1);
    const spec = compute.calls.finetune[0].spec;
    assert.deepEqual(
      spec?.classes.map((c) => [c.name, c.token]),
      [
        ["sneaker", "<shoe>"],
        ["bag", "<bag>"],
      ],
    );
    // No preset names an initializer word: the finetune service picks one per class.
    assert.equal(spec?.hyperparameters?.textualInversion?.initializerToken ?? "", "");
    const samples = await stack.store.artifacts.list(job.id, { prefix: "synthetic/", limit: 50 });
    const classNames = new Set(samples.map((a) => (a.meta as { className: string }).className));
    assert.ok(classNames.size > 0);
    for (const name of classNames) assert.ok(["shoe", "bag"].includes(name as string), String(name));
  });
});
