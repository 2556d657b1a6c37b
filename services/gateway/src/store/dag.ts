/** Checks a job's task list before it is stored: a non-empty, acyclic graph over unique keys. */
import { StoreError } from "./errors.js";

/** What {@link validateDag} needs of a task. */
export interface DagNode {
  key: string;
  dependsOn?: readonly string[];
}

/**
 * Throws `invalid_dag` unless keys are non-empty and unique, every dependency names another task of the
 * same list, and there is no cycle. Returns the keys in a topological order (dependencies first).
 */
export function validateDag(nodes: readonly DagNode[]): string[] {
  if (nodes.length === 0) throw new StoreError("invalid_dag", "a job needs at least one task");
  const deps = new Map<string, readonly string[]>();
  for (const node of nodes) {
    if (node.key.length === 0) throw new StoreError("invalid_dag", "a task key is empty");
    if (deps.has(node.key)) throw new StoreError("invalid_dag", `duplicate task key ${node.key}`);
    deps.set(node.key, node.dependsOn ?? []);
  }
  const waiting = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const [key, on] of deps) {
    if (new Set(on).size !== on.length)
      throw new StoreError("invalid_dag", `task ${key} repeats a dependency`);
    for (const dep of on) {
      if (dep === key) throw new StoreError("invalid_dag", `task ${key} depends on itself`);
      if (!deps.has(dep)) throw new StoreError("invalid_dag", `task ${key} depends on unknown task ${dep}`);
      dependents.set(dep, [...(dependents.get(dep) ?? []), key]);
    }
    waiting.set(key, on.length);
  }
  // Kahn's algorithm: whatever is never released sits on a cycle.
  const order: string[] = [];
  const ready = [...deps.keys()].filter((key) => waiting.get(key) === 0);
  while (ready.length > 0) {
    const key = ready.shift()!;
    order.push(key);
    for (const next of dependents.get(key) ?? []) {
      const left = waiting.get(next)! - 1;
      waiting.set(next, left);
      if (left === 0) ready.push(next);
    }
  }
  if (order.length !== deps.size) {
    const stuck = [...deps.keys()].filter((key) => !order.includes(key));
    throw new StoreError("invalid_dag", `tasks form a cycle: ${stuck.join(", ")}`);
  }
  return order;
}
