/**
 * The benchmark's figures as standalone SVG files: accuracy bars per (task, shots) with ± std whiskers
 * and a dot per seed (the CLI report's chart), top-1 against shots per task, the cost–gain plane
 * (CPU seconds per synthetic image against the gain over the first baseline), and the sweep's
 * strength × p heat map of the gain.
 */
import { accuracyChart, escapeXml } from "../../cli/report/svg-chart.js";
import type { GridTable, SweepTable, TableRow } from "./table.js";

/** A figure: its file name (under the figures directory) and SVG text. */
export interface Figure {
  readonly file: string;
  readonly title: string;
  readonly svg: string;
}

const PALETTE = [
  "#3b78c4",
  "#e07b39",
  "#3a9a5b",
  "#c44e52",
  "#8172b3",
  "#937860",
  "#da8bc3",
  "#4c9fa8",
  "#ccb974",
];
const BASELINE_COLOR = "#8a8f96";

function svgOpen(width: number, height: number, title: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="system-ui, sans-serif" font-size="11"><title>${escapeXml(title)}</title><rect width="${width}" height="${height}" fill="#fff"/><text x="12" y="18" font-size="13" font-weight="600">${escapeXml(title)}</text>`;
}

/** Round tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  if (out[out.length - 1] < hi) out.push(Number((out[out.length - 1] + step).toPrecision(12)));
  return out;
}

/** Bars of one (task, shots): top-1 mean ± std per method, a dot per seed. */
function accuracyFigure(rows: readonly TableRow[], title: string, file: string): Figure {
  const bars = rows.map((r) => ({
    label: r.method,
    kind: r.kind,
    mean: r.top1.mean,
    std: r.top1.std,
    values: r.top1.values,
  }));
  return { file, title, svg: accuracyChart(bars, { title }) };
}

/** A line chart of top-1 (y) against shots (x), one line per method, for one task. */
function shotsFigure(rows: readonly TableRow[], title: string, file: string): Figure {
  const shots = [...new Set(rows.map((r) => r.shots))].sort((a, b) => a - b);
  const methods = [...new Set(rows.map((r) => r.method))];
  const means = rows.map((r) => r.top1.mean).filter((m): m is number => m !== null);
  const yTicks = ticks(Math.min(...means) * 100, Math.max(...means) * 100);
  const [left, top, plotW, plotH, legendW] = [48, 34, 90 * Math.max(2, shots.length), 240, 150];
  const width = left + plotW + 24 + legendW;
  const height = top + plotH + 40;
  const x = (i: number) => left + (shots.length === 1 ? plotW / 2 : (i / (shots.length - 1)) * plotW);
  const y0 = yTicks[0];
  const y1 = yTicks[yTicks.length - 1];
  const y = (v: number) => top + plotH - ((v * 100 - y0) / (y1 - y0 || 1)) * plotH;
  const parts = [svgOpen(width, height, title)];
  for (const t of yTicks) {
    const yy = y(t / 100).toFixed(1);
    parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${yy}" y2="${yy}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${t}%</text>`);
  }
  shots.forEach((s, i) => {
    parts.push(`<text x="${x(i)}" y="${top + plotH + 16}" text-anchor="middle">${s}-shot</text>`);
  });
  methods.forEach((method, k) => {
    const mine = rows.filter((r) => r.method === method && r.top1.mean !== null);
    const color = mine[0]?.kind === "baseline" ? BASELINE_COLOR : PALETTE[k % PALETTE.length];
    const dash = mine[0]?.kind === "baseline" ? ' stroke-dasharray="4 3"' : "";
    const points = mine.map(
      (r) => `${x(shots.indexOf(r.shots)).toFixed(1)},${y(r.top1.mean as number).toFixed(1)}`,
    );
    if (points.length > 1)
      parts.push(
        `<polyline fill="none" stroke="${color}" stroke-width="1.8"${dash} points="${points.join(" ")}"/>`,
      );
    for (const p of points) {
      const [px, py] = p.split(",");
      parts.push(`<circle cx="${px}" cy="${py}" r="3" fill="${color}"/>`);
    }
    const ly = top + 8 + k * 16;
    parts.push(
      `<line x1="${left + plotW + 24}" x2="${left + plotW + 44}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`,
    );
    parts.push(
      `<text x="${left + plotW + 50}" y="${ly}" dominant-baseline="middle">${escapeXml(method)}</text>`,
    );
  });
  parts.push("</svg>");
  return { file, title, svg: parts.join("") };
}

/**
 * The cost–gain plane of one shot count: x is CPU seconds per synthetic image with fine-tuning (log
 * scale), y the gain over `baseline` in points; a marker per (method, task).
 */
function costFigure(rows: readonly TableRow[], baseline: string, title: string, file: string): Figure {
  const points = rows
    .filter((r) => r.kind === "diffda")
    .map((r) => ({
      row: r,
      cost: r.cost.perSyntheticImageWithFinetune.mean,
      gain: r.gains[baseline]?.mean ?? null,
    }))
    .filter(
      (p): p is { row: TableRow; cost: number; gain: number } =>
        p.cost !== null && p.cost > 0 && p.gain !== null,
    );
  const tasks = [...new Set(rows.map((r) => r.task))];
  const [left, top, plotW, plotH, legendW] = [56, 34, 420, 260, 120];
  const width = left + plotW + 24 + legendW;
  const height = top + plotH + 44;
  const parts = [svgOpen(width, height, title)];
  if (points.length === 0) {
    parts.push(`<text x="${left}" y="${top + 20}">no method with a measured cost and gain yet</text></svg>`);
    return { file, title, svg: parts.join("") };
  }
  const logs = points.map((p) => Math.log10(p.cost));
  const xLo = Math.floor(Math.min(...logs));
  const xHi = Math.max(xLo + 1, Math.ceil(Math.max(...logs)));
  const gains = points.map((p) => p.gain * 100);
  const yTicks = ticks(Math.min(0, ...gains), Math.max(0, ...gains));
  const [yLo, yHi] = [yTicks[0], yTicks[yTicks.length - 1]];
  const x = (cost: number) => left + ((Math.log10(cost) - xLo) / (xHi - xLo)) * plotW;
  const y = (points100: number) => top + plotH - ((points100 - yLo) / (yHi - yLo || 1)) * plotH;
  for (const t of yTicks) {
    const yy = y(t).toFixed(1);
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${yy}" y2="${yy}" stroke="${t === 0 ? "#888" : "#e3e3e3"}"/>`,
    );
    parts.push(
      `<text x="${left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${t > 0 ? "+" : ""}${t}</text>`,
    );
  }
  for (let e = xLo; e <= xHi; e++) {
    const xx = x(10 ** e).toFixed(1);
    parts.push(`<line x1="${xx}" x2="${xx}" y1="${top}" y2="${top + plotH}" stroke="#e3e3e3"/>`);
    parts.push(
      `<text x="${xx}" y="${top + plotH + 14}" text-anchor="middle">${10 ** e >= 1 ? 10 ** e : (10 ** e).toPrecision(1)} s</text>`,
    );
  }
  parts.push(
    `<text x="${left + plotW / 2}" y="${top + plotH + 32}" text-anchor="middle">CPU seconds per synthetic image, fine-tuning included (log)</text>`,
  );
  parts.push(
    `<text x="14" y="${top + plotH / 2}" text-anchor="middle" transform="rotate(-90 14 ${top + plotH / 2})">gain over ${escapeXml(baseline)} (points)</text>`,
  );
  for (const p of points) {
    const color = PALETTE[tasks.indexOf(p.row.task) % PALETTE.length];
    const [px, py] = [x(p.cost), y(p.gain * 100)];
    parts.push(
      `<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="4" fill="${color}"><title>${escapeXml(`${p.row.method} on ${p.row.task}: ${p.cost.toPrecision(3)} s/image, ${(p.gain * 100).toFixed(1)} points`)}</title></circle>`,
    );
    parts.push(
      `<text x="${(px + 6).toFixed(1)}" y="${(py - 5).toFixed(1)}" font-size="10">${escapeXml(p.row.method)}</text>`,
    );
  }
  tasks.forEach((task, k) => {
    const ly = top + 8 + k * 16;
    parts.push(`<circle cx="${left + plotW + 30}" cy="${ly}" r="4" fill="${PALETTE[k % PALETTE.length]}"/>`);
    parts.push(
      `<text x="${left + plotW + 40}" y="${ly}" dominant-baseline="middle">${escapeXml(task)}</text>`,
    );
  });
  parts.push("</svg>");
  return { file, title, svg: parts.join("") };
}

/** Blue for a gain, red for a loss, white at zero; saturates at ±`scale` points. */
export function gainColor(points: number | null, scale = 5): string {
  if (points === null) return "#eeeeee";
  const t = Math.max(-1, Math.min(1, points / scale));
  const mix = (from: number, to: number) => Math.round(from + (to - from) * Math.abs(t));
  const [r, g, b] =
    t >= 0 ? [mix(255, 59), mix(255, 120), mix(255, 196)] : [mix(255, 196), mix(255, 78), mix(255, 82)];
  return `rgb(${r},${g},${b})`;
}

/** The sweep as a heat map: strength down, p across, colour = gain, text = top-1 and gain. */
function sweepFigure(sweep: SweepTable, title: string, file: string): Figure {
  const [left, top, cellW, cellH] = [70, 52, 96, 44];
  const caption = `top-1 and gain over ${sweep.baseline} (paired by seed); blue: gain, red: loss`;
  // Wide enough for the caption under a small grid.
  const width = Math.max(left + cellW * sweep.replaceProbability.length + 20, left + 5.6 * caption.length);
  const height = top + cellH * sweep.strength.length + 30;
  const parts = [svgOpen(width, height, title)];
  parts.push(`<text x="${left}" y="${top - 22}">replacement probability p →</text>`);
  sweep.replaceProbability.forEach((p, j) => {
    parts.push(`<text x="${left + j * cellW + cellW / 2}" y="${top - 6}" text-anchor="middle">${p}</text>`);
  });
  parts.push(`<text x="8" y="${top - 6}">strength ↓</text>`);
  sweep.strength.forEach((s, i) => {
    const yy = top + i * cellH;
    parts.push(
      `<text x="${left - 8}" y="${yy + cellH / 2}" text-anchor="end" dominant-baseline="middle">${s}</text>`,
    );
    sweep.replaceProbability.forEach((p, j) => {
      const row = sweep.rows.find((r) => r.strength === s && r.replaceProbability === p);
      const gain = row?.gain?.mean ?? null;
      const xx = left + j * cellW;
      parts.push(
        `<rect x="${xx}" y="${yy}" width="${cellW - 2}" height="${cellH - 2}" fill="${gainColor(gain === null ? null : gain * 100)}"><title>${escapeXml(row?.label ?? "not run")}</title></rect>`,
      );
      const top1 = row?.top1.mean ?? null;
      if (top1 !== null) {
        parts.push(
          `<text x="${xx + cellW / 2}" y="${yy + 17}" text-anchor="middle" font-weight="600">${(top1 * 100).toFixed(1)}%</text>`,
        );
      }
      if (gain !== null) {
        parts.push(
          `<text x="${xx + cellW / 2}" y="${yy + 32}" text-anchor="middle" font-size="10">${gain >= 0 ? "+" : ""}${(gain * 100).toFixed(1)} pts</text>`,
        );
      }
    });
  });
  parts.push(`<text x="${left}" y="${height - 8}" font-size="10">${escapeXml(caption)}</text>`);
  parts.push("</svg>");
  return { file, title, svg: parts.join("") };
}

/** Every figure the table supports. */
export function figures(table: GridTable): Figure[] {
  const out: Figure[] = [];
  for (const shots of table.shots) {
    const here = table.rows.filter((r) => r.shots === shots);
    if (here.length === 0) continue;
    for (const task of table.tasks) {
      const rows = here.filter((r) => r.task === task.id);
      if (rows.length > 0)
        out.push(
          accuracyFigure(
            rows,
            `${task.title}, ${shots}-shot: top-1 over seeds`,
            `${task.id}-${shots}shot.svg`,
          ),
        );
    }
    out.push(
      costFigure(
        here,
        table.baselines[0],
        `${shots}-shot: cost and gain per method`,
        `cost-${shots}shot.svg`,
      ),
    );
  }
  for (const task of table.tasks) {
    const rows = table.rows.filter((r) => r.task === task.id);
    if (new Set(rows.map((r) => r.shots)).size > 1)
      out.push(shotsFigure(rows, `${task.title}: top-1 against shots`, `shots-${task.id}.svg`));
  }
  if (table.sweep !== null && table.sweep.rows.length > 0) {
    const s = table.sweep;
    out.push(
      sweepFigure(
        s,
        `${s.method} on ${s.task} ${s.shots}-shot: strength × p`,
        `sweep-${s.method}-${s.task}-${s.shots}shot.svg`,
      ),
    );
  }
  return out;
}
