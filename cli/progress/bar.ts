/** Text progress bars: a fixed-width bar and one line per stage. */
import type { StageView } from "./job-progress.js";

/** A bar of `width` cells filled to `fraction` (eighth-cell resolution when `unicode`). */
export function renderBar(fraction: number, width: number, unicode = true): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  if (!unicode) {
    const full = Math.round(f * width);
    return `${"#".repeat(full)}${"-".repeat(width - full)}`;
  }
  const eighths = Math.round(f * width * 8);
  const full = Math.floor(eighths / 8);
  const rest = eighths % 8;
  const partial = rest > 0 ? " ▏▎▍▌▋▊▉"[rest] : "";
  return `${"█".repeat(full)}${partial}${" ".repeat(width - full - (partial ? 1 : 0))}`;
}

/** Seconds as `42s`, `3m07s` or `1h02m`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** One stage as a line: name, bar, percent, counts, running detail, retries, elapsed time. */
export function formatStageLine(
  view: StageView,
  options: { barWidth?: number; unicode?: boolean } = {},
): string {
  const width = options.barWidth ?? 24;
  const percent = `${Math.floor(view.fraction * 100)}%`.padStart(4);
  const counts = view.total === 0 ? "nothing to do" : `${view.done}/${view.total} ${view.unit}`;
  const extras = [
    view.detail,
    view.failed > 0 ? `${view.failed} failed` : "",
    view.retries > 0 ? `${view.retries} retried` : "",
    view.wallSeconds !== undefined ? formatDuration(view.wallSeconds) : "",
  ].filter(Boolean);
  return `${view.stage.padEnd(9)} [${renderBar(view.fraction, width, options.unicode)}] ${percent}  ${counts}${extras.length ? `  · ${extras.join(" · ")}` : ""}`;
}
