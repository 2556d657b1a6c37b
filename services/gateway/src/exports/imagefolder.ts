/**
 * The Hugging Face `imagefolder` export: `train/<class>/<method>-seed<seed>-<sample>.png` and
 * `train/metadata.jsonl` with one line per image (`file_name` relative to the metadata file, then the
 * record in snake_case), so `datasets.load_dataset("imagefolder", data_dir=...)` reads the images with
 * their labels, soft labels and provenance as columns. With a metadata file the loader takes labels from
 * it, not from the folder names, so `label` is the dataset's class index.
 */
import { writeZip, type ZipSource } from "../archive/zip-writer.js";
import type { ExportBody } from "./export.js";
import { safeName } from "./safe-name.js";
import type { SyntheticRecord } from "./synthetic-set.js";

/** One `metadata.jsonl` row (also the WebDataset `.json`): the record in the loaders' snake_case. */
export function metadataRow(record: SyntheticRecord): Record<string, unknown> {
  return {
    label: record.label,
    class_name: record.className,
    soft_label: record.softLabel,
    method: record.method,
    seed: record.seed,
    sample_index: record.sampleIndex,
    source_index: record.sourceIndex,
    source_file: record.sourceFile,
    strength: record.strength,
    source_label: record.interClass?.sourceLabel ?? null,
    prompt: record.prompt,
    model: record.model,
    sha256: record.sha256,
    ...(record.filtering === undefined
      ? {}
      : { filter_score: record.filtering.score, filter_kept: record.filtering.kept }),
  };
}

/** The imagefolder export of a set. */
export function imagefolderExport(body: ExportBody): AsyncGenerator<Buffer> {
  const lines: string[] = [];
  async function* sources(): AsyncGenerator<ZipSource> {
    for await (const record of body.records) {
      const file = `${safeName(record.className)}/${safeName(record.method)}-seed${record.seed}-${String(record.sampleIndex).padStart(7, "0")}.png`;
      lines.push(JSON.stringify({ file_name: file, ...metadataRow(record) }));
      yield { name: `train/${file}`, read: () => body.read(record.sha256) };
    }
    yield {
      name: "train/metadata.jsonl",
      read: async () => Buffer.from(lines.map((l) => `${l}\n`).join("")),
    };
  }
  return writeZip(sources(), body.zip);
}
