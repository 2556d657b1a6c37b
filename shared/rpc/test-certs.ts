/**
 * Test helper (not exported by index.ts): certificate authorities and certificates made at run time with
 * the `openssl` command line, in a temporary folder, for TLS tests over real sockets.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A CA: its certificate and key files. */
export interface TestCa {
  readonly name: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** A certificate a CA issued, with its key. */
export interface TestCert {
  readonly certFile: string;
  readonly keyFile: string;
}

/** A temporary folder of test certificates. */
export interface CertDir {
  readonly dir: string;
  /** A self-signed CA named `name`. */
  ca(name: string): TestCa;
  /**
   * A certificate for `name` signed by `ca`, valid for server and client use, with DNS names
   * `dnsNames` (default localhost) and IP 127.0.0.1.
   */
  issue(ca: TestCa, name: string, dnsNames?: readonly string[]): TestCert;
  /** Replaces `target`'s files with `source`'s atomically (as a Kubernetes Secret update does). */
  replace(target: TestCert, source: TestCert): void;
  /** Deletes the folder. */
  remove(): void;
}

function openssl(args: string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

const KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Makes a temporary folder for certificates. */
export function certDir(): CertDir {
  const dir = mkdtempSync(join(tmpdir(), "diffda-tls-"));
  let serial = 1;
  const path = (file: string) => join(dir, file);
  return {
    dir,
    ca(name) {
      const ca = { name, certFile: path(`${name}.crt`), keyFile: path(`${name}.key`) };
      openssl([
        "req",
        "-x509",
        ...KEY,
        "-keyout",
        ca.keyFile,
        "-out",
        ca.certFile,
        "-days",
        "1",
        "-subj",
        `/CN=${name}`,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
      ]);
      return ca;
    },
    issue(ca, name, dnsNames = ["localhost"]) {
      const cert = { certFile: path(`${name}.crt`), keyFile: path(`${name}.key`) };
      const csr = path(`${name}.csr`);
      const ext = path(`${name}.ext`);
      openssl(["req", "-new", ...KEY, "-keyout", cert.keyFile, "-out", csr, "-subj", `/CN=${name}`]);
      const names = [...dnsNames.map((d) => `DNS:${d}`), "IP:127.0.0.1"].join(",");
      writeFileSync(
        ext,
        [
          "basicConstraints=CA:FALSE",
          "keyUsage=critical,digitalSignature",
          "extendedKeyUsage=serverAuth,clientAuth",
          `subjectAltName=${names}`,
        ].join("\n"),
      );
      openssl([
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        ca.certFile,
        "-CAkey",
        ca.keyFile,
        "-set_serial",
        String(serial++),
        "-days",
        "1",
        "-extfile",
        ext,
        "-out",
        cert.certFile,
      ]);
      return cert;
    },
    replace(target, source) {
      for (const [from, to] of [
        [source.certFile, target.certFile],
        [source.keyFile, target.keyFile],
      ]) {
        const staged = `${to}.new`;
        writeFileSync(staged, readFileSync(from));
        renameSync(staged, to);
      }
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
