import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { validateDag } from "./dag.js";
import { StoreError } from "./errors.js";

const invalid = (fn: () => unknown, pattern: RegExp) =>
  assert.throws(
    fn,
    (e: unknown) => e instanceof StoreError && e.code === "invalid_dag" && pattern.test(e.message),
  );

describe("validateDag", () => {
  it("orders dependencies before their dependents", () => {
    const order = validateDag([
      { key: "evaluate", dependsOn: ["train:aug", "train:base"] },
      { key: "train:aug", dependsOn: ["generate:0", "generate:1"] },
      { key: "train:base" },
      { key: "generate:1", dependsOn: ["finetune"] },
      { key: "generate:0", dependsOn: ["finetune"] },
      { key: "finetune" },
    ]);
    const at = (key: string) => order.indexOf(key);
    assert.equal(order.length, 6);
    assert.ok(at("finetune") < at("generate:0") && at("generate:0") < at("train:aug"));
    assert.ok(at("train:base") < at("evaluate") && at("train:aug") < at("evaluate"));
  });

  it("rejects empty graphs, empty or duplicate keys, unknown or repeated dependencies and cycles", () => {
    invalid(() => validateDag([]), /at least one/);
    invalid(() => validateDag([{ key: "" }]), /empty/);
    invalid(() => validateDag([{ key: "a" }, { key: "a" }]), /duplicate task key a/);
    invalid(() => validateDag([{ key: "a", dependsOn: ["b"] }]), /unknown task b/);
    invalid(() => validateDag([{ key: "a", dependsOn: ["a"] }]), /itself/);
    invalid(() => validateDag([{ key: "a" }, { key: "b", dependsOn: ["a", "a"] }]), /repeats/);
    invalid(
      () =>
        validateDag([
          { key: "root" },
          { key: "a", dependsOn: ["root", "c"] },
          { key: "b", dependsOn: ["a"] },
          { key: "c", dependsOn: ["b"] },
        ]),
      /cycle: a, b, c/,
    );
  });
});
