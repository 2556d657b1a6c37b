/**
 * The zip export: `<method>/seed=<seed>/<class>/<sample>.png` for every image and `manifest.json`
 * listing each file with its record (docs/formats.md). ZIP64 where the set needs it.
 */
import { writeZip, type ZipSource } from "../archive/zip-writer.js";
import type { ExportBody } from "./export.js";
import { safeName } from "./safe-name.js";
import type { SyntheticRecord } from "./synthetic-set.js";

/** Path of a record inside the zip export. */
function zipPath(record: SyntheticRecord): string {
  return `${safeName(record.method)}/seed=${record.seed}/${safeName(record.className)}/${String(record.sampleIndex).padStart(7, "0")}.png`;
}

/** The zip export of a set. */
export function zipExport(body: ExportBody): AsyncGenerator<Buffer> {
  const images: (SyntheticRecord & { file: string })[] = [];
  async function* sources(): AsyncGenerator<ZipSource> {
    for await (const record of body.records) {
      const file = zipPath(record);
      images.push({ file, ...record });
      yield { name: file, read: () => body.read(record.sha256) };
    }
    yield {
      name: "manifest.json",
      read: async () =>
        Buffer.from(JSON.stringify({ jobId: body.jobId, classes: body.classes, images }, null, 1)),
    };
  }
  return writeZip(sources(), body.zip);
}
