import type { DatasetChunk, LabelledImage } from "../../gen/diffda/common/v1/dataset_pb.js";
import { RpcError } from "../../rpc/index.js";

function invalidStream(field: string, message: string): RpcError {
  return new RpcError("invalid_stream", `${field}: ${message}`, { details: { field } });
}

/**
 * Reassembles one set sent as DatasetChunks: chunks must arrive in order without gaps (`offset` = images
 * received so far) and the total must match the count the header declared, checked at the end (a
 * cancelled upload can look complete for a moment; the count catches it). Violations are
 * `invalid_stream` naming `field`.
 */
export class ChunkAssembler {
  readonly #field: string;
  readonly #declared: number;
  readonly #images: LabelledImage[] = [];

  constructor(field: string, declared: number) {
    this.#field = field;
    this.#declared = declared;
  }

  /** Images received so far. */
  get received(): number {
    return this.#images.length;
  }

  /** Adds the next chunk. */
  add(chunk: DatasetChunk): void {
    if (chunk.offset !== this.#images.length) {
      throw invalidStream(
        `${this.#field}.offset`,
        `chunk at offset ${chunk.offset}, expected ${this.#images.length} (chunks come in order, without gaps)`,
      );
    }
    if (this.#images.length + chunk.images.length > this.#declared) {
      throw invalidStream(this.#field, `more images than the ${this.#declared} the header declared`);
    }
    this.#images.push(...chunk.images);
  }

  /** The whole set, once the stream ended; throws unless exactly the declared count arrived. */
  finish(): LabelledImage[] {
    if (this.#images.length !== this.#declared) {
      throw invalidStream(
        this.#field,
        `${this.#images.length} images arrived, the header declared ${this.#declared}`,
      );
    }
    return this.#images;
  }
}

/**
 * Reads an upload stream whose first message is a header and the rest chunks: `headerOf` returns the
 * header of a message (or undefined), `onChunk` takes every later message. Throws `invalid_stream` when the
 * first message is no header, a later one is, or the stream is empty.
 */
export async function readUpload<M, H>(
  requests: AsyncIterable<M>,
  headerOf: (message: M) => H | undefined,
  onChunk: (message: M, header: H) => void,
): Promise<H> {
  let header: H | undefined;
  for await (const message of requests) {
    const h = headerOf(message);
    if (header === undefined) {
      if (h === undefined) throw invalidStream("header", "the first message must be the header");
      header = h;
    } else {
      if (h !== undefined) throw invalidStream("header", "only the first message may be a header");
      onChunk(message, header);
    }
  }
  if (header === undefined) throw invalidStream("header", "the stream ended before the header");
  return header;
}
