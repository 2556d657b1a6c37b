/**
 * Helpers of the deployment tests: rendered overlays, schema classes for every kind, the environment a
 * container gets, and what each diffda process really reads and serves, taken from the code itself.
 */
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { pathToFileURL } from "node:url";
import * as keda from "@kubernetes-models/keda/keda.sh/v1alpha1";
import * as monitoring from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import * as apps from "kubernetes-models/apps/v1";
import * as autoscaling from "kubernetes-models/autoscaling/v2";
import * as networking from "kubernetes-models/networking.k8s.io/v1";
import * as policy from "kubernetes-models/policy/v1";
import * as core from "kubernetes-models/v1";
import { type K8sObject, overlayDirs, REPO_ROOT, renderKustomization } from "../../deploy/kustomize.js";
import { type ConfigSchema, type Field, serviceEnv } from "../../shared/config/index.js";

export { type K8sObject, REPO_ROOT };

/** The overlays under k8s/overlays, rendered once. */
export const OVERLAYS: ReadonlyMap<string, K8sObject[]> = new Map(
  overlayDirs(join(REPO_ROOT, "k8s")).map((dir) => [basename(dir), renderKustomization(dir)]),
);

type ModelClass = { new (data: object): { validate(): void }; apiVersion: string; kind: string };

/** Schema-carrying model classes by `apiVersion/kind`: Kubernetes, KEDA and prometheus-operator. */
export const MODELS: ReadonlyMap<string, ModelClass> = (() => {
  const map = new Map<string, ModelClass>();
  for (const namespace of [core, apps, autoscaling, networking, policy, keda, monitoring]) {
    for (const value of Object.values(namespace) as unknown[]) {
      if (typeof value !== "function") continue;
      const model = value as unknown as Partial<ModelClass>;
      if (typeof model.apiVersion === "string" && typeof model.kind === "string") {
        map.set(`${model.apiVersion}/${model.kind}`, model as ModelClass);
      }
    }
  }
  return map;
})();

/** Objects of one kind (and name, if given) in a rendering. */
export function find(objects: readonly K8sObject[], kind: string, name?: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

/** The one object of a kind and name; throws when absent. */
export function get(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const [o] = find(objects, kind, name);
  if (!o) throw new Error(`no ${kind} ${name}`);
  return o;
}

// Minimal typings of the pod template fields the tests read.
export interface Probe {
  grpc?: { port: number; service?: string };
  httpGet?: { path: string; port: number | string };
  exec?: { command: string[] };
  periodSeconds?: number;
  failureThreshold?: number;
}
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    configMapKeyRef?: { name: string; key: string };
    secretKeyRef?: { name: string; key: string };
    resourceFieldRef?: { resource: string; divisor?: string };
  };
}
export interface Container {
  name: string;
  image: string;
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
}
export interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  nodeSelector?: Record<string, string>;
  tolerations?: { key?: string; operator?: string; effect?: string }[];
}

/** The pod template of a Deployment or StatefulSet. */
export function podOf(o: K8sObject): { labels: Record<string, string>; spec: PodSpec } {
  const spec = o.spec as { template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
  return { labels: spec.template.metadata.labels, spec: spec.template.spec };
}

/** A CPU quantity ("2", "500m") in cores. */
export function cpuCores(quantity: string | number): number {
  const text = String(quantity);
  return text.endsWith("m") ? Number(text.slice(0, -1)) / 1000 : Number(text);
}

/** Where a container's variable comes from: a literal, a Secret (value unknown here), or a resource. */
export type EnvSource = { kind: "value"; value: string } | { kind: "secret"; secret: string; key: string };

/**
 * The environment a container gets: ConfigMaps by envFrom and configMapKeyRef (looked up in the same
 * rendering; a missing one throws), literal values, Secrets (marked, since their values are not in
 * the manifests) and resourceFieldRef (computed as the kubelet does: the limit over the divisor, rounded
 * up). Later entries win, and `env` wins over `envFrom`, as in Kubernetes.
 */
export function containerEnv(objects: readonly K8sObject[], container: Container): Map<string, EnvSource> {
  const env = new Map<string, EnvSource>();
  const configMap = (name: string) => {
    const [cm] = find(objects, "ConfigMap", name);
    if (!cm) throw new Error(`container ${container.name} names ConfigMap ${name}, which is not rendered`);
    return (cm.data ?? {}) as Record<string, string>;
  };
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) {
      for (const [k, v] of Object.entries(configMap(from.configMapRef.name)))
        env.set(k, { kind: "value", value: v });
    } else {
      throw new Error(`container ${container.name}: envFrom other than a ConfigMap is not expected`);
    }
  }
  for (const v of container.env ?? []) {
    const from = v.valueFrom;
    if (v.value !== undefined) env.set(v.name, { kind: "value", value: v.value });
    else if (from?.configMapKeyRef) {
      const value = configMap(from.configMapKeyRef.name)[from.configMapKeyRef.key];
      if (value === undefined)
        throw new Error(`${v.name}: ConfigMap key ${from.configMapKeyRef.key} missing`);
      env.set(v.name, { kind: "value", value });
    } else if (from?.secretKeyRef) {
      env.set(v.name, { kind: "secret", secret: from.secretKeyRef.name, key: from.secretKeyRef.key });
    } else if (from?.resourceFieldRef) {
      const { resource, divisor = "1" } = from.resourceFieldRef;
      const [section, name] = resource.split(".") as ["limits" | "requests", string];
      const quantity = container.resources?.[section]?.[name];
      if (quantity === undefined) throw new Error(`${v.name}: ${resource} is not set on ${container.name}`);
      env.set(v.name, { kind: "value", value: String(Math.ceil(cpuCores(quantity) / cpuCores(divisor))) });
    } else {
      throw new Error(`${v.name}: unexpected env source`);
    }
  }
  return env;
}

/** Literal values of an environment (Secrets left out). */
export function literalEnv(env: ReadonlyMap<string, EnvSource>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of env) if (v.kind === "value") out[k] = v.value;
  return out;
}

/** What a diffda process reads from its environment, per the code. */
export interface ProcessConfig {
  /** "gateway", "generation", "finetune", "classifier". */
  readonly name: string;
  /** Its configuration schema (every variable validated at boot). */
  readonly schema: ConfigSchema;
  /** Variables read outside the schema (the store's and the dataset cache's), found by recording reads. */
  readonly extraReads: ReadonlySet<string>;
  /** Default ports when the process is a gRPC service. */
  readonly ports?: { grpcPort: number; metricsPort: number };
}

/** Whether a variable of a schema must be set (no default, not optional). */
export function isRequired(field: Field<unknown>): boolean {
  return field.default === undefined && !field.optional;
}

/**
 * Runs `read` against an environment that records every variable looked up, and returns their names.
 * `process.env` is swapped for the recorder meanwhile, for code that reads it directly.
 */
export function recordReads(read: (env: Record<string, string | undefined>) => void): Set<string> {
  const names = new Set<string>();
  const recorder = new Proxy({} as Record<string, string | undefined>, {
    get(_target, key) {
      if (typeof key === "string") names.add(key);
      return undefined;
    },
  });
  const saved = process.env;
  process.env = recorder as NodeJS.ProcessEnv;
  try {
    read(recorder);
  } finally {
    process.env = saved;
  }
  return names;
}

/** The gateway's configuration: its schema plus what the store and the dataset loader read. */
export async function gatewayConfig(): Promise<ProcessConfig> {
  const { GATEWAY_ENV } = await import("../../services/gateway/src/config.js");
  const { databaseConfigFromEnv } = await import("../../services/gateway/src/store/index.js");
  const { datasetCacheDir } = await import("../../shared/data/index.js");
  const { S3_CREDENTIAL_ENV } = await import("../../services/gateway/src/open-blob-store.js");
  const extraReads = recordReads((env) => {
    databaseConfigFromEnv(env);
    datasetCacheDir();
  });
  // The AWS SDK reads its credentials from process.env itself (the S3 artifact store).
  for (const name of S3_CREDENTIAL_ENV) extraReads.add(name);
  for (const name of Object.keys(GATEWAY_ENV)) extraReads.delete(name);
  return { name: "gateway", schema: GATEWAY_ENV, extraReads };
}

/**
 * A gRPC service's configuration from `services/<name>/src/config.ts` (its `*_ENV` schema and `*_PORTS`
 * defaults, with the host's variables), or undefined while that service is not in this tree.
 */
export async function serviceConfig(name: string): Promise<ProcessConfig | undefined> {
  const file = join(REPO_ROOT, "services", name, "src", "config.ts");
  if (!existsSync(file)) return undefined;
  const module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  const envKey = Object.keys(module).find((k) => k.endsWith("_ENV"));
  const portsKey = Object.keys(module).find((k) => k.endsWith("_PORTS"));
  if (!envKey || !portsKey) throw new Error(`${file} exports no *_ENV schema or *_PORTS`);
  const ports = module[portsKey] as { grpcPort: number; metricsPort: number };
  return {
    name,
    schema: { ...serviceEnv(ports), ...(module[envKey] as ConfigSchema) },
    extraReads: new Set(),
    ports,
  };
}

/** The diffda process an image runs: `diffda/<process>:<tag>`, or undefined for other images. */
export function processOfImage(image: string): string | undefined {
  return /^diffda\/([a-z]+)(?::|@|$)/.exec(image)?.[1];
}

/** The four processes diffda deploys. */
export const PROCESSES = ["gateway", "generation", "finetune", "classifier"] as const;
