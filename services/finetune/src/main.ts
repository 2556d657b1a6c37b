/** The finetune service process: `node --import tsx services/finetune/src/main.ts` with MODEL_DIR set (README.md). */
import { runService } from "../../../shared/service/index.js";
import { FINETUNE_ENV, FINETUNE_PORTS } from "./config.js";
import { setupFinetune } from "./service.js";

await runService({
  name: "finetune",
  ports: FINETUNE_PORTS,
  schema: FINETUNE_ENV,
  setup: setupFinetune,
}).catch(() => {
  // runService logged the failure and set the exit code.
});
