import assert from "node:assert/strict";
import { access, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type TempModel, tempTinyModel } from "../diffusion/testing/fixtures.js";
import {
  checkpointPath,
  evaluateLoss,
  type FineTuneEvent,
  type FineTuneOptions,
  type FineTuneProgress,
  fineTune,
  fineTuneEvents,
  loadTrainingInputs,
  runStage,
  settingsFor,
  stagePlan,
  TI_STAGE_EMBEDDINGS,
  textualInversionStage,
  withBatchSize,
} from "./index.js";
import { sameBits, tinyImageSet } from "./test-fixtures.js";

describe("fine-tuning runs: resume, abort, progress", () => {
  let model: TempModel;
  const dirs: string[] = [];
  before(async () => {
    model = await tempTinyModel({ layout: "optimum" });
  });
  after(async () => {
    await model.remove();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const tempDir = async () => {
    const d = await mkdtemp(join(tmpdir(), "diffda-ft-ckpt-"));
    dirs.push(d);
    return d;
  };
  const options = (over: Partial<FineTuneOptions>): FineTuneOptions => ({
    modelDir: model.dir,
    method: "ti-lora",
    images: tinyImageSet(),
    resolution: 32,
    templates: ["a photo of a {}", "a {}"],
    tiSettings: { steps: 6, batchSize: 4, learningRate: 5e-2 },
    settings: { steps: 6, batchSize: 4, learningRate: 1e-2 },
    rank: 2,
    seed: 11,
    worker: false,
    threads: 1,
    ...over,
  });

  it("resuming from a checkpoint equals straight training (both stages of TI+LoRA)", async () => {
    const dir = await tempDir();
    const straight = await fineTune(options({ checkpointDir: dir, checkpointEvery: 3 }));
    const files = (await readdir(dir)).sort();
    assert.deepEqual(files, [
      "lora-000003.safetensors",
      "lora-000006.safetensors",
      "textual-inversion-000003.safetensors",
      "textual-inversion-000006.safetensors",
      TI_STAGE_EMBEDDINGS,
    ]);
    // Mid-TI: the TI stage continues from step 3, then LoRA runs from scratch.
    const fromTi = await fineTune(options({ resumeFrom: checkpointPath(dir, "textual-inversion", 3) }));
    // Mid-LoRA: the TI embeddings come from the checkpoint folder.
    const fromLora = await fineTune(options({ resumeFrom: checkpointPath(dir, "lora", 3) }));
    assert.deepEqual(fromTi.stages[0].losses, straight.stages[0].losses.slice(3));
    assert.equal(fromTi.stages[0].startStep, 3);
    assert.deepEqual(
      fromLora.stages.map((s) => s.stage),
      ["lora"],
    );
    assert.deepEqual(fromLora.stages[0].losses, straight.stages[1].losses.slice(3));
    for (const resumed of [fromTi, fromLora]) {
      resumed.concepts?.forEach((c, k) => {
        assert.ok(sameBits(c.vectors, straight.concepts?.[k].vectors ?? []), `concept ${k}`);
      });
      resumed.lora?.forEach((layer, k) => {
        const reference = straight.lora?.[k];
        assert.equal(layer.name, reference?.name);
        assert.ok(sameBits(layer.down.data as Float32Array, reference?.down.data as Float32Array));
        assert.ok(sameBits(layer.up.data as Float32Array, reference?.up.data as Float32Array));
      });
    }
  });

  it("an abort stops the run before the next step and leaves a checkpoint to resume from", async () => {
    const dir = await tempDir();
    const controller = new AbortController();
    const seen: FineTuneProgress[] = [];
    await assert.rejects(
      fineTune(
        options({
          method: "textual-inversion",
          settings: { steps: 50, batchSize: 4, learningRate: 5e-2 },
          checkpointDir: dir,
          signal: controller.signal,
          onProgress: (p) => {
            seen.push(p);
            if (p.step === 2) controller.abort();
          },
        }),
      ),
      (error: Error) => error.name === "AbortError",
    );
    assert.deepEqual(
      seen.map((p) => p.step),
      [1, 2],
    );
    await access(checkpointPath(dir, "textual-inversion", 2));
    const resumed = await fineTune(
      options({
        method: "textual-inversion",
        settings: { steps: 3, batchSize: 4, learningRate: 5e-2 },
        resumeFrom: checkpointPath(dir, "textual-inversion", 2),
      }),
    );
    assert.equal(resumed.stages[0].losses.length, 1);
  });

  it("streams progress events (step, totalSteps, loss, lr, etaSeconds) and then the result", async () => {
    const events: FineTuneEvent[] = [];
    for await (const e of fineTuneEvents(
      options({
        method: "full-unet",
        settings: { steps: 4, batchSize: 2, learningRate: 1e-3, lrSchedule: "cosine", warmupSteps: 2 },
      }),
    )) {
      events.push(e);
    }
    const progress = events.filter((e) => e.type === "progress");
    assert.deepEqual(
      progress.map((p) => [p.stage, p.step, p.totalSteps]),
      [1, 2, 3, 4].map((s) => ["full-unet", s, 4]),
    );
    assert.deepEqual(
      progress.map((p) => p.lr),
      [5e-4, 1e-3, 5e-4, 0],
      "warmup, then cosine to 0",
    );
    for (const p of progress) {
      assert.ok(Number.isFinite(p.loss) && p.loss > 0 && p.etaSeconds >= 0 && (p.gradNorm ?? 0) > 0);
    }
    assert.equal(progress.at(-1)?.etaSeconds, 0);
    const last = events.at(-1);
    assert.ok(
      last?.type === "result" && last.result.unetWeights && last.result.stages[0].losses.length === 4,
    );
  });

  it("closing the event stream early aborts the run", async () => {
    const dir = await tempDir();
    let steps = 0;
    for await (const e of fineTuneEvents(
      options({
        method: "textual-inversion",
        settings: { steps: 100, batchSize: 2, learningRate: 1e-2 },
        checkpointDir: dir,
        onProgress: () => {
          steps++;
        },
      }),
    )) {
      if (e.type === "progress" && e.step === 3) break;
    }
    assert.ok(steps <= 4, `${steps} steps ran`);
    assert.deepEqual(await readdir(dir), [`textual-inversion-00000${steps}.safetensors`]);
  });

  it("opens every session of a run on the execution providers it is given", async () => {
    // An unknown provider fails session creation on every machine: each rejection proves it was passed on.
    const executionProviders = ["diffda-no-such-provider"];
    const named = /diffda-no-such-provider/;
    await assert.rejects(fineTune(options({ executionProviders })), named, "the VAE encoding the images");
    const { inputs, plan } = await loadTrainingInputs({
      modelDir: model.dir,
      images: tinyImageSet(),
      resolution: 32,
      flip: false,
      threads: 1,
    });
    const settings = settingsFor("textual-inversion", { steps: 1, batchSize: 2 });
    const stage = textualInversionStage(withBatchSize(inputs, 2), ["<cat-0>", "<dog-1>"], ["cat", "dog"]);
    const stageBatches = stagePlan(plan, stage, settings);
    await assert.rejects(
      runStage(stage, stageBatches, settings, { threads: 1, executionProviders }),
      named,
      "the training session",
    );
    await assert.rejects(
      evaluateLoss(stage, stageBatches, 1, undefined, { threads: 1, executionProviders }),
      named,
      "the held-out loss session",
    );
  });
});
