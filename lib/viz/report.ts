/**
 * Self-contained HTML reports of a run: training curves, metric bars with
 * confidence intervals, per-class tables, the confusion matrix and a gallery
 * of explained test images, drawn with Plotly inlined into the page, so the
 * one file opens offline.
 *
 * The page embeds the run's `results.json` object unchanged in a
 * `<script type="application/json" id="report-data">` and builds every
 * figure and table from it in the browser: the report cannot disagree with
 * the file. Gallery images travel beside it in `#report-images`, keyed by
 * name, so `results.json` stays small.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { MetricSummary } from "../eval/evaluate.ts";
import type { PrecisionRecallF1 } from "../metrics/classification.ts";
import type { RunInfo } from "../train/run_info.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { loadPlotlySource, PLOTLY_VERSION } from "../deps.ts";
import { REPORT_CSS, REPORT_SCRIPT } from "./_report_page.ts";

/** One epoch of training: a line of `train_log.jsonl` (the trainer's `EpochRecord` fits). */
export interface ReportEpoch {
  /** The epoch, counting from 1 (the x axis). */
  epoch: number;
  /**
   * Values by name. `train_<name>` and `val_<name>` share one panel per
   * `<name>` (`loss`, each loss term, `accuracy`); other names get their own.
   * A missing or null value leaves a gap.
   */
  metrics: Record<string, number | null>;
}

/**
 * One bar chart: groups (baseline against supervised, or explainer against
 * explainer) side by side for each metric, with their confidence intervals.
 */
export interface ReportComparison {
  /** The chart's title. */
  title: string;
  /** The groups, one bar colour each. */
  groups: { name: string; metrics: Record<string, MetricSummary> }[];
  /** The y axis title. @default {"score"} */
  yLabel?: string;
  /** The x axis title. @default {"metric"} */
  xLabel?: string;
}

/** Classification results: `EvaluationResult.classification` plus the class names. */
export interface ReportClassification {
  /** The class names, by class index. */
  classNames: readonly string[];
  /** Accuracy with its interval. @default {none} */
  accuracy?: MetricSummary;
  /** Balanced accuracy. @default {none} */
  balancedAccuracy?: number;
  /** Macro F1. @default {none} */
  macroF1?: number;
  /** Expected calibration error. @default {none} */
  expectedCalibrationError?: number;
  /** Per-class precision, recall, F1 and support. @default {none} */
  perClass?: PrecisionRecallF1;
  /** Counts, `[true class][predicted class]`, square, one row per class. @default {none} */
  confusionMatrix?: number[][];
}

/** One picture of a gallery item. */
export interface ReportImage {
  /** The caption (`"image"`, `"ground truth"`, an explainer's name). */
  label: string;
  /**
   * A key of {@linkcode WriteReportOptions.images}; else a `data:image/png;base64,`
   * URI, or a relative path (to a PNG beside the report).
   */
  image: string;
}

/** One test image of the gallery. */
export interface ReportGalleryItem {
  /** The sample id or file name. */
  id: string;
  /** The true class's name. */
  label: string;
  /** The predicted class's name. @default {none} */
  predicted?: string;
  /** The predicted class's probability. @default {none} */
  confidence?: number;
  /** The pictures, left to right. */
  images: ReportImage[];
  /** Per method, per metric: the image's score, or null where it does not apply (as `ImageRecord.scores`). @default {none} */
  scores?: Record<string, Record<string, number | null>>;
}

/** A titled row of the gallery (`"Best"`, `"Worst"`, `"Random"`). */
export interface ReportGallerySection {
  /** The heading. */
  title: string;
  /** The images. */
  items: ReportGalleryItem[];
}

/**
 * What a report shows: the JSON-able object a task writes as `results.json`.
 * Every section but the title is optional; other fields are kept and
 * embedded but not drawn.
 */
export interface ReportData {
  /** The report's title. */
  title: string;
  /** A line under the title. @default {none} */
  subtitle?: string;
  /** The run record (config, seed, engine, versions, git commit). @default {none} */
  run?: Partial<RunInfo>;
  /** Training history, one record per epoch. @default {none} */
  trainLog?: ReportEpoch[];
  /** Metric bar charts with confidence intervals. @default {none} */
  comparisons?: ReportComparison[];
  /** Classification metrics, per-class table and confusion matrix. @default {none} */
  classification?: ReportClassification;
  /** Best, worst and random test images. @default {none} */
  gallery?: ReportGallerySection[];
  /** The verdict, one sentence each, shown first. @default {none} */
  findings?: string[];
  [key: string]: unknown;
}

/** Options of {@linkcode writeReport} and {@linkcode renderReport}. */
export interface WriteReportOptions {
  /** Gallery pictures by key: PNG bytes or `data:image/png;base64,` URIs. @default {{}} */
  images?: Record<string, Uint8Array | string>;
  /** The Plotly bundle's source to inline. @default {plotly.js-dist, loaded from the npm package} */
  plotlySource?: string;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const DATA_PNG = "data:image/png;base64,";

/**
 * Escapes text for HTML element content and quoted attribute values.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { escapeHtml } from "./report.ts";
 * assert.equal(escapeHtml('<b title="x">'), "&lt;b title=&quot;x&quot;&gt;");
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/**
 * Serialises `value` as JSON safe to place inside a `<script>` element: `<`,
 * `>` and `&` become `\u003c`, `\u003e` and `\u0026` (so neither `</script`
 * nor `<!--` can occur), and U+2028 and U+2029 are escaped too.
 * `JSON.parse` gives back the same value as `JSON.parse(JSON.stringify(value))`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { scriptJson } from "./report.ts";
 * const json = scriptJson({ name: "</script>" });
 * assert.equal(json, '{"name":"\\u003c/script\\u003e"}'); // cannot end the script element
 * assert.deepStrictEqual(JSON.parse(json), { name: "</script>" });
 * ```
 */
export function scriptJson(value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) {
    throw new TypeError("Cannot embed the value as JSON: it has no JSON form");
  }
  return json.replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

function isFiniteNumber(x: unknown): x is number {
  return typeof x === "number" && Number.isFinite(x);
}

function checkSummary(m: unknown, field: string): void {
  const s = m as MetricSummary | null;
  if (s === null || typeof s !== "object" || !Array.isArray(s.ci) || s.ci.length !== 2) {
    throw new TypeError(
      `${field} must be a MetricSummary {mean, ci: [low, high], scored, excluded}`,
    );
  }
  for (const v of [s.mean, s.ci[0], s.ci[1]]) {
    // NaN (no image scored) is allowed; it is written as null in JSON.
    if (v !== null && typeof v !== "number") {
      throw new TypeError(`${field} must hold numbers, got ${JSON.stringify(v)}`);
    }
  }
}

function imageSource(value: Uint8Array | string, field: string): string {
  if (typeof value === "string") {
    if (!value.startsWith(DATA_PNG)) {
      throw new TypeError(`${field} must be PNG bytes or a "${DATA_PNG}" URI`);
    }
    return value;
  }
  if (value.length < 8 || PNG_SIGNATURE.some((b, i) => value[i] !== b)) {
    throw new TypeError(`${field} is not a PNG: its first bytes are not the PNG signature`);
  }
  return DATA_PNG +
    Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64");
}

/** Checks the parts the page relies on; the message names the field at fault. */
function validate(data: ReportData, images: Record<string, string>): void {
  if (data === null || typeof data !== "object") throw new TypeError("results must be an object");
  if (typeof data.title !== "string") {
    throw new TypeError(`results.title must be a string, got ${JSON.stringify(data.title)}`);
  }
  data.trainLog?.forEach((r, i) => {
    if (!isFiniteNumber(r?.epoch)) {
      throw new TypeError(
        `results.trainLog[${i}].epoch must be a number, got ${JSON.stringify(r?.epoch)}`,
      );
    }
    if (r.metrics === null || typeof r.metrics !== "object") {
      throw new TypeError(`results.trainLog[${i}].metrics must be an object`);
    }
  });
  data.comparisons?.forEach((c, i) => {
    if (!Array.isArray(c?.groups)) {
      throw new TypeError(`results.comparisons[${i}].groups must be an array`);
    }
    c.groups.forEach((g, j) => {
      for (const [k, m] of Object.entries(g.metrics ?? {})) {
        checkSummary(m, `results.comparisons[${i}].groups[${j}].metrics.${k}`);
      }
    });
  });
  const c = data.classification;
  if (c !== undefined) {
    if (!Array.isArray(c.classNames)) {
      throw new TypeError("results.classification.classNames must be an array of strings");
    }
    const n = c.classNames.length;
    if (c.confusionMatrix !== undefined) {
      const m = c.confusionMatrix;
      if (m.length !== n || m.some((row) => !Array.isArray(row) || row.length !== n)) {
        throw new RangeError(
          `results.classification.confusionMatrix must be ${n}x${n} (one row and column per class name)`,
        );
      }
    }
    if (c.perClass !== undefined && c.perClass.perClass.length !== n) {
      throw new RangeError(
        `results.classification.perClass.perClass has ${c.perClass.perClass.length} entries, expected ${n} (one per class name)`,
      );
    }
    if (c.accuracy !== undefined) checkSummary(c.accuracy, "results.classification.accuracy");
  }
  data.gallery?.forEach((g, i) => {
    g.items.forEach((item, j) => {
      item.images.forEach((im, k) => {
        const field = `results.gallery[${i}].items[${j}].images[${k}].image`;
        if (typeof im.image !== "string") throw new TypeError(`${field} must be a string`);
        if (im.image in images || im.image.startsWith(DATA_PNG)) return;
        if (/^[a-z][a-z0-9+.-]*:/i.test(im.image) || im.image.startsWith("//")) {
          throw new TypeError(
            `${field} "${im.image}" is neither a key of options.images, a PNG data URI nor a relative path`,
          );
        }
      });
    });
  });
}

/**
 * Renders the report page as one HTML string (Plotly inlined). See
 * {@linkcode writeReport}.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { renderReport } from "./report.ts";
 * const html = await renderReport({ title: "Smoke" }, { plotlySource: "" });
 * assert.ok(html.includes("<title>Smoke</title>"));
 * ```
 */
export async function renderReport(
  results: ReportData,
  options: WriteReportOptions = {},
): Promise<string> {
  const images: Record<string, string> = {};
  for (const [key, value] of Object.entries(options.images ?? {})) {
    images[key] = imageSource(value, `options.images["${key}"]`);
  }
  validate(results, images);
  const plotly = (options.plotlySource ?? await loadPlotlySource())
    .replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--");
  const title = escapeHtml(results.title);
  const subtitle = typeof results.subtitle === "string"
    ? `<p class="subtitle">${escapeHtml(results.subtitle)}</p>`
    : "";
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="saliency-lab writeReport, plotly.js ${PLOTLY_VERSION}">
<title>${title}</title>
<style>${REPORT_CSS}</style>
</head>
<body>
<header><h1>${title}</h1>${subtitle}<nav></nav></header>
<main></main>
<footer><div id="report-status" data-state="loading">The report needs JavaScript.</div></footer>
<script type="application/json" id="report-data">${scriptJson(results)}</script>
<script type="application/json" id="report-images">${scriptJson(images)}</script>
<script>${plotly}</script>
<script>${REPORT_SCRIPT}</script>
</body>
</html>
`;
}

/**
 * Writes a run's report as one self-contained HTML file that opens offline:
 * Plotly (plotly.js-dist 3.7.0, about 11 MB) is inlined, gallery pictures are
 * embedded as data URIs. `results` is embedded as is (as JSON) and every
 * figure and table is built from it in the page, so pass the very object
 * written as `results.json`. Text from data (class names, ids, titles) is
 * shown as text, never read as HTML. The file is written atomically.
 *
 * @param path Where to write the HTML file.
 * @param results The run's results (see {@linkcode ReportData}).
 * @param options Gallery pictures and the Plotly source.
 * @throws {TypeError} A field of `results` or `options.images` has the wrong type.
 * @throws {RangeError} The confusion matrix or per-class table does not match the class names.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { writeReport } from "./report.ts";
 * const dir = await Deno.makeTempDir();
 * await writeReport(`${dir}/report.html`, {
 *   title: "Demo run",
 *   trainLog: [
 *     { epoch: 1, metrics: { train_loss: 0.9, val_loss: 1.0 } },
 *     { epoch: 2, metrics: { train_loss: 0.5, val_loss: 0.7 } },
 *   ],
 *   classification: { classNames: ["cat", "dog"], confusionMatrix: [[5, 1], [2, 4]] },
 * });
 * const html = await Deno.readTextFile(`${dir}/report.html`);
 * assert.ok(html.length > 1_000_000); // Plotly is inlined: the page works offline
 * assert.ok(html.includes("<title>Demo run</title>"));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeReport(
  path: string,
  results: ReportData,
  options: WriteReportOptions = {},
): Promise<void> {
  let html: string;
  try {
    html = await renderReport(results, options);
  } catch (error) {
    if (!(error instanceof TypeError) && !(error instanceof RangeError)) throw error;
    const Ctor = error instanceof RangeError ? RangeError : TypeError;
    throw new Ctor(`Cannot write report "${path}": ${error.message}`, { cause: error });
  }
  await writeFileAtomic(path, html);
}
