/**
 * Writes the gateway's OpenAPI document to clients/openapi/openapi.json and generates the TypeScript
 * types the CLI's client uses from it (openapi-typescript → cli/client/generated/openapi.ts), so the CLI
 * type-checks against the routes as they are. `npm run openapi:client`; CI regenerates both and fails
 * when the committed files differ.
 */
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { testGateway } from "../test-support.js";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const DOCUMENT = `${ROOT}clients/openapi/openapi.json`;
const TYPES = `${ROOT}cli/client/generated/openapi.ts`;

const gateway = await testGateway({ authMode: "loopback-open" });
try {
  const doc = (await gateway.app.inject({ method: "GET", url: "/openapi.json" })).json();
  await mkdir(dirname(DOCUMENT), { recursive: true });
  await writeFile(DOCUMENT, `${JSON.stringify(doc, null, 2)}\n`);
} finally {
  await gateway.close();
}
await mkdir(dirname(TYPES), { recursive: true });
execFileSync(
  `${ROOT}node_modules/.bin/openapi-typescript`,
  [DOCUMENT, "--output", TYPES, "--root-types", "--alphabetize"],
  { stdio: "inherit" },
);
console.log(`${DOCUMENT}\n${TYPES}`);
