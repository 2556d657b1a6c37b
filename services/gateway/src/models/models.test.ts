/** GET /v1/models over fake compute, jobs naming a model, and the model a result names. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { idemKey, png, zipToBuffer } from "../test-support.js";
import { type ComputeGateway, startComputeGateway } from "../testing/compute-gateway.js";
import { fakeModelDigest } from "../testing/fake-compute.js";

describe("the model registry", () => {
  let stack: ComputeGateway;
  let datasetId: string;

  before(async () => {
    stack = await startComputeGateway({ app: () => ({ authMode: "loopback-open" }) });
    const dataset = await stack.gw.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { "idempotency-key": idemKey() },
      payload: { builtin: "fashion-mnist", shots: 2 },
    });
    datasetId = dataset.json().id;
  });
  after(async () => {
    await stack?.close();
  });

  const submit = (methods: unknown[]) =>
    stack.gw.app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: { "idempotency-key": idemKey() },
      payload: { datasetId, kind: "generate", methods, seeds: [0] },
    });

  test("GET /v1/models lists what the replicas serve, with digests, sizes and cards", async () => {
    const res = await stack.gw.app.inject({ method: "GET", url: "/v1/models" });
    assert.equal(res.statusCode, 200, res.body);
    const items = res.json().items as { id: string; sha256: string; nativeSize: object; summary: string }[];
    assert.deepEqual(
      items.map((m) => m.id),
      ["tiny-ip2p", "tiny-sd"],
    );
    assert.equal(items[1].sha256, fakeModelDigest("tiny-sd"));
    assert.deepEqual(items[1].nativeSize, { height: 32, width: 32 });
    assert.match(items[1].summary, /fake tiny-sd/);
  });

  test("a job naming a model no replica serves is 422 naming the field", async () => {
    const res = await submit([
      { preset: "real-guidance" },
      { preset: "real-guidance", label: "other", generation: { model: "sd-xl" } },
    ]);
    assert.equal(res.statusCode, 422, res.body);
    assert.equal(res.json().code, "invalid_job_spec");
    assert.deepEqual(
      res.json().errors.map((e: { field: string }) => e.field),
      ["/body/methods/1/generation/model"],
    );
  });

  test("a job that names a served model runs on it, and its result names the model and its digest", async () => {
    const res = await submit([{ preset: "real-guidance", generation: { model: "tiny-sd" } }]);
    assert.equal(res.statusCode, 201, res.body);
    const job = await stack.waitFinal(res.json().id);
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));
    assert.deepEqual(job.result.methods[0].generation.models, [
      { id: "tiny-sd", sha256: fakeModelDigest("tiny-sd") },
    ]);
    const shard = stack.compute.calls.shards.at(-1);
    assert.equal(shard?.request.model?.baseModel?.name, "tiny-sd");
  });

  test("a generation-only job on an uploaded set costs less CPU than the evaluating job of the same generation", async () => {
    const files = [];
    for (const name of ["shoe", "bag"]) {
      for (let i = 0; i < 3; i++) {
        const bytes = await png(8, 8, (i * 40 + (name === "bag" ? 9 : 0)) % 256);
        files.push({ name: `${name}/${i}.png`, read: async () => bytes });
      }
    }
    const uploaded = await stack.gw.app.inject({
      method: "POST",
      url: "/v1/datasets?testFraction=0.34",
      headers: { "content-type": "application/zip", "idempotency-key": idemKey() },
      payload: await zipToBuffer(files),
    });
    assert.equal(uploaded.statusCode, 201, uploaded.body);
    const run = async (kind: "generate" | "evaluate") => {
      const res = await stack.gw.app.inject({
        method: "POST",
        url: "/v1/jobs",
        headers: { "idempotency-key": idemKey() },
        payload: {
          datasetId,
          kind,
          methods: [{ preset: "real-guidance" }],
          seeds: [0],
          ...(kind === "evaluate" ? { baselines: [] } : {}),
        },
      });
      assert.equal(res.statusCode, 201, res.body);
      const job = await stack.waitFinal(res.json().id);
      assert.equal(job.state, "succeeded", JSON.stringify(job.error));
      return {
        jobId: job.id,
        ...job.result.methods.find((m: { label: string }) => m.label === "real-guidance"),
      };
    };
    const generated = await run("generate");
    const evaluated = await run("evaluate");
    // It returns its synthetic set: every image of the method, in the download.
    const set = await stack.gw.app.inject({
      method: "GET",
      url: `/v1/jobs/${generated.jobId}/synthetic.zip`,
    });
    assert.equal(set.statusCode, 200);
    assert.equal(generated.generation.images, evaluated.generation.images, "the same generation");
    assert.equal(generated.cpuSeconds.generate, evaluated.cpuSeconds.generate);
    assert.equal(generated.cpuSeconds.train, 0);
    assert.ok(
      generated.cpuSeconds.total < evaluated.cpuSeconds.total,
      JSON.stringify([generated.cpuSeconds, evaluated.cpuSeconds]),
    );
  });
});
