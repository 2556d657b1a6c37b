/** Writes docs/generation-modes.md from the mode declarations (see docs.ts). */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { MODES_DOC, renderModesDoc } from "./docs.js";

const path = join(import.meta.dirname, "../..", MODES_DOC);
writeFileSync(path, renderModesDoc());
console.log(path);
