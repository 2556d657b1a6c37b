/**
 * The report's accuracy chart as inline SVG: one bar per method at its mean top-1, an error bar of ± one
 * sample standard deviation, and a dot per seed; baselines in gray, DiffDA methods in blue. The y axis
 * starts at a round value below the lowest whisker so that differences of a point stay visible.
 */

/** One bar. */
export interface ChartBar {
  readonly label: string;
  readonly kind: "diffda" | "baseline";
  /** Mean in [0, 1], null when the method has no result. */
  readonly mean: number | null;
  readonly std: number | null;
  /** Per-seed values in [0, 1]. */
  readonly values: readonly number[];
}

/** Escapes text for XML/HTML. */
export function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => `&${{ "&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "#39" }[c]};`,
  );
}

/** Axis bounds in percent: round steps enclosing every whisker and dot. */
function axisRange(bars: readonly ChartBar[]): { min: number; max: number; step: number } {
  const points = bars.flatMap((b) => [
    ...(b.mean === null ? [] : [b.mean - (b.std ?? 0), b.mean + (b.std ?? 0)]),
    ...b.values,
  ]);
  if (points.length === 0) return { min: 0, max: 100, step: 20 };
  const lo = Math.min(...points) * 100;
  const hi = Math.max(...points) * 100;
  const span = Math.max(hi - lo, 1);
  const step = span > 40 ? 20 : span > 20 ? 10 : span > 8 ? 5 : span > 4 ? 2 : 1;
  const min = Math.max(0, Math.floor((lo - span * 0.15) / step) * step);
  const max = Math.min(100, Math.ceil((hi + span * 0.1) / step) * step);
  return { min, max: max > min ? max : min + step, step };
}

/** The chart as an `<svg>` element. */
export function accuracyChart(bars: readonly ChartBar[], options: { title?: string } = {}): string {
  const slot = 76;
  const left = 52;
  const top = 34;
  const plotH = 240;
  const bottom = 86;
  // Wide enough for the title, so few bars still leave it readable.
  const width = Math.max(
    left + Math.max(1, bars.length) * slot + 16,
    80 + 6.5 * (options.title?.length ?? 0),
  );
  const height = top + plotH + bottom;
  const { min, max, step } = axisRange(bars);
  const y = (fraction: number) => top + plotH - ((fraction * 100 - min) / (max - min)) * plotH;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="system-ui, sans-serif" font-size="11">`,
  );
  parts.push(`<title>${escapeXml(options.title ?? "Top-1 accuracy per method")}</title>`);
  if (options.title) {
    parts.push(
      `<text x="${left}" y="18" font-size="13" font-weight="600">${escapeXml(options.title)}</text>`,
    );
  }
  for (let v = min; v <= max + 1e-9; v += step) {
    const yy = y(v / 100).toFixed(1);
    parts.push(`<line x1="${left}" x2="${width - 8}" y1="${yy}" y2="${yy}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${v}%</text>`);
  }
  parts.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#888"/>`);
  bars.forEach((bar, i) => {
    const cx = left + i * slot + slot / 2;
    const fill = bar.kind === "baseline" ? "#9aa0a6" : "#3b78c4";
    if (bar.mean !== null) {
      const yTop = y(bar.mean);
      const h = Math.max(0, top + plotH - yTop);
      parts.push(
        `<rect class="bar" data-label="${escapeXml(bar.label)}" x="${(cx - 20).toFixed(1)}" y="${yTop.toFixed(1)}" width="40" height="${h.toFixed(1)}" fill="${fill}"><title>${escapeXml(bar.label)}: ${(bar.mean * 100).toFixed(2)}%${bar.std !== null ? ` ± ${(bar.std * 100).toFixed(2)}` : ""}</title></rect>`,
      );
      if (bar.std !== null && bar.std > 0) {
        const y1 = y(bar.mean + bar.std).toFixed(1);
        const y2 = y(bar.mean - bar.std).toFixed(1);
        parts.push(
          `<g class="error-bar" stroke="#222" stroke-width="1.4"><line x1="${cx}" x2="${cx}" y1="${y1}" y2="${y2}"/><line x1="${cx - 7}" x2="${cx + 7}" y1="${y1}" y2="${y1}"/><line x1="${cx - 7}" x2="${cx + 7}" y1="${y2}" y2="${y2}"/></g>`,
        );
      }
      parts.push(
        `<text x="${cx}" y="${(y(bar.mean + (bar.std ?? 0)) - 5).toFixed(1)}" text-anchor="middle" font-size="10">${(bar.mean * 100).toFixed(1)}</text>`,
      );
    }
    bar.values.forEach((v, k) => {
      const dx = (k - (bar.values.length - 1) / 2) * 6;
      parts.push(
        `<circle class="seed" cx="${(cx + dx).toFixed(1)}" cy="${y(v).toFixed(1)}" r="2.6" fill="#fff" stroke="#111" stroke-width="1"/>`,
      );
    });
    parts.push(
      `<text x="${cx}" y="${top + plotH + 14}" text-anchor="end" transform="rotate(-35 ${cx} ${top + plotH + 14})">${escapeXml(bar.label)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("");
}
