import { lstat, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { DataError } from "./errors.js";
import {
  DEFAULT_FOLDER_LIMITS,
  decodeImageFolder,
  type FolderEntry,
  type FolderLimits,
  type ImageFolder,
  type ImageFolderOptions,
} from "./image-folder.js";

/**
 * Lists a local class-per-folder directory as {@link FolderEntry}s, checking counts and sizes from `lstat`
 * before reading any file. Symbolic links are refused (they could point outside the directory), as is
 * nesting. For operators and the CLI: request data arrives as bytes and goes to {@link decodeImageFolder}.
 */
export async function listImageFolder(
  root: string,
  limits: Partial<FolderLimits> = {},
): Promise<FolderEntry[]> {
  const l: FolderLimits = { ...DEFAULT_FOLDER_LIMITS, ...limits };
  const planned: { name: string; path: string; size: number }[] = [];
  const folders: string[] = [];
  let total = 0;
  for (const top of await readdir(root, { withFileTypes: true })) {
    if (top.name.startsWith(".")) continue;
    if (top.isSymbolicLink() || !top.isDirectory()) {
      throw new DataError("invalid_layout", `${top.name}: expected only class folders at the top level`, {
        name: top.name,
      });
    }
    folders.push(`${top.name}/`);
    for (const file of await readdir(join(root, top.name), { withFileTypes: true })) {
      const name = `${top.name}/${file.name}`;
      if (file.name.startsWith(".")) continue;
      if (file.isSymbolicLink() || !file.isFile()) {
        throw new DataError(
          "invalid_layout",
          `${name}: expected only regular image files inside class folders`,
          {
            name,
          },
        );
      }
      if (planned.length >= l.maxFiles) {
        throw new DataError("too_many_files", `more than ${l.maxFiles} entries`, { limit: l.maxFiles });
      }
      const { size } = await lstat(join(root, top.name, file.name));
      if (size > l.maxFileBytes) {
        throw new DataError("file_too_large", `${name} is ${size} bytes, more than ${l.maxFileBytes}`, {
          name,
          bytes: size,
          limit: l.maxFileBytes,
        });
      }
      total += size;
      if (total > l.maxTotalBytes) {
        throw new DataError("total_too_large", `more than ${l.maxTotalBytes} bytes in all`, {
          limit: l.maxTotalBytes,
        });
      }
      planned.push({ name, path: join(root, top.name, file.name), size });
    }
  }
  const entries: FolderEntry[] = folders.map((name) => ({ name, bytes: new Uint8Array(0) }));
  for (const file of planned) entries.push({ name: file.name, bytes: await readFile(file.path) });
  return entries;
}

/** Reads and decodes a local class-per-folder directory (see {@link listImageFolder}, {@link decodeImageFolder}). */
export async function readImageFolder(root: string, options: ImageFolderOptions): Promise<ImageFolder> {
  return decodeImageFolder(await listImageFolder(root, options.limits), options);
}
