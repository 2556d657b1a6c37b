/**
 * The local {@link BlobStore}: a blob's name is its SHA-256, stored at `<root>/sha256/ab/cdef…` (first two
 * hex digits as a fan-out folder). Writes go to a unique temp file under `<root>/tmp` (same file system),
 * are fsynced and renamed into place, so a reader never sees half a file and two writers of the same
 * content both succeed. Paths are derived from digests only: nothing from a request ever names a file.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Readable } from "node:stream";
import { type BlobStore, blobPathOf, isDigest, type StoredBlob, sha256Hex } from "./blob-store.js";

export { type StoredBlob, sha256Hex } from "./blob-store.js";

/** A content-addressed blob store in a local directory (or a mounted volume). */
export class ArtifactStore implements BlobStore {
  readonly kind = "local";
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** The relative path of a digest; throws for anything that is not 64 lower-case hex digits. */
  static pathOf(sha256: string): string {
    return blobPathOf(sha256);
  }

  /** Stores `bytes` (a no-op when the content is already there) and returns its address. */
  async put(bytes: Uint8Array): Promise<StoredBlob> {
    const sha256 = sha256Hex(bytes);
    const path = ArtifactStore.pathOf(sha256);
    const target = join(this.root, path);
    // Touching a blob that is already there tells garbage collection it is being referenced again.
    if (await touch(target)) return { sha256, bytes: bytes.length, path };
    const tmpDir = join(this.root, "tmp");
    await mkdir(tmpDir, { recursive: true });
    await mkdir(join(this.root, "sha256", sha256.slice(0, 2)), { recursive: true });
    const tmp = join(tmpDir, `${sha256.slice(0, 16)}.${randomBytes(6).toString("hex")}`);
    const handle = await open(tmp, "wx", 0o644);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(tmp, target);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
    return { sha256, bytes: bytes.length, path };
  }

  /** Whether a blob is stored. */
  has(sha256: string): Promise<boolean> {
    return exists(join(this.root, ArtifactStore.pathOf(sha256)));
  }

  /** The whole content of a blob; rejects with ENOENT when it is missing. */
  async read(sha256: string): Promise<Buffer> {
    return readFile(join(this.root, ArtifactStore.pathOf(sha256)));
  }

  /** A stream of a blob's content; rejects with ENOENT when it is missing (not an error mid-stream). */
  async stream(sha256: string): Promise<Readable> {
    const handle = await open(join(this.root, ArtifactStore.pathOf(sha256)), "r");
    return handle.createReadStream(); // closes the handle when it ends or is destroyed
  }

  /** Size in bytes of a stored blob, or undefined. */
  async size(sha256: string): Promise<number | undefined> {
    try {
      return (await stat(join(this.root, ArtifactStore.pathOf(sha256)))).size;
    } catch {
      return undefined;
    }
  }

  /** Deletes a blob (garbage collection; check that no row references it first). */
  async delete(sha256: string): Promise<void> {
    await rm(join(this.root, ArtifactStore.pathOf(sha256)), { force: true });
  }

  /** Size and last write (or touch) of a stored blob, or undefined. */
  async info(sha256: string): Promise<{ bytes: number; modifiedMs: number } | undefined> {
    try {
      const stats = await stat(join(this.root, ArtifactStore.pathOf(sha256)));
      return { bytes: stats.size, modifiedMs: stats.mtimeMs };
    } catch {
      return undefined;
    }
  }

  /** Every stored digest, fan-out folder by folder (names that are not digests are skipped). */
  async *digests(): AsyncGenerator<string> {
    const base = join(this.root, "sha256");
    let fans: string[];
    try {
      fans = (await readdir(base)).filter((name) => /^[0-9a-f]{2}$/.test(name)).sort();
    } catch {
      return;
    }
    for (const fan of fans) {
      const names = await readdir(join(base, fan)).catch(() => [] as string[]);
      for (const rest of names.sort()) {
        const digest = fan + rest;
        if (isDigest(digest)) yield digest;
      }
    }
  }

  /** Removes temp files older than `olderThanMs` (writes cut short by a crash); returns how many. */
  async removeStaleTemp(olderThanMs: number, now = Date.now()): Promise<number> {
    const tmpDir = join(this.root, "tmp");
    const names = await readdir(tmpDir).catch(() => [] as string[]);
    let removed = 0;
    for (const name of names) {
      const path = join(tmpDir, name);
      const stats = await stat(path).catch(() => undefined);
      if (stats?.isFile() && now - stats.mtimeMs >= olderThanMs) {
        await rm(path, { force: true });
        removed += 1;
      }
    }
    return removed;
  }

  /** A local file has no signed URL: the gateway serves it. */
  async link(): Promise<undefined> {
    return undefined;
  }
}

/** Sets a file's times to now; false when it does not exist. */
async function touch(path: string): Promise<boolean> {
  try {
    const now = new Date();
    await utimes(path, now, now);
    return true;
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
