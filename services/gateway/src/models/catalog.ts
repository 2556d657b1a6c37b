/**
 * The models a deployment serves, as `GET /v1/models` lists them: asked of the generation replicas
 * (`ListModels`; they hold the model folders, the gateway does not), cached for a while, and used to
 * refuse a job that names a model no replica serves. Replicas are asked in turn until one answers, so
 * one replica down does not hide the catalog.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { AdapterSetSchema } from "../../../../shared/gen/diffda/common/v1/model_pb.js";
import type { ModelDescription } from "../../../../shared/gen/diffda/generation/v1/generation_pb.js";
import { RpcError } from "../../../../shared/rpc/index.js";
import type { GenerationPool } from "../orchestrator/compute-clients.js";

/** A served model as the REST API shows it. */
interface CatalogModel {
  id: string;
  sha256: string;
  bytes: number;
  nativeSize: { height: number; width: number };
  pipeline: string;
  summary: string;
  card: string;
}

/** What the REST layer needs of the catalog. */
export interface ModelCatalog {
  /** Every served model in id order; throws when no replica answers. */
  list(): Promise<CatalogModel[]>;
  /** The served ids, or undefined when no replica answers (then nothing can be checked). */
  ids(): Promise<Set<string> | undefined>;
  /**
   * Asks a replica whether adapter files fit the model they name (CheckAdapters): undefined when they do,
   * the replica's refusal (invalid_field naming the first bad key, model_not_found) when not. Replicas
   * are asked in turn; throws when none answers.
   */
  checkAdapters(set: MessageInitShape<typeof AdapterSetSchema>): Promise<RpcError | undefined>;
}

/** Refusals that are about the files or the model, not the replica: asking another would not help. */
const VERDICTS = new Set(["invalid_field", "model_not_found", "unimplemented"]);

/** Options of {@link generationCatalog}. */
export interface CatalogOptions {
  /** How long an answer is reused (default 60 s). */
  ttlMs?: number;
  /** Deadline of one ListModels call (default 10 s: a replica hashes its folders on the first call). */
  timeoutMs?: number;
}

function toModel(m: ModelDescription): CatalogModel {
  return {
    id: m.id,
    sha256: m.sha256,
    bytes: Number(m.bytes),
    nativeSize: { height: m.nativeHeight, width: m.nativeWidth },
    pipeline: m.pipeline,
    summary: m.summary,
    card: m.card,
  };
}

/** A catalog over the generation replicas. */
export function generationCatalog(pool: GenerationPool, options: CatalogOptions = {}): ModelCatalog {
  const ttlMs = options.ttlMs ?? 60_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  let cached: { at: number; models: CatalogModel[] } | undefined;
  let pending: Promise<CatalogModel[]> | undefined;

  async function fetchModels(): Promise<CatalogModel[]> {
    let last: unknown;
    for (let i = 0; i < pool.size; i++) {
      try {
        const { client } = pool.pick(i, 1);
        const answer = await client.listModels({}, { signal: AbortSignal.timeout(timeoutMs) });
        const models = answer.models.map(toModel).sort((a, b) => a.id.localeCompare(b.id));
        cached = { at: Date.now(), models };
        return models;
      } catch (error) {
        last = error;
      }
    }
    throw last;
  }

  const list = async () => {
    if (cached !== undefined && Date.now() - cached.at < ttlMs) return cached.models;
    pending ??= fetchModels().finally(() => {
      pending = undefined;
    });
    return pending;
  };
  return {
    list,
    async checkAdapters(set) {
      let last: unknown = new Error("no generation replica");
      for (let i = 0; i < pool.size; i++) {
        try {
          const { client } = pool.pick(i, 1);
          await client.checkAdapters({ model: set }, { signal: AbortSignal.timeout(timeoutMs) });
          return undefined;
        } catch (error) {
          const refusal = RpcError.from(error);
          if (VERDICTS.has(refusal.code)) return refusal;
          last = error;
        }
      }
      throw last;
    },
    async ids() {
      try {
        return new Set((await list()).map((m) => m.id));
      } catch {
        return undefined;
      }
    },
  };
}
