/**
 * The WebDataset export: tar shards of `shardSize` samples, each sample `<key>.png`, `<key>.cls` (the
 * class index as text) and `<key>.json` (the metadata row), with keys `<method>_seed<seed>_<sample>`
 * (no dots: WebDataset splits a file name at its first dot). One shard is a plain tar
 * (`webdataset.WebDataset(url)` streams it); the whole set is a tar of the shards
 * `synthetic-000000.tar`, … that `tar -x` unpacks. Shard sizes are known from the listing before any
 * image is read, so shards stream inside the outer tar without being held in memory.
 */
import { type TarSource, tarBytes, writeTar } from "../archive/tar-writer.js";
import type { ExportBody } from "./export.js";
import { metadataRow } from "./imagefolder.js";
import { safeName } from "./safe-name.js";
import type { SyntheticRecord } from "./synthetic-set.js";

/** Default samples per shard. */
export const DEFAULT_SHARD_SIZE = 1000;

/** Name of shard `index` inside the outer tar. */
function shardName(index: number): string {
  return `synthetic-${String(index).padStart(6, "0")}.tar`;
}

interface Sample {
  key: string;
  record: SyntheticRecord;
  cls: Buffer;
  json: Buffer;
}

function sample(record: SyntheticRecord): Sample {
  return {
    key: `${safeName(record.method).replace(/\./g, "_")}_seed${record.seed}_${String(record.sampleIndex).padStart(7, "0")}`,
    record,
    cls: Buffer.from(String(record.label)),
    json: Buffer.from(JSON.stringify(metadataRow(record))),
  };
}

function shardSources(samples: readonly Sample[], body: ExportBody): TarSource[] {
  return samples.flatMap((s) => [
    { name: `${s.key}.png`, read: () => body.read(s.record.sha256) },
    { name: `${s.key}.cls`, read: async () => s.cls },
    { name: `${s.key}.json`, read: async () => s.json },
  ]);
}

/** Records grouped into shards of `shardSize` (metadata only; images are read as the shard is written). */
async function* shards(body: ExportBody, shardSize: number): AsyncGenerator<Sample[]> {
  let current: Sample[] = [];
  for await (const record of body.records) {
    current.push(sample(record));
    if (current.length === shardSize) {
      yield current;
      current = [];
    }
  }
  if (current.length > 0) yield current;
}

/** One shard as a tar, or null when the set has fewer shards. */
export async function webdatasetShard(
  body: ExportBody,
  shardSize: number,
  index: number,
): Promise<AsyncGenerator<Buffer> | null> {
  let i = 0;
  for await (const samples of shards(body, shardSize)) {
    if (i++ === index) return writeTar(shardSources(samples, body));
  }
  return null;
}

/** Every shard, as one tar of shard tars. */
export function webdatasetExport(body: ExportBody, shardSize: number): AsyncGenerator<Buffer> {
  async function* sources(): AsyncGenerator<TarSource> {
    let index = 0;
    for await (const samples of shards(body, shardSize)) {
      const entries = shardSources(samples, body);
      const size = tarBytes(samples.flatMap((s) => [s.record.bytes, s.cls.length, s.json.length]));
      yield { name: shardName(index++), size, chunks: () => writeTar(entries) };
    }
  }
  return writeTar(sources());
}
