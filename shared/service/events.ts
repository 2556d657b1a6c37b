/**
 * A push-to-pull bridge: engine callbacks (progress after every step) push events, an RPC handler's async
 * generator pulls them. `close()` ends the iteration, `fail(error)` makes it throw after the events queued
 * before the failure.
 */
export interface EventChannel<T> extends AsyncIterable<T> {
  /** Queues an event (ignored once closed or failed). */
  push(event: T): void;
  /** Ends the iteration after the queued events. */
  close(): void;
  /** Ends the iteration with `error` after the queued events. */
  fail(error: unknown): void;
}

/**
 * Creates an {@link EventChannel}. With `coalesce`, a queued event for which `coalesce(queued, next)`
 * returns true is replaced by the newer one instead of growing the queue (progress a slow reader has not
 * taken yet is superseded; images never are).
 */
export function createEventChannel<T>(coalesce?: (queued: T, next: T) => boolean): EventChannel<T> {
  const queue: T[] = [];
  let done = false;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  return {
    push(event) {
      if (done) return;
      const last = queue.length - 1;
      if (coalesce && last >= 0 && coalesce(queue[last], event)) queue[last] = event;
      else queue.push(event);
      notify();
    },
    close() {
      done = true;
      notify();
    },
    fail(error) {
      if (done) return;
      failure = { error };
      done = true;
      notify();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        if (queue.length > 0) {
          yield queue.shift() as T;
          continue;
        }
        if (done) {
          if (failure) throw failure.error;
          return;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
  };
}

/**
 * Runs `work` (which reports through `emit`) and yields what it emits as it happens, then the value `work`
 * resolves to as `{ result }`. If `work` fails, the events emitted before are yielded, then the error is
 * thrown. Leaving the iteration early does not stop `work`: pass it the call's signal for that.
 */
export async function* streamWork<E, R>(
  work: (emit: (event: E) => void) => Promise<R>,
  coalesce?: (queued: E, next: E) => boolean,
): AsyncGenerator<{ event: E } | { result: R }> {
  const channel = createEventChannel<{ event: E } | { result: R }>((a, b) =>
    "event" in a && "event" in b && coalesce ? coalesce(a.event, b.event) : false,
  );
  work((event) => channel.push({ event })).then(
    (result) => {
      channel.push({ result });
      channel.close();
    },
    (error: unknown) => channel.fail(error),
  );
  yield* channel;
}
