import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import { runCli } from "../../cli/cli.js";
import { cancelJob, deleteResource, getJob, listJobs } from "../../cli/client/api.js";
import { registerDataset, resolveDatasetSource } from "../../cli/client/dataset-source.js";
import { followJobEvents } from "../../cli/client/events.js";
import { type ApiError, createRestClient } from "../../cli/client/rest-client.js";
import type { JobEvent } from "../../cli/client/types.js";
import { fetchJob } from "../../cli/commands/fetch.js";
import { submitRun } from "../../cli/commands/submit.js";
import { builtinTrainImages } from "../../cli/report/grids.js";
import { writeReport } from "../../cli/report/report.js";
import { formatResultsTable } from "../../cli/results/table.js";
import { f32 } from "../../shared/ml/onnx/index.js";
import { encodeSafetensors } from "../../shared/ml/safetensors/index.js";
import { type FakeGateway, startFakeGateway, TINY_CLASSES, tinyBuiltin } from "./support/fake-gateway.js";

/** The CLI's streams, writing into arrays the test reads. */
function capturedIo() {
  const out: string[] = [];
  const err: string[] = [];
  const io = {
    stdout: { write: (s: string) => out.push(s) > 0 } as unknown as NodeJS.WritableStream,
    stderr: { write: (s: string) => err.push(s) > 0 } as unknown as NodeJS.WritableStream,
    env: {},
  };
  return { out, err, io };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("CLI client against an in-process gateway (fake compute)", () => {
  let gw: FakeGateway;
  let dir: string;
  let finishedJob: string;

  before(async () => {
    gw = await startFakeGateway();
    dir = await mkdtemp(join(tmpdir(), "diffda-cli-"));
  });
  after(async () => {
    await gw?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("submit registers the built-in task, applies overrides, and sends a fresh UUID Idempotency-Key per POST", async () => {
    const keys: string[] = [];
    const recording: typeof fetch = (input, init) => {
      if (init?.method === "POST") keys.push(new Headers(init.headers).get("idempotency-key") ?? "");
      return fetch(input, init);
    };
    const client = createRestClient({ baseUrl: gw.url, fetch: recording });
    const { job, dataset } = await submitRun(client, {
      presets: ["real-guidance", "da-fusion"],
      dataset: { dataset: "fashion-mnist", shots: 2 },
      seeds: [0, 1],
      epochs: 3,
      overrides: { perReal: 2, inferenceSteps: 5, finetuneSteps: 7 },
    });
    assert.equal(keys.length, 2, "one POST for the dataset, one for the job");
    for (const key of keys) assert.match(key, UUID);
    assert.notEqual(keys[0], keys[1]);
    assert.deepEqual(dataset.classes, TINY_CLASSES.slice(0, 3));
    assert.equal(dataset.trainCount, 6);
    const labels = job.spec.methods.map((m) => m.label);
    assert.deepEqual(labels, ["no-augmentation", "traditional", "real-guidance", "da-fusion"]);
    const fusion = job.spec.methods[3];
    assert.equal(fusion.generation?.syntheticPerReal, 2);
    assert.equal(
      (fusion.generation?.sampling as { numInferenceSteps?: number } | undefined)?.numInferenceSteps,
      5,
    );
    assert.equal((fusion.finetuning.textualInversion as { maxTrainSteps: number }).maxTrainSteps, 7);
    assert.equal(
      job.spec.methods[2].finetuning.method,
      "none",
      "no fine-tuning block forced on real-guidance",
    );
    assert.equal(job.spec.classifier.epochs, 3);

    // Watch: every event once, in order, to the final one; then the table.
    const events: JobEvent[] = [];
    const outcome = await followJobEvents(client, job.id, { onEvent: (e) => void events.push(e) });
    assert.equal(outcome.finalType, "job.succeeded");
    assert.equal(outcome.connections, 1);
    assert.deepEqual(
      events.map((e) => e.id),
      [...events.map((e) => e.id)].sort((a, b) => a - b),
    );
    assert.equal(new Set(events.map((e) => e.id)).size, events.length);
    assert.equal(events[0].type, "job.created");
    assert.ok(events.some((e) => e.type === "task.progress" && e.data.stage === "train"));
    const done = await getJob(client, job.id);
    assert.equal(done.state, "succeeded");
    const table = formatResultsTable(done);
    // Fake accuracies: 0.5 + synthetic/1000 + seed/100; 6 train images × 2 per real = 12 synthetic.
    const row = (label: string) =>
      table
        .split("\n")
        .find((l) => l.startsWith(label))
        ?.split(/ {2,}/);
    assert.deepEqual(row("no-augmentation"), [
      "no-augmentation (baseline)",
      "50.00",
      "51.00",
      "50.50 ± 0.71",
      "—",
      "0.00 ± 0.00",
      "—",
      "3",
      "50.00 ± 0.00",
      "0",
      "—",
    ]);
    // The fake classifier's per-image answers are all right for every method, so the interval is [0, 0];
    // it reports 3 optimizer steps and a training top-1 of 0.5 for every run.
    assert.deepEqual(row("real-guidance")?.slice(0, 10), [
      "real-guidance",
      "51.20",
      "52.20",
      "51.70 ± 0.71",
      "+1.20 ± 0.00",
      "+1.20 ± 0.00",
      "[0.0, 0.0]",
      "3",
      "50.00 ± 0.00",
      "12",
    ]);
    finishedJob = job.id;
  });

  test("a POST whose answer was lost is retried under the same key and replayed: one job", async () => {
    let lose = true;
    const keys: string[] = [];
    const flaky: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (init?.method === "POST") keys.push(new Headers(init.headers).get("idempotency-key") ?? "");
      if (init?.method === "POST" && String(input).endsWith("/v1/jobs") && lose) {
        lose = false;
        await response.body?.cancel();
        throw new TypeError("fetch failed", { cause: { code: "ECONNRESET" } });
      }
      return response;
    };
    const retries: string[] = [];
    const client = createRestClient({
      baseUrl: gw.url,
      fetch: flaky,
      retryDelayMs: 10,
      onRetry: (info) => void retries.push(info.reason),
    });
    const jobsBefore = (await listJobs(client, { limit: 100 })).items.length;
    const first = await getJob(client, finishedJob);
    const { job } = await submitRun(client, {
      presets: ["real-guidance"],
      dataset: { dataset: first.spec.datasetId },
      baselines: ["no-augmentation"],
      seeds: [3],
    });
    assert.deepEqual(retries, ["ECONNRESET"]);
    const jobKeys = keys.slice(-2);
    assert.equal(jobKeys[0], jobKeys[1], "the retry reused the key");
    assert.match(jobKeys[0], UUID);
    assert.equal((await listJobs(client, { limit: 100 })).items.length, jobsBefore + 1, "exactly one job");
    assert.equal((await getJob(client, job.id)).id, job.id);
    await followJobEvents(client, job.id, { onEvent: () => {} });
  });

  test("watch resumes after a dropped stream with Last-Event-ID: nothing lost, nothing repeated", async () => {
    const all = await collect(finishedJob);
    const seenHeaders: (string | null)[] = [];
    let cut = true;
    const dropping: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (!String(input).includes("/events")) return response;
      seenHeaders.push(new Headers(init?.headers).get("last-event-id"));
      if (!cut || response.body === null) return response;
      cut = false;
      // Pass three frames through, then fail the connection mid-stream.
      const reader = response.body.getReader();
      let frames = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { value, done } = await reader.read();
          if (done) return controller.close();
          const text = new TextDecoder().decode(value);
          const ends = text.split("\n\n").length - 1;
          if (frames + ends > 4) {
            const keep = text
              .split("\n\n")
              .slice(0, 4 - frames)
              .join("\n\n");
            controller.enqueue(new TextEncoder().encode(`${keep}\n\n`));
            await reader.cancel();
            controller.error(new TypeError("terminated"));
            return;
          }
          frames += ends;
          controller.enqueue(value);
        },
      });
      return new Response(body, { status: response.status, headers: response.headers });
    };
    const client = createRestClient({ baseUrl: gw.url, fetch: dropping });
    const events: JobEvent[] = [];
    const reconnects: number[] = [];
    const outcome = await followJobEvents(client, finishedJob, {
      onEvent: (e) => void events.push(e),
      reconnectDelayMs: 10,
      onReconnect: ({ lastEventId }) => void reconnects.push(lastEventId),
    });
    assert.equal(outcome.connections, 2);
    assert.equal(reconnects.length, 1);
    assert.equal(seenHeaders[0], null);
    assert.equal(seenHeaders[1], String(reconnects[0]), "the reconnect names the last event delivered");
    assert.ok(reconnects[0] > 0 && reconnects[0] < all.at(-1)!.id, "it dropped mid-way");
    assert.deepEqual(
      events.map((e) => e.id),
      all.map((e) => e.id),
    );
  });

  test("resuming a finished job's watch after its last event returns at once", async () => {
    const all = await collect(finishedJob);
    const client = createRestClient({ baseUrl: gw.url });
    const events: JobEvent[] = [];
    const outcome = await followJobEvents(client, finishedJob, {
      lastEventId: all.at(-1)!.id,
      onEvent: (e) => void events.push(e),
    });
    assert.deepEqual(events, []);
    assert.equal(outcome.finalType, "job.succeeded");
  });

  test("the report holds the real and synthetic class grids and the SVG chart with error bars", async () => {
    const client = createRestClient({ baseUrl: gw.url });
    const out = join(dir, "r", "report.html");
    const written = await writeReport(client, finishedJob, {
      out,
      perClass: 4,
      realImages: (dataset) => builtinTrainImages(dataset, async () => tinyBuiltin()),
    });
    assert.equal(written.grids, 3, "real + real-guidance + da-fusion");
    const html = await readFile(out, "utf8");
    assert.match(html, /^<!doctype html>/);
    assert.doesNotMatch(html, /<script|src="http|href="http/, "self-contained");
    assert.equal((html.match(/<svg /g) ?? []).length, 1);
    assert.equal((html.match(/class="bar"/g) ?? []).length, 4, "one bar per method");
    assert.equal((html.match(/class="error-bar"/g) ?? []).length, 4, "two seeds: every bar has a std");
    assert.equal((html.match(/class="seed"/g) ?? []).length, 8);
    assert.match(html, /<b>Real<\/b> — the 2-shot train images per class/);
    assert.match(html, /da-fusion \(synthetic\)/);
    const urls = [...html.matchAll(/src="data:image\/png;base64,([^"]+)"/g)].map((m) =>
      Buffer.from(m[1], "base64"),
    );
    assert.equal(urls.length, 3);
    for (const png of urls) {
      const meta = await sharp(png).metadata();
      assert.equal(meta.format, "png");
      // Three class rows of 8 px images at scale 2 with 2 px padding.
      assert.equal(meta.height, 2 + 3 * (16 + 2));
    }
  });

  test("fetch downloads job.json, synthetic.zip, adapters and checkpoints", async () => {
    const client = createRestClient({ baseUrl: gw.url });
    const out = join(dir, "fetch");
    const files = await fetchJob(client, finishedJob, out);
    const root = join(out, finishedJob);
    const zip = await readFile(join(root, "synthetic.zip"));
    assert.equal(zip.subarray(0, 4).toString("latin1"), "PK\x03\x04");
    assert.equal(JSON.parse(await readFile(join(root, "job.json"), "utf8")).id, finishedJob);
    const adapters = await readdir(join(root, "adapter"), { recursive: true });
    assert.ok(
      adapters.some((f) => String(f).endsWith("learned_embeds.safetensors")),
      adapters.join(","),
    );
    const checkpoint = join(root, "checkpoint", "da-fusion", "seed=1", "classifier.onnx");
    assert.equal(await readFile(checkpoint, "utf8"), "12:1");
    assert.equal(files.length, 1 + 1 + 1 + 8);
    assert.ok(
      (await stat(join(root, "synthetic.zip"))).size === files.find((f) => f.path.endsWith(".zip"))?.bytes,
    );
    // The set as WebDataset shards: a tar (ustar magic at byte 257) under its own name.
    await fetchJob(client, finishedJob, out, ["synthetic"], () => {}, "webdataset");
    const tar = await readFile(join(root, "synthetic-webdataset.tar"));
    assert.equal(tar.subarray(257, 262).toString("latin1"), "ustar");
  });

  test("an ImageFolder directory is zipped and uploaded", async () => {
    const folder = await imageFolder(join(dir, "folder"));
    const client = createRestClient({ baseUrl: gw.url });
    const source = await resolveDatasetSource({ dataset: folder, size: 16, testFraction: 0.34 });
    assert.equal(source.kind, "directory");
    const dataset = await registerDataset(client, source);
    assert.deepEqual(dataset.classes, ["cat", "dog"]);
    assert.equal(dataset.imageCount, 6);
    assert.deepEqual(dataset.image, { channels: 3, height: 16, width: 16 });
  });

  test("--dataset x.tar.gz and x.tar are uploaded as they are, typed by their bytes", async (t) => {
    const folder = await imageFolder(join(dir, "tarred"));
    const client = createRestClient({ baseUrl: gw.url });
    const fromDir = await registerDataset(client, await resolveDatasetSource({ dataset: folder, size: 16 }));
    for (const [file, flags] of [
      ["d.tar.gz", "-czf"],
      ["d.tar", "-cf"],
      // A misleading extension changes nothing: the bytes say what it is.
      ["d-gz.zip", "-czf"],
    ]) {
      const path = join(dir, file);
      try {
        execFileSync("tar", [flags, path, "-C", folder, "."]);
      } catch (error) {
        if ((error as { code?: string }).code === "ENOENT") return t.skip("no tar on this machine");
        throw error;
      }
      const source = await resolveDatasetSource({ dataset: path, size: 16 });
      assert.equal(source.kind, "archive");
      const dataset = await registerDataset(client, source);
      assert.deepEqual(
        [dataset.classes, dataset.imageCount, dataset.trainCount],
        [fromDir.classes, fromDir.imageCount, fromDir.trainCount],
        file,
      );
    }
  });

  test("a directory of train/ and test/ class folders keeps the user's test split", async () => {
    const split = join(dir, "split");
    await imageFolder(join(split, "train"));
    await imageFolder(join(split, "test"));
    const client = createRestClient({ baseUrl: gw.url });
    const dataset = await registerDataset(client, await resolveDatasetSource({ dataset: split, size: 16 }));
    assert.deepEqual([dataset.trainCount, dataset.testCount], [6, 6], "nothing held out of train/");
    assert.equal(dataset.split, "user");
  });

  test("cancel stops a running job and its watch ends with job.cancelled", async () => {
    const release = gw.hold();
    try {
      const client = createRestClient({ baseUrl: gw.url });
      const first = await getJob(client, finishedJob);
      const { job } = await submitRun(client, {
        presets: ["real-guidance"],
        dataset: { dataset: first.spec.datasetId },
        baselines: [],
      });
      const watching = followJobEvents(client, job.id, { onEvent: () => {} });
      const cancelled = await cancelJob(client, job.id);
      assert.equal(cancelled.state, "cancelled");
      assert.equal((await watching).finalType, "job.cancelled");
      await assert.rejects(
        cancelJob(client, job.id),
        (e: ApiError) => e.status === 409 && e.code === "job_not_cancellable",
      );
      // A cancelled job can be deleted (`diffda rm`); a second delete is a 404.
      await deleteResource(client, "job", job.id);
      await assert.rejects(getJob(client, job.id), (e: ApiError) => e.status === 404);
      await assert.rejects(deleteResource(client, "job", job.id), (e: ApiError) => e.status === 404);
    } finally {
      release();
    }
  });

  test("problems keep their code and field errors; an API key is sent as a bearer token", async () => {
    const client = createRestClient({ baseUrl: gw.url });
    await assert.rejects(
      getJob(client, "00000000-0000-4000-8000-000000000000"),
      (e: ApiError) => e.status === 404 && e.code === "not_found",
    );
    const first = await getJob(client, finishedJob);
    await assert.rejects(
      submitRun(client, { presets: ["no-such-method"], dataset: { dataset: first.spec.datasetId } }),
      (e: ApiError) =>
        e.status === 400 && e.code === "validation_failed" && /\/body\/methods\/0\/preset/.test(e.message),
    );
    // --webhook reaches the job request: a loopback destination is refused by the default allow-list.
    await assert.rejects(
      submitRun(client, {
        presets: ["real-guidance"],
        dataset: { dataset: first.spec.datasetId },
        webhook: "https://127.0.0.1/hook",
      }),
      (e: ApiError) => e.status === 422 && e.code === "webhook_url_forbidden",
    );
    // A key that is sent is always verified, even on a loopback-open gateway.
    const bogus = createRestClient({ baseUrl: gw.url, apiKey: "dda_nope_nope" });
    await assert.rejects(
      getJob(bogus, finishedJob),
      (e: ApiError) => e.status === 401 && e.code === "unauthorized",
    );
    const { token } = await gw.store.apiKeys.create({
      name: "cli test",
      scopes: ["read"],
      rateLimitPerMinute: null,
    });
    const keyed = createRestClient({ baseUrl: gw.url, apiKey: token });
    await assert.rejects(getJob(keyed, finishedJob), (e: ApiError) => e.status === 404, "not this key's job");
    assert.equal((await listJobs(keyed)).items.length, 0);
  });

  test("an unreachable gateway is retried, then reported as unreachable", async () => {
    const client = createRestClient({ baseUrl: "http://127.0.0.1:9", attempts: 2, retryDelayMs: 5 });
    await assert.rejects(
      getJob(client, finishedJob),
      (e: ApiError) => e.status === 0 && e.code === "unreachable",
    );
  });

  test("the command line: submit --watch shows progress lines and the table, then writes the report", async () => {
    const { out, err, io } = capturedIo();
    const folder = await imageFolder(join(dir, "cli-folder"));
    const report = join(dir, "cli-report.html");
    const code = await runCli(
      [
        "submit",
        "--url",
        gw.url,
        "--preset",
        "real-guidance",
        "--dataset",
        folder,
        "--size",
        "16",
        "--test-fraction",
        "0.34",
        "--seeds",
        "0,1",
        "--per-real",
        "1",
        "--watch",
        "--report",
        report,
      ],
      io,
      new AbortController().signal,
    );
    const text = out.join("");
    assert.equal(code, 0, err.join(""));
    assert.match(text, /job [0-9a-f-]+ submitted: no-augmentation, traditional, real-guidance × seeds 0,1/);
    assert.match(text, /dataset [0-9a-f-]+: .* 2 classes, 4 train \/ 2 test images/);
    assert.match(text, /^generate +\[#+\] 100% {2}8\/8 images/m, "a plain progress line per stage");
    assert.match(text, /^real-guidance +50\.40 +51\.40 +50\.90 ± 0\.71 +\+0\.40 ± 0\.00/m);
    assert.match(text, /report: .*cli-report\.html/);
    assert.ok(!text.includes("\x1b["), "no escape codes when stdout is not a terminal");
    assert.match(await readFile(report, "utf8"), /Real images: an uploaded dataset/);
    const jobId = /job ([0-9a-f-]{36}) submitted/.exec(text)?.[1] ?? "";

    // `report --real` draws the upload's real images from the local folder.
    const withReal = join(dir, "cli-report-real.html");
    assert.equal(
      await runCli(
        ["report", jobId, "--url", gw.url, "--real", folder, "--out", withReal],
        io,
        new AbortController().signal,
      ),
      0,
      err.join(""),
    );
    const html = await readFile(withReal, "utf8");
    assert.match(html, /<b>Real<\/b> — images of .*cli-folder per class/);
    assert.equal((html.match(/data:image\/png;base64,/g) ?? []).length, 2);

    // models, adapters add / list, rm --adapter.
    const cli = (args: string[]) => runCli([...args, "--url", gw.url], io, new AbortController().signal);
    out.length = 0;
    assert.equal(await cli(["models"]), 0, err.join(""));
    assert.match(out.join(""), /^tiny-sd +32×32 +[0-9a-f]{12} +A fake tiny-sd/m);
    const module = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
    const zeros = (dims: number[]) => f32(dims, new Array(dims[0] * dims[1]).fill(0));
    const loraPath = join(dir, "cli-lora.safetensors");
    await writeFile(
      loraPath,
      encodeSafetensors({
        [`${module}.lora_A.weight`]: zeros([4, 8]),
        [`${module}.lora_B.weight`]: zeros([8, 4]),
      }),
    );
    out.length = 0;
    assert.equal(
      await cli(["adapters", "add", loraPath, "--name", "cli lora", "--kind", "lora", "--model", "tiny-sd"]),
      0,
      err.join(""),
    );
    const adapterId = /adapter ([0-9a-f-]{36}) \(lora on tiny-sd\)/.exec(out.join(""))?.[1];
    assert.ok(adapterId, out.join(""));
    out.length = 0;
    assert.equal(await cli(["adapters"]), 0);
    assert.match(out.join(""), new RegExp(`^${adapterId} +lora +tiny-sd +cli lora`, "m"));
    assert.equal(await cli(["rm", "--adapter", adapterId]), 0, err.join(""));
    out.length = 0;
    assert.equal(await cli(["adapters"]), 0);
    assert.doesNotMatch(out.join(""), new RegExp(adapterId));

    out.length = 0;
    assert.equal(await runCli(["status", "--url", gw.url, finishedJob], io, new AbortController().signal), 0);
    assert.match(out.join(""), /: succeeded/);
    assert.equal(await runCli(["watch"], io, new AbortController().signal), 2, "a usage error");
    assert.match(err.join(""), /expected one job id/);
    assert.equal(
      await runCli(
        ["status", "--url", gw.url, "00000000-0000-4000-8000-000000000000"],
        io,
        new AbortController().signal,
      ),
      1,
    );
    assert.match(err.join(""), /not_found/);
  });

  test("--epochs and --batch-size set the job's classifier over the job file's, keeping its other settings", async () => {
    const { out, err, io } = capturedIo();
    const file = join(dir, "classifier-job.json");
    await writeFile(
      file,
      JSON.stringify({
        dataset: { builtin: "fashion-mnist", shots: 2 },
        methods: [{ preset: "real-guidance" }],
        classifier: { batchSize: 64, learningRate: 0.01 },
      }),
    );
    const submit = (...options: string[]) =>
      runCli(["submit", "--url", gw.url, "--spec", file, ...options], io, new AbortController().signal);
    assert.equal(await submit("--batch-size", "8", "--epochs", "5"), 0, err.join(""));
    const jobId = /job ([0-9a-f-]{36}) submitted/.exec(out.join(""))?.[1] ?? "";
    const job = await getJob(createRestClient({ baseUrl: gw.url }), jobId);
    assert.deepEqual(job.spec.classifier, { batchSize: 8, learningRate: 0.01, epochs: 5 });
    assert.equal(await submit("--batch-size", "0"), 2, "a usage error");
    assert.match(err.join(""), /--batch-size must be in \[1, 4096\], got 0/);
    out.length = 0;
    assert.equal(await submit("--budget", "epochs"), 0, err.join(""));
    const epochJobId = /job ([0-9a-f-]{36}) submitted/.exec(out.join(""))?.[1] ?? "";
    const epochJob = await getJob(createRestClient({ baseUrl: gw.url }), epochJobId);
    assert.equal(epochJob.spec.classifier.budget, "epochs");
    assert.equal(await submit("--budget", "images"), 2, "a usage error");
    assert.match(err.join(""), /--budget must be steps or epochs/);
    out.length = 0;
    assert.equal(await submit("--generate-only"), 0, err.join(""));
    const generateJobId = /job ([0-9a-f-]{36}) submitted/.exec(out.join(""))?.[1] ?? "";
    const generateJob = await getJob(createRestClient({ baseUrl: gw.url }), generateJobId);
    assert.equal(generateJob.spec.kind, "generate");
    assert.deepEqual(
      generateJob.spec.methods.map((m) => m.label),
      ["real-guidance"],
      "no baselines in a generation-only job",
    );
  });

  async function imageFolder(folder: string): Promise<string> {
    for (const [c, name] of ["cat", "dog"].entries()) {
      await mkdir(join(folder, name), { recursive: true });
      for (let i = 0; i < 3; i++) {
        const png = await sharp(Buffer.alloc(12 * 12 * 3, 60 + c * 100 + i), {
          raw: { width: 12, height: 12, channels: 3 },
        })
          .png()
          .toBuffer();
        await writeFile(join(folder, name, `${i}.png`), png);
      }
    }
    return folder;
  }

  async function collect(jobId: string): Promise<JobEvent[]> {
    const events: JobEvent[] = [];
    await followJobEvents(createRestClient({ baseUrl: gw.url }), jobId, {
      onEvent: (e) => void events.push(e),
    });
    return events;
  }
});
