import { builtinClassNames } from "../data/index.js";
import { KIT_CLASSES } from "./corpus.js";

/**
 * Default prompt names of a built-in dataset's classes: the words the kit's captions use for them
 * (KIT_CLASSES names, which `captionsFor` puts in every named caption), keyed by the dataset's own class
 * name, for the classes whose name differs. Only fashion-mnist needs them: its "T-shirt/top" and
 * "trouser" are captioned "t-shirt" and "trousers". mnist's names ("seven") are already caption words
 * ("the digit seven"), and textures are outside the kit's domain.
 */
export function builtinPromptNames(builtin: string): Readonly<Record<string, string>> {
  if (builtin !== "fashion-mnist") return {};
  const names = builtinClassNames(builtin);
  const out: Record<string, string> = {};
  for (const c of KIT_CLASSES) {
    if (c.dataset === builtin && names[c.label] !== c.name) out[names[c.label]] = c.name;
  }
  return out;
}
