/**
 * The export formats of a synthetic set and what each layout reads. A layout gets the records (metadata
 * only) and a reader for image bytes, and returns the archive as a stream of chunks.
 */
import type { ZipWriteOptions } from "../archive/zip-writer.js";
import type { SyntheticRecord } from "./synthetic-set.js";

/** The formats `GET /v1/jobs/{id}/synthetic` serves. */
export const EXPORT_FORMATS = ["zip", "imagefolder", "webdataset"] as const;
/** One of {@link EXPORT_FORMATS}. */
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** What a layout writes from. */
export interface ExportBody {
  jobId: string;
  /** The dataset's class names in label order; null when the dataset was deleted. */
  classes: string[] | null;
  records: AsyncIterable<SyntheticRecord>;
  /** An image's bytes by digest. */
  read(sha256: string): Promise<Uint8Array>;
  zip?: ZipWriteOptions;
}
