/**
 * deploy/Dockerfile passes dockerfile-utils' validator and diffda's own rules, and its targets are held
 * against the code: entry points that exist, the ports the configuration defaults to, non-root users.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { DockerfileParser } from "dockerfile-ast";
import { validate } from "dockerfile-utils";
import { gatewayConfig, PROCESSES, REPO_ROOT, serviceConfig } from "./support.js";

const DOCKERFILE = join(REPO_ROOT, "deploy", "Dockerfile");
const TEXT = readFileSync(DOCKERFILE, "utf8");

interface Stage {
  name: string | undefined;
  from: string;
  instructions: { keyword: string; args: string; flags: Record<string, string> }[];
}

/** The stages of a Dockerfile with their instructions (keyword, raw arguments, --flags). */
function stages(text: string): Stage[] {
  const dockerfile = DockerfileParser.parse(text);
  const out: Stage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword();
    const args = instruction
      .getArguments()
      .map((a) => a.getValue())
      .join(" ");
    if (keyword === "FROM") {
      const parts = args.split(/\s+/);
      const as = parts.findIndex((p) => p.toUpperCase() === "AS");
      out.push({ name: as === -1 ? undefined : parts[as + 1], from: parts[0], instructions: [] });
      continue;
    }
    const flags: Record<string, string> = {};
    const withFlags = instruction as unknown as {
      getFlags?: () => { getName(): string; getValue(): string | null }[];
    };
    for (const flag of withFlags.getFlags?.() ?? []) flags[flag.getName()] = flag.getValue() ?? "";
    out.at(-1)?.instructions.push({ keyword, args, flags });
  }
  return out;
}

const STAGES = stages(TEXT);
const byName = new Map(STAGES.filter((s) => s.name).map((s) => [s.name!, s]));

/** An instruction's effective value in a stage, following FROM <earlier stage> (last one wins). */
function inherited(stage: Stage, keyword: string): string | undefined {
  const own = stage.instructions.filter((i) => i.keyword === keyword).at(-1)?.args;
  if (own !== undefined) return own;
  const parent = byName.get(stage.from);
  return parent ? inherited(parent, keyword) : undefined;
}

/** Whether a path passes an allowlist .dockerignore (`**` then `!pattern` lines, later lines win). */
function included(path: string, ignore: string): boolean {
  let keep = true;
  for (const raw of ignore.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const negate = line.startsWith("!");
    const pattern = negate ? line.slice(1) : line;
    const regex = new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, "\\$&")
        .replace(/\*\*\/?/g, "%GLOBSTAR%")
        .replace(/\*/g, "[^/]*")
        .replace(/%GLOBSTAR%/g, ".*")}$`,
    );
    if (regex.test(path) || regex.test(`${path}/`)) keep = negate;
  }
  return keep;
}

describe("deploy/Dockerfile", () => {
  test("dockerfile-utils' validator reports nothing", () => {
    const problems = validate(TEXT).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
    assert.deepEqual(problems, []);
  });

  test("the linter catches what it should (so a clean result means something)", () => {
    assert.ok(validate("FROM node:20\nEXPOSE abc\n").length > 0);
    assert.ok(validate("FROM a AS x\nFROM b AS x\n").length > 0);
    assert.ok(validate("FROM a\nCMD x\nCMD y\n").length > 0);
  });

  test("stage names are unique and every COPY --from names an earlier stage", () => {
    const names = STAGES.map((s) => s.name).filter(Boolean);
    assert.equal(new Set(names).size, names.length);
    const seen = new Set<string>();
    for (const stage of STAGES) {
      for (const i of stage.instructions.filter((x) => x.keyword === "COPY" && x.flags.from)) {
        assert.ok(seen.has(i.flags.from), `${stage.name}: COPY --from=${i.flags.from} before it is defined`);
      }
      if (stage.name) seen.add(stage.name);
    }
  });

  test("dependencies: production only, CPU onnxruntime skipped, the CUDA provider fetched and checked", () => {
    const deps = byName.get("deps")!;
    assert.ok(deps.instructions.some((i) => i.keyword === "RUN" && /npm ci --omit=dev/.test(i.args)));
    assert.ok(
      deps.instructions.some((i) => i.keyword === "ENV" && /ONNXRUNTIME_NODE_INSTALL=skip/.test(i.args)),
    );
    const cuda = byName.get("deps-cuda")!;
    const run = cuda.instructions.find((i) => i.keyword === "RUN")!.args;
    assert.match(
      run,
      /ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install\.js/,
    );
    assert.match(run, /libonnxruntime_providers_cuda\.so/);
    // The flag values are the install script's own.
    const script = readFileSync(join(REPO_ROOT, "node_modules/onnxruntime-node/script/install.js"), "utf8");
    assert.match(script, /ONNXRUNTIME_NODE_INSTALL/);
    assert.match(script, /--onnxruntime-node-install=cuda12/);
    assert.ok(existsSync(join(REPO_ROOT, "deploy", "tsconfig.build.json")));
  });

  for (const process of PROCESSES) {
    for (const variant of process === "gateway" ? [""] : ["", "-cuda"]) {
      const target = `${process}${variant}`;
      test(`target ${target}: non-root, a compiled entry point that exists, the ports its config defaults to`, async (t) => {
        const stage = byName.get(target);
        assert.ok(stage, `no target ${target}`);
        const user = inherited(stage, "USER");
        assert.ok(user && !/^(root|0)(:|$)/.test(user), `${target} runs as ${user}`);
        const cmd = JSON.parse(inherited(stage, "CMD") ?? "[]") as string[];
        assert.equal(cmd[0], "node");
        assert.match(cmd[1], /^dist\/services\/[a-z]+\/src\/main\.js$/);
        const source = cmd[1].replace(/^dist\//, "").replace(/\.js$/, ".ts");
        const config = process === "gateway" ? await gatewayConfig() : await serviceConfig(process);
        if (!existsSync(join(REPO_ROOT, source)) || !config) {
          return t.skip(`${source} is not in this tree yet`);
        }
        assert.ok(existsSync(join(REPO_ROOT, source)), source);
        const exposed = (inherited(stage, "EXPOSE") ?? "").split(/\s+/).map(Number).sort();
        const ports =
          process === "gateway"
            ? [config.schema.PORT.default as number]
            : [config.ports!.grpcPort, config.ports!.metricsPort];
        assert.deepEqual(exposed, ports.sort());
        if (variant === "-cuda")
          assert.match(stage.instructions.map((i) => i.args).join("\n"), /EXECUTION_PROVIDER=cuda/);
        if (variant === "-cuda") assert.equal(byName.get(stage.from)?.from, `$${"{CUDA_IMAGE}"}`);
      });
    }
  }

  test("every COPY from the build context exists and passes the .dockerignore", (t) => {
    const ignore = readFileSync(join(REPO_ROOT, "deploy", "Dockerfile.dockerignore"), "utf8");
    const missing: string[] = [];
    for (const stage of STAGES) {
      for (const i of stage.instructions.filter((x) => x.keyword === "COPY" && !x.flags.from)) {
        const sources = i.args.split(/\s+/).slice(0, -1);
        for (const source of sources) {
          assert.ok(included(source, ignore), `${source} is excluded by the .dockerignore`);
          if (!existsSync(join(REPO_ROOT, source))) missing.push(source);
        }
      }
    }
    assert.ok(
      !included("node_modules", ignore) && !included(".data/pglite", ignore) && !included("dist", ignore),
    );
    assert.ok(!included("shared/config/config.test.ts", ignore));
    if (missing.length > 0) {
      assert.deepEqual(
        [...new Set(missing)],
        ["models"],
        "only the model kit may be missing (it comes with the modelkit branch)",
      );
      t.diagnostic("models/ is not in this tree yet: images build once the model kit is merged");
    }
  });
});
