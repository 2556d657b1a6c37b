/**
 * End to end: the gateway's real compute clients, configured from the gateway's environment, call a real
 * classifier process that serves mutual TLS and checks a shared token. Certificates are made for this
 * run with openssl; the classifier is chosen because it has no models to load.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { GATEWAY_ENV, loadGatewayEnv } from "../services/gateway/src/config.js";
import {
  type ComputeClients,
  createComputeClients,
} from "../services/gateway/src/orchestrator/compute-clients.js";
import { type ConfigOf, clientSecurity, loadConfig } from "../shared/config/index.js";
import { type CertDir, certDir, type TestCa, type TestCert } from "../shared/rpc/test-certs.js";
import { type ServiceProcess, startService } from "../shared/testing/service-process.js";
import { rpcError, TEST_LIMITS } from "./support/clients.js";

const TOKEN = "e2e-shared-token-0123456789";

function clientsFor(address: string, env: Record<string, string>): ComputeClients {
  const config: ConfigOf<typeof GATEWAY_ENV> = loadGatewayEnv(env);
  return createComputeClients({
    finetuneAddress: "127.0.0.1:1",
    generationAddresses: ["127.0.0.1:1"],
    classifierAddress: address,
    limits: TEST_LIMITS,
    finetuneTimeoutMs: 60_000,
    generateTimeoutMs: 60_000,
    trainTimeoutMs: 60_000,
    evaluateTimeoutMs: 60_000,
    security: clientSecurity(config),
  });
}

describe("gateway → classifier over mTLS with a shared token", () => {
  let certs: CertDir;
  let ca: TestCa;
  let serverCert: TestCert;
  let gatewayCert: TestCert;
  let classifier: ServiceProcess;
  let address: string;
  const open: ComputeClients[] = [];
  const connect = (env: Record<string, string>) => {
    const clients = clientsFor(address, env);
    open.push(clients);
    return clients;
  };
  const gatewayEnv = () => ({
    GRPC_TLS_CA_FILE: ca.certFile,
    GRPC_TLS_CERT_FILE: gatewayCert.certFile,
    GRPC_TLS_KEY_FILE: gatewayCert.keyFile,
    GRPC_TLS_SERVER_NAME: "diffda-classifier",
    GRPC_AUTH_TOKEN: TOKEN,
  });

  before(async () => {
    certs = certDir();
    ca = certs.ca("diffda-ca");
    serverCert = certs.issue(ca, "classifier", ["diffda-classifier"]);
    gatewayCert = certs.issue(ca, "gateway", ["diffda-gateway"]);
    classifier = await startService("classifier", {
      GRPC_TLS_CERT_FILE: serverCert.certFile,
      GRPC_TLS_KEY_FILE: serverCert.keyFile,
      GRPC_TLS_CLIENT_CA_FILE: ca.certFile,
      GRPC_AUTH_TOKEN: TOKEN,
    });
    await classifier.ready();
    address = classifier.address;
  });
  after(async () => {
    for (const clients of open) clients.close();
    assert.equal(await classifier?.stop(), 0);
    certs?.remove();
  });

  it("logs that it serves mTLS with a token", async () => {
    const line = await classifier.waitForLog((l) => l.event === "listening");
    assert.deepEqual([line.transport, line.auth], ["mtls", "token"]);
  });

  it("the configured gateway reaches the handler (an empty Evaluate fails validation there)", async () => {
    const clients = connect(gatewayEnv());
    assert.equal((await rpcError(clients.classifier.evaluate({}))).code, "invalid_field");
  });

  it("without the token the call is refused with invalid_token", async () => {
    const { GRPC_AUTH_TOKEN: _, ...env } = gatewayEnv();
    const clients = connect(env);
    const error = await rpcError(clients.classifier.evaluate({}));
    assert.deepEqual([error.code, error.grpcCode], ["invalid_token", 16]);
  });

  it("without a client certificate, or in plaintext, the connection is refused", async () => {
    const { GRPC_TLS_CERT_FILE: _c, GRPC_TLS_KEY_FILE: _k, ...noCert } = gatewayEnv();
    assert.equal((await rpcError(connect(noCert).classifier.evaluate({}))).code, "unavailable");
    assert.equal(
      (await rpcError(connect({ GRPC_AUTH_TOKEN: TOKEN }).classifier.evaluate({}))).code,
      "unavailable",
    );
  });

  it("a service whose TLS variables are incomplete does not start, naming the variable", async () => {
    await assert.rejects(
      startService("classifier", { GRPC_TLS_CERT_FILE: serverCert.certFile }),
      /GRPC_TLS_KEY_FILE/,
    );
  });

  it("the gateway's configuration is refused at boot the same way", () => {
    assert.throws(
      () =>
        loadGatewayEnv({ GRPC_TLS_CERT_FILE: gatewayCert.certFile, GRPC_TLS_KEY_FILE: gatewayCert.keyFile }),
      /GRPC_TLS_CA_FILE/,
    );
    assert.ok(loadConfig(GATEWAY_ENV, {}));
  });
});
