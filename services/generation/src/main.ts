/**
 * The generation service process: `node --import tsx services/generation/src/main.ts` with MODEL_DIR set
 * (see README.md for every variable).
 */
import { runService } from "../../../shared/service/index.js";
import { GENERATION_ENV, GENERATION_PORTS } from "./config.js";
import { setupGeneration } from "./service.js";

await runService({
  name: "generation",
  ports: GENERATION_PORTS,
  schema: GENERATION_ENV,
  setup: setupGeneration,
}).catch(() => {
  // runService logged the failure and set the exit code.
});
