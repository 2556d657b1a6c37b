import { RpcError } from "../../../../shared/rpc/index.js";
import type { ModelEntry, ModelRegistry } from "../../../../shared/service/index.js";

/** A registry serving `kit` and `clip-b` (resolution fails the way the real one does). */
export const FAKE_REGISTRY: ModelRegistry = (() => {
  const models: ModelEntry[] = [
    { id: "kit", dir: "/models/kit" },
    { id: "clip-b", dir: "/models/clip-b" },
  ];
  return {
    models,
    get: (id) => models.find((m) => m.id === id),
    resolve(name, field) {
      const entry = models.find((m) => m.id === name);
      if (!entry)
        throw new RpcError("model_not_found", `no model "${name}" on this server`, { details: { field } });
      return entry;
    },
  };
})();
