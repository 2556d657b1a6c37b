import { Worker, type WorkerOptions } from "node:worker_threads";

/**
 * Starts a worker thread on a module given by URL. Running from TypeScript sources (tsx), Node 20 does not
 * apply `--import tsx` to a worker's entry module, so a small bootstrap registers tsx in the worker first
 * (as shared/ml/runtime does for its runners); compiled `.js` modules start directly.
 */
export function startModuleWorker(module: URL, options: Omit<WorkerOptions, "eval"> = {}): Worker {
  if (!module.pathname.endsWith(".ts")) return new Worker(module, options);
  const tsx = import.meta.resolve("tsx/esm/api");
  const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(module.href)}); })`;
  return new Worker(bootstrap, { ...options, eval: true });
}
