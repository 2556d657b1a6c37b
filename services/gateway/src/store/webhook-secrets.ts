/**
 * Webhook signing secrets, one per principal (an API key id, or `local` in the embedded mode): every job
 * a key submits is signed with the key's secret, so a receiver configures one secret per key. Stored in
 * clear (HMAC needs the key itself) and shown only when made: {@link WebhookSecretRepository.rotate}.
 */
import { randomBytes } from "node:crypto";
import type { Database } from "./driver.js";

/** Webhook secrets. */
export class WebhookSecretRepository {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /**
   * Makes a new `whsec_…` secret for `principal`, replacing any previous one (deliveries attempted from
   * now on are signed with it), and returns it: the only time it leaves the store.
   */
  async rotate(principal: string): Promise<{ secret: string; createdAt: Date }> {
    const secret = `whsec_${randomBytes(32).toString("base64")}`;
    const { rows } = await this.#db.query<{ created_at: Date }>(
      `insert into webhook_secrets (principal, secret) values ($1, $2)
       on conflict (principal) do update set secret = excluded.secret, created_at = now()
       returning created_at`,
      [principal, secret],
    );
    return { secret, createdAt: rows[0].created_at };
  }

  /** Whether `principal` has a secret (a job with a webhook needs one). */
  async exists(principal: string): Promise<boolean> {
    const { rows } = await this.#db.query("select 1 from webhook_secrets where principal = $1", [principal]);
    return rows.length > 0;
  }
}
