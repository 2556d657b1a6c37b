/**
 * A small, strict kustomize renderer for diffda's own `k8s/` tree, so that CI can render and validate
 * every overlay with nothing but node_modules (no kubectl or kustomize binary on a fresh machine).
 *
 * It implements only what `k8s/` uses, with kustomize's semantics, and refuses everything else with an
 * error instead of rendering something kustomize would render differently:
 *
 * - `resources`: YAML files (one or more documents) and directories holding a `kustomization.yaml`;
 * - `namespace`: sets `metadata.namespace` on every object (all of diffda's kinds are namespaced);
 * - `patches` with a `path` to a strategic-merge patch (the target is named by the patch's own
 *   apiVersion, kind and metadata.name). Maps merge recursively and `null` deletes a key; a list merges
 *   by its patch merge key where Kubernetes declares one (containers and env by `name`, ports by
 *   `containerPort`, …) and is replaced where Kubernetes declares none. A list the table below does not
 *   know is an error, as are `$patch` directives;
 * - `images`: `newName`, `newTag` and `digest` for containers and init containers.
 *
 * `test/deploy/render.test.ts` compares this renderer with `kubectl kustomize` when kubectl is installed.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

/** A Kubernetes object as plain JSON. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown };
  [key: string]: unknown;
}

/** One `images` entry of a kustomization. */
interface ImageRule {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  resources?: string[];
  namespace?: string;
  patches?: { path: string }[];
  images?: ImageRule[];
}

const KNOWN_FIELDS = new Set(["apiVersion", "kind", "resources", "namespace", "patches", "images"]);

/** Thrown when a kustomization uses something this renderer does not implement, or is inconsistent. */
export class KustomizeError extends Error {
  override name = "KustomizeError";
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonMap = { [key: string]: Json };

const isMap = (value: unknown): value is JsonMap =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Reads every document of a YAML file as JSON; empty documents are skipped. */
export function readYamlDocuments(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, "utf8"), { prettyErrors: true });
  const out: unknown[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new KustomizeError(`${file}: ${doc.errors[0].message}`);
    const value = doc.toJS({ maxAliasCount: 0 });
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

function asObject(value: unknown, where: string): K8sObject {
  if (!isMap(value)) throw new KustomizeError(`${where}: a document is not a mapping`);
  const { apiVersion, kind, metadata } = value as Partial<K8sObject>;
  if (typeof apiVersion !== "string" || typeof kind !== "string" || !isMap(metadata)) {
    throw new KustomizeError(`${where}: a document lacks apiVersion, kind or metadata`);
  }
  if (typeof metadata.name !== "string") throw new KustomizeError(`${where}: a ${kind} has no name`);
  return value as unknown as K8sObject;
}

/** `apiVersion/kind/namespace/name`: an object's identity in a rendering. */
export function objectId(o: K8sObject): string {
  return `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
}

// Kinds whose strategic-merge lists are known, and the merge key of each list path (path segments joined
// by "." with "[]" for list items); `null`: the list has no merge key in Kubernetes and is replaced.
const POD_LISTS: Record<string, string | null> = {
  "spec.containers": "name",
  "spec.initContainers": "name",
  "spec.containers[].env": "name",
  "spec.containers[].envFrom": null,
  "spec.containers[].ports": "containerPort",
  "spec.containers[].volumeMounts": "mountPath",
  "spec.containers[].args": null,
  "spec.containers[].command": null,
  "spec.containers[].lifecycle.preStop.exec.command": null,
  "spec.containers[].securityContext.capabilities.drop": null,
  "spec.volumes": "name",
  "spec.tolerations": null,
  "spec.imagePullSecrets": "name",
  "spec.topologySpreadConstraints": "topologyKey",
};

function podListsUnder(prefix: string): Record<string, string | null> {
  return Object.fromEntries(Object.entries(POD_LISTS).map(([path, key]) => [`${prefix}.${path}`, key]));
}

const MERGE_KEYS: Record<string, Record<string, string | null>> = {
  Deployment: podListsUnder("spec.template"),
  StatefulSet: {
    ...podListsUnder("spec.template"),
    "spec.volumeClaimTemplates": "metadata.name",
    "spec.volumeClaimTemplates[].spec.accessModes": null,
  },
  ConfigMap: {},
  Service: { "spec.ports": "port" },
  PersistentVolumeClaim: { "spec.accessModes": null },
  PodDisruptionBudget: {},
  Ingress: { "spec.rules": null, "spec.tls": null },
  ScaledObject: {},
};

function keyOf(item: Json, key: string): Json | undefined {
  let value: Json | undefined = item;
  for (const part of key.split(".")) value = isMap(value) ? value[part] : undefined;
  return value;
}

function mergeValue(kind: string, path: string, base: Json | undefined, patch: Json): Json {
  if (isMap(patch)) {
    if ("$patch" in patch) throw new KustomizeError(`${kind} ${path}: $patch directives are not supported`);
    const out: JsonMap = isMap(base) ? { ...base } : {};
    for (const [k, v] of Object.entries(patch)) {
      if (k.startsWith("$")) throw new KustomizeError(`${kind} ${path}.${k}: directives are not supported`);
      if (v === null) delete out[k];
      else out[k] = mergeValue(kind, path === "" ? k : `${path}.${k}`, out[k], v);
    }
    return out;
  }
  if (Array.isArray(patch)) {
    const table = MERGE_KEYS[kind];
    if (!table || !(path in table)) {
      throw new KustomizeError(`${kind} ${path}: this renderer does not know how kustomize merges that list`);
    }
    const key = table[path];
    if (key === null || !Array.isArray(base)) return patch;
    // As kustomize orders them: the patch's items (merged with the base item of the same key) in the
    // patch's order, then the base items the patch does not name, in their order.
    const ids = new Set<Json | undefined>();
    const merged = patch.map((item) => {
      const id = keyOf(item, key);
      if (id === undefined)
        throw new KustomizeError(`${kind} ${path}: a patch item lacks its merge key ${key}`);
      ids.add(id);
      const existing = base.find((b) => keyOf(b, key) === id);
      return existing === undefined ? item : mergeValue(kind, `${path}[]`, existing, item);
    });
    return [...merged, ...base.filter((b) => !ids.has(keyOf(b, key)))];
  }
  return patch;
}

/** Applies a strategic-merge patch to an object of kind `kind` (exported for tests). */
export function strategicMerge(kind: string, base: object, patch: object): object {
  if (!(kind in MERGE_KEYS)) throw new KustomizeError(`no strategic-merge table for kind ${kind}`);
  return mergeValue(kind, "", base as Json, patch as Json) as object;
}

function applyImages(o: K8sObject, rules: readonly ImageRule[]): void {
  const spec = (o as JsonMap).spec;
  const template = isMap(spec) && isMap(spec.template) ? spec.template.spec : undefined;
  if (!isMap(template)) return;
  for (const list of ["containers", "initContainers"]) {
    const containers = template[list];
    if (!Array.isArray(containers)) continue;
    for (const container of containers) {
      if (!isMap(container) || typeof container.image !== "string") continue;
      const image = container.image;
      const at = image.indexOf("@");
      const withoutDigest = at === -1 ? image : image.slice(0, at);
      const colon = withoutDigest.lastIndexOf(":");
      const hasTag = colon > withoutDigest.lastIndexOf("/");
      const name = hasTag ? withoutDigest.slice(0, colon) : withoutDigest;
      const rule = rules.find((r) => r.name === name);
      if (!rule) continue;
      let tag = hasTag ? withoutDigest.slice(colon) : "";
      let digest = at === -1 ? "" : image.slice(at);
      if (rule.newTag !== undefined) [tag, digest] = [`:${rule.newTag}`, ""];
      if (rule.digest !== undefined) [tag, digest] = ["", `@${rule.digest}`];
      container.image = `${rule.newName ?? name}${tag}${digest}`;
    }
  }
}

function readKustomization(dir: string): Kustomization {
  const file = join(dir, "kustomization.yaml");
  if (!existsSync(file)) throw new KustomizeError(`${dir} has no kustomization.yaml`);
  const [doc, ...rest] = readYamlDocuments(file);
  if (!isMap(doc) || rest.length > 0) throw new KustomizeError(`${file}: expected one mapping`);
  for (const key of Object.keys(doc)) {
    if (!KNOWN_FIELDS.has(key)) throw new KustomizeError(`${file}: field "${key}" is not supported here`);
  }
  return doc as Kustomization;
}

/**
 * Renders the kustomization in `dir` (an overlay or the base) to its list of objects, in resource
 * order. Throws {@link KustomizeError} on anything unsupported, a duplicate object, or a patch whose
 * target is missing.
 */
export function renderKustomization(dir: string): K8sObject[] {
  const root = resolve(dir);
  const k = readKustomization(root);
  const objects: K8sObject[] = [];
  const seen = new Set<string>();
  const add = (o: K8sObject, where: string) => {
    const id = objectId(o);
    if (seen.has(id)) throw new KustomizeError(`${where}: ${id} is defined twice`);
    seen.add(id);
    objects.push(o);
  };
  for (const entry of k.resources ?? []) {
    const path = resolve(root, entry);
    if (!existsSync(path)) throw new KustomizeError(`${root}: resource ${entry} does not exist`);
    if (statSync(path).isDirectory()) {
      for (const o of renderKustomization(path)) add(o, path);
    } else {
      for (const doc of readYamlDocuments(path)) add(asObject(doc, path), path);
    }
  }
  for (const { path: patchPath, ...rest } of k.patches ?? []) {
    if (Object.keys(rest).length > 0 || typeof patchPath !== "string") {
      throw new KustomizeError(`${root}: only patches with a single "path" are supported`);
    }
    const file = resolve(root, patchPath);
    for (const doc of readYamlDocuments(file)) {
      const patch = asObject(doc, file);
      const at = objects.findIndex(
        (o) =>
          o.apiVersion === patch.apiVersion &&
          o.kind === patch.kind &&
          o.metadata.name === patch.metadata.name,
      );
      if (at === -1) {
        throw new KustomizeError(`${relative(root, file)}: no ${patch.kind} ${patch.metadata.name} to patch`);
      }
      objects[at] = strategicMerge(patch.kind, objects[at], patch) as K8sObject;
    }
  }
  if (k.namespace !== undefined) {
    for (const o of objects) o.metadata = { ...o.metadata, namespace: k.namespace };
  }
  if (k.images) for (const o of objects) applyImages(o, k.images);
  return objects;
}

/** The directories under `k8sRoot/overlays` that hold a kustomization (one per overlay). */
export function overlayDirs(k8sRoot: string): string[] {
  const overlays = join(k8sRoot, "overlays");
  return readdirSync(overlays, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(overlays, e.name, "kustomization.yaml")))
    .map((e) => join(overlays, e.name))
    .sort();
}

/** The repository root (the folder above `deploy/`). */
export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
