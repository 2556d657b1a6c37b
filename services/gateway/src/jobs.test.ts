import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { readZip } from "./archive/zip-reader.js";
import type { DatasetSpec } from "./datasets/dataset-service.js";
import type { AbortedTask, JobStore } from "./store/index.js";
import { bearer, idemKey, openTestStore, png, type TestGateway, testGateway } from "./test-support.js";

const SPEC: DatasetSpec = {
  kind: "builtin",
  builtin: "fashion-mnist",
  shots: 2,
  seed: 0,
  classes: ["sneaker", "bag"],
  testPerClass: 5,
  trainCount: 4,
  testCount: 10,
  channels: 1,
  height: 28,
  width: 28,
};

describe("jobs: submit, validate, read, list, cancel, events (SSE) and artifacts", () => {
  let store: JobStore;
  let gw: TestGateway;
  let headers: Record<string, string>;
  let datasetId: string;
  const aborted: AbortedTask[][] = [];
  before(async () => {
    store = await openTestStore();
    gw = await testGateway({ store, orchestrator: { abort: (tasks) => aborted.push([...tasks]) } });
    headers = (await bearer(store, ["submit", "read"])).headers;
    datasetId = (
      await store.datasets.create({
        name: "fm",
        kind: "builtin",
        spec: SPEC,
        imageCount: 14,
        classes: SPEC.classes,
      })
    ).id;
  });
  after(async () => {
    await gw?.close();
    await store?.close();
  });

  const submit = (payload: unknown, extra: Record<string, string> = {}) =>
    gw.app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: { ...headers, ...extra, "idempotency-key": idemKey() },
      payload: payload as object,
    });

  test("a job of presets × seeds is planned into finetune → generate shards → train → evaluate → summarize", async () => {
    const res = await submit({
      datasetId,
      name: "compare",
      methods: [
        { preset: "diff-mix" },
        { preset: "diff-aug", generation: { strength: 0.5 } },
        { preset: "real-guidance" },
      ],
      seeds: [0, 1],
    });
    assert.equal(res.statusCode, 201, res.body);
    const job = res.json();
    assert.equal(res.headers.location, `/v1/jobs/${job.id}`);
    assert.equal(job.state, "queued");
    assert.equal(job.name, "compare");
    assert.deepEqual(
      job.spec.methods.map((m: { label: string }) => m.label),
      ["no-augmentation", "traditional", "diff-mix", "diff-aug", "real-guidance"],
    );
    const diffAug = job.spec.methods[3];
    assert.equal(diffAug.generation.strength, 0.5, "the override applies");
    assert.equal(diffAug.utilization.replaceProbability, 0.5, "the preset's defaults stay");
    assert.equal(diffAug.generation.sampling.numInferenceSteps, 25);
    const tasks = await store.tasks.list(job.id);
    const kinds = (kind: string) => tasks.filter((t) => t.kind === kind);
    // Diff-Mix and Diff-Aug run the same TI+LoRA recipe: one finetune task serves both.
    assert.equal(kinds("finetune").length, 1);
    // 4 train images × 5 per real = 20 samples per run, shards of 4 → 5 shards × 3 methods × 2 seeds.
    assert.equal(kinds("generate").length, 30);
    assert.equal(kinds("train").length, 10);
    assert.equal(kinds("evaluate").length, 10);
    assert.equal(kinds("summarize").length, 1);
    assert.equal(job.tasks.total, tasks.length);
    assert.equal(job.tasks.pending, tasks.length);
    const shard = tasks.find((t) => t.key === "generate:diff-mix:seed=1:shard=5");
    assert.ok(shard, tasks.map((t) => t.key).join());
    assert.deepEqual(shard.dependsOn, [kinds("finetune")[0].key]);
    assert.deepEqual(tasks.find((t) => t.key === "train:no-augmentation:seed=0")?.dependsOn, []);
    const rg = tasks.find((t) => t.key.startsWith("generate:real-guidance"));
    assert.deepEqual(rg?.dependsOn, [], "Real-Guidance uses the base model");
    const metrics = await gw.app.inject({ method: "GET", url: "/metrics" });
    assert.match(metrics.body, /diffda_jobs_submitted_total [1-9]/);
    assert.match(metrics.body, /diffda_queue_depth\{kind="generate",state="runnable"\} 10/);
  });

  test("a custom composition of the three components is accepted", async () => {
    const res = await submit({
      datasetId,
      baselines: [],
      methods: [
        {
          label: "my-mix",
          finetuning: { method: "textual_inversion", textualInversion: { maxTrainSteps: 10 } },
          generation: { mode: "img2img_inter_class", strength: 0.6, syntheticPerReal: 2 },
          utilization: { mode: "fc", softLabelGamma: 0.8, traditionalAugmentation: "cutmix" },
        },
      ],
    });
    assert.equal(res.statusCode, 201, res.body);
    const [method] = res.json().spec.methods;
    assert.equal(method.label, "my-mix");
    assert.equal(method.preset, null);
    assert.deepEqual(method.finetuning, {
      method: "textual_inversion",
      textualInversion: { maxTrainSteps: 10 },
    });
    assert.equal(method.utilization.softLabelGamma, 0.8);
    assert.equal(method.utilization.mixAlpha, 1);
  });

  test("an unknown preset is 400 validation_failed naming the field", async () => {
    const res = await submit({ datasetId, methods: [{ preset: "diff-magic" }] });
    assert.equal(res.statusCode, 400);
    const body = res.json();
    assert.equal(body.code, "validation_failed");
    assert.equal(body.type, "urn:diffda:problem:validation_failed");
    assert.equal(body.errors[0].field, "/body/methods/0/preset");
    assert.match(body.errors[0].message, /diff-mix/);
  });

  test("a strength or probability outside [0, 1] is 400 naming each field", async () => {
    const res = await submit({
      datasetId,
      methods: [
        { preset: "diff-mix", generation: { strength: 1.5 }, utilization: { replaceProbability: -0.1 } },
      ],
    });
    assert.equal(res.statusCode, 400);
    const fields = res
      .json()
      .errors.map((e: { field: string }) => e.field)
      .sort();
    assert.deepEqual(fields, [
      "/body/methods/0/generation/strength",
      "/body/methods/0/utilization/replaceProbability",
    ]);
  });

  test("unknown fields, missing fields and bad seeds are 400 with every field listed", async () => {
    const res = await submit({ methods: [{ preset: "gif", strenght: 0.5 }], seeds: [1, 1] });
    assert.equal(res.statusCode, 400);
    const fields = res
      .json()
      .errors.map((e: { field: string }) => e.field)
      .sort();
    assert.deepEqual(fields, ["/body/datasetId", "/body/methods/0/strenght", "/body/seeds"]);
  });

  test("a parameter its component does not take is 422 invalid_job_spec naming the field", async () => {
    const res = await submit({
      datasetId,
      methods: [
        { preset: "diffusemix", generation: { strength: 0.5 } },
        { preset: "real-guidance", utilization: { softLabelGamma: 0.5 } },
        { preset: "gif", utilization: { mode: "fc", replaceProbability: 0.3 } },
        { preset: "no-augmentation", label: "b2", generation: { mode: "text_to_image" } },
        { label: "c", generation: { mode: "img2img_intra_class" } },
      ],
    });
    assert.equal(res.statusCode, 422);
    assert.equal(res.json().code, "invalid_job_spec");
    const fields = res
      .json()
      .errors.map((e: { field: string }) => e.field)
      .sort();
    assert.deepEqual(fields, [
      "/body/methods/0/generation/strength",
      "/body/methods/1/utilization/softLabelGamma",
      "/body/methods/2/utilization/replaceProbability",
      "/body/methods/3/generation",
      "/body/methods/4/generation/strength",
      "/body/methods/4/utilization/mode",
    ]);
  });

  test("classifier.backbone: scratch by default, an unknown one 400, one of another network 422", async () => {
    const plain = await submit({ datasetId, methods: [{ preset: "gif" }] });
    assert.equal(plain.statusCode, 201, plain.body);
    assert.equal(plain.json().spec.classifier.backbone, undefined, "unset: the default, from scratch");
    const unknown = await submit({
      datasetId,
      methods: [{ preset: "gif" }],
      classifier: { backbone: "imagenet" },
    });
    assert.equal(unknown.statusCode, 400);
    assert.deepEqual(
      unknown.json().errors.map((e: { field: string }) => e.field),
      ["/body/classifier/backbone"],
    );
    const other = await submit({
      datasetId,
      methods: [{ preset: "gif" }],
      classifier: { backbone: "tinted-digits-resnet8", architecture: "resnet20" },
    });
    assert.equal(other.statusCode, 422);
    assert.equal(other.json().code, "invalid_job_spec");
    assert.equal(other.json().errors[0].field, "/body/classifier/backbone");
    assert.match(other.json().errors[0].message, /resnet8 weights, not resnet20/);
    const big = await submit({
      datasetId,
      methods: [{ preset: "gif" }],
      classifier: { backbone: "tinted-digits-resnet8", imageSize: 128 },
    });
    assert.equal(big.statusCode, 422);
    const scratch = await submit({
      datasetId,
      methods: [{ preset: "gif" }],
      classifier: { backbone: "scratch", architecture: "resnet20" },
    });
    assert.equal(scratch.statusCode, 201, "scratch takes any network");
  });

  test("duplicate labels, an unknown dataset and a plan over the limits are 422", async () => {
    const dup = await submit({
      datasetId,
      methods: [
        { preset: "gif", label: "x" },
        { preset: "gif", label: "x" },
      ],
    });
    assert.equal(dup.statusCode, 422);
    assert.equal(dup.json().errors[0].field, "/body/methods/1/label");
    const auto = await submit({ datasetId, methods: [{ preset: "gif" }, { preset: "gif" }], baselines: [] });
    assert.equal(auto.statusCode, 201, "automatic labels never collide");
    assert.deepEqual(
      auto.json().spec.methods.map((m: { label: string }) => m.label),
      ["gif", "gif-2"],
    );
    const missing = await submit({
      datasetId: "5f0e4a44-0000-4000-8000-000000000000",
      methods: [{ preset: "gif" }],
    });
    assert.equal(missing.statusCode, 422);
    assert.equal(missing.json().errors[0].field, "/body/datasetId");
    const huge = await submit({
      datasetId,
      methods: [{ preset: "gif", generation: { syntheticPerReal: 100 } }],
      seeds: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    });
    assert.equal(huge.statusCode, 201, "4 × 100 × 10 = 4000 images is within the limit");
    const tooMany = await submit({
      datasetId,
      methods: Array.from({ length: 8 }, () => ({ preset: "gif", generation: { syntheticPerReal: 100 } })),
      seeds: [0, 1, 2, 3, 4],
    });
    assert.equal(tooMany.statusCode, 422);
    assert.match(
      tooMany
        .json()
        .errors.map((e: { message: string }) => e.message)
        .join(),
      /runs|images/,
    );
  });

  test("a job is visible to its key and admins, not to other keys", async () => {
    const created = await submit({ datasetId, methods: [{ preset: "real-guidance" }] });
    const id = created.json().id;
    const own = await gw.app.inject({ method: "GET", url: `/v1/jobs/${id}`, headers });
    assert.equal(own.statusCode, 200);
    assert.deepEqual(own.json().spec, created.json().spec);
    assert.equal(own.json().links.events, `/v1/jobs/${id}/events`);
    const stranger = (await bearer(store, ["read"])).headers;
    assert.equal(
      (await gw.app.inject({ method: "GET", url: `/v1/jobs/${id}`, headers: stranger })).statusCode,
      404,
    );
    const admin = (await bearer(store, ["admin"])).headers;
    assert.equal(
      (await gw.app.inject({ method: "GET", url: `/v1/jobs/${id}`, headers: admin })).statusCode,
      200,
    );
    assert.equal(
      (await gw.app.inject({ method: "GET", url: "/v1/jobs/not-a-uuid", headers })).statusCode,
      404,
    );
  });

  test("GET /v1/jobs pages with an opaque cursor and filters by state", async () => {
    const own = (await bearer(store, ["submit", "read"])).headers;
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const res = await submit({ datasetId, methods: [{ preset: "gif" }], baselines: [] }, own);
      ids.push(res.json().id);
    }
    const first = await gw.app.inject({ method: "GET", url: "/v1/jobs?limit=2", headers: own });
    assert.equal(first.statusCode, 200);
    assert.deepEqual(
      first.json().items.map((j: { id: string }) => j.id),
      [ids[2], ids[1]],
    );
    const second = await gw.app.inject({
      method: "GET",
      url: `/v1/jobs?limit=2&cursor=${first.json().nextCursor}`,
      headers: own,
    });
    assert.deepEqual(
      second.json().items.map((j: { id: string }) => j.id),
      [ids[0]],
    );
    assert.equal(second.json().nextCursor, null);
    const none = await gw.app.inject({ method: "GET", url: "/v1/jobs?state=succeeded", headers: own });
    assert.deepEqual(none.json().items, []);
    const bad = await gw.app.inject({ method: "GET", url: "/v1/jobs?limit=500&state=done", headers: own });
    assert.equal(bad.statusCode, 400);
    assert.deepEqual(
      bad
        .json()
        .errors.map((e: { field: string }) => e.field)
        .sort(),
      ["/query/limit", "/query/state"],
    );
  });

  test("cancel stops a job, aborts its running tasks here, and a second cancel is 409", async () => {
    for (const job of (await store.jobs.list({ limit: 100 })).items) await store.jobs.cancel(job.id);
    const created = await submit({ datasetId, methods: [{ preset: "real-guidance" }] });
    const id = created.json().id;
    const [claimed] = await store.tasks.claim("test-owner", 1, 60_000);
    assert.equal(claimed.task.jobId, id);
    const res = await gw.app.inject({
      method: "POST",
      url: `/v1/jobs/${id}/cancel`,
      headers: { ...headers, "idempotency-key": idemKey() },
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().state, "cancelled");
    assert.equal(res.json().tasks.pending, 0);
    assert.deepEqual(
      aborted.at(-1)?.map((t) => t.taskId),
      [claimed.task.id],
    );
    const again = await gw.app.inject({
      method: "POST",
      url: `/v1/jobs/${id}/cancel`,
      headers: { ...headers, "idempotency-key": idemKey() },
    });
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().code, "job_not_cancellable");
    const reader = (await bearer(store, ["read"])).headers;
    const forbidden = await gw.app.inject({
      method: "POST",
      url: `/v1/jobs/${id}/cancel`,
      headers: { ...reader, "idempotency-key": idemKey() },
    });
    assert.equal(forbidden.statusCode, 403);
    const unknown = await gw.app.inject({
      method: "POST",
      url: "/v1/jobs/5f0e4a44-0000-4000-8000-000000000000/cancel",
      headers: { ...headers, "idempotency-key": idemKey() },
    });
    assert.equal(unknown.statusCode, 404);
  });

  /** Parses an event stream body into events (id, event, data) and comment lines. */
  function parseSse(body: string) {
    const events: { id: number; event: string; data: { type: string; data: unknown } }[] = [];
    let comments = 0;
    for (const block of body.split("\n\n")) {
      const fields = Object.fromEntries(
        block
          .split("\n")
          .filter((line) => {
            if (line.startsWith(":")) comments++;
            return line.includes(": ") && !line.startsWith(":");
          })
          .map((line) => [line.slice(0, line.indexOf(": ")), line.slice(line.indexOf(": ") + 2)]),
      );
      if (fields.id)
        events.push({ id: Number(fields.id), event: fields.event, data: JSON.parse(fields.data) });
    }
    return { events, comments };
  }

  test("the event stream replays a finished job's events and ends; Last-Event-ID resumes after an id", async () => {
    const id = (await submit({ datasetId, methods: [{ preset: "gif" }] })).json().id;
    await store.events.append(id, "progress", { stage: "generate", step: 1 });
    await store.jobs.cancel(id);
    const full = await gw.app.inject({ method: "GET", url: `/v1/jobs/${id}/events`, headers });
    assert.equal(full.statusCode, 200);
    assert.match(full.headers["content-type"] as string, /^text\/event-stream/);
    const all = parseSse(full.body).events;
    assert.deepEqual(
      all.map((e) => e.event),
      ["job.created", "progress", "job.cancelled"],
    );
    assert.deepEqual(all[1].data.data, { stage: "generate", step: 1 });
    const resumed = await gw.app.inject({
      method: "GET",
      url: `/v1/jobs/${id}/events`,
      headers: { ...headers, "last-event-id": String(all[0].id) },
    });
    assert.deepEqual(
      parseSse(resumed.body).events.map((e) => e.id),
      [all[1].id, all[2].id],
    );
    const byQuery = await gw.app.inject({
      method: "GET",
      url: `/v1/jobs/${id}/events?lastEventId=${all[1].id}`,
      headers,
    });
    assert.deepEqual(
      parseSse(byQuery.body).events.map((e) => e.event),
      ["job.cancelled"],
    );
    const bad = await gw.app.inject({
      method: "GET",
      url: `/v1/jobs/${id}/events`,
      headers: { ...headers, "last-event-id": "abc" },
    });
    assert.equal(bad.statusCode, 400);
  });

  test("the event stream follows a live job, sends keep-alive comments while idle, and closes when it ends", async () => {
    const id = (await submit({ datasetId, methods: [{ preset: "gif" }] })).json().id;
    const stream = gw.app.inject({ method: "GET", url: `/v1/jobs/${id}/events`, headers });
    await new Promise((resolve) => setTimeout(resolve, 150)); // > the 60 ms heartbeat of TEST_LIMITS
    await store.events.append(id, "progress", { step: 1 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await store.events.append(id, "progress", { step: 2 });
    await store.jobs.cancel(id);
    const res = await stream;
    const { events, comments } = parseSse(res.body);
    assert.deepEqual(
      events.map((e) => e.event),
      ["job.created", "progress", "progress", "job.cancelled"],
    );
    assert.ok(comments >= 1, "a keep-alive comment was sent while idle");
    assert.ok(
      events.every((e, i) => i === 0 || e.id > events[i - 1].id),
      "ids increase",
    );
  });

  test("artifacts are listed by key, downloaded by digest, and the synthetic set zips with a manifest", async () => {
    const id = (await submit({ datasetId, methods: [{ preset: "diff-mix" }] })).json().id;
    const images = [await png(4, 4, 10), await png(4, 4, 200)];
    for (const [i, bytes] of images.entries()) {
      const blob = await gw.artifacts.put(bytes);
      await store.artifacts.put({
        jobId: id,
        key: `synthetic/diff-mix/seed=0/00000/${String(i).padStart(7, "0")}`,
        kind: "synthetic_image",
        ...blob,
        meta: {
          mediaType: "image/png",
          method: "diff-mix",
          seed: 0,
          shardIndex: 0,
          sampleIndex: i,
          label: i,
          className: SPEC.classes[i],
          sourceIndex: 0,
          prompt: "a photo of a <sneaker>",
          interClass: { sourceLabel: 0, strength: 0.7 },
        },
      });
    }
    const adapter = await gw.artifacts.put(Buffer.from("safetensors bytes"));
    await store.artifacts.put({
      jobId: id,
      key: "adapter/ti_lora-abc/pytorch_lora_weights.safetensors",
      kind: "adapter",
      ...adapter,
      meta: { mediaType: "application/vnd.safetensors" },
    });
    const list = await gw.app.inject({ method: "GET", url: `/v1/jobs/${id}/artifacts?limit=2`, headers });
    assert.equal(list.statusCode, 200);
    assert.deepEqual(
      list.json().items.map((a: { key: string }) => a.key),
      ["adapter/ti_lora-abc/pytorch_lora_weights.safetensors", "synthetic/diff-mix/seed=0/00000/0000000"],
    );
    assert.equal(list.json().nextAfter, "synthetic/diff-mix/seed=0/00000/0000000");
    const rest = await gw.app.inject({
      method: "GET",
      url: `/v1/jobs/${id}/artifacts?after=${encodeURIComponent(list.json().nextAfter)}`,
      headers,
    });
    assert.equal(rest.json().items.length, 1);
    assert.equal(rest.json().nextAfter, null);
    const onlyAdapters = await gw.app.inject({
      method: "GET",
      url: `/v1/jobs/${id}/artifacts?prefix=adapter/`,
      headers,
    });
    assert.equal(onlyAdapters.json().items.length, 1);

    const download = await gw.app.inject({ method: "GET", url: list.json().items[0].href, headers });
    assert.equal(download.statusCode, 200);
    assert.equal(download.body, "safetensors bytes");
    assert.equal(download.headers["content-type"], "application/vnd.safetensors");
    assert.equal(download.headers.etag, `"${adapter.sha256}"`);
    assert.match(
      download.headers["content-disposition"] as string,
      /filename="pytorch_lora_weights.safetensors"/,
    );
    const missing = await gw.app.inject({
      method: "GET",
      url: `/v1/jobs/${id}/artifacts/../../etc/passwd`,
      headers,
    });
    assert.equal(missing.statusCode, 404);

    const zip = await gw.app.inject({ method: "GET", url: `/v1/jobs/${id}/synthetic.zip`, headers });
    assert.equal(zip.statusCode, 200);
    assert.equal(zip.headers["content-type"], "application/zip");
    const entries = await readZip(zip.rawPayload, {
      maxEntries: 10,
      maxEntryBytes: 1 << 20,
      maxTotalBytes: 1 << 22,
      maxRatio: 1000,
    });
    assert.deepEqual(
      entries.map((e) => e.name),
      ["diff-mix/seed=0/sneaker/0000000.png", "diff-mix/seed=0/bag/0000001.png", "manifest.json"],
    );
    assert.deepEqual(Buffer.from(entries[1].bytes), images[1]);
    const manifest = JSON.parse(Buffer.from(entries[2].bytes).toString());
    assert.equal(manifest.images[1].interClass.strength, 0.7);
    const filtered = await gw.app.inject({
      method: "GET",
      url: `/v1/jobs/${id}/synthetic.zip?method=gif`,
      headers,
    });
    const none = await readZip(filtered.rawPayload, {
      maxEntries: 10,
      maxEntryBytes: 1 << 20,
      maxTotalBytes: 1 << 22,
      maxRatio: 1000,
    });
    assert.deepEqual(
      none.map((e) => e.name),
      ["manifest.json"],
    );
  });
});
