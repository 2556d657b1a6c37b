import type { RpcError } from "./error.js";

/** A call in flight, as the server's drain sees it. */
interface TrackedCall {
  /** Ends the call at once with `reason` and fires its handler's abort signal. */
  abort(reason: RpcError): void;
}

/** The set of calls in flight on a server, for drain. */
export interface CallTracker {
  /** Number of calls in flight. */
  readonly size: number;
  /** Tracks `call`; the returned function untracks it. */
  add(call: TrackedCall): () => void;
  /** Resolves once no call is in flight. */
  idle(): Promise<void>;
  /** Aborts every call in flight with `reason`. */
  abortAll(reason: RpcError): void;
}

/** A new, empty {@link CallTracker}; `onChange` hears every new size (for an in-flight gauge). */
export function createCallTracker(onChange: (size: number) => void = () => {}): CallTracker {
  const calls = new Set<TrackedCall>();
  let waiters: (() => void)[] = [];
  const settle = () => {
    onChange(calls.size);
    if (calls.size > 0) return;
    const ready = waiters;
    waiters = [];
    for (const resolve of ready) resolve();
  };
  return {
    get size() {
      return calls.size;
    },
    add(call) {
      calls.add(call);
      onChange(calls.size);
      return () => {
        if (calls.delete(call)) settle();
      };
    },
    idle() {
      if (calls.size === 0) return Promise.resolve();
      return new Promise((resolve) => waiters.push(resolve));
    },
    abortAll(reason) {
      for (const call of [...calls]) call.abort(reason);
    },
  };
}
