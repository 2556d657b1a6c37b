/**
 * docs/generation-modes.md, rendered from the mode declarations: the table of modes and each mode's
 * parameters with their bounds, so the reference cannot drift from what the services check.
 */
import type { ModeSpec } from "./mode.js";
import { type Parameter, protoFieldName } from "./parameters.js";
import { MODE_SPECS } from "./specs.js";

/** Where the rendered document lives, relative to the repository root. */
export const MODES_DOC = "docs/generation-modes.md";

function bounds(p: Parameter): string {
  switch (p.type) {
    case "number":
    case "integer": {
      const { min, max, exclusiveMin } = p.bounds;
      return `${min === undefined ? "(−∞" : `${exclusiveMin ? "(" : "["}${min}`}, ${max === undefined ? "∞)" : `${max}]`}`;
    }
    case "boolean":
      return "—";
    case "texts":
      return `≤ ${p.maxItems} texts of 1–${p.maxLength} characters`;
  }
}

function parameterTable(mode: ModeSpec): string[] {
  const entries = Object.entries(mode.parameters);
  if (entries.length === 0) return ["No parameters of its own."];
  return [
    "| parameter (REST) | proto field | type | bounds | required | description |",
    "|---|---|---|---|---|---|",
    ...entries.map(
      ([name, p]) =>
        `| \`${name}\` | \`${mode.name}.${protoFieldName(name)}\` | ${p.type} | ${bounds(p)} | ${mode.required.includes(name) ? "yes" : "no"} | ${p.description} |`,
    ),
  ];
}

/** The Markdown of docs/generation-modes.md. */
export function renderModesDoc(): string {
  const lines = [
    "# Generation modes",
    "",
    "<!-- Generated from shared/generation-modes by `node --import tsx shared/generation-modes/write-docs.ts`;",
    "     do not edit by hand (a test checks that it is current). -->",
    "",
    "Every mode of `generation.mode` (REST) and of `GenerateShardRequest.method` (gRPC), with the parameters",
    "it takes. The bounds are those both the gateway (its JSON schema) and the generation service (its",
    "INVALID_ARGUMENT checks) apply; how to add a mode: [adding-a-method.md](adding-a-method.md).",
    "",
    "| mode | what it does | used by | runs on | sources per shard |",
    "|---|---|---|---|---|",
    ...MODE_SPECS.map(
      (m) =>
        `| \`${m.name}\` | ${m.summary} | ${m.usedBy} | ${m.model === "instruct" ? "an instruction-edit model" : "a text-to-image model"} | ${m.sources === "all" ? "every training image" : "those its samples derive from"} |`,
    ),
  ];
  for (const mode of MODE_SPECS) lines.push("", `## \`${mode.name}\``, "", ...parameterTable(mode));
  return `${lines.join("\n")}\n`;
}
