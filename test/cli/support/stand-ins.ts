/**
 * Tiny stand-ins for the embedded stack's processes, written into a temporary "repository root" as
 * `services/<name>/src/main.ts`: compute services that serve only gRPC health (NOT_SERVING for a moment,
 * then SERVING) and a gateway that answers `/readyz`. Each logs its environment as one JSON line, and on
 * SIGTERM logs `stopping <ms since epoch>` and exits 0 — unless `STANDIN_IGNORE_TERM` is set.
 */
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const REPO = resolve(import.meta.dirname, "..", "..", "..");

const COMPUTE = (rpc: string) => `
import { createRpcServer } from ${JSON.stringify(rpc)};
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(GRPC_|METRICS_|MODEL_DIR|DRAIN_GRACE_MS)/.test(k)));
const server = createRpcServer({ limits: { maxReceiveMessageBytes: 1 << 20, maxSendMessageBytes: 1 << 20 } });
const port = await server.listen({ host: process.env.GRPC_HOST ?? "127.0.0.1", port: Number(process.env.GRPC_PORT) });
console.log(JSON.stringify({ event: "listening", port, env }));
setTimeout(() => server.setReady(), 200);
process.on("SIGTERM", async () => {
  console.log("stopping " + Date.now());
  if (process.env.STANDIN_IGNORE_TERM) return;
  await server.drain(0);
  process.exit(0);
});
`;

const GATEWAY = `
import { createServer } from "node:http";
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(HOST|PORT|AUTH_MODE|DIFFDA_DATA_DIR|ARTIFACT_DIR|.*_ADDRESS(ES)?|BASE_MODEL|INSTRUCT_MODEL)$/.test(k)));
const started = Date.now();
const server = createServer((req, res) => {
  const ready = req.url === "/readyz" && Date.now() - started > 200;
  res.writeHead(ready ? 200 : 503).end(ready ? "ok" : "starting");
});
server.listen(Number(process.env.PORT), process.env.HOST, () => console.log(JSON.stringify({ event: "listening", env })));
process.on("SIGTERM", () => {
  console.log("stopping " + Date.now());
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
`;

/** A temporary root with stand-in services; `crash` names one that exits at once with code 3. */
export async function standInRoot(options: { crash?: string } = {}): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "diffda-standins-"));
  const rpc = join(REPO, "shared", "rpc", "index.ts");
  for (const name of ["finetune", "generation", "classifier", "gateway"]) {
    const dir = join(root, "services", name, "src");
    await mkdir(dir, { recursive: true });
    const body =
      name === options.crash
        ? 'console.error("boom: the model folder is missing"); process.exit(3);\n'
        : name === "gateway"
          ? GATEWAY
          : COMPUTE(rpc);
    await writeFile(join(dir, "main.ts"), body);
  }
  // `--import tsx` resolves from the child's working directory: the stand-in root links the repo's modules.
  await import("node:fs/promises").then((fs) =>
    fs.symlink(join(REPO, "node_modules"), join(root, "node_modules")),
  );
  await writeFile(join(root, "package.json"), '{"type":"module"}\n');
  return root;
}
