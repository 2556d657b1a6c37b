/**
 * Compile-time checks that the CLI's client and the gateway's OpenAPI document agree: every answer the
 * CLI reads is assignable to the type it reads it as, and every request it sends is assignable to what
 * the route accepts. The types on the left are generated from the document (`npm run openapi:client`),
 * so a route whose schema drifts from what the CLI expects fails `npm run typecheck`. Nothing here runs.
 */
import type { components, paths } from "./generated/openapi.js";
import type * as Cli from "./types.js";

type Schemas = components["schemas"];
/** Compiles only when `A` is assignable to `B`. */
type Fits<A extends B, B> = [A, B];
/** The JSON body of a route's answer with `status`. */
type Answer<P extends keyof paths, M extends keyof paths[P], S extends number> = paths[P][M] extends {
  responses: { [K in S]: { content: { "application/json": infer Body } } };
}
  ? Body
  : never;
/** The JSON body a route takes. */
type Body<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  requestBody: { content: { "application/json": infer B } };
}
  ? B
  : never;

/** Answers the CLI reads (api.ts), route by route. */
export type AnswersTheCliReads = [
  Fits<Answer<"/v1/methods", "get", 200>, { items: Cli.MethodPreset[] }>,
  Fits<Answer<"/v1/models", "get", 200>, { items: Cli.ServedModel[] }>,
  Fits<Answer<"/v1/adapters", "get", 200>, Cli.Page<Cli.AdapterResource>>,
  Fits<Answer<"/v1/adapters", "post", 201>, Cli.AdapterResource>,
  Fits<Answer<"/v1/datasets", "post", 201>, Cli.Dataset>,
  Fits<Answer<"/v1/datasets/{id}", "get", 200>, Cli.Dataset>,
  Fits<Answer<"/v1/jobs", "post", 201>, Cli.Job>,
  Fits<Answer<"/v1/jobs/{id}", "get", 200>, Cli.Job>,
  Fits<Answer<"/v1/jobs/{id}/cancel", "post", 200>, Cli.Job>,
  Fits<Answer<"/v1/jobs", "get", 200>, Cli.Page<Cli.JobSummary>>,
  Fits<Answer<"/v1/jobs/{id}/artifacts", "get", 200>, Cli.ArtifactPage>,
  Fits<Schemas["Problem"], Cli.Problem>,
];

/** One of a union's members that has a key `K` (the built-in branch of the dataset body). */
type WithKey<U, K extends PropertyKey> = U extends Record<K, unknown> ? U : never;
type JobBody = Body<"/v1/jobs", "post">;

/**
 * Requests the CLI sends: every field it may set is one the route takes (the CLI forwards user input
 * such as preset names as text and lets the server refuse bad values, so only the field names must fit).
 */
export type RequestsTheCliSends = [
  Fits<keyof Cli.BuiltinDatasetRequest, keyof WithKey<Body<"/v1/datasets", "post">, "builtin">>,
  Fits<keyof Cli.JobRequest, keyof JobBody>,
  Fits<keyof Cli.MethodRequest, keyof JobBody["methods"][number]>,
];
