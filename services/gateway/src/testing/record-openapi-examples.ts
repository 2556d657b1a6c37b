/**
 * Records one real request and answer per operation into services/gateway/src/schemas/examples.json,
 * for the OpenAPI document's examples: a small session against a gateway over fake compute (a dataset,
 * a job with a webhook that succeeds, one that is cancelled, keys, downloads). Run with
 * `npm run openapi:examples` after changing a route; the schemas test checks every example still fits.
 */
import { writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { f32 } from "../../../../shared/ml/onnx/index.js";
import { encodeSafetensors } from "../../../../shared/ml/safetensors/index.js";
import type { OperationExample } from "../schemas/examples.js";
import { type ComputeGateway, startComputeGateway } from "./compute-gateway.js";

const OUT = fileURLToPath(new URL("../schemas/examples.json", import.meta.url));

/** Keeps an answer readable in a document: text cut to its first lines. */
function textExample(text: string, lines = 8): string {
  return `${text.split("\n").slice(0, lines).join("\n")}\n`;
}

/** A small PEFT-keyed LoRA file on one attention projection (the fake replicas accept its keys). */
function exampleLora(): Buffer {
  const module = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
  const weights = (dims: number[]) =>
    f32(
      dims,
      Array.from({ length: dims[0] * dims[1] }, (_, i) => i / 100),
    );
  return Buffer.from(
    encodeSafetensors({
      [`${module}.lora_A.weight`]: weights([4, 8]),
      [`${module}.lora_B.weight`]: weights([8, 4]),
    }),
  );
}

async function main(): Promise<void> {
  const received: unknown[] = [];
  const receiver = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      received.push(req.headers["webhook-id"]);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/diffda-events`;
  const stack: ComputeGateway = await startComputeGateway({
    webhooks: true,
    app: () => ({ authMode: "loopback-open" }),
  });
  const examples: Record<string, OperationExample> = {};
  let keyCounter = 0;

  /** Sends one request and records it under `operationId`. */
  async function call(
    operationId: string,
    method: "GET" | "POST" | "DELETE",
    path: string,
    options: {
      params?: Record<string, unknown>;
      query?: Record<string, unknown>;
      body?: unknown;
      /** A body of another media type than JSON (a file): sent, not recorded. */
      file?: { bytes: Buffer; mediaType: string };
    } = {},
  ) {
    const query = options.query ? `?${new URLSearchParams(options.query as Record<string, string>)}` : "";
    const res = await stack.gw.app.inject({
      method,
      url: `${path}${query}`,
      headers: {
        ...(method === "POST" ? { "idempotency-key": `example-${keyCounter++}` } : {}),
        ...(options.file ? { "content-type": options.file.mediaType } : {}),
      },
      ...(options.body !== undefined ? { payload: options.body as object } : {}),
      ...(options.file ? { payload: options.file.bytes } : {}),
    });
    if (res.statusCode >= 400) throw new Error(`${operationId}: ${res.statusCode} ${res.body}`);
    const mediaType = String(res.headers["content-type"] ?? "").split(";")[0];
    const response =
      mediaType === "application/json"
        ? res.json()
        : mediaType.startsWith("text/")
          ? textExample(res.body)
          : undefined;
    examples[operationId] = {
      ...(options.params ? { params: options.params } : {}),
      ...(options.query ? { query: options.query } : {}),
      ...(options.body !== undefined ? { request: options.body } : {}),
      status: res.statusCode,
      ...(mediaType ? { mediaType } : {}),
      ...(response !== undefined ? { response } : {}),
    };
    return res;
  }

  try {
    await call("getHealth", "GET", "/healthz");
    await call("getReadiness", "GET", "/readyz");
    await call("getMetrics", "GET", "/metrics");
    const doc = (await stack.gw.app.inject({ method: "GET", url: "/openapi.json" })).json();
    examples.getOpenApiDocument = {
      status: 200,
      mediaType: "application/json",
      response: { openapi: doc.openapi, info: doc.info, paths: {} },
    };
    await call("listMethods", "GET", "/v1/methods");
    await call("listModels", "GET", "/v1/models");
    const adapter = (
      await call("createAdapter", "POST", "/v1/adapters", {
        query: { name: "watercolor style", kind: "lora", model: "tiny-sd", rank: 4, alpha: 4 },
        file: { bytes: exampleLora(), mediaType: "application/octet-stream" },
      })
    ).json();
    await call("listAdapters", "GET", "/v1/adapters", { query: { limit: 2 } });
    await call("getAdapter", "GET", `/v1/adapters/${adapter.id}`, { params: { id: adapter.id } });
    const body = { builtin: "fashion-mnist", shots: 2, name: "fashion 2-shot" };
    const dataset = (await call("createDataset", "POST", "/v1/datasets", { body })).json();
    const ds = { id: dataset.id };
    await call("listDatasets", "GET", "/v1/datasets", { query: { limit: 2 } });
    await call("getDataset", "GET", `/v1/datasets/${ds.id}`, { params: ds });
    await call("listDatasetFiles", "GET", `/v1/datasets/${ds.id}/files`, {
      params: ds,
      query: { split: "train", limit: 2 },
    });
    await call("rotateWebhookSecret", "POST", "/v1/webhook-secret");
    const jobRequest = {
      datasetId: ds.id,
      methods: [{ preset: "real-guidance", filtering: { scorer: "classifier", keepFraction: 0.5 } }],
      seeds: [0],
      webhook: { url: hookUrl, events: ["job.started", "job.succeeded", "job.failed"] },
    };
    const job = (await call("createJob", "POST", "/v1/jobs", { body: jobRequest })).json();
    const final = await stack.waitFinal(job.id);
    if (final.state !== "succeeded") throw new Error(`the example job ${final.state}`);
    const id = { id: job.id };
    await call("getJob", "GET", `/v1/jobs/${job.id}`, { params: id });
    await call("listJobs", "GET", "/v1/jobs", { query: { limit: 2 } });
    await call("streamJobEvents", "GET", `/v1/jobs/${job.id}/events`, { params: id });
    const artifacts = (
      await call("listArtifacts", "GET", `/v1/jobs/${job.id}/artifacts`, {
        params: id,
        query: { prefix: "synthetic/", limit: 2 },
      })
    ).json();
    const key = artifacts.items[0].key;
    await call("getArtifact", "GET", `/v1/jobs/${job.id}/artifacts/${key}`, {
      params: { id: job.id, "*": key },
    });
    await call("downloadSyntheticSet", "GET", `/v1/jobs/${job.id}/synthetic`, {
      params: id,
      query: { format: "imagefolder", method: "real-guidance" },
    });
    await call("downloadSyntheticZip", "GET", `/v1/jobs/${job.id}/synthetic.zip`, { params: id });
    for (const until = Date.now() + 10_000; received.length < 2 && Date.now() < until; ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await call("listWebhookDeliveries", "GET", `/v1/jobs/${job.id}/webhook-deliveries`, { params: id });
    await call("getUsage", "GET", "/v1/usage");

    // A job cancelled while it waits, then deleted with its dataset.
    const held = stack.compute.hold();
    const other = (
      await call("createDataset", "POST", "/v1/datasets", { body: { builtin: "mnist", shots: 2 } })
    ).json();
    const doomed = (
      await stack.gw.app.inject({
        method: "POST",
        url: "/v1/jobs",
        headers: { "idempotency-key": "example-cancelled" },
        payload: { datasetId: other.id, methods: [{ preset: "real-guidance" }], seeds: [0] },
      })
    ).json();
    await call("cancelJob", "POST", `/v1/jobs/${doomed.id}/cancel`, { params: { id: doomed.id } });
    held.release();
    await stack.waitFinal(doomed.id);
    await call("deleteJob", "DELETE", `/v1/jobs/${doomed.id}`, { params: { id: doomed.id } });
    await call("deleteDataset", "DELETE", `/v1/datasets/${other.id}`, { params: { id: other.id } });
    await call("deleteAdapter", "DELETE", `/v1/adapters/${adapter.id}`, { params: { id: adapter.id } });

    const created = (
      await call("createApiKey", "POST", "/v1/keys", {
        body: { name: "nightly pipeline", scopes: ["submit", "read"], rateLimitPerMinute: 120 },
      })
    ).json();
    await call("listApiKeys", "GET", "/v1/keys");
    await call("revokeApiKey", "POST", `/v1/keys/${created.key.id}/revoke`, {
      params: { id: created.key.id },
    });
  } finally {
    await stack.close();
    receiver.close();
  }
  // The receiver ran on loopback; the document shows the public https address a pipeline would give.
  const text = JSON.stringify(examples, null, 1).replaceAll(hookUrl, "https://hooks.example.com/diffda");
  await writeFile(OUT, `${text}\n`);
  console.log(`${Object.keys(examples).length} operation examples → ${OUT}`);
}

await main();
