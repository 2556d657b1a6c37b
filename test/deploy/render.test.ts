/**
 * Every overlay renders, every rendered object validates against its JSON schema (Kubernetes 1.27 via
 * kubernetes-models, KEDA, prometheus-operator), and the offline renderer agrees with kustomize itself
 * wherever kubectl is installed.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parseAllDocuments } from "yaml";
import {
  KustomizeError,
  objectId,
  overlayDirs,
  renderKustomization,
  strategicMerge,
} from "../../deploy/kustomize.js";
import { find, type K8sObject, MODELS, OVERLAYS, REPO_ROOT } from "./support.js";

function kubectlKustomize(dir: string): K8sObject[] | undefined {
  try {
    const out = execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8", stdio: "pipe" });
    return parseAllDocuments(out).map((d) => d.toJS() as K8sObject);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

const HAS_KUBECTL = (() => {
  try {
    execFileSync("kubectl", ["version", "--client"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

describe("overlays render", () => {
  test("there are exactly the cpu and gpu overlays, each with the four processes", () => {
    assert.deepEqual([...OVERLAYS.keys()], ["cpu", "gpu"]);
    for (const [name, objects] of OVERLAYS) {
      const deployments = find(objects, "Deployment").map((d) => d.metadata.name);
      assert.deepEqual(
        deployments.sort(),
        ["diffda-classifier", "diffda-finetune", "diffda-gateway", "diffda-generation"],
        name,
      );
      for (const o of objects) assert.equal(o.metadata.namespace, "diffda", `${name}: ${objectId(o)}`);
    }
  });

  test("cpu runs Postgres in the cluster; gpu uses an external one", () => {
    const cpu = OVERLAYS.get("cpu")!;
    const gpu = OVERLAYS.get("gpu")!;
    assert.equal(find(cpu, "StatefulSet", "diffda-postgres").length, 1);
    const service = find(cpu, "Service", "diffda-postgres")[0] as K8sObject & {
      spec: { clusterIP?: string };
    };
    assert.equal(service.spec.clusterIP, "None");
    assert.equal(find(gpu, "StatefulSet").length, 0);
  });

  test("every rendered object validates against its schema", () => {
    for (const [name, objects] of OVERLAYS) {
      for (const o of objects) {
        const Model = MODELS.get(`${o.apiVersion}/${o.kind}`);
        assert.ok(Model, `${name}: no schema for ${o.apiVersion} ${o.kind}`);
        assert.doesNotThrow(() => new Model(o).validate(), `${name}: ${objectId(o)}`);
      }
    }
  });

  test("validation is real: a wrong type, a missing field and a wrong enum are refused", () => {
    const deployment = structuredClone(find(OVERLAYS.get("cpu")!, "Deployment", "diffda-generation")[0]);
    const Model = MODELS.get("apps/v1/Deployment")!;
    const container = (deployment.spec as { template: { spec: { containers: Record<string, unknown>[] } } })
      .template.spec.containers[0];
    container.ports = [{ name: "grpc", containerPort: "50052" }];
    assert.throws(() => new Model(deployment).validate(), /containerPort/);
    const monitor = structuredClone(find(OVERLAYS.get("cpu")!, "ServiceMonitor")[0]);
    delete (monitor.spec as Record<string, unknown>).selector;
    const ServiceMonitor = MODELS.get("monitoring.coreos.com/v1/ServiceMonitor")!;
    assert.throws(() => new ServiceMonitor(monitor).validate());
    const scaled = structuredClone(find(OVERLAYS.get("cpu")!, "ScaledObject")[0]);
    (scaled.spec as Record<string, unknown>).minReplicaCount = "one";
    const ScaledObject = MODELS.get("keda.sh/v1alpha1/ScaledObject")!;
    assert.throws(() => new ScaledObject(scaled).validate());
  });

  test("the offline renderer gives exactly what kubectl kustomize gives", {
    skip: HAS_KUBECTL ? false : "kubectl is not installed here (docs/deploy.md: CI renders offline)",
  }, () => {
    for (const dir of overlayDirs(join(REPO_ROOT, "k8s"))) {
      const theirs = kubectlKustomize(dir)!;
      const ours = new Map(renderKustomization(dir).map((o) => [objectId(o), o]));
      assert.deepEqual(theirs.map(objectId).sort(), [...ours.keys()].sort(), dir);
      for (const o of theirs) assert.deepEqual(ours.get(objectId(o)), o, `${dir}: ${objectId(o)}`);
    }
  });
});

describe("the offline renderer follows kustomize and refuses what it does not implement", () => {
  const base = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "d" },
    spec: {
      template: {
        spec: {
          containers: [
            {
              name: "a",
              env: [
                { name: "A", value: "1" },
                { name: "B", value: "2" },
              ],
              args: ["x", "y"],
            },
            { name: "b" },
          ],
          tolerations: [{ key: "t", operator: "Exists" }],
        },
      },
    },
  };

  test("lists with a merge key merge by it; lists without one are replaced; null deletes", () => {
    const merged = strategicMerge("Deployment", base, {
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: "a",
                env: [
                  { name: "C", value: "3" },
                  { name: "B", value: "b" },
                ],
                args: ["z"],
              },
            ],
            tolerations: [{ key: "u", operator: "Exists" }],
          },
        },
      },
      metadata: { name: "d", labels: null },
    }) as typeof base;
    const [a, b] = merged.spec.template.spec.containers;
    assert.deepEqual(a.env, [
      { name: "C", value: "3" },
      { name: "B", value: "b" },
      { name: "A", value: "1" },
    ]);
    assert.deepEqual(a.args, ["z"]);
    assert.deepEqual(b, { name: "b" });
    assert.deepEqual(merged.spec.template.spec.tolerations, [{ key: "u", operator: "Exists" }]);
  });

  test("unknown lists, directives and kustomization fields are errors", () => {
    assert.throws(
      () => strategicMerge("Deployment", base, { spec: { template: { spec: { hostAliases: [] } } } }),
      KustomizeError,
    );
    assert.throws(
      () => strategicMerge("Deployment", base, { spec: { $patch: "replace" } }),
      /directives are not supported/,
    );
    assert.throws(() => strategicMerge("CronJob", base, {}), /no strategic-merge table/);
    const dir = mkdtempSync(join(tmpdir(), "diffda-kustomize-"));
    try {
      writeFileSync(join(dir, "kustomization.yaml"), "commonLabels: {a: b}\n");
      assert.throws(() => renderKustomization(dir), /field "commonLabels" is not supported/);
      writeFileSync(join(dir, "kustomization.yaml"), "resources: [d.yaml, d.yaml]\n");
      writeFileSync(join(dir, "d.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n");
      assert.throws(() => renderKustomization(dir), /defined twice/);
      writeFileSync(join(dir, "kustomization.yaml"), "resources: [d.yaml]\npatches: [{path: p.yaml}]\n");
      writeFileSync(join(dir, "p.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n");
      assert.throws(() => renderKustomization(dir), /no ConfigMap other to patch/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("images: a new tag replaces the tag, a digest replaces both", () => {
    const dir = mkdtempSync(join(tmpdir(), "diffda-kustomize-"));
    try {
      writeFileSync(
        join(dir, "d.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers:\n        - {name: a, image: 'diffda/generation:0.1.0'}\n        - {name: b, image: 'other/x:1'}\n",
      );
      writeFileSync(
        join(dir, "kustomization.yaml"),
        "resources: [d.yaml]\nimages:\n  - {name: diffda/generation, newTag: 0.2.0-cuda}\n  - {name: other/x, newName: reg/x, digest: 'sha256:abc'}\n",
      );
      const [d] = renderKustomization(dir) as (K8sObject & {
        spec: { template: { spec: { containers: { image: string }[] } } };
      })[];
      assert.deepEqual(
        d.spec.template.spec.containers.map((c) => c.image),
        ["diffda/generation:0.2.0-cuda", "reg/x@sha256:abc"],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
