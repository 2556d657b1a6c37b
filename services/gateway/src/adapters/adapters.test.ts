/** /v1/adapters over fake compute: upload checks, visibility, deletion, and jobs applying adapters by id. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { f32, type Tensor } from "../../../../shared/ml/onnx/index.js";
import { encodeSafetensors } from "../../../../shared/ml/safetensors/index.js";
import { ArtifactCollector } from "../lifecycle/collector.js";
import type { FinetuneOutput } from "../orchestrator/handlers/index.js";
import { registerTrainedAdapters } from "../orchestrator/handlers/trained-adapters.js";
import { bearer, idemKey } from "../test-support.js";
import { type ComputeGateway, startComputeGateway } from "../testing/compute-gateway.js";

const MODULE = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";

function tensor(dims: number[], value = 0.01): Tensor {
  return f32(
    dims,
    Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => value * (i + 1)),
  );
}

/** A PEFT-keyed LoRA file (`extra` adds keys). */
function loraFile(extra: Record<string, Tensor> = {}, value = 0.01): Buffer {
  return Buffer.from(
    encodeSafetensors({
      [`unet.${MODULE}.lora_A.weight`]: tensor([4, 8], value),
      [`unet.${MODULE}.lora_B.weight`]: tensor([8, 4], value),
      ...extra,
    }),
  );
}

describe("adapters as resources", () => {
  let stack: ComputeGateway;
  let owner: Awaited<ReturnType<typeof bearer>>;
  let other: Awaited<ReturnType<typeof bearer>>;
  let admin: Awaited<ReturnType<typeof bearer>>;
  let datasetId: string;

  before(async () => {
    stack = await startComputeGateway({
      app: ({ store, artifacts }) => ({
        collector: new ArtifactCollector(
          { store, artifacts },
          { graceMs: 0, jobRetentionMs: 0, datasetRetentionMs: 0 },
        ),
      }),
    });
    owner = await bearer(stack.store, ["submit", "read"]);
    other = await bearer(stack.store, ["submit", "read"]);
    admin = await bearer(stack.store, ["admin", "submit", "read"]);
    const dataset = await stack.gw.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { ...owner.headers, "idempotency-key": idemKey() },
      payload: { builtin: "fashion-mnist", shots: 2 },
    });
    assert.equal(dataset.statusCode, 201, dataset.body);
    datasetId = dataset.json().id;
  });
  after(async () => {
    await stack?.close();
  });

  const upload = (
    body: Buffer | string,
    query: string,
    headers: Record<string, string> = owner.headers,
    contentType = "application/octet-stream",
  ) =>
    stack.gw.app.inject({
      method: "POST",
      url: `/v1/adapters?${query}`,
      headers: { ...headers, "idempotency-key": idemKey(), "content-type": contentType },
      payload: body,
    });

  test("a LoRA is checked by a replica, stored, and shown to its owner and admins only", async () => {
    const checks = stack.compute.calls.checks.length;
    const res = await upload(loraFile(), "name=style&kind=lora&model=tiny-sd&rank=4&alpha=8");
    assert.equal(res.statusCode, 201, res.body);
    const adapter = res.json();
    assert.equal(res.headers.location, `/v1/adapters/${adapter.id}`);
    assert.deepEqual(
      [
        adapter.name,
        adapter.kind,
        adapter.model,
        adapter.rank,
        adapter.alpha,
        adapter.tokens,
        adapter.sourceJobId,
      ],
      ["style", "lora", "tiny-sd", 4, 8, [], null],
    );
    assert.ok(await stack.artifacts.has(adapter.sha256));
    const check = stack.compute.calls.checks[checks];
    assert.equal(check.model?.baseModel?.name, "tiny-sd");
    assert.equal(check.model?.adapters[0].file?.content.length, adapter.bytes);
    assert.equal(check.model?.adapters[0].loraAlpha, 8);

    const get = (id: string, headers: Record<string, string>) =>
      stack.gw.app.inject({ method: "GET", url: `/v1/adapters/${id}`, headers });
    assert.deepEqual((await get(adapter.id, owner.headers)).json(), adapter);
    assert.equal((await get(adapter.id, admin.headers)).statusCode, 200);
    assert.equal((await get(adapter.id, other.headers)).statusCode, 404);
    const list = async (headers: Record<string, string>) =>
      (await stack.gw.app.inject({ method: "GET", url: "/v1/adapters", headers }))
        .json()
        .items.map((a: { id: string }) => a.id);
    assert.ok((await list(owner.headers)).includes(adapter.id));
    assert.ok((await list(admin.headers)).includes(adapter.id));
    assert.deepEqual(await list(other.headers), []);
    const foreignDelete = await stack.gw.app.inject({
      method: "DELETE",
      url: `/v1/adapters/${adapter.id}`,
      headers: other.headers,
    });
    assert.equal(foreignDelete.statusCode, 404);
  });

  test("textual inversion records the file's tokens, or the one an A1111 file is bound to", async () => {
    const diffusers = await upload(
      Buffer.from(encodeSafetensors({ "<cat>": tensor([16]), "<dog>": tensor([16]) })),
      "name=pets&kind=textual_inversion&model=tiny-sd",
    );
    assert.equal(diffusers.statusCode, 201, diffusers.body);
    assert.deepEqual(diffusers.json().tokens, ["<cat>", "<dog>"]);
    const a1111 = Buffer.from(encodeSafetensors({ emb_params: tensor([2, 16]) }));
    const bound = await upload(a1111, "name=cat&kind=textual_inversion&model=tiny-sd&tokens=%3Ccat%3E");
    assert.equal(bound.statusCode, 201, bound.body);
    assert.deepEqual(bound.json().tokens, ["<cat>"]);
    const unbound = await upload(a1111, "name=cat&kind=textual_inversion&model=tiny-sd");
    assert.equal(unbound.statusCode, 422);
    assert.equal(unbound.json().code, "invalid_adapter");
    assert.deepEqual(unbound.json().errors[0].field, "/body/emb_params");
  });

  test("refuses what is not sound safetensors before asking a replica, naming the problem", async () => {
    const checks = stack.compute.calls.checks.length;
    const good = loraFile();
    const header = Number(good.readBigUInt64LE(0));
    const badDtype = Buffer.from(good);
    badDtype.write(
      good
        .subarray(8, 8 + header)
        .toString("latin1")
        .replace('"F32"', '"Q99"'),
      8,
      "latin1",
    );
    const cases: [Buffer, RegExp][] = [
      [Buffer.from([1, 2, 3]), /8-byte header length/],
      [Buffer.concat([Buffer.from([255, 255, 255, 255, 0, 0, 0, 0]), Buffer.alloc(16)]), /header length/],
      [Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("{{{{")]), /JSON/],
      [badDtype, /unsupported dtype Q99/],
      [good.subarray(0, good.length - 4), /data_offsets/],
      [Buffer.from(encodeSafetensors({})), /no tensor/],
    ];
    for (const [body, detail] of cases) {
      const res = await upload(body, "name=x&kind=lora&model=tiny-sd");
      assert.equal(res.statusCode, 422, res.body);
      assert.equal(res.json().code, "invalid_adapter");
      assert.match(res.json().detail, detail);
    }
    assert.equal(stack.compute.calls.checks.length, checks, "no replica was asked");
  });

  test("refuses what a replica finds does not fit, naming the first bad key, and keeps nothing", async () => {
    const before = await stack.store.adapters.list({ apiKeyId: owner.id, limit: 100 });
    const res = await upload(
      loraFile({ "unet.bad_module.lora_A.weight": tensor([4, 8]) }, 0.02),
      "name=x&kind=lora&model=tiny-sd",
    );
    assert.equal(res.statusCode, 422, res.body);
    assert.equal(res.json().code, "invalid_adapter");
    assert.match(res.json().detail, /unet\.bad_module\.lora_A\.weight/);
    assert.deepEqual(res.json().errors[0].field, "/body/unet.bad_module.lora_A.weight");
    const unknownModel = await upload(loraFile(), "name=x&kind=lora&model=sd-xl");
    assert.equal(unknownModel.statusCode, 422);
    assert.equal(unknownModel.json().errors[0].field, "/query/model");
    const afterwards = await stack.store.adapters.list({ apiKeyId: owner.id, limit: 100 });
    assert.equal(afterwards.items.length, before.items.length);
  });

  test("answers 413 over the size limit, 415 for another type, 400 without Idempotency-Key", async () => {
    const big = await upload(Buffer.alloc(300 * 1024), "name=x&kind=lora&model=tiny-sd");
    assert.equal(big.statusCode, 413);
    assert.equal(big.json().code, "payload_too_large");
    const text = await upload("hello", "name=x&kind=lora&model=tiny-sd", owner.headers, "text/plain");
    assert.equal(text.statusCode, 415);
    const json = await upload('{"a":1}', "name=x&kind=lora&model=tiny-sd", owner.headers, "application/json");
    assert.equal(json.statusCode, 415);
    const noKey = await stack.gw.app.inject({
      method: "POST",
      url: "/v1/adapters?name=x&kind=lora&model=tiny-sd",
      headers: { ...owner.headers, "content-type": "application/octet-stream" },
      payload: loraFile(),
    });
    assert.equal(noKey.statusCode, 400);
    assert.equal(noKey.json().code, "idempotency_key_missing");
    const noKind = await upload(loraFile(), "name=x&model=tiny-sd");
    assert.equal(noKind.statusCode, 400);
  });

  const submit = (methods: unknown[], headers: Record<string, string> = owner.headers, dataset = datasetId) =>
    stack.gw.app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: { ...headers, "idempotency-key": idemKey() },
      payload: { datasetId: dataset, kind: "generate", methods, seeds: [0] },
    });

  test("a job applies a stored adapter by id; DELETE waits for it, then frees the file", async () => {
    const created = await upload(loraFile({}, 0.03), "name=run&kind=lora&model=tiny-sd&rank=4&alpha=4");
    assert.equal(created.statusCode, 201, created.body);
    const adapter = created.json();
    const ti = await upload(
      Buffer.from(encodeSafetensors({ "<a>": tensor([16], 0.5), "<b>": tensor([16], 0.7) })),
      "name=classes&kind=textual_inversion&model=tiny-sd",
    );
    assert.equal(ti.statusCode, 201, ti.body);
    const shards = stack.compute.calls.shards.length;
    const finetunes = stack.compute.calls.finetune.length;
    const hold = stack.compute.hold();
    const job = await submit([{ preset: "real-guidance", adapters: [ti.json().id, adapter.id] }]);
    assert.equal(job.statusCode, 201, job.body);
    const method = job.json().spec.methods.find((m: { label: string }) => m.label === "real-guidance");
    assert.equal(method.generation.model, "tiny-sd", "the method takes the adapters' model");
    assert.deepEqual(
      method.adapters.map((a: { id: string; sha256: string }) => [a.id, a.sha256]),
      [
        [ti.json().id, ti.json().sha256],
        [adapter.id, adapter.sha256],
      ],
    );

    const inUse = await stack.gw.app.inject({
      method: "DELETE",
      url: `/v1/adapters/${adapter.id}`,
      headers: owner.headers,
    });
    assert.equal(inUse.statusCode, 409, inUse.body);
    assert.equal(inUse.json().code, "adapter_in_use");
    assert.match(inUse.json().detail, new RegExp(job.json().id));
    hold.release();
    const done = await stack.waitFinal(job.json().id, owner.headers);
    assert.equal(done.state, "succeeded", JSON.stringify(done.error));

    assert.equal(stack.compute.calls.finetune.length, finetunes, "nothing was fine-tuned");
    const sent = stack.compute.calls.shards.slice(shards);
    assert.ok(sent.length > 0);
    for (const { request } of sent) {
      assert.equal(request.model?.baseModel?.name, "tiny-sd");
      const files = request.model?.adapters ?? [];
      assert.deepEqual(
        files.map((a) => [a.kind, a.file?.sha256, a.tokens, a.loraRank, a.loraAlpha]),
        [
          [1, ti.json().sha256, ["<a>", "<b>"], 0, 0],
          [2, adapter.sha256, [], 4, 4],
        ],
      );
      assert.equal(files[1].file?.content.length, adapter.bytes);
      // Two classes, two tokens: the textual inversion binds them in class order.
      assert.deepEqual(
        request.classes.map((c) => c.token),
        ["<a>", "<b>"],
      );
    }

    assert.ok(await stack.artifacts.has(adapter.sha256));
    const deleted = await stack.gw.app.inject({
      method: "DELETE",
      url: `/v1/adapters/${adapter.id}`,
      headers: owner.headers,
    });
    assert.equal(deleted.statusCode, 204, deleted.body);
    assert.equal(await stack.artifacts.has(adapter.sha256), false, "the collector freed the file");
    const gone = await stack.gw.app.inject({
      method: "GET",
      url: `/v1/adapters/${adapter.id}`,
      headers: owner.headers,
    });
    assert.equal(gone.statusCode, 404);
  });

  test("the adapters a job trains become resources of its key, usable by id in a later job", async () => {
    const trained = await submit([{ preset: "da-fusion" }]);
    assert.equal(trained.statusCode, 201, trained.body);
    const done = await stack.waitFinal(trained.json().id, owner.headers);
    assert.equal(done.state, "succeeded", JSON.stringify(done.error));
    const task = (await stack.store.tasks.list(done.id)).find((t) => t.kind === "finetune");
    assert.ok(task, "a finetune task ran");
    const output = task.output as FinetuneOutput;
    const ids = output.adapterIds ?? [];
    assert.equal(ids.length, 1, "the fake finetune trains one textual inversion");
    const listed = await stack.gw.app.inject({
      method: "GET",
      url: `/v1/adapters/${ids[0]}`,
      headers: owner.headers,
    });
    assert.equal(listed.statusCode, 200, listed.body);
    assert.equal(listed.json().sourceJobId, done.id);
    assert.equal(listed.json().kind, "textual_inversion");
    const hidden = await stack.gw.app.inject({
      method: "GET",
      url: `/v1/adapters/${ids[0]}`,
      headers: other.headers,
    });
    assert.equal(hidden.statusCode, 404, "another key does not see it");
    // A retried finetune task registers the same files under the same ids, once.
    const again = await registerTrainedAdapters(
      stack.store,
      { id: done.id, apiKeyId: owner.id, name: null },
      task.key,
      "tiny-sd",
      output.adapters,
    );
    assert.deepEqual(again, ids);
    const finetunes = stack.compute.calls.finetune.length;
    const reuse = await submit([{ preset: "real-guidance", adapters: [ids[0]] }]);
    assert.equal(reuse.statusCode, 201, reuse.body);
    assert.equal((await stack.waitFinal(reuse.json().id, owner.headers)).state, "succeeded");
    assert.equal(stack.compute.calls.finetune.length, finetunes, "nothing is fine-tuned again");
    const shard = stack.compute.calls.shards.at(-1);
    assert.equal(shard?.request.model?.adapters[0]?.file?.sha256, listed.json().sha256);
  });

  test("a job naming an adapter it cannot use is 422 naming the field", async () => {
    const created = await upload(loraFile({}, 0.04), "name=mine&kind=lora&model=tiny-sd");
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().id;
    const othersDataset = await stack.gw.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { ...other.headers, "idempotency-key": idemKey() },
      payload: { builtin: "fashion-mnist", shots: 2 },
    });
    assert.equal(othersDataset.statusCode, 201, othersDataset.body);
    const foreign = await submit(
      [{ preset: "real-guidance", adapters: [id] }],
      other.headers,
      othersDataset.json().id,
    );
    assert.equal(foreign.statusCode, 422, foreign.body);
    assert.deepEqual(
      foreign.json().errors.map((e: { field: string }) => e.field),
      ["/body/methods/0/adapters/0"],
    );
    const cases: [unknown[], Record<string, string>, string][] = [
      [
        [{ preset: "real-guidance", adapters: ["00000000-0000-4000-8000-000000000000"] }],
        owner.headers,
        "/body/methods/0/adapters/0",
      ],
      // The adapter fits tiny-sd, the method draws with tiny-ip2p.
      [
        [{ preset: "real-guidance", adapters: [id], generation: { model: "tiny-ip2p" } }],
        owner.headers,
        "/body/methods/0/adapters/0",
      ],
      // Adapters replace fine-tuning.
      [[{ preset: "da-fusion", adapters: [id] }], owner.headers, "/body/methods/0/finetuning/method"],
    ];
    for (const [methods, headers, field] of cases) {
      const res = await submit(methods, headers);
      assert.equal(res.statusCode, 422, res.body);
      assert.equal(res.json().code, "invalid_job_spec");
      assert.deepEqual(
        res.json().errors.map((e: { field: string }) => e.field),
        [field],
      );
    }
    const baseline = await stack.gw.app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: { ...owner.headers, "idempotency-key": idemKey() },
      payload: { datasetId, methods: [{ preset: "traditional", adapters: [id] }], seeds: [0] },
    });
    assert.equal(baseline.statusCode, 422, baseline.body);
  });

  test("answers 503 when no replica answers CheckAdapters", async () => {
    const down = await startComputeGateway({
      app: () => ({
        models: {
          list: async () => [],
          ids: async () => undefined,
          checkAdapters: async () => {
            throw new Error("connection refused");
          },
        },
      }),
    });
    try {
      const key = await bearer(down.store, ["submit"]);
      const res = await down.gw.app.inject({
        method: "POST",
        url: "/v1/adapters?name=x&kind=lora&model=tiny-sd",
        headers: { ...key.headers, "idempotency-key": idemKey(), "content-type": "application/octet-stream" },
        payload: loraFile(),
      });
      assert.equal(res.statusCode, 503, res.body);
      assert.equal(res.json().code, "unavailable");
    } finally {
      await down.close();
    }
  });
});
