import type { Readable } from "node:stream";

const HIGH_WATER = 16;

/**
 * Yields the objects of a readable stream, pausing it while the consumer lags (so HTTP/2 flow control
 * pushes back on the sender). Unlike `for await` over the stream, stopping early does not destroy it
 * (destroying a grpc-js duplex would also kill its writable half), and an 'error' or 'close' ends the
 * iteration quietly: callers learn why from the call's status or abort signal, which grpc-js sets first.
 */
export async function* readMessages<T>(stream: Readable): AsyncGenerator<T, void, undefined> {
  const queue: T[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const onData = (message: T) => {
    queue.push(message);
    if (queue.length >= HIGH_WATER) stream.pause();
    notify();
  };
  const onEnd = () => {
    ended = true;
    notify();
  };
  stream.on("data", onData);
  stream.on("end", onEnd);
  stream.on("error", onEnd);
  stream.on("close", onEnd);
  try {
    for (;;) {
      const message = queue.shift();
      if (message !== undefined) {
        if (stream.isPaused() && queue.length < HIGH_WATER / 2) stream.resume();
        yield message;
      } else if (ended) {
        return;
      } else {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    }
  } finally {
    stream.off("data", onData);
    stream.off("end", onEnd);
    stream.off("error", onEnd);
    stream.off("close", onEnd);
  }
}

/** Resolves when `stream` can take more writes, or when `signal` fires. */
export function writable(stream: NodeJS.EventEmitter, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    stream.on("drain", done);
    signal.addEventListener("abort", done);
    if (signal.aborted) done();
  });
}
