/**
 * What `--dataset` names, turned into a registered dataset: a built-in few-shot task (`fashion-mnist`,
 * `mnist` with shots and a split seed), an ImageFolder archive (zip, tar or tar.gz, sent as is with the
 * media type its magic bytes give), or a local ImageFolder directory
 * (`class/file.png`, or `train/class/file.png` + `test/class/file.png` for a test split of one's own, zipped
 * here with stored entries). An existing dataset id is used as is.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { BUILTIN_DATASETS, listImageFolder } from "../../shared/data/index.js";
import { createBuiltinDataset, getDataset, uploadDatasetArchive, uploadDatasetZip } from "./api.js";
import type { RestClient } from "./rest-client.js";
import type { BuiltinDatasetRequest, Dataset, UploadOptions } from "./types.js";
import { writeStoredZip } from "./zip.js";

/** A dataset to register or reuse. */
export type DatasetSource =
  | { readonly kind: "builtin"; readonly request: BuiltinDatasetRequest }
  | { readonly kind: "archive"; readonly path: string; readonly options: UploadOptions }
  | { readonly kind: "directory"; readonly path: string; readonly options: UploadOptions }
  | { readonly kind: "id"; readonly id: string };

/** Options from the command line that shape a dataset. */
export interface DatasetArgs {
  /** A built-in name, a .zip, .tar or .tar.gz path, or a directory. */
  readonly dataset: string;
  readonly shots?: number;
  readonly splitSeed?: number;
  readonly classes?: readonly string[];
  readonly testPerClass?: number;
  readonly name?: string;
  readonly size?: number;
  readonly channels?: 1 | 3;
  readonly testFraction?: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Decides what `args.dataset` names (the file system is consulted for paths). */
export async function resolveDatasetSource(args: DatasetArgs): Promise<DatasetSource> {
  const { dataset } = args;
  if ((BUILTIN_DATASETS as readonly string[]).includes(dataset)) {
    if (args.shots === undefined) throw new Error(`--shots is required with the built-in dataset ${dataset}`);
    return {
      kind: "builtin",
      request: {
        builtin: dataset,
        shots: args.shots,
        seed: args.splitSeed ?? 0,
        ...(args.classes?.length ? { classes: [...args.classes] } : {}),
        ...(args.testPerClass !== undefined ? { testPerClass: args.testPerClass } : {}),
        ...(args.name !== undefined ? { name: args.name } : {}),
      },
    };
  }
  if (UUID.test(dataset)) return { kind: "id", id: dataset };
  const info = await stat(dataset).catch(() => undefined);
  if (info === undefined) {
    throw new Error(
      `--dataset ${dataset}: not a built-in dataset (${BUILTIN_DATASETS.join(", ")}), a dataset id, a .zip, .tar or .tar.gz, or a directory`,
    );
  }
  const options: UploadOptions = {
    ...(args.name !== undefined ? { name: args.name } : {}),
    ...(args.size !== undefined ? { size: args.size } : {}),
    ...(args.channels !== undefined ? { channels: args.channels } : {}),
    ...(args.testFraction !== undefined ? { testFraction: args.testFraction } : {}),
    ...(args.splitSeed !== undefined ? { splitSeed: args.splitSeed } : {}),
  };
  return info.isDirectory()
    ? { kind: "directory", path: dataset, options }
    : { kind: "archive", path: dataset, options };
}

/** The user's own split: the top level is exactly `train/` and `test/`, each holding class folders. */
async function hasSplitLayout(path: string): Promise<boolean> {
  const top = (await readdir(path, { withFileTypes: true })).filter((e) => !e.name.startsWith("."));
  const names = top.map((e) => e.name).sort();
  if (names.join() !== "test,train" || !top.every((e) => e.isDirectory() && !e.isSymbolicLink()))
    return false;
  const train = await readdir(join(path, "train"), { withFileTypes: true });
  return train.some((e) => e.isDirectory() && !e.name.startsWith("."));
}

/**
 * An ImageFolder directory as a zip archive (class folders, regular files only); a directory of `train/`
 * and `test/` class folders keeps that layout, so the gateway takes its test split as given.
 */
export async function zipImageFolder(path: string): Promise<Buffer> {
  const parts = (await hasSplitLayout(path)) ? ["train/", "test/"] : [""];
  const files: { name: string; data: Uint8Array }[] = [];
  for (const part of parts) {
    for (const e of await listImageFolder(join(path, part))) {
      if (!e.name.endsWith("/")) files.push({ name: `${part}${e.name}`, data: e.bytes });
    }
  }
  return writeStoredZip(files);
}

/** Registers (or looks up) the dataset of `source`. */
export async function registerDataset(client: RestClient, source: DatasetSource): Promise<Dataset> {
  switch (source.kind) {
    case "builtin":
      return createBuiltinDataset(client, source.request);
    case "id":
      return getDataset(client, source.id);
    case "archive":
      return uploadDatasetArchive(client, await readFile(source.path), source.options);
    case "directory":
      return uploadDatasetZip(client, await zipImageFolder(source.path), source.options);
  }
}
