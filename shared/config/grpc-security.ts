/**
 * The gRPC security variables, server side (every service host) and client side (the gateway), and their
 * validation at boot: pairs that must be set together, files that must hold what their name says, and a
 * shared token from the environment or a mounted secret file. The names run in parallel on both sides:
 * `GRPC_TLS_CERT_FILE`/`GRPC_TLS_KEY_FILE` are always this process's own certificate and key, and the CA
 * file is the one that verifies the other side.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { ConfigError, type ConfigIssue } from "./errors.js";
import { int, string } from "./fields.js";
import type { ConfigOf } from "./load.js";

const HOUR_MS = 3_600_000;
/** Shortest accepted token: a guessable secret is no access control. */
export const MIN_TOKEN_LENGTH = 16;

function reloadField() {
  return int({
    min: 100,
    max: 24 * HOUR_MS,
    default: 60_000,
    description:
      "how often the TLS files are read again; changed certificates apply to new connections without a restart",
  });
}

function tokenFields() {
  return {
    GRPC_AUTH_TOKEN: string({
      minLength: MIN_TOKEN_LENGTH,
      optional: true,
      sensitive: true,
      description: "shared token: every call carries `authorization: Bearer <token>` (health excepted)",
    }),
    GRPC_AUTH_TOKEN_FILE: string({
      optional: true,
      description: "file holding GRPC_AUTH_TOKEN (a mounted Secret); read at boot",
    }),
  } as const;
}

/** The security variables of a gRPC server (spread into `serviceEnv`). */
export function grpcServerSecurityEnv() {
  return {
    GRPC_TLS_CERT_FILE: string({
      optional: true,
      description: "PEM certificate (chain) the gRPC server presents; with GRPC_TLS_KEY_FILE it serves TLS",
    }),
    GRPC_TLS_KEY_FILE: string({ optional: true, description: "PEM private key of GRPC_TLS_CERT_FILE" }),
    GRPC_TLS_CLIENT_CA_FILE: string({
      optional: true,
      description: "PEM CA bundle; when set, every client must present a certificate it signed (mTLS)",
    }),
    GRPC_TLS_RELOAD_INTERVAL_MS: reloadField(),
    ...tokenFields(),
  } as const;
}

/** The security variables of a gRPC client (the gateway's calls to the compute services). */
export function grpcClientSecurityEnv() {
  return {
    GRPC_TLS_CA_FILE: string({
      optional: true,
      description: "PEM CA bundle that verifies the services' certificates; set: calls use TLS",
    }),
    GRPC_TLS_CERT_FILE: string({
      optional: true,
      description: "PEM client certificate presented to the services (mTLS); with GRPC_TLS_KEY_FILE",
    }),
    GRPC_TLS_KEY_FILE: string({ optional: true, description: "PEM private key of GRPC_TLS_CERT_FILE" }),
    GRPC_TLS_SERVER_NAME: string({
      optional: true,
      description: "name checked against every service's certificate instead of the address's host",
    }),
    GRPC_TLS_RELOAD_INTERVAL_MS: reloadField(),
    ...tokenFields(),
  } as const;
}

/** TLS settings of a gRPC server. */
export interface ServerTlsSettings {
  readonly certFile: string;
  readonly keyFile: string;
  /** Set: client certificates signed by this CA are required (mTLS). */
  readonly clientCaFile: string | undefined;
  readonly reloadIntervalMs: number;
}

/** TLS settings of a gRPC client. */
export interface ClientTlsSettings {
  readonly caFile: string;
  /** Client certificate and key for mTLS; both or neither. */
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  readonly serverName: string | undefined;
  readonly reloadIntervalMs: number;
}

/** What a gRPC server enforces. */
export interface ServerSecurity {
  /** Absent: plaintext. */
  readonly tls: ServerTlsSettings | undefined;
  /** Absent: no token check. */
  readonly token: string | undefined;
}

/** What a gRPC client presents. */
export interface ClientSecurity {
  readonly tls: ClientTlsSettings | undefined;
  readonly token: string | undefined;
}

type ServerVars = ConfigOf<ReturnType<typeof grpcServerSecurityEnv>>;
type ClientVars = ConfigOf<ReturnType<typeof grpcClientSecurityEnv>>;

/** Collects issues of one boot check. */
class Issues {
  readonly list: ConfigIssue[] = [];
  add(name: string, expected: string, received: string | undefined): void {
    this.list.push({ name, expected, received });
  }
  throwIfAny(): void {
    if (this.list.length > 0) throw new ConfigError(this.list);
  }
}

function read(issues: Issues, name: string, path: string, what: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? "unreadable";
    issues.add(name, `a readable file holding ${what} (${reason})`, path);
    return undefined;
  }
}

function certificates(issues: Issues, name: string, path: string): X509Certificate | undefined {
  const text = read(issues, name, path, "PEM certificates");
  if (text === undefined) return undefined;
  try {
    // X509Certificate parses the first certificate of a bundle: enough to reject a wrong or empty file.
    if (!text.includes("-----BEGIN CERTIFICATE-----")) throw new Error("no certificate");
    return new X509Certificate(text);
  } catch {
    issues.add(name, "a file holding PEM certificates", path);
    return undefined;
  }
}

/** Checks a certificate and key pair: both set, both parse, and the key is the certificate's. */
function identity(
  issues: Issues,
  names: { cert: string; key: string },
  certFile: string | undefined,
  keyFile: string | undefined,
): boolean {
  if (certFile === undefined && keyFile === undefined) return false;
  if (certFile === undefined) {
    issues.add(names.cert, `set together with ${names.key}`, undefined);
    return false;
  }
  if (keyFile === undefined) {
    issues.add(names.key, `set together with ${names.cert}`, undefined);
    return false;
  }
  const cert = certificates(issues, names.cert, certFile);
  const keyText = read(issues, names.key, keyFile, "a PEM private key");
  if (keyText === undefined) return true;
  try {
    const key = createPrivateKey(keyText);
    if (cert && !cert.checkPrivateKey(key)) {
      issues.add(names.key, `the private key of the certificate in ${names.cert}`, keyFile);
    }
  } catch {
    issues.add(names.key, "a file holding a PEM private key", keyFile);
  }
  return true;
}

function token(issues: Issues, vars: ServerVars | ClientVars): string | undefined {
  if (vars.GRPC_AUTH_TOKEN !== undefined && vars.GRPC_AUTH_TOKEN_FILE !== undefined) {
    issues.add(
      "GRPC_AUTH_TOKEN_FILE",
      "unset when GRPC_AUTH_TOKEN is set (one source of the token)",
      vars.GRPC_AUTH_TOKEN_FILE,
    );
    return undefined;
  }
  if (vars.GRPC_AUTH_TOKEN_FILE === undefined) return vars.GRPC_AUTH_TOKEN;
  const text = read(issues, "GRPC_AUTH_TOKEN_FILE", vars.GRPC_AUTH_TOKEN_FILE, "the token");
  if (text === undefined) return undefined;
  // A Secret file often ends with a newline that is not part of the token.
  const value = text.trim();
  if (value.length < MIN_TOKEN_LENGTH || /\s/.test(value)) {
    issues.add(
      "GRPC_AUTH_TOKEN_FILE",
      `a file holding one token of at least ${MIN_TOKEN_LENGTH} characters, no whitespace`,
      vars.GRPC_AUTH_TOKEN_FILE,
    );
    return undefined;
  }
  return value;
}

/**
 * The server's security from its validated variables, checked at boot: certificate and key set together
 * and matching, a client CA only with a certificate, files readable and PEM, one token source. Throws one
 * ConfigError listing every problem.
 */
export function serverSecurity(vars: ServerVars): ServerSecurity {
  const issues = new Issues();
  const names = { cert: "GRPC_TLS_CERT_FILE", key: "GRPC_TLS_KEY_FILE" };
  const hasIdentity = identity(issues, names, vars.GRPC_TLS_CERT_FILE, vars.GRPC_TLS_KEY_FILE);
  if (vars.GRPC_TLS_CLIENT_CA_FILE !== undefined) {
    if (!hasIdentity) {
      issues.add(
        "GRPC_TLS_CLIENT_CA_FILE",
        "set only with GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE",
        vars.GRPC_TLS_CLIENT_CA_FILE,
      );
    } else {
      certificates(issues, "GRPC_TLS_CLIENT_CA_FILE", vars.GRPC_TLS_CLIENT_CA_FILE);
    }
  }
  const shared = token(issues, vars);
  issues.throwIfAny();
  const tls =
    vars.GRPC_TLS_CERT_FILE !== undefined && vars.GRPC_TLS_KEY_FILE !== undefined
      ? {
          certFile: vars.GRPC_TLS_CERT_FILE,
          keyFile: vars.GRPC_TLS_KEY_FILE,
          clientCaFile: vars.GRPC_TLS_CLIENT_CA_FILE,
          reloadIntervalMs: vars.GRPC_TLS_RELOAD_INTERVAL_MS,
        }
      : undefined;
  return { tls, token: shared };
}

/**
 * The client's security from its validated variables, checked at boot: a CA whenever any other TLS
 * variable is set, certificate and key together and matching, files readable and PEM, one token source.
 * Throws one ConfigError listing every problem.
 */
export function clientSecurity(vars: ClientVars): ClientSecurity {
  const issues = new Issues();
  const names = { cert: "GRPC_TLS_CERT_FILE", key: "GRPC_TLS_KEY_FILE" };
  identity(issues, names, vars.GRPC_TLS_CERT_FILE, vars.GRPC_TLS_KEY_FILE);
  const others = ["GRPC_TLS_CERT_FILE", "GRPC_TLS_KEY_FILE", "GRPC_TLS_SERVER_NAME"] as const;
  if (vars.GRPC_TLS_CA_FILE === undefined) {
    const set = others.filter((name) => vars[name] !== undefined);
    if (set.length > 0) issues.add("GRPC_TLS_CA_FILE", `set when ${set.join(", ")} is set`, undefined);
  } else {
    certificates(issues, "GRPC_TLS_CA_FILE", vars.GRPC_TLS_CA_FILE);
  }
  const shared = token(issues, vars);
  issues.throwIfAny();
  const tls =
    vars.GRPC_TLS_CA_FILE !== undefined
      ? {
          caFile: vars.GRPC_TLS_CA_FILE,
          certFile: vars.GRPC_TLS_CERT_FILE,
          keyFile: vars.GRPC_TLS_KEY_FILE,
          serverName: vars.GRPC_TLS_SERVER_NAME,
          reloadIntervalMs: vars.GRPC_TLS_RELOAD_INTERVAL_MS,
        }
      : undefined;
  return { tls, token: shared };
}
