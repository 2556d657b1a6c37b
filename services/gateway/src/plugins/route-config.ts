/**
 * What routes declare in their `config` for the plugins: the scope the auth plugin checks, and the
 * OpenAPI metadata the document generator reads.
 */
import type { Scope } from "../schemas/keys.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Scope an API key needs; absent: a public route (health, metrics, the OpenAPI document). */
    scope?: Scope;
    /** OpenAPI: the operation's stable name (generated clients name their methods by it). */
    operationId?: string;
    /** OpenAPI: a one-line summary, a longer description, and the tag that groups the route. */
    summary?: string;
    description?: string;
    tag?: string;
    /** OpenAPI: media type of a non-JSON 200 answer (event stream, zip, octet stream). */
    produces?: string;
  }
}
