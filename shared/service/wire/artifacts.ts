import { create } from "@bufbuild/protobuf";
import { type Artifact, ArtifactSchema } from "../../gen/diffda/common/v1/artifact_pb.js";
import { invalidField } from "./fields.js";
import { sha256Hex } from "./hash.js";
import { verifySha256 } from "./images.js";

/** Media type of safetensors files (adapters, classifier checkpoints). */
export const SAFETENSORS_MEDIA_TYPE = "application/vnd.safetensors";

/** Whether `name` is a bare file name: 1–255 characters, no "/", "\\", "..", or control characters. */
function isFileName(name: string): boolean {
  if (
    name.length === 0 ||
    name.length > 255 ||
    name.includes("/") ||
    name.includes("\\") ||
    name.includes("..")
  ) {
    return false;
  }
  for (let i = 0; i < name.length; i++)
    if (name.charCodeAt(i) < 0x20 || name.charCodeAt(i) === 0x7f) return false;
  return true;
}

/**
 * The bytes of a received Artifact after checking it: a bare file name (never a path), content present,
 * and the sha256 when set (`checksum_mismatch` on a mismatch). Errors name `${field}.<member>`.
 *
 * The result is a copy that owns its ArrayBuffer. Received `bytes` fields are Node Buffer views into the
 * whole message; `Buffer#slice` does not copy, so decoders that slice and then take `.buffer` (the
 * safetensors reader does, for unaligned tensors) would read the message instead of the tensor, and a
 * view would also drag the whole message along when posted to a worker thread.
 */
export function verifyArtifact(artifact: Artifact | undefined, field: string): Uint8Array {
  if (!artifact) throw invalidField(field, "is required");
  if (!isFileName(artifact.name)) {
    throw invalidField(`${field}.name`, "must be a bare file name (no '/', '\\' or '..')");
  }
  if (artifact.content.length === 0) throw invalidField(`${field}.content`, "must not be empty");
  verifySha256(artifact.content, artifact.sha256, `${field}.sha256`);
  return new Uint8Array(artifact.content);
}

/** An Artifact for bytes a service returns, with their sha256. */
export function makeArtifact(name: string, mediaType: string, content: Uint8Array): Artifact {
  return create(ArtifactSchema, { name, mediaType, content, sha256: sha256Hex(content) });
}
