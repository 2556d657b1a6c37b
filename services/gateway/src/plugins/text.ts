/**
 * The text tier: before any route validates its input, every string in the parsed body, the query and
 * the path parameters passes the one text rule (text-rule.ts). A string that breaks it is a
 * `validation_failed` 400 whose `errors[]` names the field, so nothing unstorable reaches the job store.
 */
import { ApiError } from "../errors.js";
import { findTextViolation } from "../text-rule.js";
import { appPlugin } from "./plugin.js";

/** Installs the text rule on every route. */
export const textPlugin = appPlugin("diffda-text", async (app) => {
  app.addHook("preValidation", async (request) => {
    const violation =
      findTextViolation(request.params, "/params") ??
      findTextViolation(request.query, "/query") ??
      findTextViolation(request.body, "/body");
    if (violation) {
      throw new ApiError("validation_failed", `${violation.field} ${violation.message}`, {
        errors: [violation],
      });
    }
  });
});
