/** Row ids are uuids; ids from requests are checked before they reach SQL (a malformed uuid is a 22P02 error). */
import { StoreError } from "./errors.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `id` is a uuid in its canonical text form. Lookups of anything else find nothing. */
export function isUuid(id: string): boolean {
  return UUID.test(id);
}

/** Throws `invalid_argument` unless `id` (named `name` in the message) is a uuid or null/undefined. */
export function checkUuid(name: string, id: string | null | undefined): void {
  if (id !== null && id !== undefined && !isUuid(id)) {
    throw new StoreError("invalid_argument", `${name} must be a uuid`);
  }
}
