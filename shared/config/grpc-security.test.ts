/** Boot-time validation of the gRPC TLS and token variables, on both sides, with real PEM files. */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type CertDir, certDir, type TestCa, type TestCert } from "../rpc/test-certs.js";
import { ConfigError } from "./errors.js";
import { clientSecurity, grpcClientSecurityEnv, serverSecurity } from "./grpc-security.js";
import { loadConfig } from "./load.js";
import { serviceEnv } from "./service.js";

const PORTS = { grpcPort: 50052, metricsPort: 9465 };

function issuesOf(fn: () => unknown): Map<string, string> {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return new Map(error.issues.map((i) => [i.name, i.expected]));
  }
  assert.fail("no ConfigError");
}

const server = (env: Record<string, string>) => serverSecurity(loadConfig(serviceEnv(PORTS), env));
const client = (env: Record<string, string>) => clientSecurity(loadConfig(grpcClientSecurityEnv(), env));

describe("gRPC security configuration", () => {
  let certs: CertDir;
  let ca: TestCa;
  let cert: TestCert;
  let other: TestCert;
  let notPem: string;
  let tokenFile: string;
  before(() => {
    certs = certDir();
    ca = certs.ca("ca");
    cert = certs.issue(ca, "server");
    other = certs.issue(ca, "other");
    notPem = join(certs.dir, "not.pem");
    writeFileSync(notPem, "hello\n");
    tokenFile = join(certs.dir, "token");
    writeFileSync(tokenFile, "file-token-0123456789\n");
  });
  after(() => certs.remove());

  test("the host binds loopback by default and has no TLS or token unless configured", () => {
    const config = loadConfig(serviceEnv(PORTS), {});
    assert.equal(config.GRPC_HOST, "127.0.0.1");
    assert.equal(config.METRICS_HOST, "127.0.0.1");
    assert.deepEqual(serverSecurity(config), { tls: undefined, token: undefined });
  });

  test("server: TLS, mTLS and a token from a file", () => {
    const tls = server({ GRPC_TLS_CERT_FILE: cert.certFile, GRPC_TLS_KEY_FILE: cert.keyFile });
    assert.equal(tls.tls?.clientCaFile, undefined);
    assert.equal(tls.tls?.reloadIntervalMs, 60_000);
    const mtls = server({
      GRPC_TLS_CERT_FILE: cert.certFile,
      GRPC_TLS_KEY_FILE: cert.keyFile,
      GRPC_TLS_CLIENT_CA_FILE: ca.certFile,
      GRPC_AUTH_TOKEN_FILE: tokenFile,
    });
    assert.equal(mtls.tls?.clientCaFile, ca.certFile);
    assert.equal(mtls.token, "file-token-0123456789", "trailing newline dropped");
  });

  test("server: a certificate without its key, a CA without a certificate, two token sources", () => {
    const issues = issuesOf(() =>
      server({
        GRPC_TLS_CERT_FILE: cert.certFile,
        GRPC_AUTH_TOKEN: "env-token-0123456789",
        GRPC_AUTH_TOKEN_FILE: tokenFile,
      }),
    );
    assert.deepEqual([...issues.keys()], ["GRPC_TLS_KEY_FILE", "GRPC_AUTH_TOKEN_FILE"]);
    assert.match(issues.get("GRPC_TLS_KEY_FILE")!, /together with GRPC_TLS_CERT_FILE/);
    const alone = issuesOf(() => server({ GRPC_TLS_CLIENT_CA_FILE: ca.certFile }));
    assert.deepEqual([...alone.keys()], ["GRPC_TLS_CLIENT_CA_FILE"]);
    const keyOnly = issuesOf(() => server({ GRPC_TLS_KEY_FILE: cert.keyFile }));
    assert.deepEqual([...keyOnly.keys()], ["GRPC_TLS_CERT_FILE"]);
  });

  test("server: missing files, files that are not PEM, a key of another certificate", () => {
    const issues = issuesOf(() =>
      server({
        GRPC_TLS_CERT_FILE: notPem,
        GRPC_TLS_KEY_FILE: join(certs.dir, "absent.key"),
        GRPC_TLS_CLIENT_CA_FILE: notPem,
      }),
    );
    assert.deepEqual(
      [...issues.keys()],
      ["GRPC_TLS_CERT_FILE", "GRPC_TLS_KEY_FILE", "GRPC_TLS_CLIENT_CA_FILE"],
    );
    assert.match(issues.get("GRPC_TLS_KEY_FILE")!, /ENOENT/);
    const mismatch = issuesOf(() =>
      server({ GRPC_TLS_CERT_FILE: cert.certFile, GRPC_TLS_KEY_FILE: other.keyFile }),
    );
    assert.match(mismatch.get("GRPC_TLS_KEY_FILE")!, /the private key of the certificate/);
  });

  test("tokens: too short in the environment or in a file; the value never appears", () => {
    const short = join(certs.dir, "short");
    writeFileSync(short, "abc\n");
    assert.throws(
      () => server({ GRPC_AUTH_TOKEN: "short-token" }),
      (e: unknown) => e instanceof ConfigError && !e.message.includes("short-token"),
    );
    assert.deepEqual(
      [...issuesOf(() => server({ GRPC_AUTH_TOKEN_FILE: short })).keys()],
      ["GRPC_AUTH_TOKEN_FILE"],
    );
  });

  test("client: a CA is needed for any TLS variable; certificate and key go together", () => {
    assert.deepEqual(client({}), { tls: undefined, token: undefined });
    const ok = client({
      GRPC_TLS_CA_FILE: ca.certFile,
      GRPC_TLS_CERT_FILE: cert.certFile,
      GRPC_TLS_KEY_FILE: cert.keyFile,
      GRPC_TLS_SERVER_NAME: "diffda-generation",
      GRPC_AUTH_TOKEN: "env-token-0123456789",
    });
    assert.equal(ok.tls?.serverName, "diffda-generation");
    assert.equal(ok.token, "env-token-0123456789");
    const issues = issuesOf(() => client({ GRPC_TLS_CERT_FILE: cert.certFile, GRPC_TLS_SERVER_NAME: "x" }));
    assert.deepEqual([...issues.keys()], ["GRPC_TLS_KEY_FILE", "GRPC_TLS_CA_FILE"]);
    assert.match(issues.get("GRPC_TLS_CA_FILE")!, /GRPC_TLS_CERT_FILE, GRPC_TLS_SERVER_NAME/);
    assert.deepEqual([...issuesOf(() => client({ GRPC_TLS_CA_FILE: notPem })).keys()], ["GRPC_TLS_CA_FILE"]);
  });
});
