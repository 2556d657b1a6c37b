/**
 * The report as one self-contained HTML page: no external file, script or font — the image grids are
 * PNG data URLs and the chart is inline SVG — so it can be mailed or archived as it is.
 */
import type { Dataset, Job } from "../client/types.js";
import { formatDuration } from "../progress/bar.js";
import { formatMeanStd, percent, seconds } from "../results/format.js";
import { SEARCH_HEADER, searchRows, searchSummary } from "../results/search.js";
import { formatInterval, type ResultsData } from "../results/table.js";
import { accuracyChart, escapeXml } from "./svg-chart.js";

/** A rendered grid. */
export interface ReportGrid {
  readonly title: string;
  readonly png: Uint8Array;
  readonly caption?: string;
}

/** Everything the page shows. */
export interface ReportInput {
  readonly job: Job;
  readonly dataset: Dataset | undefined;
  readonly results: ResultsData;
  /** The real images' grid, when they could be drawn. */
  readonly real: ReportGrid | undefined;
  /** Why there is no real grid. */
  readonly realMissing?: string;
  /** One grid per generating method. */
  readonly synthetic: readonly ReportGrid[];
  readonly wallSeconds?: Partial<Record<string, number>>;
  readonly generatedAt: Date;
}

/** A PNG as a data URL. */
function pngDataUrl(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png.buffer, png.byteOffset, png.byteLength).toString("base64")}`;
}

const STYLE = `
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1b1b1b;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}th,td{padding:.25rem .6rem;border-bottom:1px solid #eee}
th{text-align:left;background:#f6f6f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.baseline td:first-child{color:#555}.meta{color:#555;font-size:.9rem}.grids{display:flex;flex-wrap:wrap;gap:1.5rem}
figure{margin:0}figcaption{font-size:.85rem;color:#444;margin:.2rem 0}img.grid{image-rendering:pixelated;border:1px solid #ddd}
.pos{color:#1a7f37}.neg{color:#b42318}.warning{color:#9a6700}code{font-size:.85rem}`;

function gainCell(gain: { mean: number | null; std: number | null; n: number } | null | undefined): string {
  if (gain === null || gain === undefined) return `<td class="num">—</td>`;
  const cls = gain.mean === null ? "" : gain.mean > 0 ? "pos" : gain.mean < 0 ? "neg" : "";
  return `<td class="num ${cls}">${escapeXml(formatMeanStd(gain, { signed: true }))}</td>`;
}

function resultsTable(results: ResultsData): string {
  const head = [
    "method",
    ...results.seeds.map((s) => `seed ${s}`),
    "mean ± std",
    ...results.baselines.map((b) => `Δ ${b}`),
    ...(results.intervalBaseline !== null ? [`95% CI Δ ${results.intervalBaseline}`] : []),
    ...(results.hasCompute ? ["steps / run", "train top-1"] : []),
    "synthetic / run",
    "gen img/s",
  ];
  const rows = results.rows.map(
    (row) =>
      `<tr class="${row.kind}"><td>${escapeXml(row.label)}${row.kind === "baseline" ? " <small>(baseline)</small>" : ""}</td>${row.perSeed
        .map((v) => `<td class="num">${percent(v)}</td>`)
        .join(
          "",
        )}<td class="num"><b>${escapeXml(formatMeanStd(row.top1))}</b></td>${results.baselines.map((b) => gainCell(row.gains[b])).join("")}${results.intervalBaseline !== null ? `<td class="num">${escapeXml(formatInterval(row.interval))}</td>` : ""}${results.hasCompute ? `<td class="num">${row.steps ?? "—"}</td><td class="num">${escapeXml(formatMeanStd(row.trainTop1))}</td>` : ""}<td class="num">${row.syntheticImages}</td><td class="num">${row.imagesPerSecond === null ? "—" : row.imagesPerSecond.toFixed(2)}</td></tr>`,
  );
  const warnings = results.warnings.map((w) => `<p class="warning">⚠ ${escapeXml(w.message)}</p>`).join("");
  return `<table class="results"><thead><tr>${head.map((h) => `<th>${escapeXml(h)}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>${warnings}`;
}

/** The auto method's search trace: what it chose and each candidate's validation score. */
function searchSection(input: ReportInput): string {
  const search = input.job.result?.search;
  if (search == null) return "";
  const rows = searchRows(search).map(
    (cells) =>
      `<tr>${cells.map((c, i) => `<td${i >= 2 ? ' class="num"' : ""}>${escapeXml(c)}</td>`).join("")}</tr>`,
  );
  return `<h2>Search (auto)</h2><p class="meta">${escapeXml(searchSummary(search))}. Scored on a validation split carved from the training images; the test split was used once, by the chosen setting. * the choice.</p><table class="search"><thead><tr>${SEARCH_HEADER.map((h) => `<th>${escapeXml(h)}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function perClassTable(input: ReportInput): string {
  const result = input.job.result;
  if (result === null) return "";
  const head = `<tr><th>method</th>${result.classes.map((c) => `<th>${escapeXml(c)}</th>`).join("")}</tr>`;
  const rows = result.methods.map(
    (m) =>
      `<tr class="${m.kind}"><td>${escapeXml(m.label)}</td>${m.perClassAccuracy.mean.map((v) => `<td class="num">${percent(v, 1)}</td>`).join("")}</tr>`,
  );
  return `<table class="per-class"><thead>${head}</thead><tbody>${rows.join("")}</tbody></table>`;
}

function stagesTable(input: ReportInput): string {
  const stages = Object.entries(input.job.result?.stages ?? {});
  if (stages.length === 0) return "";
  const order = ["finetune", "generate", "train", "evaluate", "summarize"];
  stages.sort(([a], [b]) => order.indexOf(a) - order.indexOf(b));
  const rows = stages.map(
    ([stage, s]) =>
      `<tr><td>${escapeXml(stage)}</td><td class="num">${s.tasks}</td><td class="num">${seconds(s.seconds)}</td><td class="num">${input.wallSeconds?.[stage] !== undefined ? formatDuration(input.wallSeconds[stage] ?? 0) : "—"}</td></tr>`,
  );
  return `<table class="stages"><thead><tr><th>stage</th><th>tasks</th><th>task time</th><th>wall</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function figure(grid: ReportGrid): string {
  return `<figure><figcaption><b>${escapeXml(grid.title)}</b>${grid.caption ? ` — ${escapeXml(grid.caption)}` : ""}</figcaption><img class="grid" alt="${escapeXml(grid.title)}" src="${pngDataUrl(grid.png)}"></figure>`;
}

/** The report page. */
export function renderReportHtml(input: ReportInput): string {
  const { job, dataset, results } = input;
  const title = job.name ?? `job ${job.id}`;
  const duration =
    job.startedAt && job.finishedAt
      ? formatDuration((Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000)
      : "—";
  const chart = accuracyChart(
    results.rows.map((row) => ({
      label: row.label,
      kind: row.kind,
      mean: row.top1.mean,
      std: row.top1.std,
      values: row.perSeed.filter((v): v is number => v !== null),
    })),
    { title: "Top-1 accuracy (mean ± std over seeds; dots: seeds)" },
  );
  const datasetLine = dataset
    ? `${escapeXml(dataset.name)} — ${dataset.classes.length} classes, ${dataset.trainCount} train / ${dataset.testCount} test images, ${dataset.image.width}×${dataset.image.height}×${dataset.image.channels}`
    : escapeXml(job.datasetId ?? `${job.spec.datasetId} (deleted)`);
  const methods = job.spec.methods
    .map(
      (m) =>
        `<li><b>${escapeXml(m.label)}</b>${m.preset && m.preset !== m.label ? ` (${escapeXml(m.preset)})` : ""}: fine-tuning <code>${escapeXml(m.finetuning.method)}</code>, generation <code>${escapeXml(m.generation?.mode ?? "none")}</code>${m.generation ? ` ×${m.generation.syntheticPerReal}` : ""}, utilization <code>${escapeXml(m.utilization.mode)}</code></li>`,
    )
    .join("");
  const grids = [
    input.real
      ? figure(input.real)
      : `<p class="meta">Real images: ${escapeXml(input.realMissing ?? "not available")}</p>`,
    ...input.synthetic.map(figure),
  ].join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>diffda report — ${escapeXml(title)}</title><style>${STYLE}</style></head><body>
<h1>diffda report — ${escapeXml(title)}</h1>
<p class="meta">job <code>${escapeXml(job.id)}</code> · ${escapeXml(job.state)} · ran ${duration} · seeds ${job.spec.seeds.join(", ")} · generated ${escapeXml(input.generatedAt.toISOString())}</p>
<p class="meta">dataset: ${datasetLine}</p>
<h2>Accuracy</h2>
${chart}
${resultsTable(results)}
<p class="meta">Top-1 on ${results.testImages ?? "?"} held-out test images; Δ: gain in percentage points over each baseline, paired by seed (mean ± sample std).</p>
${searchSection(input)}
<h2>Per-class accuracy (mean over seeds, %)</h2>
${perClassTable(input)}
<h2>Real vs synthetic images</h2>
<div class="grids">${grids}</div>
<h2>Methods</h2><ul>${methods}</ul>
<h2>Stages</h2>
${stagesTable(input)}
</body></html>
`;
}
