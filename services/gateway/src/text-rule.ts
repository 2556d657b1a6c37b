/**
 * The one rule for text that reaches the job store: every string the API accepts — body fields at any
 * depth, query values, path parameters — is well-formed Unicode without control characters other than
 * tab, line feed and carriage return. PostgreSQL cannot store U+0000 at all (the insert fails), and a lone
 * surrogate would be rewritten to U+FFFD on its way to the database, so the stored text would silently
 * differ from what the caller sent; the other C0 controls and DEL have no business in names, prompts or
 * keys. Checking here, before validation, means a bad string is a 400 naming its field on every route,
 * and no route has to remember the rule.
 */

/** C0 controls except TAB (09), LF (0A) and CR (0D), and DEL (7F). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const FORBIDDEN_CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

/** In a `u` regex a surrogate pair is one code point, so only a lone half matches this class. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Why `text` breaks the rule, or undefined when it is fine. */
function textViolation(text: string): string | undefined {
  const control = FORBIDDEN_CONTROL.exec(text);
  if (control) {
    const hex = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    return `must not contain the control character U+${hex} (at index ${control.index})`;
  }
  if (LONE_SURROGATE.test(text)) return "must be well-formed Unicode (it has a lone surrogate)";
  return undefined;
}

/** One string that breaks the rule: where it is (a JSON Pointer under `root`) and why. */
export interface TextViolation {
  field: string;
  message: string;
}

function escapePointer(key: string): string {
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** How deep a JSON input may nest: far more than any schema needs, far less than a stack can recurse. */
const MAX_INPUT_DEPTH = 64;

/**
 * The first string under `value` (object keys included) that breaks the rule, depth first; `root` is
 * the pointer prefix of `value`, e.g. "/body". A value nested deeper than `maxDepth` is a violation too:
 * a route without a body schema would otherwise hand a 5,000-deep array to code that recurses over it
 * (the idempotency fingerprint's canonical JSON) and overflow the stack.
 */
export function findTextViolation(
  value: unknown,
  root: string,
  maxDepth = MAX_INPUT_DEPTH,
): TextViolation | undefined {
  const visit = (node: unknown, pointer: string, depth: number): TextViolation | undefined => {
    if (typeof node === "string") {
      const message = textViolation(node);
      return message === undefined ? undefined : { field: pointer || "/", message };
    }
    if (typeof node !== "object" || node === null) return undefined;
    if (depth >= maxDepth) return { field: pointer, message: `nests deeper than ${maxDepth} levels` };
    if (Buffer.isBuffer(node)) return undefined; // a binary body (a zip) is checked entry by entry
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const found = visit(node[i], `${pointer}/${i}`, depth + 1);
        if (found) return found;
      }
      return undefined;
    }
    for (const [key, child] of Object.entries(node)) {
      const keyMessage = textViolation(key);
      const at = `${pointer}/${escapePointer(key)}`;
      if (keyMessage !== undefined) return { field: at, message: `the field name ${keyMessage}` };
      const found = visit(child, at, depth + 1);
      if (found) return found;
    }
    return undefined;
  };
  return visit(value, root, 0);
}
