/** The classifier service process: `node --import tsx services/classifier/src/main.ts` (README.md lists the variables). */
import { runService } from "../../../shared/service/index.js";
import { CLASSIFIER_ENV, CLASSIFIER_PORTS } from "./config.js";
import { setupClassifier } from "./service.js";

await runService({
  name: "classifier",
  ports: CLASSIFIER_PORTS,
  schema: CLASSIFIER_ENV,
  setup: setupClassifier,
}).catch(() => {
  // runService logged the failure and set the exit code.
});
