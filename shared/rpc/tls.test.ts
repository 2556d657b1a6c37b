/**
 * TLS, mutual TLS and certificate reload over real loopback sockets, with CAs and certificates that
 * openssl makes for this run.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { EchoService } from "../gen/diffda/testing/v1/echo_pb.js";
import { createChannel, createClient, type RpcChannel } from "./client.js";
import { channelTls, type ServerTlsFiles, serverTls } from "./credentials.js";
import { RpcError } from "./error.js";
import { Health, ServingStatus } from "./health.js";
import { createRpcServer, type RpcServer } from "./server.js";
import { type CertDir, certDir, type TestCa, type TestCert } from "./test-certs.js";

const LIMITS = { maxReceiveMessageBytes: 1 << 20, maxSendMessageBytes: 1 << 20 };
const RELOAD_MS = 100;

const echo = {
  echo: (request: { text: string }) => ({ text: request.text }),
  async *echoServerStream() {},
  echoClientStream: async () => ({}),
  async *echoBidiStream() {},
};

interface TlsServer {
  readonly address: string;
  readonly server: RpcServer;
  close(): Promise<void>;
}

async function startServer(files: Omit<ServerTlsFiles, "reloadIntervalMs">): Promise<TlsServer> {
  const tls = serverTls({ ...files, reloadIntervalMs: RELOAD_MS });
  const server = createRpcServer({ limits: LIMITS });
  server.register(EchoService, echo);
  server.setReady();
  await tls.loaded;
  const port = await server.listen({ host: "127.0.0.1", port: 0, credentials: tls.credentials });
  return {
    address: `localhost:${port}`,
    server,
    async close() {
      await server.drain(0);
      tls.close();
    },
  };
}

/** A client option set: plaintext, or TLS trusting `ca` with an optional client certificate. */
type ClientSide = "plaintext" | { ca: TestCa; cert?: TestCert; serverName?: string };

/** One call to a fresh channel (so a fresh connection); resolves with the echo or the RpcError. */
async function call(address: string, side: ClientSide): Promise<string | RpcError> {
  const tls =
    side === "plaintext"
      ? undefined
      : channelTls({
          caFile: side.ca.certFile,
          ...(side.cert ? { certFile: side.cert.certFile, keyFile: side.cert.keyFile } : {}),
          ...(side.serverName ? { serverName: side.serverName } : {}),
          reloadIntervalMs: RELOAD_MS,
        });
  let channel: RpcChannel | undefined;
  try {
    channel = createChannel({
      address,
      limits: LIMITS,
      ...(tls ? { credentials: tls.credentials, grpcOptions: tls.grpcOptions } : {}),
    });
    const client = createClient(EchoService, channel, { timeoutMs: 5_000 });
    return (await client.echo({ text: "hi" })).text;
  } catch (error) {
    if (error instanceof RpcError) return error;
    throw error;
  } finally {
    channel?.close();
    tls?.close();
  }
}

function assertRefused(outcome: string | RpcError, what: string): void {
  assert.ok(outcome instanceof RpcError, `${what}: the call went through`);
  assert.equal(outcome.code, "unavailable", `${what}: ${outcome.message}`);
}

describe("TLS and mTLS between a channel and a server", () => {
  let certs: CertDir;
  let ca: TestCa;
  let otherCa: TestCa;
  let server: TestCert;
  let client: TestCert;
  let foreignClient: TestCert;
  before(() => {
    certs = certDir();
    ca = certs.ca("ca");
    otherCa = certs.ca("other-ca");
    server = certs.issue(ca, "server");
    client = certs.issue(ca, "client", ["gateway"]);
    foreignClient = certs.issue(otherCa, "foreign-client", ["gateway"]);
  });
  after(() => certs.remove());

  describe("TLS (server certificate only)", () => {
    let tls: TlsServer;
    before(async () => {
      tls = await startServer({ certFile: server.certFile, keyFile: server.keyFile });
    });
    after(() => tls.close());

    test("a client that trusts the server's CA gets through", async () => {
      assert.equal(await call(tls.address, { ca }), "hi");
    });

    test("a plaintext client is refused", async () => {
      assertRefused(await call(tls.address, "plaintext"), "plaintext");
    });

    test("a client that does not trust the server's CA is refused", async () => {
      assertRefused(await call(tls.address, { ca: otherCa }), "untrusted CA");
    });

    test("the server's name is checked: an override the certificate does not carry is refused", async () => {
      assertRefused(await call(tls.address, { ca, serverName: "elsewhere" }), "wrong name");
      const byIp = tls.address.replace("localhost", "127.0.0.1");
      assert.equal(await call(byIp, { ca, serverName: "localhost" }), "hi");
    });
  });

  describe("mTLS (client certificates required)", () => {
    let tls: TlsServer;
    before(async () => {
      tls = await startServer({
        certFile: server.certFile,
        keyFile: server.keyFile,
        clientCaFile: ca.certFile,
      });
    });
    after(() => tls.close());

    test("a client with a certificate from the client CA gets through", async () => {
      assert.equal(await call(tls.address, { ca, cert: client }), "hi");
    });

    test("a client without a certificate is refused", async () => {
      assertRefused(await call(tls.address, { ca }), "no client certificate");
    });

    test("a client with a certificate from another CA is refused", async () => {
      assertRefused(await call(tls.address, { ca, cert: foreignClient }), "foreign client certificate");
    });

    test("health is behind mTLS too (only the token check exempts it)", async () => {
      const channel = createChannel({ address: tls.address, limits: LIMITS });
      try {
        const health = createClient(Health, channel, { timeoutMs: 5_000 });
        await assert.rejects(health.check({ service: "" }), (e: unknown) => e instanceof RpcError);
      } finally {
        channel.close();
      }
      const trusted = channelTls({
        caFile: ca.certFile,
        certFile: client.certFile,
        keyFile: client.keyFile,
        reloadIntervalMs: RELOAD_MS,
      });
      const secure = createChannel({
        address: tls.address,
        limits: LIMITS,
        credentials: trusted.credentials,
      });
      try {
        const health = createClient(Health, secure, { timeoutMs: 5_000 });
        assert.equal((await health.check({ service: "" })).status, ServingStatus.SERVING);
      } finally {
        secure.close();
        trusted.close();
      }
    });
  });

  test("a rotated certificate on disk is served to new connections without a restart", async () => {
    // The server starts with a certificate of CA "old" and is rotated to one of CA "new": clients that
    // trust only the new CA are refused before and let in after, with the same server running.
    const oldCa = certs.ca("rotate-old-ca");
    const newCa = certs.ca("rotate-new-ca");
    const live = certs.issue(oldCa, "rotate-live");
    const next = certs.issue(newCa, "rotate-next");
    const tls = await startServer({ certFile: live.certFile, keyFile: live.keyFile });
    try {
      assert.equal(await call(tls.address, { ca: oldCa }), "hi");
      assertRefused(await call(tls.address, { ca: newCa }), "before the rotation");
      certs.replace(live, next);
      let outcome: string | RpcError = "";
      for (let i = 0; i < 50; i++) {
        outcome = await call(tls.address, { ca: newCa });
        if (outcome === "hi") break;
        await new Promise((resolve) => setTimeout(resolve, RELOAD_MS));
      }
      assert.equal(outcome, "hi", "the new certificate was never served");
      assertRefused(await call(tls.address, { ca: oldCa }), "the old CA after the rotation");
    } finally {
      await tls.close();
    }
  });
});
