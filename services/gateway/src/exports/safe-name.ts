/** A file name safe in a Content-Disposition header, a zip and a tar: ASCII letters, digits, `._=-`. */
export function safeName(text: string): string {
  return text.replace(/[^A-Za-z0-9._=-]+/g, "_").slice(0, 120) || "file";
}
