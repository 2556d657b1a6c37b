/**
 * How an upload's test split is made. A split the user made (an archive of `train/` and `test/` folders,
 * or JSON images marked `"split": "test"`) is taken exactly as given; otherwise `testFraction` of each
 * class is held out by a draw seeded with `splitSeed`, so the same upload and seed give the same split.
 * Either way an upload without a single test image is refused: nothing could be evaluated on it.
 */
import {
  type FolderEntry,
  type FolderLayout,
  type ImageFolder,
  perClassSplit,
  SPLIT_TEST,
} from "../../../../shared/data/index.js";
import { ApiError } from "../errors.js";

/** Which way the split was made, as the dataset spec records it. */
export type SplitSpec =
  | { split: "user" }
  // Datasets registered before user splits existed have no `split`: they are all hold-outs.
  | { split?: "holdout"; testFraction: number; splitSeed: number };

/** An upload's split: per image SPLIT_TRAIN or SPLIT_TEST, and the spec fields that say how it was made. */
export interface UploadSplit {
  flags: Uint8Array;
  testCount: number;
  spec: SplitSpec;
}

/** One image of a JSON upload. */
export interface JsonImage {
  label: string;
  /** Base64 of the encoded file. */
  data: string;
  /** File name inside its class (only to name errors and order images). */
  name?: string;
  /** The user's split for this image; it counts only if some image says "test". */
  split?: "train" | "test";
}

/**
 * JSON images as folder entries: `label/name`, or `split/label/name` (unmarked images train) as soon as one
 * image is marked "test", so both upload kinds meet the same folder layouts and the same checks.
 */
export function jsonImageEntries(images: readonly JsonImage[]): {
  entries: FolderEntry[];
  layout: FolderLayout;
} {
  const layout: FolderLayout = images.some((image) => image.split === "test") ? "splits" : "classes";
  const width = String(images.length).length;
  const entries = images.map((image, i) => {
    const path = `${image.label}/${image.name ?? String(i).padStart(width, "0")}`;
    return {
      name: layout === "splits" ? `${image.split ?? "train"}/${path}` : path,
      bytes: Buffer.from(image.data, "base64"),
    };
  });
  return { entries, layout };
}

/** The split of a decoded upload: the user's if the folder has one, else the seeded hold-out. */
export function uploadSplit(
  folder: ImageFolder,
  holdout: { testFraction: number; splitSeed: number },
): UploadSplit {
  const { set } = folder;
  const flags =
    folder.split ??
    perClassSplit(set.labels, set.classNames.length, holdout.splitSeed, (n) =>
      // A class of one image keeps it for training; any larger class gives at least one and keeps one.
      n < 2 ? 0 : Math.min(n - 1, Math.max(1, Math.round(n * holdout.testFraction))),
    );
  const testCount = flags.reduce((n, flag) => n + (flag === SPLIT_TEST ? 1 : 0), 0);
  if (testCount === 0) {
    throw new ApiError(
      "invalid_dataset",
      folder.split !== undefined
        ? "test/ holds no images, so nothing could be evaluated; put each class's test images under test/<class>/"
        : "no class has two images, so none can be held out for evaluation; upload at least two per class",
    );
  }
  return {
    flags,
    testCount,
    spec: folder.split !== undefined ? { split: "user" } : { split: "holdout", ...holdout },
  };
}
