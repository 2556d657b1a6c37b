/**
 * A generation mode's parameters, declared once: the type, the bounds and the description. The gateway's
 * REST schema ({@link restSchema}), the TypeScript types ({@link ValueOf}) and the generation service's
 * wire validation ({@link checkWire}) are all read off the same declaration, so a bound cannot differ
 * between the two sides.
 */
import { type Bounds, countField, intField, numberField, stringField } from "../service/wire/fields.js";

/** A number (proto `optional double`) within bounds. */
export interface NumberParameter {
  readonly type: "number";
  readonly bounds: Bounds;
  readonly description: string;
}

/** An integer (proto `optional uint32`) within bounds. */
export interface IntegerParameter {
  readonly type: "integer";
  readonly bounds: Bounds;
  readonly description: string;
}

/** A switch (proto `bool` or `optional bool`). */
export interface BooleanParameter {
  readonly type: "boolean";
  readonly description: string;
}

/** A list of non-empty texts (proto `repeated string`; empty on the wire: the mode's default list). */
export interface TextsParameter {
  readonly type: "texts";
  readonly maxItems: number;
  readonly maxLength: number;
  readonly description: string;
}

/** One parameter of a mode. Its key is the REST name and the protobuf-es name of the oneof field. */
export type Parameter = NumberParameter | IntegerParameter | BooleanParameter | TextsParameter;

/** The parameters of a mode by name. */
export type Parameters = Readonly<Record<string, Parameter>>;

/** The TypeScript value of a parameter. */
type ValueOf<P extends Parameter> = P extends TextsParameter
  ? string[]
  : P extends BooleanParameter
    ? boolean
    : number;

/** The (optional) values of a parameter set, as a resolved spec or a request holds them. */
export type ValuesOf<P extends Parameters> = { -readonly [K in keyof P]?: ValueOf<P[K]> };

/** A number parameter. */
export const number = (bounds: Bounds, description: string): NumberParameter => ({
  type: "number",
  bounds,
  description,
});

/** An integer parameter. */
export const integer = (bounds: Bounds, description: string): IntegerParameter => ({
  type: "integer",
  bounds,
  description,
});

/** A boolean parameter. */
export const flag = (description: string): BooleanParameter => ({ type: "boolean", description });

/** A list-of-texts parameter. */
export const texts = (maxItems: number, maxLength: number, description: string): TextsParameter => ({
  type: "texts",
  maxItems,
  maxLength,
  description,
});

/** Strength of SDEdit img2img: how far the source is noised (every img2img-based mode shares it). */
export const STRENGTH = number({ min: 0, max: 1, exclusiveMin: true }, "SDEdit noise strength in (0, 1]");

function boundsSchema(bounds: Bounds): Record<string, number> {
  const out: Record<string, number> = {};
  if (bounds.min !== undefined) out[bounds.exclusiveMin ? "exclusiveMinimum" : "minimum"] = bounds.min;
  if (bounds.max !== undefined) out.maximum = bounds.max;
  return out;
}

/** The JSON Schema of a parameter in the gateway's REST API. */
export function restSchema(p: Parameter): Record<string, unknown> {
  switch (p.type) {
    case "number":
    case "integer":
      return { type: p.type, ...boundsSchema(p.bounds), description: p.description };
    case "boolean":
      return { type: "boolean", description: p.description };
    case "texts":
      // JSON can leave a list out, so REST wants a given list non-empty; the wire's empty list is "unset".
      return {
        type: "array",
        minItems: 1,
        maxItems: p.maxItems,
        items: { type: "string", minLength: 1, maxLength: p.maxLength },
        description: p.description,
      };
  }
}

/** snake_case of a camelCase name: the proto field name requests and errors use. */
export function protoFieldName(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * Checks a parameter's wire value (undefined: unset) against its declaration; the first problem is an
 * `invalid_field` RpcError naming `field`. Returns the value (texts copied).
 */
export function checkWire(p: Parameter, value: unknown, field: string): unknown {
  if (value === undefined) return undefined;
  switch (p.type) {
    case "number":
      return numberField(value as number, field, p.bounds);
    case "integer":
      return intField(value as number, field, p.bounds);
    case "boolean":
      return value;
    case "texts": {
      const list = value as readonly string[];
      countField(list, field, { max: p.maxItems });
      return list.map((t, i) => stringField(t, `${field}[${i}]`, { minLength: 1, maxLength: p.maxLength }));
    }
  }
}
