/**
 * Field builders of a configuration schema. Each field parses one environment variable: the raw string
 * (already trimmed; an empty value counts as unset) becomes a typed value or a description of what was
 * expected. A field is required unless it has a `default` or is marked `optional`.
 */

/** The result of parsing one raw value: the value, or `undefined` when it does not fit. */
type Parse<T> = (raw: string) => { ok: true; value: T } | { ok: false };

/** One variable of a configuration schema. `O` is true when the field may be absent from the result. */
export interface Field<T, O extends boolean = boolean> {
  /** What a valid value looks like, for error messages: "an integer in [0, 65535]". */
  readonly expected: string;
  /** Parses a non-empty raw value. */
  readonly parse: Parse<T>;
  /** Value used when the variable is unset or empty. */
  readonly default: T | undefined;
  /** True when the variable may be unset without a default (the result holds `undefined`). */
  readonly optional: O;
  /** True when the value must never appear in messages (keys, passwords, tokens). */
  readonly sensitive: boolean;
  /** One line on what the variable is for. */
  readonly description: string | undefined;
}

/** Options every field accepts. */
export interface FieldOptions<T> {
  /** Value when unset; makes the field not required. */
  readonly default?: T;
  /** When true, an unset variable yields `undefined` instead of an error. */
  readonly optional?: boolean;
  /** Keep the raw value out of error messages. */
  readonly sensitive?: boolean;
  /** One line on what the variable is for. */
  readonly description?: string;
}

/** Whether options `O` make a field's value possibly undefined. */
type IsOptional<O> = O extends { optional: true } ? (O extends { default: unknown } ? false : true) : false;

const ok = <T>(value: T) => ({ ok: true as const, value });
const bad = { ok: false as const };

function field<T, O extends FieldOptions<T>>(
  expected: string,
  parse: Parse<T>,
  opts: O | undefined,
): Field<T, IsOptional<O>> {
  return Object.freeze({
    expected,
    parse,
    default: opts?.default,
    optional: (opts?.optional === true && opts.default === undefined) as IsOptional<O>,
    sensitive: opts?.sensitive === true,
    description: opts?.description,
  });
}

function range(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return ` in [${min}, ${max}]`;
  if (min !== undefined) return ` >= ${min}`;
  if (max !== undefined) return ` <= ${max}`;
  return "";
}

/** Options of {@link int} and {@link number}. */
export interface NumberOptions extends FieldOptions<number> {
  /** Smallest accepted value (inclusive). */
  readonly min?: number;
  /** Largest accepted value (inclusive). */
  readonly max?: number;
}

const INT = /^[+-]?\d+$/;

/** A safe integer written in decimal, optionally bounded. */
export function int<const O extends NumberOptions = NumberOptions & { optional?: false }>(
  opts?: O,
): Field<number, IsOptional<O>> {
  const { min, max } = opts ?? {};
  return field(
    `an integer${range(min, max)}`,
    (raw) => {
      if (!INT.test(raw)) return bad;
      const value = Number(raw);
      if (!Number.isSafeInteger(value)) return bad;
      if ((min !== undefined && value < min) || (max !== undefined && value > max)) return bad;
      return ok(value);
    },
    opts,
  );
}

/** A finite decimal number, optionally bounded. */
export function number<const O extends NumberOptions = NumberOptions & { optional?: false }>(
  opts?: O,
): Field<number, IsOptional<O>> {
  const { min, max } = opts ?? {};
  return field(
    `a number${range(min, max)}`,
    (raw) => {
      const value = Number(raw);
      if (!Number.isFinite(value)) return bad;
      if ((min !== undefined && value < min) || (max !== undefined && value > max)) return bad;
      return ok(value);
    },
    opts,
  );
}

/** Options of {@link string}. */
export interface StringOptions extends FieldOptions<string> {
  /** Smallest accepted length. */
  readonly minLength?: number;
  /** Largest accepted length. */
  readonly maxLength?: number;
  /** A pattern the whole value must match. */
  readonly pattern?: RegExp;
}

/** Any string, optionally constrained by length or pattern. */
export function string<const O extends StringOptions = StringOptions & { optional?: false }>(
  opts?: O,
): Field<string, IsOptional<O>> {
  const { minLength, maxLength, pattern } = opts ?? {};
  const parts = [
    minLength !== undefined || maxLength !== undefined ? `of length${range(minLength, maxLength)}` : "",
    pattern ? `matching ${pattern}` : "",
  ].filter(Boolean);
  return field(
    `a string${parts.length ? ` ${parts.join(" ")}` : ""}`,
    (raw) => {
      if (minLength !== undefined && raw.length < minLength) return bad;
      if (maxLength !== undefined && raw.length > maxLength) return bad;
      if (pattern && !new RegExp(`^(?:${pattern.source})$`, pattern.flags).test(raw)) return bad;
      return ok(raw);
    },
    opts,
  );
}

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off"]);

/** A boolean: true/false, 1/0, yes/no or on/off, in any case. */
export function bool<const O extends FieldOptions<boolean> = FieldOptions<boolean> & { optional?: false }>(
  opts?: O,
): Field<boolean, IsOptional<O>> {
  return field(
    "a boolean (true/false, 1/0, yes/no, on/off)",
    (raw) => {
      const lower = raw.toLowerCase();
      if (TRUE.has(lower)) return ok(true);
      if (FALSE.has(lower)) return ok(false);
      return bad;
    },
    opts,
  );
}

/** One of a fixed list of strings (case-sensitive). */
export function oneOf<
  const V extends readonly [string, ...string[]],
  const O extends FieldOptions<V[number]> = FieldOptions<V[number]> & { optional?: false },
>(values: V, opts?: O): Field<V[number], IsOptional<O>> {
  const allowed = new Set<string>(values);
  return field(`one of ${values.join(", ")}`, (raw) => (allowed.has(raw) ? ok(raw as V[number]) : bad), opts);
}

/** Options of {@link url}. */
export interface UrlOptions extends FieldOptions<string> {
  /** Accepted schemes with their colon, e.g. ["http:", "https:"]; any when omitted. */
  readonly protocols?: readonly string[];
}

/** An absolute URL (kept as the string given), optionally restricted to some schemes. */
export function url<const O extends UrlOptions = UrlOptions & { optional?: false }>(
  opts?: O,
): Field<string, IsOptional<O>> {
  const protocols = opts?.protocols;
  return field(
    `an absolute URL${protocols ? ` (${protocols.join(" ")})` : ""}`,
    (raw) => {
      if (!URL.canParse(raw)) return bad;
      if (protocols && !protocols.includes(new URL(raw).protocol)) return bad;
      return ok(raw);
    },
    opts,
  );
}

/** Options of {@link list}. */
export interface ListOptions<T> extends FieldOptions<readonly T[]> {
  /** Separator between items; "," when omitted. Items are trimmed and empty items dropped. */
  readonly separator?: string;
  /** Fewest items accepted. */
  readonly minItems?: number;
}

/**
 * A separated list whose items each parse with `item` (a field built by another builder, whose own
 * default and optional flags are ignored). The result is a frozen array.
 */
export function list<T, const O extends ListOptions<T> = ListOptions<T> & { optional?: false }>(
  item: Field<T>,
  opts?: O,
): Field<readonly T[], IsOptional<O>> {
  const separator = opts?.separator ?? ",";
  const minItems = opts?.minItems ?? 0;
  return field(
    `a "${separator}"-separated list${minItems ? ` of at least ${minItems}` : ""} of ${item.expected}`,
    (raw) => {
      const items: T[] = [];
      for (const part of raw.split(separator)) {
        const text = part.trim();
        if (text === "") continue;
        const parsed = item.parse(text);
        if (!parsed.ok) return bad;
        items.push(parsed.value);
      }
      if (items.length < minItems) return bad;
      return ok(Object.freeze(items));
    },
    opts,
  );
}
