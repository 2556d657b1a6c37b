/**
 * SIGTERM while a generation shard runs: health turns NOT_SERVING at once, new calls are refused, the
 * shard finishes within the grace period (or is aborted when the grace runs out), and the process exits 0.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { GenerateShardRequestSchema } from "../shared/gen/diffda/generation/v1/generation_pb.js";
import { GenerationService } from "../shared/gen/diffda/generation/v1/generation_pb.js";
import { Health, RpcError, ServingStatus } from "../shared/rpc/index.js";
import { pngTestImage } from "../shared/testing/png-image.js";
import { startService } from "../shared/testing/service-process.js";
import { connect, type Init } from "./support/clients.js";
import { TINY, type TinyModels, tinyModels } from "./support/models.js";

describe("SIGTERM drains a service", () => {
  let models: TinyModels;
  let request: Init<typeof GenerateShardRequestSchema>;

  before(async () => {
    models = await tinyModels();
    request = {
      jobId: "job-drain",
      count: 8,
      seed: 5n,
      samplesPerSource: 8,
      model: { baseModel: { name: TINY } },
      classes: [{ name: "cat" }],
      sources: [{ label: 0, sourceIndex: 0, image: await pngTestImage(32, 1) }],
      method: { case: "textToImage", value: {} },
    };
  });
  after(() => models?.remove());

  it("finishes the shard in flight within the grace period; health says NOT_SERVING meanwhile; exits 0", async () => {
    const service = await startService("generation", {
      MODEL_DIR: models.root,
      DRAIN_GRACE_MS: "60000",
      GENERATION_BATCH_SIZE: "4",
    });
    await service.ready();
    const generation = connect(GenerationService, service.address);
    const health = connect(Health, service.address);
    const statuses: ServingStatus[] = [];
    const watching = (async () => {
      for await (const r of health.client.watch({ service: "" })) statuses.push(r.status);
    })();
    let sigtermAt = 0;
    let images = 0;
    for await (const response of generation.client.generateShard({
      ...request,
      sampling: { numInferenceSteps: 60 },
    })) {
      const e = response.event;
      if (e.case === "image") images++;
      if (e.case === "progress" && e.value.stage === "denoise" && sigtermAt === 0) {
        sigtermAt = performance.now();
        service.child.kill("SIGTERM");
        await service.waitForLog((l) => l.event === "draining");
        // A new call on another connection is refused while the shard finishes.
        const other = connect(GenerationService, service.address);
        const refused = await other.client
          .generateShard({ ...request, count: 1 })
          [Symbol.asyncIterator]()
          .next()
          .then(
            () => undefined,
            (error: unknown) => error,
          );
        other.channel.close();
        assert.ok(refused instanceof RpcError && refused.grpcCode === 14, String(refused));
      }
    }
    assert.equal(images, 8, "the shard in flight completed");
    assert.equal(await service.exited, 0);
    await watching.catch(() => {});
    assert.deepEqual(statuses, [ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    const stopped = await service.waitForLog((l) => l.event === "stopped");
    assert.equal(stopped.exit_code, 0);
    generation.channel.close();
    health.channel.close();
  });

  it("aborts a shard still running when the grace period ends, with UNAVAILABLE, and exits 0", async () => {
    const service = await startService("generation", { MODEL_DIR: models.root, DRAIN_GRACE_MS: "300" });
    await service.ready();
    const generation = connect(GenerationService, service.address);
    let sigtermAt = 0;
    let failure: unknown;
    try {
      for await (const response of generation.client.generateShard({
        ...request,
        jobId: "job-drain-abort",
        sampling: { numInferenceSteps: 1000 },
      })) {
        if (
          response.event.case === "progress" &&
          response.event.value.stage === "denoise" &&
          sigtermAt === 0
        ) {
          sigtermAt = performance.now();
          service.child.kill("SIGTERM");
        }
      }
    } catch (error) {
      failure = error;
    }
    const failedAfter = performance.now() - sigtermAt;
    assert.ok(failure instanceof RpcError, String(failure));
    assert.deepEqual([failure.code, failure.grpcCode], ["shutting_down", 14]);
    assert.ok(failedAfter >= 250 && failedAfter < 5_000, `failed ${failedAfter} ms after SIGTERM`);
    assert.equal(await service.exited, 0);
    const ended = await service.waitForLog((l) => l.event === "shard_ended");
    assert.equal(ended.outcome, "cancelled");
    assert.ok((ended.steps_after_cancel as number) <= 1);
    generation.channel.close();
  });
});
