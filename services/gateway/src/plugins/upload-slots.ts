/**
 * A cap on dataset uploads in flight. An upload body is buffered whole (up to `UPLOAD_BODY_LIMIT_BYTES`)
 * before the archive reader judges it, so many slow or stalled uploads at once could hold gigabytes
 * between them; with the cap they hold at most `max` × the body limit. A request takes a slot once it is
 * authenticated, before its body is read, and gives it back when its response is over (sent, or the
 * connection gone); past the cap it is refused at once with 503 `uploads_busy` and `Retry-After`.
 * Bodies no larger than the ordinary JSON limit (a built-in task, a small JSON upload) take no slot.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../errors.js";
import { hasBody } from "./body-timeout.js";

/** Seconds a refused upload is told to wait: slots free up as uploads finish or time out. */
const UPLOAD_RETRY_AFTER_SECONDS = 5;

/** Counts uploads in flight; {@link UploadSlots.hook} is the route's `onRequest` hook. */
export class UploadSlots {
  readonly #max: number;
  readonly #smallBodyBytes: number;
  #inFlight = 0;

  /** At most `max` uploads whose body is unknown or larger than `smallBodyBytes`. */
  constructor(max: number, smallBodyBytes: number) {
    this.#max = max;
    this.#smallBodyBytes = smallBodyBytes;
  }

  /** Uploads holding a slot now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Takes a slot for `request` or throws `uploads_busy`. */
  readonly hook = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!hasBody(request.headers)) return;
    const length = Number(request.headers["content-length"]);
    if (Number.isFinite(length) && length <= this.#smallBodyBytes) return;
    if (this.#inFlight >= this.#max) {
      throw new ApiError("uploads_busy", `${this.#max} dataset uploads are in flight; retry later`, {
        // The refused body is not read: close rather than drain it.
        headers: { "retry-after": String(UPLOAD_RETRY_AFTER_SECONDS), connection: "close" },
      });
    }
    this.#inFlight++;
    let held = true;
    reply.raw.once("close", () => {
      if (held) this.#inFlight--;
      held = false;
    });
  };
}
