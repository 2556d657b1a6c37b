/**
 * Marks a function as an application-level plugin: registered with `app.register`, its hooks and
 * decorators apply to the whole app instead of an encapsulated child context (what the fastify-plugin
 * package does, through the `skip-override` symbol fastify documents), and it shows under its name in
 * fastify's plugin tree.
 */
import type { FastifyInstance } from "fastify";

/** An application-level plugin with options `O`. */
export type AppPlugin<O> = (app: FastifyInstance, options: O) => Promise<void>;

/** Returns `fn` marked as an application-level plugin named `name`. */
export function appPlugin<O>(name: string, fn: AppPlugin<O>): AppPlugin<O> {
  const marked = fn as AppPlugin<O> & Record<symbol, unknown>;
  marked[Symbol.for("skip-override")] = true;
  marked[Symbol.for("fastify.display-name")] = name;
  return marked;
}
