/**
 * The gateway's REST resources as typed calls over a {@link RestClient}: methods, datasets, jobs,
 * artifacts. Each POST sends one Idempotency-Key, reused by the client's retries.
 */
import { randomUUID } from "node:crypto";
import type { RestClient } from "./rest-client.js";
import type {
  AdapterResource,
  Artifact,
  ArtifactPage,
  BuiltinDatasetRequest,
  Dataset,
  Job,
  JobRequest,
  JobState,
  JobSummary,
  MethodPreset,
  Page,
  ServedModel,
  UploadOptions,
} from "./types.js";

const enc = encodeURIComponent;

function query(params: Record<string, string | number | undefined>): string {
  const entries = Object.entries(params).filter(
    (entry): entry is [string, string | number] => entry[1] !== undefined,
  );
  return entries.length === 0 ? "" : `?${entries.map(([k, v]) => `${enc(k)}=${enc(String(v))}`).join("&")}`;
}

/** `GET /v1/methods`: the presets. */
export async function listMethods(client: RestClient): Promise<MethodPreset[]> {
  return (await client.json<{ items: MethodPreset[] }>({ method: "GET", path: "/v1/methods" })).items;
}

/** `POST /v1/datasets` with a built-in few-shot task. */
/** `GET /v1/models`: the models the generation replicas serve. */
export async function listModels(client: RestClient): Promise<ServedModel[]> {
  return (await client.json<{ items: ServedModel[] }>({ method: "GET", path: "/v1/models" })).items;
}

export function createBuiltinDataset(client: RestClient, request: BuiltinDatasetRequest): Promise<Dataset> {
  return client.json<Dataset>({
    method: "POST",
    path: "/v1/datasets",
    json: request,
    idempotencyKey: randomUUID(),
  });
}

/** `POST /v1/datasets` with an ImageFolder zip archive. */
export function uploadDatasetZip(
  client: RestClient,
  zip: Uint8Array,
  options: UploadOptions = {},
): Promise<Dataset> {
  return uploadDatasetArchive(client, zip, options, "application/zip");
}

/**
 * The media type of an archive by its magic bytes, as the gateway checks them: gzip (`1f 8b`, a .tar.gz),
 * tar (`ustar` at byte 257), else zip (the gateway names the problem if it is none of them).
 */
function archiveMediaType(bytes: Uint8Array): string {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) return "application/gzip";
  if (bytes.length >= 262 && Buffer.from(bytes.subarray(257, 262)).toString("latin1") === "ustar") {
    return "application/x-tar";
  }
  return "application/zip";
}

/** `POST /v1/datasets` with an ImageFolder archive: a zip, a tar or a tar.gz (told apart by its bytes). */
export function uploadDatasetArchive(
  client: RestClient,
  archive: Uint8Array,
  options: UploadOptions = {},
  mediaType = archiveMediaType(archive),
): Promise<Dataset> {
  return client.json<Dataset>({
    method: "POST",
    path: `/v1/datasets${query({ ...options })}`,
    body: { bytes: archive, contentType: mediaType },
    idempotencyKey: randomUUID(),
  });
}

/** `GET /v1/datasets/{id}`. */
export function getDataset(client: RestClient, id: string): Promise<Dataset> {
  return client.json<Dataset>({ method: "GET", path: `/v1/datasets/${enc(id)}` });
}

/** `POST /v1/jobs`. */
export function submitJob(client: RestClient, request: JobRequest): Promise<Job> {
  return client.json<Job>({ method: "POST", path: "/v1/jobs", json: request, idempotencyKey: randomUUID() });
}

/** `GET /v1/jobs/{id}`. */
export function getJob(client: RestClient, id: string): Promise<Job> {
  return client.json<Job>({ method: "GET", path: `/v1/jobs/${enc(id)}` });
}

/** `GET /v1/jobs`: one page, newest first. */
export function listJobs(
  client: RestClient,
  options: { state?: JobState; limit?: number; cursor?: string } = {},
): Promise<Page<JobSummary>> {
  return client.json<Page<JobSummary>>({ method: "GET", path: `/v1/jobs${query(options)}` });
}

/** `POST /v1/jobs/{id}/cancel`. */
export function cancelJob(client: RestClient, id: string): Promise<Job> {
  return client.json<Job>({
    method: "POST",
    path: `/v1/jobs/${enc(id)}/cancel`,
    idempotencyKey: randomUUID(),
  });
}

/** `DELETE /v1/jobs/{id}` or `DELETE /v1/datasets/{id}`: the resource and the bytes only it held. */
/** `GET /v1/adapters`, every page: the key's adapters, uploaded or trained by its jobs. */
export async function listAdapters(client: RestClient): Promise<AdapterResource[]> {
  const out: AdapterResource[] = [];
  for (let cursor: string | null = null; ; ) {
    const page: Page<AdapterResource> = await client.json<Page<AdapterResource>>({
      method: "GET",
      path: `/v1/adapters${query({ limit: 100, ...(cursor ? { cursor } : {}) })}`,
    });
    out.push(...page.items);
    cursor = page.nextCursor;
    if (cursor === null) return out;
  }
}

/** `POST /v1/adapters`: a LoRA or textual-inversion safetensors file, checked against `model`. */
export function uploadAdapter(
  client: RestClient,
  file: Uint8Array,
  options: {
    name: string;
    kind: AdapterResource["kind"];
    model: string;
    tokens?: readonly string[];
    rank?: number;
    alpha?: number;
  },
): Promise<AdapterResource> {
  const { tokens, ...rest } = options;
  return client.json<AdapterResource>({
    method: "POST",
    path: `/v1/adapters${query({ ...rest, ...(tokens?.length ? { tokens: tokens.join(",") } : {}) })}`,
    body: { bytes: file, contentType: "application/octet-stream" },
  });
}

export async function deleteResource(
  client: RestClient,
  kind: "job" | "dataset" | "adapter",
  id: string,
): Promise<void> {
  const response = await client.send({ method: "DELETE", path: `/v1/${kind}s/${enc(id)}` });
  await response.body?.cancel();
}

/** Every artifact of a job under `prefix`, following the pages. */
export async function listArtifacts(
  client: RestClient,
  jobId: string,
  options: { prefix?: string; max?: number } = {},
): Promise<Artifact[]> {
  const out: Artifact[] = [];
  const max = options.max ?? Number.POSITIVE_INFINITY;
  for (let after: string | undefined; out.length < max; ) {
    const page = await client.json<ArtifactPage>({
      method: "GET",
      path: `/v1/jobs/${enc(jobId)}/artifacts${query({ prefix: options.prefix, after, limit: 500 })}`,
    });
    out.push(...page.items);
    if (page.nextAfter === null) break;
    after = page.nextAfter;
  }
  return out.slice(0, max);
}

/** The bytes of one artifact. */
export async function downloadArtifact(
  client: RestClient,
  artifact: Pick<Artifact, "href">,
): Promise<Uint8Array> {
  const response = await client.send({ method: "GET", path: artifact.href });
  return new Uint8Array(await response.arrayBuffer());
}

/** Download formats of the synthetic set (docs/formats.md). */
export const SYNTHETIC_FORMATS = ["zip", "imagefolder", "webdataset"] as const;
/** One of {@link SYNTHETIC_FORMATS}. */
export type SyntheticFormat = (typeof SYNTHETIC_FORMATS)[number];

/** `GET /v1/jobs/{id}/synthetic` in a format, as a streaming response. */
export function syntheticSet(
  client: RestClient,
  jobId: string,
  options: {
    format?: SyntheticFormat;
    method?: string;
    seed?: number;
    shardSize?: number;
    shard?: number;
  } = {},
): Promise<Response> {
  return client.send({
    method: "GET",
    path: `/v1/jobs/${enc(jobId)}/synthetic${query(options)}`,
    headers: { accept: options.format === "webdataset" ? "application/x-tar" : "application/zip" },
  });
}

/** `GET /v1/jobs/{id}/synthetic.zip` as a streaming response. */
export function syntheticZip(
  client: RestClient,
  jobId: string,
  options: { method?: string; seed?: number } = {},
): Promise<Response> {
  return client.send({
    method: "GET",
    path: `/v1/jobs/${enc(jobId)}/synthetic.zip${query(options)}`,
    headers: { accept: "application/zip" },
  });
}

/** `GET /readyz`: whether the gateway is ready (false while it starts or drains). */
export async function isReady(client: RestClient, signal?: AbortSignal): Promise<boolean> {
  const response = await client.send({ method: "GET", path: "/readyz", accept: () => true, signal });
  await response.body?.cancel();
  return response.status === 200;
}
