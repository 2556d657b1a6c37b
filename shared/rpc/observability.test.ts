import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { EchoService } from "../gen/diffda/testing/v1/echo_pb.js";
import { createLogger } from "../telemetry/logger.js";
import { createMetrics } from "../telemetry/metrics.js";
import { RpcError } from "./error.js";
import { serve } from "./test-server.js";

test("the server counts, times and logs every call by service, method and error code", async () => {
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
  const series = (code: string) =>
    new RegExp(
      `^diffda_rpc_server_handled_total\\{service="diffda.testing.v1.EchoService",method="Echo",code="${code}"\\} (\\d+)$`,
      "m",
    );
  assert.equal(text.match(series("ok"))?.[1], "2");
  assert.equal(text.match(series("invalid_field"))?.[1], "1");
  assert.equal(text.match(series("internal"))?.[1], "1");
  assert.match(
    text,
    /^diffda_rpc_server_handling_seconds_count\{service="diffda.testing.v1.EchoService",method="Echo"\} 4$/m,
  );
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
