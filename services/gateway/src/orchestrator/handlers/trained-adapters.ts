/**
 * The adapters a finetune task trains become adapter resources of the job's key (`GET /v1/adapters`,
 * `source_job_id` set), so a later job can name them by id instead of fine-tuning again. Ids derive
 * from (job, task, file digest): a retried task finds its adapters registered and adds none.
 */
import { createHash } from "node:crypto";
import { AdapterKind } from "../../../../../shared/gen/diffda/common/v1/model_pb.js";
import type { Adapter, JobStore } from "../../store/index.js";
import type { AdapterRecord } from "./finetune.js";

/** The resource kind of a trained file; full-UNet files are not adapters a job can name. */
function resourceKind(kind: AdapterKind): Adapter["kind"] | undefined {
  if (kind === AdapterKind.TEXTUAL_INVERSION) return "textual_inversion";
  if (kind === AdapterKind.UNET_LORA || kind === AdapterKind.TEXT_ENCODER_LORA) return "lora";
  return undefined;
}

/** A uuid (version 5 layout) from the digest of `text`: the same text, the same id. */
function derivedUuid(text: string): string {
  const h = createHash("sha256").update(text).digest("hex");
  const variant = ((Number.parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Registers each trained LoRA and textual-inversion file; returns the adapters' ids. */
export async function registerTrainedAdapters(
  store: JobStore,
  job: { id: string; apiKeyId: string | null; name: string | null },
  taskKey: string,
  baseModel: string,
  records: readonly AdapterRecord[],
): Promise<string[]> {
  const ids: string[] = [];
  for (const record of records) {
    const kind = resourceKind(record.kind);
    if (kind === undefined) continue;
    const id = derivedUuid(`${job.id}\n${taskKey}\n${record.sha256}`);
    if ((await store.adapters.get(id)) === undefined) {
      const label = taskKey.replace(/^finetune:/, "");
      await store.adapters
        .create({
          id,
          apiKeyId: job.apiKeyId,
          name: `${job.name ?? `job ${job.id.slice(0, 8)}`}: ${label} ${record.name}`.slice(0, 200),
          kind,
          baseModel,
          sha256: record.sha256,
          bytes: record.bytes,
          tokens: record.tokens,
          loraRank: record.loraRank,
          loraAlpha: record.loraAlpha,
          sourceJobId: job.id,
        })
        .catch(async (error: unknown) => {
          // Two attempts of one task racing: the other registered it first.
          if ((await store.adapters.get(id)) === undefined) throw error;
        });
    }
    ids.push(id);
  }
  return ids;
}
