/**
 * Scripts never import scripts: no file imports an entry point of bench/ or models/scripts/ (what those
 * share lives in a library module, such as models/scripts/lib/). The entry points are the files that
 * package.json scripts and models/scripts/*.sh run, and those knip.jsonc lists as entries.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SCRIPT_FOLDERS = ["bench/", "models/scripts/"];
const SOURCE_FOLDERS = ["bench", "models", "cli", "deploy", "services", "shared", "test"];

const inScriptFolder = (path: string) => SCRIPT_FOLDERS.some((folder) => path.startsWith(folder));

/** `tsx some/file.ts` in a command line: the script it runs. */
function scriptsRunBy(command: string): string[] {
  return [...command.matchAll(/tsx\s+(\S+\.ts)\b/g)].map((m) => m[1]);
}

function entryPoints(): Set<string> {
  const entries = new Set<string>();
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
    scripts: Record<string, string>;
  };
  for (const command of Object.values(pkg.scripts)) for (const s of scriptsRunBy(command)) entries.add(s);
  for (const name of readdirSync(join(ROOT, "models/scripts")).filter((f) => f.endsWith(".sh")))
    for (const s of scriptsRunBy(readFileSync(join(ROOT, "models/scripts", name), "utf8"))) entries.add(s);
  // knip.jsonc: JSON with whole-line // comments.
  const knip = JSON.parse(
    readFileSync(join(ROOT, "knip.jsonc"), "utf8")
      .split("\n")
      .filter((line) => !line.trim().startsWith("//"))
      .join("\n"),
  ) as { entry: string[] };
  for (const entry of knip.entry) if (!entry.includes("*")) entries.add(entry);
  return new Set([...entries].filter(inScriptFolder));
}

function sourceFiles(): string[] {
  return SOURCE_FOLDERS.flatMap((folder) =>
    readdirSync(join(ROOT, folder), { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts") && !f.split("/").includes("node_modules"))
      .map((f) => `${folder}/${f}`),
  );
}

/** The repository paths a file imports by relative specifier (static and dynamic imports, re-exports). */
function relativeImports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)].map((m) => m[1]);
  return specifiers.map((s) => relative(ROOT, resolve(ROOT, dirname(file), s)).replace(/\.js$/, ".ts"));
}

test("the script entry points exist and include the kit trainer and the benchmarks", () => {
  const entries = entryPoints();
  for (const entry of entries) assert.ok(existsSync(join(ROOT, entry)), `${entry} is named but missing`);
  for (const expected of ["models/scripts/train-kit.ts", "models/scripts/bench-kit.ts", "bench/finetune.ts"])
    assert.ok(entries.has(expected), `${expected} is not found as an entry point`);
});

test("no file imports a script of bench/ or models/scripts/", () => {
  const entries = entryPoints();
  const offences = sourceFiles().flatMap((file) =>
    relativeImports(file)
      .filter((target) => entries.has(target))
      .map((target) => `${file} imports ${target}`),
  );
  assert.deepEqual(offences, []);
});
