/**
 * The gateway's schema validators: one ajv for JSON bodies that never coerces, one for the query string,
 * path parameters and headers that coerces, because those arrive as text and their schemas say
 * `integer` or `boolean`. Coercing a body would turn `replaceProbability: null` into 0, `shardSize: true`
 * into 1 and `seeds: null` into `[0]` and accept them: a wrong type in JSON is the caller's bug and gets a
 * 400 naming the field instead. Both report every issue at once, fill in schema defaults and refuse
 * unknown fields rather than dropping them.
 */
import { Ajv, type Options, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import type { FastifySchema, FastifySchemaCompiler } from "fastify";

const COMMON: Options = { allErrors: true, useDefaults: true, removeAdditional: false, addUsedSchema: false };

function ajvWith(coerceTypes: Options["coerceTypes"]): Ajv {
  const ajv = new Ajv({ ...COMMON, coerceTypes });
  addFormats.default(ajv);
  return ajv;
}

/** The pointer of the first number in `data` that is not finite, or undefined. */
function nonFinite(data: unknown, pointer = ""): string | undefined {
  if (typeof data === "number") return Number.isFinite(data) ? undefined : pointer;
  if (typeof data !== "object" || data === null) return undefined;
  for (const [key, value] of Object.entries(data)) {
    const found = nonFinite(value, `${pointer}/${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Compiles a text-part schema, refusing what coercion turned into a non-finite number: ajv coerces
 * `?limit=1e999` to Infinity and then passes it as an integer under `maximum: 1000`, and the store cannot
 * take Infinity as a row count.
 */
function compileText(ajv: Ajv, schema: object): ValidateFunction {
  const validate = ajv.compile(schema);
  const checked = ((data: unknown) => {
    if (!validate(data)) {
      checked.errors = validate.errors;
      return false;
    }
    const at = nonFinite(data);
    checked.errors =
      at === undefined
        ? null
        : [
            {
              instancePath: at,
              schemaPath: "#",
              keyword: "type",
              params: {},
              message: "must be a finite number",
            },
          ];
    return at === undefined;
  }) as ValidateFunction;
  return checked;
}

/** A fastify validator compiler: strict JSON bodies, coerced text parts. */
export function createValidatorCompiler(): FastifySchemaCompiler<FastifySchema> {
  const body = ajvWith(false);
  // "array" also lets `?status=running` stand for a one-element array, as the query schemas document.
  const text = ajvWith("array");
  return ({ schema, httpPart }) =>
    httpPart === "body"
      ? (body.compile(schema as object) as ValidateFunction)
      : compileText(text, schema as object);
}
