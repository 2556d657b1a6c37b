/** SHA-256 digests of images' bytes: how a set's provenance names exactly which images it holds. */
import { createHash } from "node:crypto";

/** The hex SHA-256 of each image's bytes in `pixels` (`imageBytes` bytes per image, back to back). */
export function imageDigests(pixels: Uint8Array, imageBytes: number): string[] {
  if (!(Number.isInteger(imageBytes) && imageBytes > 0) || pixels.length % imageBytes !== 0)
    throw new RangeError(`imageDigests: ${pixels.length} bytes are not whole images of ${imageBytes}`);
  const out: string[] = [];
  for (let at = 0; at < pixels.length; at += imageBytes)
    out.push(
      createHash("sha256")
        .update(pixels.subarray(at, at + imageBytes))
        .digest("hex"),
    );
  return out;
}

/** One digest for a list of digests, independent of their order: SHA-256 of the sorted list, one per line. */
export function digestOfDigests(digests: readonly string[]): string {
  return createHash("sha256")
    .update(`${[...digests].sort().join("\n")}\n`)
    .digest("hex");
}
