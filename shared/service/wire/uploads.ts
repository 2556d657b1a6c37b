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

/** What {@link receiveUpload} needs to know of one upload RPC. */
export interface UploadProtocol<M, H, S> {
  /** The header of a message, or undefined for a chunk. */
  headerOf(message: M): H | undefined;
  /** Validates the header and starts the upload's state (e.g. one ChunkAssembler per set). */
  open(header: H): S;
  /** Adds a chunk message to the state (throwing on a chunk out of order). */
  add(state: S, message: M): void;
}

/**
 * The receiving end of an upload stream whose first message is a header and the rest chunks: yields the
 * state once after the header and again after every chunk (for progress), and returns it when the stream
 * ends. Throws `invalid_stream` when the first message is no header, a later one is, or the stream ends
 * before the header.
 */
export async function* receiveUpload<M, H, S>(
  requests: AsyncIterable<M>,
  protocol: UploadProtocol<M, H, S>,
): AsyncGenerator<S, S> {
  let state: S | undefined;
  for await (const message of requests) {
    const header = protocol.headerOf(message);
    if (state === undefined) {
      if (header === undefined) throw invalidStream("header", "the first message must be the header");
      state = protocol.open(header);
    } else {
      if (header !== undefined) throw invalidStream("header", "only the first message may be a header");
      protocol.add(state, message);
    }
    yield state;
  }
  if (state === undefined) throw invalidStream("header", "the stream ended before the header");
  return state;
}
