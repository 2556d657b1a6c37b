/**
 * Draws stage progress on a stream. On a TTY the stage lines are redrawn in place (cursor up, clear line)
 * at most every `intervalMs`, and messages print above them. Elsewhere (a pipe, a log file, CI) it prints
 * plain lines: each message, and a stage line when its stage moves on by a tenth or ends, so a log stays
 * short and readable.
 */
import { formatStageLine } from "./bar.js";
import type { StageView } from "./job-progress.js";

/** A progress display. */
export interface ProgressRenderer {
  /** Shows the stages (throttled on a TTY). */
  update(stages: readonly StageView[]): void;
  /** Prints a line above the bars. */
  message(line: string): void;
  /** Draws the last state and leaves the bars on screen. */
  finish(stages: readonly StageView[]): void;
}

/** Options of {@link createRenderer}. */
export interface RendererOptions {
  /** Where to draw (default process.stdout). */
  readonly stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Redraw in place (default: the stream is a TTY and TERM is not "dumb"). */
  readonly interactive?: boolean;
  /** Least ms between two redraws on a TTY (default 200). */
  readonly intervalMs?: number;
}

/** A renderer for `options.stream`. */
export function createRenderer(options: RendererOptions = {}): ProgressRenderer {
  const stream = options.stream ?? process.stdout;
  const interactive = options.interactive ?? (Boolean(stream.isTTY) && process.env.TERM !== "dumb");
  const intervalMs = options.intervalMs ?? 200;
  if (interactive) return ttyRenderer(stream, intervalMs);
  return plainRenderer(stream);
}

function ttyRenderer(
  stream: NodeJS.WritableStream & { columns?: number },
  intervalMs: number,
): ProgressRenderer {
  let drawn = 0;
  let lastDraw = 0;
  let latest: readonly StageView[] = [];
  const clip = (line: string) => {
    const columns = stream.columns ?? 120;
    return line.length > columns - 1 ? `${line.slice(0, columns - 2)}…` : line;
  };
  const erase = () => {
    if (drawn > 0) stream.write(`\x1b[${drawn}A`);
    for (let i = 0; i < drawn; i++) stream.write("\x1b[2K\n");
    if (drawn > 0) stream.write(`\x1b[${drawn}A`);
  };
  const draw = () => {
    erase();
    const lines = latest.map((view) => clip(formatStageLine(view)));
    for (const line of lines) stream.write(`\x1b[2K${line}\n`);
    drawn = lines.length;
    lastDraw = Date.now();
  };
  return {
    update(stages) {
      latest = stages;
      if (Date.now() - lastDraw >= intervalMs) draw();
    },
    message(line) {
      erase();
      drawn = 0;
      stream.write(`${line}\n`);
      if (latest.length > 0) draw();
    },
    finish(stages) {
      latest = stages;
      draw();
      drawn = 0;
    },
  };
}

function plainRenderer(stream: NodeJS.WritableStream): ProgressRenderer {
  const shown = new Map<string, number>();
  const print = (stages: readonly StageView[], force: boolean) => {
    for (const view of stages) {
      if (view.total === 0) continue;
      const tenth = Math.floor(view.fraction * 10);
      const previous = shown.get(view.stage);
      if (!force && previous !== undefined && tenth <= previous) continue;
      if (!force && previous === undefined && view.fraction === 0 && view.running === 0) continue;
      shown.set(view.stage, tenth);
      stream.write(`${formatStageLine(view, { unicode: false, barWidth: 20 })}\n`);
    }
  };
  return {
    update: (stages) => print(stages, false),
    message: (line) => void stream.write(`${line}\n`),
    finish: (stages) => print(stages, true),
  };
}
