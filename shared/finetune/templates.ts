/**
 * The 27 object prompts of textual inversion ("imagenet_templates_small" of diffusers' `textual_inversion.py`,
 * `learnable_property=object`), which the paper's TI and DreamBooth-LoRA runs use with the class tokens.
 */
export const IMAGENET_TEMPLATES_SMALL: readonly string[] = Object.freeze([
  "a photo of a {}",
  "a rendering of a {}",
  "a cropped photo of the {}",
  "the photo of a {}",
  "a photo of a clean {}",
  "a photo of a dirty {}",
  "a dark photo of the {}",
  "a photo of my {}",
  "a photo of the cool {}",
  "a close-up photo of a {}",
  "a bright photo of the {}",
  "a cropped photo of a {}",
  "a photo of the {}",
  "a good photo of the {}",
  "a photo of one {}",
  "a close-up photo of the {}",
  "a rendition of the {}",
  "a photo of the clean {}",
  "a rendition of a {}",
  "a photo of a nice {}",
  "a good photo of a {}",
  "a photo of the nice {}",
  "a photo of the small {}",
  "a photo of the weird {}",
  "a photo of the large {}",
  "a photo of a cool {}",
  "a photo of a small {}",
]);

/**
 * The same idea in the bundled kit's words: its captions say "a photo of a …", "a picture of a …", "a …" (the
 * kit's text encoder never saw "rendering", "cropped" or "close-up"), and its tokenizer holds 16 tokens, so
 * the prompts stay short.
 */
export const KIT_TEMPLATES: readonly string[] = Object.freeze([
  "a photo of a {}",
  "a picture of a {}",
  "a {}",
  "a photo of the {}",
  "a picture of the {}",
  "the {}",
  "a photo of one {}",
  "a picture of one {}",
]);

/** A template with `{}` replaced by the class token or name. */
export function fillTemplate(template: string, token: string): string {
  if (!template.includes("{}")) throw new Error(`prompt template ${JSON.stringify(template)} has no {}`);
  return template.replace("{}", token);
}
