import { ConfigError, type ConfigIssue } from "./errors.js";
import type { Field } from "./fields.js";

/** A configuration schema: environment variable names mapped to fields. */
export type ConfigSchema = Readonly<Record<string, Field<unknown>>>;

/** The typed, frozen configuration a schema describes. */
export type ConfigOf<S extends ConfigSchema> = {
  readonly [K in keyof S]: S[K] extends Field<infer T, infer O>
    ? O extends true
      ? T | undefined
      : T
    : never;
};

/**
 * Reads every variable of `schema` from `env` (the process environment by default), applies defaults
 * and returns a frozen object keyed by variable name. Values are trimmed and an empty value counts as
 * unset, as `FOO=` in a manifest usually means "not configured". Variables not in the schema are
 * ignored. Throws one {@link ConfigError} listing every bad variable.
 */
export function loadConfig<S extends ConfigSchema>(
  schema: S,
  env: Readonly<Record<string, string | undefined>> = process.env,
): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  const issues: ConfigIssue[] = [];
  for (const [name, field] of Object.entries(schema)) {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === "") {
      if (field.default !== undefined) out[name] = field.default;
      else if (field.optional) out[name] = undefined;
      else issues.push({ name, expected: field.expected, received: undefined });
      continue;
    }
    const parsed = field.parse(raw);
    if (parsed.ok) out[name] = parsed.value;
    else issues.push({ name, expected: field.expected, received: field.sensitive ? "<redacted>" : raw });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return Object.freeze(out) as ConfigOf<S>;
}
