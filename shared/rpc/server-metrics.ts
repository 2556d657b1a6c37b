/**
 * What a gRPC server records per call: the gRPC server metrics under the names gRPC dashboards and
 * alerts already query (go-grpc-prometheus: `grpc_server_started_total`, `grpc_server_handled_total`,
 * `grpc_server_handling_seconds`, labelled `grpc_type`, `grpc_service`, `grpc_method`, `grpc_code`),
 * diffda's finer error code beside them (`diffda_rpc_server_errors_total{error_code}`), calls in flight,
 * and one log line per call.
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import { LATENCY_SECONDS_BUCKETS } from "../telemetry/buckets.js";
import type { Metrics } from "../telemetry/metrics.js";
import { GrpcCode } from "./codes.js";
import type { CallOutcome } from "./handlers.js";

/** `grpc_type` values, as go-grpc-prometheus names the four kinds of method. */
const GRPC_TYPES: Record<DescMethod["methodKind"], string> = {
  unary: "unary",
  server_streaming: "server_stream",
  client_streaming: "client_stream",
  bidi_streaming: "bidi_stream",
};

/** `grpc_code` values: the status names in the CamelCase that gRPC's Go and Java libraries print. */
const GRPC_CODE_NAMES = new Map<number, string>(
  Object.entries(GrpcCode).map(([name, code]) => [
    code,
    name === "OK"
      ? "OK"
      : name === "CANCELLED"
        ? "Canceled"
        : name
            .toLowerCase()
            .split("_")
            .map((word) => word[0].toUpperCase() + word.slice(1))
            .join(""),
  ]),
);

/** The `grpc_code` label of a status number. */
function grpcCodeLabel(code: number): string {
  return GRPC_CODE_NAMES.get(code) ?? "Unknown";
}

/** Hooks the server calls at the start and the end of each call. */
export interface CallObserver {
  onCallStart(service: DescService, method: DescMethod): void;
  onCallEnd(outcome: CallOutcome): void;
}

/** Builds the observer: metrics when a registry is given, log lines when a logger is. */
export function callObserver(options: { metrics?: Metrics; logger?: Logger }): CallObserver {
  const { logger, metrics } = options;
  const labels = ["grpc_type", "grpc_service", "grpc_method"] as const;
  const started = metrics?.counter({
    name: "grpc_server_started_total",
    help: "RPCs started on the server",
    labelNames: labels,
  });
  const handled = metrics?.counter({
    name: "grpc_server_handled_total",
    help: "RPCs completed on the server, by gRPC status",
    labelNames: [...labels, "grpc_code"],
  });
  const duration = metrics?.histogram({
    name: "grpc_server_handling_seconds",
    help: "Time from the handler's start to the end of the RPC",
    labelNames: labels,
    buckets: LATENCY_SECONDS_BUCKETS,
  });
  const errors = metrics?.counter({
    name: "rpc_server_errors_total",
    help: "RPCs that ended in an error, by diffda error code (finer than grpc_code)",
    labelNames: ["grpc_service", "grpc_method", "error_code"],
  });
  const callLabels = (service: DescService, method: DescMethod) => ({
    grpc_type: GRPC_TYPES[method.methodKind],
    grpc_service: service.typeName,
    grpc_method: method.name,
  });
  return {
    onCallStart(service, method) {
      started?.inc(callLabels(service, method));
    },
    onCallEnd(outcome) {
      const call = callLabels(outcome.service, outcome.method);
      const error = outcome.error;
      handled?.inc({ ...call, grpc_code: grpcCodeLabel(error?.grpcCode ?? GrpcCode.OK) });
      duration?.observe(call, outcome.seconds);
      if (error) {
        errors?.inc({
          grpc_service: call.grpc_service,
          grpc_method: call.grpc_method,
          error_code: error.code,
        });
      }
      if (!logger) return;
      const line = {
        rpc: `${call.grpc_service}/${call.grpc_method}`,
        code: error?.code ?? "ok",
        seconds: outcome.seconds,
      };
      if (!error) logger.debug(line, "rpc ok");
      else if (error.code === "internal" || error.code === "unknown")
        logger.error({ ...line, err: error }, "rpc failed");
      else if (error.code === "cancelled") logger.debug({ ...line, msg: error.message }, "rpc cancelled");
      else logger.warn({ ...line, error: error.message }, "rpc failed");
    },
  };
}
