/**
 * Frees a deleted resource's blobs after its rows are gone. A failure here loses nothing (the periodic
 * sweep collects what is left), so it is logged and the DELETE still succeeds.
 */
import type { FastifyRequest } from "fastify";
import type { AppContext } from "../routes/context.js";

/** Frees `digests` nothing references any more; logs instead of failing. */
export async function freeQuietly(
  context: Pick<AppContext, "collector">,
  request: FastifyRequest,
  digests: readonly string[],
): Promise<void> {
  try {
    const freed = await context.collector.free(digests);
    request.log.info({ ...freed, digests: digests.length }, "freed blobs of a deleted resource");
  } catch (error) {
    request.log.warn({ err: error }, "freeing blobs failed; the next sweep collects them");
  }
}
