/**
 * Image sets on their way to the compute services. A set small enough travels inline in one request;
 * a bigger one goes over the service's Upload RPC (FinetuneUpload, TrainUpload, EvaluateUpload) as
 * `DatasetChunk`s of at most `chunkBytes` each, so that no message approaches the gRPC size limit however
 * large the set. Sizes are estimated from the image bytes plus a fixed allowance for the other fields,
 * which is cheaper than encoding every image twice and errs on the large side.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  DatasetChunkSchema,
  LabelledImageSchema,
} from "../../../../shared/gen/diffda/common/v1/dataset_pb.js";

/** A LabelledImage as the handlers build it. */
export type LabelledImageInit = MessageInitShape<typeof LabelledImageSchema>;

/** A DatasetChunk as the Upload RPCs take it. */
export type DatasetChunkInit = MessageInitShape<typeof DatasetChunkSchema>;

/** Default most bytes of images in one chunk (and the most a set may hold to travel inline): 4 MiB. */
const DEFAULT_UPLOAD_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Wire bytes of a LabelledImage besides its image data, rounded up: field tags and lengths, the format,
 * the 64-character sha256, label, source index and an inter-class mix, plus the repeated field's framing.
 */
export const IMAGE_OVERHEAD_BYTES = 128;

/** Estimated wire size of an image of `dataBytes` encoded bytes inside a chunk. */
export function wireBytes(dataBytes: number): number {
  return dataBytes + IMAGE_OVERHEAD_BYTES;
}

/** Estimated wire size of `image`. */
export function imageWireBytes(image: LabelledImageInit): number {
  return wireBytes(image.image?.data?.length ?? 0);
}

/**
 * Groups `images` into chunks of at most `chunkBytes` (estimated), in order, with `offset` = images
 * sent before. An image bigger than `chunkBytes` alone still travels, as a chunk of its own: refusing it
 * here would turn a limit of this sender into a failure the receiver would not have.
 */
export async function* chunkImages(
  images: AsyncIterable<LabelledImageInit> | Iterable<LabelledImageInit>,
  chunkBytes: number,
): AsyncGenerator<DatasetChunkInit> {
  if (!Number.isFinite(chunkBytes) || chunkBytes <= 0) throw new RangeError("chunkBytes must be positive");
  let offset = 0;
  let batch: LabelledImageInit[] = [];
  let bytes = 0;
  for await (const image of images) {
    const size = imageWireBytes(image);
    if (batch.length > 0 && bytes + size > chunkBytes) {
      yield { offset, images: batch };
      offset += batch.length;
      batch = [];
      bytes = 0;
    }
    batch.push(image);
    bytes += size;
  }
  if (batch.length > 0) yield { offset, images: batch };
}

/** Whether a set of `totalBytes` (estimated wire bytes) travels inline rather than chunked. */
export function fitsInline(totalBytes: number, chunkBytes: number): boolean {
  return totalBytes <= chunkBytes;
}

/** The chunk size a handler uses: configured, else {@link DEFAULT_UPLOAD_CHUNK_BYTES}. */
export function chunkBytesOf(deps: { uploadChunkBytes?: number }): number {
  return deps.uploadChunkBytes ?? DEFAULT_UPLOAD_CHUNK_BYTES;
}
