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

/** A fastify validator compiler: strict JSON bodies, coerced text parts. */
export function createValidatorCompiler(): FastifySchemaCompiler<FastifySchema> {
  const body = ajvWith(false);
  // "array" also lets `?status=running` stand for a one-element array, as the query schemas document.
  const text = ajvWith("array");
  return ({ schema, httpPart }) =>
    (httpPart === "body" ? body : text).compile(schema as object) as ValidateFunction;
}
