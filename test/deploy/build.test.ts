/**
 * What `npm run build` compiles into the images' dist/: the services and shared/, never a test double
 * (tests, test helpers, fakes, contract suites), whether listed by deploy/tsconfig.build.json or pulled
 * in by an import.
 */
import assert from "node:assert/strict";
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
