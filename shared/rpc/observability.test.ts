import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { EchoService } from "../gen/diffda/testing/v1/echo_pb.js";
import { createLogger } from "../telemetry/logger.js";
import { createMetrics } from "../telemetry/metrics.js";
import { RpcError } from "./error.js";
import { serve } from "./test-server.js";

test("the server counts, times and logs every call under the stock grpc_server_* names and diffda error codes", async () => {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  const metrics = createMetrics({ defaultMetrics: false });
  const logger = createLogger({ service: "test", level: "debug", destination });
  const served = await serve(
    EchoService,
    {
      echo(request) {
        if (request.text === "bad")
          throw new RpcError("invalid_field", "text is bad", { details: { field: "text" } });
        if (request.text === "bug") throw new Error("null pointer");
        return { text: request.text };
      },
      async *echoServerStream() {},
      echoClientStream: async () => ({}),
      async *echoBidiStream() {},
    },
    { server: { metrics, logger } },
  );
  try {
    await served.client.echo({ text: "ok" });
    await served.client.echo({ text: "ok" });
    await served.client.echo({ text: "bad" }).catch(() => {});
    await served.client.echo({ text: "bug" }).catch(() => {});
  } finally {
    await served.close();
  }
  const text = await metrics.registry.metrics();
  const call = 'grpc_type="unary",grpc_service="diffda.testing.v1.EchoService",grpc_method="Echo"';
  const value = (pattern: string) => text.match(new RegExp(`^${pattern} (\\d+)$`, "m"))?.[1];
  assert.equal(value(`grpc_server_started_total\\{${call}\\}`), "4");
  assert.equal(value(`grpc_server_handled_total\\{${call},grpc_code="OK"\\}`), "2");
  assert.equal(value(`grpc_server_handled_total\\{${call},grpc_code="InvalidArgument"\\}`), "1");
  assert.equal(value(`grpc_server_handled_total\\{${call},grpc_code="Internal"\\}`), "1");
  assert.equal(value(`grpc_server_handling_seconds_count\\{${call}\\}`), "4");
  const errors = 'grpc_service="diffda.testing.v1.EchoService",grpc_method="Echo"';
  assert.equal(value(`diffda_rpc_server_errors_total\\{${errors},error_code="invalid_field"\\}`), "1");
  assert.equal(value(`diffda_rpc_server_errors_total\\{${errors},error_code="internal"\\}`), "1");
  assert.match(text, /^diffda_rpc_server_in_flight 0$/m);

  const rpcLines = lines.filter((line) => line.rpc === "diffda.testing.v1.EchoService/Echo");
  assert.deepEqual(
    rpcLines.map((line) => [line.level, line.code]),
    [
      ["debug", "ok"],
      ["debug", "ok"],
      ["warn", "invalid_field"],
      ["error", "internal"],
    ],
  );
  assert.equal(rpcLines[2].error, "text is bad");
});
