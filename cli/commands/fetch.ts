/**
 * `diffda fetch <job>`: downloads a job's outputs into `<out>/<job>/`: `job.json` (spec and results), the
 * synthetic set (`synthetic.zip` with its manifest, `synthetic-imagefolder.zip` or
 * `synthetic-webdataset.tar`, by `--format`), the fine-tuned adapters and the classifier checkpoints
 * under their artifact keys.
 */
import { createWriteStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import {
  downloadArtifact,
  getJob,
  listArtifacts,
  type SyntheticFormat,
  syntheticSet,
} from "../client/api.js";
import type { RestClient } from "../client/rest-client.js";

/** What to download. */
export type FetchPart = "synthetic" | "adapters" | "checkpoints";

/** Every part. */
export const FETCH_PARTS: readonly FetchPart[] = ["synthetic", "adapters", "checkpoints"];

/** The file each synthetic-set format is saved as. */
const SYNTHETIC_FILES: Record<SyntheticFormat, string> = {
  zip: "synthetic.zip",
  imagefolder: "synthetic-imagefolder.zip",
  webdataset: "synthetic-webdataset.tar",
};

/** One downloaded file. */
export interface FetchedFile {
  readonly path: string;
  readonly bytes: number;
}

/** A local path for an artifact key under `dir`; keys are `/`-separated safe names, anything else is refused. */
function artifactPath(dir: string, key: string): string {
  const parts = key.split("/");
  if (
    parts.some((part) => part === "" || part === "." || part === ".." || !/^[A-Za-z0-9._=+-]+$/.test(part))
  ) {
    throw new Error(`refusing the artifact key ${JSON.stringify(key)}`);
  }
  const root = resolve(dir);
  const path = resolve(root, ...parts);
  if (!path.startsWith(root + sep)) throw new Error(`refusing the artifact key ${JSON.stringify(key)}`);
  return path;
}

/** Downloads `parts` of job `jobId` into `<out>/<jobId>/`. */
export async function fetchJob(
  client: RestClient,
  jobId: string,
  out: string,
  parts: readonly FetchPart[] = FETCH_PARTS,
  onFile: (file: FetchedFile) => void = () => {},
  format: SyntheticFormat = "zip",
): Promise<FetchedFile[]> {
  const job = await getJob(client, jobId);
  const dir = join(out, job.id);
  await mkdir(dir, { recursive: true });
  const files: FetchedFile[] = [];
  const add = (file: FetchedFile) => {
    files.push(file);
    onFile(file);
  };
  const jobJson = JSON.stringify(job, null, 2);
  await writeFile(join(dir, "job.json"), jobJson);
  add({ path: join(dir, "job.json"), bytes: Buffer.byteLength(jobJson) });
  if (parts.includes("synthetic") && job.spec.methods.some((m) => m.generation !== null)) {
    const response = await syntheticSet(client, job.id, { format });
    const path = join(dir, SYNTHETIC_FILES[format]);
    let bytes = 0;
    const body = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
    body.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
    });
    await pipeline(body, createWriteStream(path));
    add({ path, bytes });
  }
  const prefixes = [
    ...(parts.includes("adapters") ? ["adapter/"] : []),
    ...(parts.includes("checkpoints") ? ["checkpoint/"] : []),
  ];
  for (const prefix of prefixes) {
    for (const artifact of await listArtifacts(client, job.id, { prefix })) {
      // A checkpoint's key names its run; its file name (e.g. classifier.safetensors) is in the metadata.
      const name = typeof artifact.meta.name === "string" ? artifact.meta.name : "";
      const key =
        prefix === "checkpoint/" && /^[A-Za-z0-9._-]+$/.test(name) ? `${artifact.key}/${name}` : artifact.key;
      const path = artifactPath(dir, key);
      await mkdir(dirname(path), { recursive: true });
      const data = await downloadArtifact(client, artifact);
      await writeFile(path, data);
      add({ path, bytes: data.length });
    }
  }
  return files;
}
