/** The answer of `GET /v1/usage`. */
const countAndBytes = {
  type: "object",
  required: ["count", "bytes"],
  properties: { count: { type: "integer", minimum: 0 }, bytes: { type: "integer", minimum: 0 } },
  additionalProperties: false,
} as const;

/** The response of `GET /v1/usage`. */
export const usageSchema = {
  type: "object",
  required: ["scope", "datasets", "jobs", "distinctBytes"],
  properties: {
    scope: { type: "string", enum: ["key", "all"], description: "`all` for the local admin without a key" },
    datasets: {
      ...countAndBytes,
      description: "uploaded datasets and the bytes of their images and manifests",
    },
    jobs: { ...countAndBytes, description: "jobs and the bytes of their artifacts" },
    distinctBytes: {
      type: "integer",
      minimum: 0,
      description: "bytes of the distinct blobs behind both (identical content is stored once)",
    },
  },
  additionalProperties: false,
} as const;
