import { createHash } from "node:crypto";
import type * as ort from "onnxruntime-node";
import {
  type DiffusionModel,
  GifScoringModel,
  loadDiffusionModel,
  MemoryInversionCache,
  toPng,
} from "../../../../shared/diffusion/index.js";
import { RpcError } from "../../../../shared/rpc/index.js";
import { type AdaptedModel, applyAdapters, modelKey } from "./adapters.js";
import { loadClipScorerFolder } from "./clip.js";
import { runMethod } from "./methods.js";
import type {
  EngineBatch,
  EngineImage,
  GenerateOptions,
  GenerationEngine,
  ModelInfo,
  ModelLease,
  ModelSpec,
} from "./types.js";

/** Options of {@link LocalEngine}. */
export interface LocalEngineOptions {
  /** onnxruntime session options for every model (threads, …). */
  readonly sessionOptions?: ort.InferenceSession.SessionOptions;
  /** Adapted models kept after their last shard ended (least recently used evicted first). Default 4. */
  readonly adapterCacheSize?: number;
  /** DDIM-inverted latents kept for Diff-II. Default 4096. */
  readonly inversionCacheSize?: number;
}

interface Adapted {
  readonly model: Promise<AdaptedModel>;
  refs: number;
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function infoOf(model: DiffusionModel): ModelInfo {
  const { config } = model;
  return {
    vaeScaleFactor: config.vaeScaleFactor,
    sampleSize: config.sampleSize,
    fixedSize: [2, 3].every((axis) => {
      const d = model.unet.component.input("sample")?.shape[axis];
      return typeof d === "number" && d > 0;
    }),
    instructPix2Pix: config.unetInChannels === 2 * config.latentChannels,
    canEncodeImages: model.vaeEncoder !== undefined,
  };
}

/**
 * The generation engine in this thread: base models loaded once, adapted models cached by adapter hash
 * (reference-counted while shards use them, LRU after), GIF scorers per model and class list, one Diff-II
 * inversion cache. `generate` runs a pipeline and encodes PNGs. onnxruntime's `run` blocks the thread it is
 * called on, so the service runs this engine in a worker thread ({@link WorkerEngine}); tests and the
 * benchmark also call it directly.
 */
export class LocalEngine implements GenerationEngine {
  readonly #options: LocalEngineOptions;
  readonly #bases = new Map<string, Promise<DiffusionModel>>();
  readonly #adapted = new Map<string, Adapted>();
  readonly #scorers = new Map<string, Promise<GifScoringModel>>();
  readonly #inversions: MemoryInversionCache;

  constructor(options: LocalEngineOptions = {}) {
    this.#options = options;
    this.#inversions = new MemoryInversionCache(options.inversionCacheSize ?? 4096);
  }

  #base(id: string, dir: string): Promise<DiffusionModel> {
    let model = this.#bases.get(id);
    if (!model) {
      model = loadDiffusionModel(dir, { sessionOptions: this.#options.sessionOptions });
      this.#bases.set(id, model);
      model.catch(() => this.#bases.delete(id));
    }
    return model;
  }

  async preload(models: readonly { id: string; dir: string }[]): Promise<void> {
    await Promise.all(models.map((m) => this.#base(m.id, m.dir)));
  }

  async acquire(spec: ModelSpec): Promise<ModelLease> {
    const base = await this.#base(spec.id, spec.dir);
    const key = modelKey(spec);
    if (spec.adapters.length === 0) return { key, info: infoOf(base), cached: true, release: () => {} };
    let entry = this.#adapted.get(key);
    const cached = entry !== undefined;
    if (entry) {
      this.#adapted.delete(key); // re-inserted below as the most recently used
    } else {
      entry = { model: applyAdapters(base, spec.adapters), refs: 0 };
      entry.model.catch(() => this.#adapted.delete(key));
    }
    this.#adapted.set(key, entry);
    entry.refs++;
    const held = entry;
    let released = false;
    try {
      const { model } = await held.model;
      return {
        key,
        info: infoOf(model),
        cached,
        release: () => {
          if (released) return;
          released = true;
          held.refs--;
          this.#evict();
        },
      };
    } catch (error) {
      held.refs--;
      throw error;
    }
  }

  /** Releases adapted models no shard holds, oldest first, beyond the cache size. */
  #evict(): void {
    const keep = this.#options.adapterCacheSize ?? 4;
    let idle = [...this.#adapted].filter(([, e]) => e.refs === 0);
    while (idle.length > 0 && this.#adapted.size > keep) {
      const [key, entry] = idle[0];
      idle = idle.slice(1);
      this.#adapted.delete(key);
      for (const [scorerKey, scorer] of this.#scorers) {
        if (scorerKey.startsWith(`${key}|`)) {
          this.#scorers.delete(scorerKey);
          void scorer.then((s) => s.release()).catch(() => {});
        }
      }
      void entry.model.then((m) => m.release()).catch(() => {});
    }
  }

  async #model(key: string): Promise<DiffusionModel> {
    const entry = this.#adapted.get(key);
    if (entry) return (await entry.model).model;
    const base = this.#bases.get(key);
    if (base) return base;
    throw new RpcError("internal", `model ${key} was not acquired`);
  }

  #scoring(key: string, model: DiffusionModel, clipDir: string, prompts: readonly string[]) {
    const scorerKey = `${key}|${clipDir}|${JSON.stringify(prompts)}`;
    let scoring = this.#scorers.get(scorerKey);
    if (!scoring) {
      scoring = loadClipScorerFolder(clipDir, prompts, model.tokenizer, model.settings).then(
        (scorer) => new GifScoringModel(model, scorer),
      );
      this.#scorers.set(scorerKey, scoring);
      scoring.catch(() => this.#scorers.delete(scorerKey));
    }
    return scoring;
  }

  async generate(batch: EngineBatch, options: GenerateOptions = {}): Promise<EngineImage[]> {
    const model = await this.#model(batch.modelKey);
    let stepsAfterCancel = 0;
    try {
      return await this.#run(model, batch, options, () => stepsAfterCancel++);
    } finally {
      options.onSettled?.(stepsAfterCancel);
    }
  }

  async #run(
    model: DiffusionModel,
    batch: EngineBatch,
    options: GenerateOptions,
    afterCancel: () => void,
  ): Promise<EngineImage[]> {
    const generated = await runMethod(model, batch, {
      signal: options.signal,
      onProgress: (p) => {
        if (options.signal?.aborted) afterCancel();
        options.onProgress?.({ stage: p.stage, step: p.step, totalSteps: p.totalSteps });
      },
      inversionCache: this.#inversions,
      scoring: (clipDir, classPrompts) => this.#scoring(batch.modelKey, model, clipDir, classPrompts),
    });
    options.signal?.throwIfAborted();
    return Promise.all(
      generated.map(async (g, i) => {
        const png = await toPng(g);
        return {
          index: batch.samples[i].index,
          png,
          sha256: sha256(png),
          channels: g.image.channels,
          height: g.image.height,
          width: g.image.width,
          prompt: g.prompt,
        };
      }),
    );
  }

  async close(): Promise<void> {
    const scorers = [...this.#scorers.values()];
    const adapted = [...this.#adapted.values()];
    const bases = [...this.#bases.values()];
    this.#scorers.clear();
    this.#adapted.clear();
    this.#bases.clear();
    await Promise.allSettled(scorers.map(async (s) => (await s).release()));
    await Promise.allSettled(adapted.map(async (e) => (await e.model).release()));
    await Promise.allSettled(bases.map(async (b) => (await b).release()));
  }
}

/** onnxruntime session options for the engine's threads and execution providers (both optional). */
export function engineSessionOptions(o: {
  readonly threads?: number;
  readonly executionProviders?: readonly string[];
}): ort.InferenceSession.SessionOptions | undefined {
  if (!o.threads && !o.executionProviders) return undefined;
  return {
    ...(o.threads ? { intraOpNumThreads: o.threads } : {}),
    ...(o.executionProviders ? { executionProviders: [...o.executionProviders] } : {}),
  };
}
