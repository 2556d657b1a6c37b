/**
 * What `npm run build` compiles into the images' dist/: the services and shared/, never a test double
 * (tests, test helpers, fakes, contract suites), whether listed by deploy/tsconfig.build.json or pulled
 * in by an import. And the root tsconfig.json, which `npm run typecheck` checks, covers every TypeScript file.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import ts from "typescript";
import { REPO_ROOT } from "./support.js";

const TEST_ONLY = [/\.test\.ts$/, /(^|\/)test-[^/]*\.ts$/, /(^|\/)testing\//, /\.contract\.ts$/, /fake/i];

test("the build compiles the services and no test double", () => {
  const configPath = join(REPO_ROOT, "deploy", "tsconfig.build.json");
  const config = ts.getParsedCommandLineOfConfigFile(
    configPath,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) =>
        assert.fail(ts.flattenDiagnosticMessageText(d.messageText, "\n")),
    },
  );
  assert.ok(config);
  const program = ts.createProgram({ rootNames: config.fileNames, options: config.options });
  const compiled = program
    .getSourceFiles()
    .map((f) => relative(REPO_ROOT, f.fileName))
    .filter((f) => !f.startsWith("node_modules/") && !f.startsWith("../"));
  assert.ok(compiled.includes("services/gateway/src/main.ts"));
  assert.ok(compiled.includes("services/generation/src/main.ts"));
  assert.deepEqual(
    compiled.filter((f) => TEST_ONLY.some((pattern) => pattern.test(f))),
    [],
  );
});

const NOT_SOURCE = new Set(["node_modules", "dist", ".git", ".cache", ".data", ".artifacts"]);

/** The .ts files under `dir` (relative to the repository), outside dependencies, builds and caches. */
function typeScriptFiles(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = dir ? `${dir}/${entry.name}` : entry.name;
    if (entry.isDirectory()) return NOT_SOURCE.has(entry.name) ? [] : typeScriptFiles(path);
    return entry.isFile() && entry.name.endsWith(".ts") ? [path] : [];
  });
}

test("tsconfig.json covers every TypeScript file of the repository", () => {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(REPO_ROOT, "tsconfig.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) =>
        assert.fail(ts.flattenDiagnosticMessageText(d.messageText, "\n")),
    },
  );
  assert.ok(config);
  const checked = new Set(config.fileNames.map((f) => relative(REPO_ROOT, f)));
  const all = typeScriptFiles("");
  assert.ok(all.length > 100);
  assert.deepEqual(
    all.filter((f) => !checked.has(f)),
    [],
  );
});
