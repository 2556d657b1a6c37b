import { RpcError } from "../../rpc/index.js";

/**
 * Field validation for request messages. Every failure is an `invalid_field` RpcError (INVALID_ARGUMENT)
 * whose message starts with the field's path and whose `details.field` holds it, e.g.
 * "spec.hyperparameters.epochs".
 */

/** An `invalid_field` error for `field`. */
export function invalidField(field: string, message: string): RpcError {
  return new RpcError("invalid_field", `${field}: ${message}`, { details: { field } });
}

/** Bounds of a numeric field (inclusive unless `exclusiveMin`). */
export interface Bounds {
  readonly min?: number;
  readonly max?: number;
  /** The minimum itself is not allowed (e.g. strength in (0, 1]). */
  readonly exclusiveMin?: boolean;
}

function describeBounds(b: Bounds): string {
  const lo = b.min === undefined ? "(-inf" : `${b.exclusiveMin ? "(" : "["}${b.min}`;
  const hi = b.max === undefined ? "inf)" : `${b.max}]`;
  return `${lo}, ${hi}`;
}

function inBounds(value: number, b: Bounds): boolean {
  if (b.min !== undefined && (b.exclusiveMin ? value <= b.min : value < b.min)) return false;
  return !(b.max !== undefined && value > b.max);
}

/** An integer in bounds. */
export function intField(value: number, field: string, bounds: Bounds = {}): number {
  if (!Number.isSafeInteger(value) || !inBounds(value, bounds)) {
    throw invalidField(field, `must be an integer in ${describeBounds(bounds)}, got ${value}`);
  }
  return value;
}

/** A finite number in bounds. */
export function numberField(value: number, field: string, bounds: Bounds = {}): number {
  if (!Number.isFinite(value) || !inBounds(value, bounds)) {
    throw invalidField(field, `must be a number in ${describeBounds(bounds)}, got ${value}`);
  }
  return value;
}

/** An optional (proto3 `optional`) integer: `fallback` when unset. */
export function optionalInt<F extends number | undefined>(
  value: number | undefined,
  field: string,
  bounds: Bounds,
  fallback: F,
): number | F {
  return value === undefined ? fallback : intField(value, field, bounds);
}

/** An optional (proto3 `optional`) number: `fallback` when unset. */
export function optionalNumber<F extends number | undefined>(
  value: number | undefined,
  field: string,
  bounds: Bounds,
  fallback: F,
): number | F {
  return value === undefined ? fallback : numberField(value, field, bounds);
}

/** Options of {@link stringField}. */
export interface StringRules {
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: RegExp;
  /** What the pattern means, for the message ("a file name"). */
  readonly patternName?: string;
}

/** A string within length limits (and matching `pattern` when given). */
export function stringField(value: string, field: string, rules: StringRules = {}): string {
  const { minLength = 0, maxLength = 10_000 } = rules;
  if (value.length < minLength) {
    throw invalidField(
      field,
      minLength === 1 ? "must not be empty" : `must hold at least ${minLength} characters`,
    );
  }
  if (value.length > maxLength) throw invalidField(field, `must hold at most ${maxLength} characters`);
  if (rules.pattern && !rules.pattern.test(value)) {
    throw invalidField(field, `must be ${rules.patternName ?? `a string matching ${rules.pattern}`}`);
  }
  return value;
}

/**
 * A value of a protobuf enum: known, and not `*_UNSPECIFIED` (0) unless `allowUnspecified`. `names` maps
 * the enum's numbers to names (the generated enum object).
 */
export function enumField<E extends number>(
  value: E,
  field: string,
  names: Readonly<Record<number, string>>,
  options: { allowUnspecified?: boolean } = {},
): E {
  if (names[value] === undefined) throw invalidField(field, `unknown value ${value}`);
  if (value === 0 && !options.allowUnspecified) throw invalidField(field, "must be set (not UNSPECIFIED)");
  return value;
}

/** A uint64 seed as a safe JavaScript integer (at most 2^53 − 1). */
export function seedField(value: bigint, field: string): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw invalidField(field, `must be at most 2^53 - 1, got ${value}`);
  }
  return Number(value);
}

/** A list's length in bounds. */
export function countField<T>(list: readonly T[], field: string, bounds: Bounds): readonly T[] {
  if (!inBounds(list.length, bounds)) {
    throw invalidField(
      field,
      `must hold a number of entries in ${describeBounds(bounds)}, got ${list.length}`,
    );
  }
  return list;
}

/** A message field that must be present. */
export function required<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw invalidField(field, "is required");
  return value;
}
