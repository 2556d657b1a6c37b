/**
 * A job's progress folded from its event stream: per stage (finetune, generate, train, evaluate) the
 * tasks done and running, the latest step of each running task, a completed fraction and a short detail
 * (fine-tuning steps and loss, generated images and images/s, classifier epochs). The stage sizes come
 * from the resolved spec and the dataset's train count, the same arithmetic as the gateway's planner:
 * identical fine-tuning specs share one task, each (method, seed) run of a generating method yields
 * `trainCount × syntheticPerReal` images in shards of `shardSize`.
 */
import type { JobEvent, JobSpec } from "../client/types.js";

/** Stages shown, in pipeline order. */
const STAGES = ["finetune", "generate", "train", "evaluate"] as const;
/** One of {@link STAGES}. */
export type Stage = (typeof STAGES)[number];

interface TaskState {
  kind: string;
  state: "running" | "succeeded" | "failed" | "waiting";
  step: number;
  totalSteps: number;
  stage: string;
  loss: number | undefined;
  message: string;
  /** Samples of a generate shard (from the plan). */
  samples: number;
  /** Id of the task's latest progress event (the detail shows the most recently active task). */
  updated: number;
  /** The fine-tuning method of a finetune task (from its key), else "". */
  method: string;
}

/** What one stage shows. */
export interface StageView {
  readonly stage: Stage;
  /** Tasks of the stage in the plan. */
  readonly tasks: number;
  readonly succeeded: number;
  readonly running: number;
  readonly failed: number;
  /** Retries scheduled so far. */
  readonly retries: number;
  /** Completed fraction in [0, 1]. */
  readonly fraction: number;
  /** Counted units: "images" for generate, else "tasks". */
  readonly done: number;
  readonly total: number;
  readonly unit: string;
  /** Short text about the running work, e.g. "lora 120/500 loss 0.084" or "3.2 img/s". */
  readonly detail: string;
  /** Seconds from the stage's first start to its last finish (or now). */
  readonly wallSeconds: number | undefined;
}

/** The plan's stage sizes. */
export interface StagePlan {
  readonly tasks: Readonly<Record<Stage, number>>;
  /** Samples per generate task key. */
  readonly shardSamples: ReadonlyMap<string, number>;
  readonly images: number;
}

/** Stage sizes of `spec` over a dataset with `trainCount` train images. */
export function planStages(spec: JobSpec, trainCount: number): StagePlan {
  const finetunes = new Set<string>();
  const shardSamples = new Map<string, number>();
  let shardIndex = 0;
  let runs = 0;
  for (const method of spec.methods) {
    if (method.generation !== null && method.finetuning.method !== "none") {
      finetunes.add(canonicalJson(method.finetuning));
    }
    for (const seed of spec.seeds) {
      runs++;
      if (method.generation === null) continue;
      const total = trainCount * method.generation.syntheticPerReal;
      for (let first = 0; first < total; first += spec.shardSize) {
        shardSamples.set(
          `generate:${method.label}:seed=${seed}:shard=${shardIndex++}`,
          Math.min(spec.shardSize, total - first),
        );
      }
    }
  }
  let images = 0;
  for (const n of shardSamples.values()) images += n;
  return {
    tasks: { finetune: finetunes.size, generate: shardSamples.size, train: runs, evaluate: runs },
    shardSamples,
    images,
  };
}

function canonicalJson(value: unknown): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : typeof v === "object" && v !== null
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
          )
        : v;
  return JSON.stringify(sort(value));
}

/** A job's progress, updated event by event. */
export interface JobProgress {
  /** Folds one event in. */
  apply(event: JobEvent): void;
  /** Every stage's view at time `now` (ms since the epoch). */
  stages(now?: number): StageView[];
  /** The job's state as the events tell it. */
  readonly state: string;
  /** Wall seconds per stage (first start → last finish), for the results table. */
  wallSeconds(): Partial<Record<Stage, number>>;
}

/**
 * Training stages of a fine-tuning method, in order (the task key names the method:
 * `finetune:<method>:<hash>`); TI+LoRA trains its tokens first, then the LoRA weights.
 */
const FINETUNE_STAGES: Readonly<Record<string, readonly string[]>> = {
  ti_lora: ["textual_inversion", "lora"],
};

/** A running task's completed fraction from its latest progress (a two-stage fine-tuning counts both). */
function taskFraction(t: TaskState): number {
  if (t.totalSteps <= 0) return 0;
  const within = Math.min(1, t.step / t.totalSteps);
  const stages = FINETUNE_STAGES[t.method];
  if (stages === undefined) return within;
  const index = stages.indexOf(t.stage);
  return index < 0 ? 0 : (index + within) / stages.length;
}

const fmtLoss = (loss: number) => (Math.abs(loss) >= 0.01 ? loss.toFixed(3) : loss.toExponential(1));

/** Starts tracking a job planned as `plan`. */
export function createJobProgress(plan: StagePlan): JobProgress {
  const tasks = new Map<string, TaskState>();
  const retries = new Map<string, number>();
  const started = new Map<string, number>();
  const finished = new Map<string, number>();
  let state = "queued";

  function task(key: string, kind?: string): TaskState {
    let t = tasks.get(key);
    if (t === undefined) {
      t = {
        kind: kind ?? key.split(":")[0],
        state: "waiting",
        step: 0,
        totalSteps: 0,
        stage: "",
        loss: undefined,
        message: "",
        samples: plan.shardSamples.get(key) ?? 0,
        updated: 0,
        method: key.startsWith("finetune:") ? (key.split(":")[1] ?? "") : "",
      };
      tasks.set(key, t);
    }
    return t;
  }

  function stageOf(kind: string): Stage | undefined {
    return (STAGES as readonly string[]).includes(kind) ? (kind as Stage) : undefined;
  }

  return {
    get state() {
      return state;
    },
    apply(event) {
      const at = Date.parse(event.createdAt);
      const data = event.data ?? {};
      const key = typeof data.key === "string" ? data.key : undefined;
      const kind = typeof data.kind === "string" ? data.kind : undefined;
      switch (event.type) {
        case "job.started":
          state = "running";
          return;
        case "job.succeeded":
        case "job.failed":
        case "job.cancelled":
          state = event.type.slice(4);
          return;
        case "task.started": {
          if (key === undefined) return;
          const t = task(key, kind);
          t.state = "running";
          t.step = 0;
          t.totalSteps = 0;
          const stage = stageOf(t.kind);
          if (stage && !started.has(stage)) started.set(stage, at);
          return;
        }
        case "task.progress": {
          if (key === undefined) return;
          const t = task(key);
          t.step = Number(data.step ?? 0);
          t.totalSteps = Number(data.totalSteps ?? 0);
          t.stage = String(data.stage ?? "");
          t.loss = typeof data.loss === "number" ? data.loss : undefined;
          t.message = typeof data.message === "string" ? data.message : "";
          t.updated = event.id;
          return;
        }
        case "task.succeeded": {
          if (key === undefined) return;
          const t = task(key, kind);
          t.state = "succeeded";
          const stage = stageOf(t.kind);
          if (stage) finished.set(stage, Math.max(finished.get(stage) ?? 0, at));
          return;
        }
        case "task.retry_scheduled":
        case "task.released":
          if (key === undefined) return;
          task(key, kind).state = "waiting";
          if (event.type === "task.retry_scheduled")
            retries.set(task(key).kind, (retries.get(task(key).kind) ?? 0) + 1);
          return;
        case "task.failed":
          if (key !== undefined) task(key, kind).state = "failed";
          return;
      }
    },
    stages(now = Date.now()) {
      return STAGES.map((stage): StageView => {
        const mine = [...tasks.values()].filter((t) => t.kind === stage);
        const total = plan.tasks[stage];
        const succeeded = mine.filter((t) => t.state === "succeeded").length;
        const running = mine.filter((t) => t.state === "running");
        const failed = mine.filter((t) => t.state === "failed").length;
        const first = started.get(stage);
        const allDone = total > 0 && succeeded >= total;
        const wallSeconds =
          first === undefined ? undefined : ((allDone ? (finished.get(stage) ?? now) : now) - first) / 1000;
        if (stage === "generate") {
          let images = 0;
          for (const t of mine) {
            if (t.state === "succeeded") images += t.samples;
            else if (t.state === "running" && t.totalSteps > 0) {
              // A retried shard only generates its missing samples: the rest were done before.
              images += Math.max(0, t.samples - t.totalSteps) + Math.min(t.step, t.totalSteps);
            }
          }
          images = Math.min(images, plan.images);
          const rate = wallSeconds && wallSeconds > 0 ? images / wallSeconds : undefined;
          return {
            stage,
            tasks: total,
            succeeded,
            running: running.length,
            failed,
            retries: retries.get(stage) ?? 0,
            fraction: plan.images > 0 ? images / plan.images : allDone ? 1 : 0,
            done: images,
            total: plan.images,
            unit: "images",
            detail: rate === undefined || images === 0 ? "" : `${rate.toFixed(2)} img/s`,
            wallSeconds,
          };
        }
        const partial = running.reduce((sum, t) => sum + taskFraction(t), 0);
        const current = running
          .filter((t) => t.totalSteps > 0)
          .reduce<TaskState | undefined>(
            (a, t) => (a === undefined || t.updated > a.updated ? t : a),
            undefined,
          );
        const detail =
          current === undefined
            ? ""
            : [
                /^epoch \d+\/\d+/.exec(current.message)?.[0] ??
                  `${current.stage || "step"} ${current.step}/${current.totalSteps}`,
                current.loss !== undefined ? `loss ${fmtLoss(current.loss)}` : "",
              ]
                .filter(Boolean)
                .join(" ");
        return {
          stage,
          tasks: total,
          succeeded,
          running: running.length,
          failed,
          retries: retries.get(stage) ?? 0,
          fraction: total > 0 ? Math.min(1, (succeeded + partial) / total) : 1,
          done: succeeded,
          total,
          unit: stage === "finetune" ? "adapters" : "runs",
          detail,
          wallSeconds,
        };
      });
    },
    wallSeconds() {
      const out: Partial<Record<Stage, number>> = {};
      for (const [stage, first] of started) {
        const last = finished.get(stage as Stage);
        if (last !== undefined) out[stage as Stage] = (last - first) / 1000;
      }
      return out;
    },
  };
}
