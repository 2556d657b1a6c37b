/**
 * TLS and mutual TLS credentials built from PEM files that are read again on an interval, so that a
 * rotated certificate (a Kubernetes Secret that cert-manager renewed) applies to new connections without
 * a restart. Connections already open keep the certificate they were made with. Built on grpc-js's
 * file-watching certificate provider; this module adds a first load before use and reload logs.
 */
import { createHash } from "node:crypto";
import { type ChannelCredentials, experimental, type ServerCredentials } from "@grpc/grpc-js";
import type { Logger } from "pino";

/** The files of a server's TLS. */
export interface ServerTlsFiles {
  /** PEM certificate (chain) the server presents. */
  readonly certFile: string;
  /** PEM private key of `certFile`. */
  readonly keyFile: string;
  /** PEM CA bundle: when set, clients must present a certificate it signed (mTLS). */
  readonly clientCaFile?: string;
  /** How often the files are read again (milliseconds). */
  readonly reloadIntervalMs: number;
}

/** The files of a client's TLS. */
export interface ChannelTlsFiles {
  /** PEM CA bundle that verifies the server's certificate. */
  readonly caFile: string;
  /** PEM client certificate for mTLS (with `keyFile`). */
  readonly certFile?: string;
  /** PEM private key of `certFile`. */
  readonly keyFile?: string;
  /** Name the server's certificate must carry instead of the target's host. */
  readonly serverName?: string;
  /** How often the files are read again (milliseconds). */
  readonly reloadIntervalMs: number;
}

/** Credentials whose files are watched until {@link ReloadingCredentials.close}. */
export interface ReloadingCredentials<C> {
  readonly credentials: C;
  /** Resolves once the files were read the first time (whether or not they were valid). */
  readonly loaded: Promise<void>;
  /** Stops watching the files (after the server or channels using the credentials closed). */
  close(): void;
}

/** Server credentials plus what a server needs to know about them. */
export interface ServerTls extends ReloadingCredentials<ServerCredentials> {
  /** Whether client certificates are required. */
  readonly mutual: boolean;
}

/** Channel credentials plus the channel options they need. */
export interface ChannelTls extends ReloadingCredentials<ChannelCredentials> {
  /** Channel options to pass with the credentials (the server-name override). */
  readonly grpcOptions: Readonly<Record<string, string>>;
}

function fingerprint(...parts: (Buffer | undefined)[]): string {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part ?? Buffer.alloc(0)).update("\0");
  return hash.digest("hex").slice(0, 16);
}

/**
 * Listens to a provider for as long as the credentials live: it resolves `loaded` at the first read and
 * logs when the files' content changes or they cannot be read (new connections then fail until fixed).
 */
function watch(
  provider: experimental.CertificateProvider,
  what: "server" | "client",
  withIdentity: boolean,
  withCa: boolean,
  logger: Logger | undefined,
): { loaded: Promise<void>; close(): void } {
  let identity: experimental.IdentityCertificateUpdate | null | undefined;
  let ca: experimental.CaCertificateUpdate | null | undefined;
  let last: string | undefined;
  let markLoaded!: () => void;
  const loaded = new Promise<void>((resolve) => {
    markLoaded = resolve;
  });
  const changed = () => {
    if ((withIdentity && identity === undefined) || (withCa && ca === undefined)) return;
    markLoaded();
    const broken = (withIdentity && identity === null) || (withCa && ca === null);
    const now = broken
      ? "unreadable"
      : fingerprint(identity?.certificate, identity?.privateKey, ca?.caCertificate);
    if (now === last) return;
    const first = last === undefined;
    last = now;
    if (broken) {
      logger?.error({ event: "tls_files_unreadable", side: what }, "TLS files cannot be read");
    } else if (!first) {
      logger?.info({ event: "tls_reloaded", side: what, fingerprint: now }, "TLS files changed: reloaded");
    }
  };
  const onIdentity = (update: experimental.IdentityCertificateUpdate | null) => {
    identity = update;
    changed();
  };
  const onCa = (update: experimental.CaCertificateUpdate | null) => {
    ca = update;
    changed();
  };
  if (withIdentity) provider.addIdentityCertificateListener(onIdentity);
  if (withCa) provider.addCaCertificateListener(onCa);
  return {
    loaded,
    // The provider stops its timer once its last listener is gone (ours and the credentials').
    close() {
      provider.removeIdentityCertificateListener(onIdentity);
      provider.removeCaCertificateListener(onCa);
    },
  };
}

/**
 * TLS server credentials from `files`, mTLS when `clientCaFile` is set. A server refuses connections
 * until the files were read; await `loaded` before binding, and `close()` after the server closed.
 */
export function serverTls(files: ServerTlsFiles, options: { logger?: Logger } = {}): ServerTls {
  const mutual = files.clientCaFile !== undefined;
  const provider = new experimental.FileWatcherCertificateProvider({
    certificateFile: files.certFile,
    privateKeyFile: files.keyFile,
    ...(mutual ? { caCertificateFile: files.clientCaFile } : {}),
    refreshIntervalMs: files.reloadIntervalMs,
  });
  // grpc-js 1.14 names this function's parameters (ca, identity) but hands the first to the credentials
  // as the identity provider and the second as the CA provider: one provider holding all three files,
  // or null for the CA, is right either way (shared/rpc/tls.test.ts would catch a change).
  const credentials = experimental.createCertificateProviderServerCredentials(
    provider,
    mutual ? provider : null,
    mutual,
  );
  const watcher = watch(provider, "server", true, mutual, options.logger);
  return { credentials, mutual, loaded: watcher.loaded, close: watcher.close };
}

/**
 * TLS channel credentials from `files`: the server must present a certificate `caFile` signed, for the
 * target's host (or `serverName`); with `certFile` and `keyFile` the client presents its own (mTLS).
 * Share one across the channels that use the same files; `close()` after they closed.
 */
export function channelTls(files: ChannelTlsFiles, options: { logger?: Logger } = {}): ChannelTls {
  const mutual = files.certFile !== undefined && files.keyFile !== undefined;
  const provider = new experimental.FileWatcherCertificateProvider({
    caCertificateFile: files.caFile,
    ...(mutual ? { certificateFile: files.certFile, privateKeyFile: files.keyFile } : {}),
    refreshIntervalMs: files.reloadIntervalMs,
  });
  const credentials = experimental.createCertificateProviderChannelCredentials(
    provider,
    mutual ? provider : null,
  );
  const watcher = watch(provider, "client", mutual, true, options.logger);
  const grpcOptions: Record<string, string> =
    files.serverName === undefined ? {} : { "grpc.ssl_target_name_override": files.serverName };
  return { credentials, grpcOptions, loaded: watcher.loaded, close: watcher.close };
}
