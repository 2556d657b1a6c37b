/**
 * The gateway process: `node --import tsx services/gateway/src/main.ts`. Configuration comes from the
 * environment (see config.ts and docs/api.md); a bad value stops the process before anything opens.
 * SIGTERM/SIGINT drain: /readyz fails, running tasks get DRAIN_GRACE_MS to finish, the rest are handed
 * back to other replicas, then the server and the store close.
 */
import { ConfigError } from "../../../shared/config/index.js";
import { startGateway } from "./server.js";

try {
  const gateway = await startGateway();
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      gateway.logger.info({ signal }, "draining");
      gateway.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          gateway.logger.error({ err: error }, "unclean shutdown");
          process.exit(1);
        },
      );
    });
  }
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`diffda gateway: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
