/**
 * API key administration from a shell, against the configured store (the first admin key has to come
 * from somewhere when no loopback access is open):
 *
 *   node --import tsx services/gateway/src/admin-cli.ts create-key <name> <scopes,comma,separated> [rate/min]
 *   node --import tsx services/gateway/src/admin-cli.ts list-keys
 *   node --import tsx services/gateway/src/admin-cli.ts revoke-key <id>
 *
 * The token of a new key is printed once, on stdout; it is not stored and cannot be shown again.
 */
import { SCOPES } from "./schemas/keys.js";
import { databaseConfigFromEnv, openJobStore } from "./store/index.js";

const [command, ...args] = process.argv.slice(2);
const usage = "usage: admin-cli.ts create-key <name> <scopes> [rate] | list-keys | revoke-key <id>";

async function run(): Promise<number> {
  const store = await openJobStore(databaseConfigFromEnv());
  try {
    switch (command) {
      case "create-key": {
        const [name, scopeList, rate] = args;
        const scopes = (scopeList ?? "").split(",").filter(Boolean);
        if (!name || scopes.length === 0 || scopes.some((s) => !(SCOPES as readonly string[]).includes(s))) {
          process.stderr.write(`${usage}\nscopes: ${SCOPES.join(", ")}\n`);
          return 2;
        }
        const { apiKey, token } = await store.apiKeys.create({
          name,
          scopes,
          rateLimitPerMinute: rate === undefined ? null : Number(rate),
        });
        process.stderr.write(
          `created key ${apiKey.id} (${scopes.join(", ")}); the token is shown only now:\n`,
        );
        process.stdout.write(`${token}\n`);
        return 0;
      }
      case "list-keys":
        for (const key of await store.apiKeys.list()) {
          process.stdout.write(
            `${key.id}\t${key.name}\t${key.scopes.join(",")}\t${key.rateLimitPerMinute ?? "-"}/min\t${key.revokedAt ? "revoked" : "active"}\n`,
          );
        }
        return 0;
      case "revoke-key":
        if (!args[0]) break;
        if (await store.apiKeys.revoke(args[0])) return 0;
        process.stderr.write("no such active key\n");
        return 1;
    }
    process.stderr.write(`${usage}\n`);
    return 2;
  } finally {
    await store.close();
  }
}

process.exitCode = await run();
