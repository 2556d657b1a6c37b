/**
 * How an upload's entry names are laid out: one folder per class (`cat/0.png`), or a `train/` and a
 * `test/` folder that each hold one folder per class (`train/cat/0.png`, `test/cat/1.png`), which is a
 * test split the user made instead of one held out by the service.
 */

/** The top folders of the `splits` layout. */
export const SPLIT_FOLDERS = ["train", "test"] as const;

/** `classes`: `class/file`; `splits`: `train/class/file` and `test/class/file`. */
export type FolderLayout = "classes" | "splits";

/** True for OS metadata that archives carry along (`.DS_Store`, `__MACOSX/`, dotfiles): skipped, not errors. */
export function isHidden(segment: string): boolean {
  return segment.startsWith(".") || segment === "__MACOSX";
}

/**
 * The layout of an upload: `splits` as soon as one visible entry lies in a class folder under `train/` or
 * `test/` (`train/cat/0.png`, `test/cat/`), else `classes`. An ImageFolder whose classes are called
 * "train" and "test" (`train/0.png`) nests nothing and keeps the `classes` layout, as before the split
 * layout existed. Whether every other entry fits the layout is for `parseEntryName` to judge.
 */
export function detectFolderLayout(entries: Iterable<{ readonly name: string }>): FolderLayout {
  for (const { name } of entries) {
    const segments = name.split("/"); // a folder entry "train/cat/" ends with an empty segment
    if (segments.some(isHidden)) continue;
    if ((SPLIT_FOLDERS as readonly string[]).includes(segments[0]) && segments.length >= 3) return "splits";
  }
  return "classes";
}
