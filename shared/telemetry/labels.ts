/**
 * Every label name diffda's own metrics use, with its one meaning. A label means the same thing on every
 * metric that carries it, so a query can join or aggregate across metrics; the naming lint refuses a
 * label that is not listed here. prom-client's stock process and Node.js metrics keep their own labels.
 */
export const LABEL_MEANINGS: Readonly<Record<string, string>> = {
  service: "the process: gateway, finetune, generation, classifier (a default label)",
  method: "HTTP request method",
  route: "HTTP route pattern (never the raw path)",
  status_code: "HTTP response status",
  kind: "task kind: finetune, generate, train, evaluate",
  state: "task state in the queue: runnable, waiting, running",
  outcome: "how a job, task, run or delivery ended",
  generation: "generation mode of the generation component",
  finetuning: "fine-tuning method of the fine-tuning component",
  utilization: "utilization mode of the utilization component",
  result: "cache lookup result: hit or miss",
  phase: "phase inside a service call (decode, engine, …)",
  grpc_type: "gRPC method type: unary, client_stream, server_stream, bidi_stream",
  grpc_service: "fully qualified gRPC service name",
  grpc_method: "gRPC method name",
  grpc_code: "gRPC status code name (OK, InvalidArgument, …)",
  error_code: "diffda error catalog code",
  le: "histogram bucket bound (Prometheus)",
};
