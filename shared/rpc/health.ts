import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../gen/grpc/health/v1/health_pb.js";
import { RpcError } from "./error.js";
import type { ServiceImpl } from "./types.js";

export { Health, ServingStatus };

/**
 * The serving status of a server's services, answered by the standard grpc.health.v1 protocol (Check and
 * Watch), so kubelet gRPC probes, grpc_health_probe and load balancers understand it. The service name
 * "" stands for the whole server.
 */
export interface HealthState {
  /** Sets the status of `service` ("" for the whole server); ignored once shut down. */
  set(service: string, status: ServingStatus.SERVING | ServingStatus.NOT_SERVING): void;
  /** Sets every known service, "" included. */
  setAll(status: ServingStatus.SERVING | ServingStatus.NOT_SERVING): void;
  /** The status of `service`, or `undefined` when it is unknown. */
  get(service: string): ServingStatus | undefined;
  /**
   * Marks everything NOT_SERVING for good and ends every Watch stream after it delivered that status, so
   * open watches do not hold a draining server open.
   */
  shutdown(): void;
  /** The grpc.health.v1.Health implementation to register on the server. */
  readonly impl: ServiceImpl<typeof Health>;
}

/** A new health state in which every service named (and "") starts NOT_SERVING. */
export function createHealthState(services: Iterable<string> = []): HealthState {
  const statuses = new Map<string, ServingStatus>([["", ServingStatus.NOT_SERVING]]);
  for (const name of services) statuses.set(name, ServingStatus.NOT_SERVING);
  let closed = false;
  // Watchers wait on `changed`; every change resolves it and arms a new one.
  let notify = () => {};
  let changed = new Promise<void>((resolve) => {
    notify = resolve;
  });
  const announce = () => {
    const resolve = notify;
    changed = new Promise<void>((next) => {
      notify = next;
    });
    resolve();
  };
  const state: HealthState = {
    set(service, status) {
      if (closed || statuses.get(service) === status) return;
      statuses.set(service, status);
      announce();
    },
    setAll(status) {
      for (const service of statuses.keys()) state.set(service, status);
    },
    get: (service) => statuses.get(service),
    shutdown() {
      if (closed) return;
      for (const service of statuses.keys()) statuses.set(service, ServingStatus.NOT_SERVING);
      closed = true;
      announce();
    },
    impl: {
      check(request) {
        const status = statuses.get(request.service);
        if (status === undefined) throw new RpcError("not_found", `unknown service "${request.service}"`);
        return { status };
      },
      async *watch(request, context) {
        const aborted = new Promise<void>((resolve) => {
          context.signal.addEventListener("abort", () => resolve(), { once: true });
        });
        let last: ServingStatus | undefined;
        while (!context.signal.aborted) {
          const next = changed;
          const status = statuses.get(request.service) ?? ServingStatus.SERVICE_UNKNOWN;
          if (status !== last) {
            last = status;
            yield { status };
          }
          if (closed) return;
          await Promise.race([next, aborted]);
        }
      },
    },
  };
  return state;
}
