import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ArtifactStore } from "./artifact-store.js";
import { blobStoreContract } from "./blob-store.contract.js";

blobStoreContract("local directory", async () => {
  const dir = await mkdtemp(join(tmpdir(), "diffda-blobs-"));
  return { store: new ArtifactStore(dir), close: () => rm(dir, { recursive: true, force: true }) };
});
