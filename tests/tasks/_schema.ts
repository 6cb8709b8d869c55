// Checks of a task's outputs for the task tests: results.json against its JSON schema in
// tasks/schemas/ (Ajv, draft 2020-12, resolved offline), and the figures of summary.md against
// results.json, rounded the way the task rounds them. Private to tests/tasks/.
//
// The Ajv specifier lives here and nowhere else: it is a test-only dependency.
import assert from "node:assert/strict";
import { Ajv2020 } from "npm:ajv@8.20.0/dist/2020.js";
import type { ErrorObject, ValidateFunction } from "npm:ajv@8.20.0/dist/2020.js";
import type { RankedConfig } from "../../lib/studies/sweep.ts";

/** The tasks whose results.json has a schema, by their `deno task` name. */
export const SCHEMA_TASKS = ["compare-gradcam", "train", "evaluate", "transfer", "sweep"] as const;

/** The tasks that write a summary.md that {@linkcode assertSummaryAgrees} checks. */
export const SUMMARY_TASKS = ["compare-gradcam", "evaluate", "transfer", "sweep"] as const;

const SCHEMA_DIR = new URL("../../tasks/schemas/", import.meta.url);

/** At most this many schema errors are listed in a failure message. */
const MAX_ERRORS = 30;

/** "compare-gradcam" or "compare_gradcam" to "compare-gradcam"; fails on a task without a schema. */
function taskName(task: string, known: readonly string[], what: string): string {
  const name = task.replaceAll("_", "-");
  if (!known.includes(name)) {
    throw new TypeError(
      `Cannot check ${what} of task "${task}": expected one of ${known.join(", ")}`,
    );
  }
  return name;
}

let ajv: Ajv2020 | null = null;
const validators = new Map<string, ValidateFunction>();

function readSchema(file: string): Record<string, unknown> {
  return JSON.parse(Deno.readTextFileSync(new URL(file, SCHEMA_DIR)));
}

/** The compiled schema of `task` (compiled once), and its path for messages. */
function validatorOf(task: string): { validate: ValidateFunction; path: string } {
  const file = `${task.replaceAll("-", "_")}.schema.json`;
  let validate = validators.get(file);
  if (!validate) {
    if (!ajv) {
      // strict: unknown keywords and formats are errors in the schemas themselves.
      ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
      ajv.addSchema(readSchema("common.schema.json"));
    }
    const schema = readSchema(file);
    try {
      validate = ajv.compile(schema);
    } catch (error) {
      // Leave no half-added schema behind: a later call reports the same error again.
      if (typeof schema.$id === "string") ajv.removeSchema(schema.$id);
      throw error;
    }
    validators.set(file, validate);
  }
  return { validate, path: `tasks/schemas/${file}` };
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** One Ajv error as `instancePath: message`, with what was allowed and what was found. */
function describeError(e: ErrorObject): string {
  const at = e.instancePath === "" ? "(top level)" : e.instancePath;
  let what = e.message ?? e.keyword;
  const params = e.params as Record<string, unknown>;
  if (e.keyword === "additionalProperties") what += ` ("${params.additionalProperty}")`;
  if (e.keyword === "enum") {
    what += ` (${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")})`;
  }
  if (e.keyword === "const") what += ` ${JSON.stringify(params.allowedValue)}`;
  const scalar = e.data === null || typeof e.data !== "object";
  if (e.keyword !== "required" && scalar) what += `, got ${preview(e.data)}`;
  return `${at}: ${what}`;
}

/**
 * Asserts that `value` (a parsed results.json) matches the JSON schema of
 * `task` in `tasks/schemas/`. On a mismatch it fails listing every Ajv error
 * as `instancePath: message` (what was found, too), so the message names the
 * field: `/summary/accuracy/a/mean: must be <= 1, got 1.7`.
 *
 * @param value The parsed results.json.
 * @param task The task: compare-gradcam, train, evaluate, transfer or sweep.
 *
 * @example Check the train fixture
 * ```ts
 * import { assertMatchesSchema } from "./_schema.ts";
 * const results = JSON.parse(
 *   await Deno.readTextFile("tests/fixtures/schemas/train/results.json"),
 * );
 * assertMatchesSchema(results, "train"); // passes
 * ```
 */
export function assertMatchesSchema(value: unknown, task: string): void {
  const name = taskName(task, SCHEMA_TASKS, "results.json");
  const { validate, path } = validatorOf(name);
  if (validate(value)) return;
  const errors = [...new Set((validate.errors ?? []).map(describeError))];
  const listed = errors.slice(0, MAX_ERRORS).map((line) => `  ${line}`);
  if (errors.length > MAX_ERRORS) listed.push(`  … and ${errors.length - MAX_ERRORS} more`);
  assert.fail(
    `results.json of ${name} does not match ${path} (${errors.length} error${
      errors.length === 1 ? "" : "s"
    }):\n${listed.join("\n")}`,
  );
}

// ---------------------------------------------------------------------------
// Markdown tables

/** One row of a markdown table: its cells, trimmed, and its 1-based line in the file. */
export interface MarkdownRow {
  line: number;
  cells: string[];
}

/** A markdown table: its header cells and body rows (the `|---|` line left out). */
export interface MarkdownTable {
  /** 1-based line of the header. */
  line: number;
  header: string[];
  rows: MarkdownRow[];
}

/**
 * The cells of one markdown table line (`| a | b |` → `["a", "b"]`), or
 * null when the line is no table row.
 *
 * @example Usage
 * ```ts
 * import { markdownRow } from "./_schema.ts";
 * console.log(markdownRow("| (a) baseline | 25.0 [0.0, 75.0] |")); // [ "(a) baseline", "25.0 [0.0, 75.0]" ]
 * console.log(markdownRow("Seeds 0, 1.")); // null
 * ```
 */
export function markdownRow(line: string): string[] | null {
  const t = line.trim();
  if (t.length < 2 || !t.startsWith("|") || !t.endsWith("|")) return null;
  return t.slice(1, -1).split("|").map((c) => c.trim());
}

const SEPARATOR = /^:?-+:?$/;

/**
 * Every table of a markdown text, in order.
 *
 * @example Usage
 * ```ts
 * import { markdownTables } from "./_schema.ts";
 * const [t] = markdownTables("# x\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
 * console.log(t.line, t.header, t.rows); // 3 [ "a", "b" ] [ { line: 5, cells: [ "1", "2" ] } ]
 * ```
 */
export function markdownTables(markdown: string): MarkdownTable[] {
  const tables: MarkdownTable[] = [];
  let current: MarkdownTable | null = null;
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const cells = markdownRow(lines[i]);
    if (cells === null) {
      current = null;
    } else if (current === null) {
      current = { line: i + 1, header: cells, rows: [] };
      tables.push(current);
    } else if (!cells.every((c) => SEPARATOR.test(c))) {
      current.rows.push({ line: i + 1, cells });
    }
  }
  return tables;
}

// ---------------------------------------------------------------------------
// Figures as the tasks print them

type Num = number | null;

/** A mean with its interval, as results.json holds it (null for NaN). */
interface Fig {
  mean: Num;
  ci: [Num, Num];
}

/** How a task prints a number: `(scale · v).toFixed(digits)`, "n/a" when not finite. */
interface Rounding {
  digits: number;
  /** Multiplier before rounding (100 for percentages). */
  scale?: number;
  /** A whole figure prints "n/a" when its mean is not finite (else each number does). */
  wholeNa?: boolean;
  /** p-values below 1e-4 print "<0.0001". */
  pValue?: boolean;
}

const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

function shown(v: Num | undefined, r: Rounding): string {
  if (!finite(v)) return "n/a";
  if (r.pValue && v < 1e-4) return "<0.0001";
  return ((r.scale ?? 1) * v).toFixed(r.digits);
}

function shownFigure(f: Fig | undefined, r: Rounding): string {
  if (f === undefined || (r.wholeNa && !finite(f.mean))) return "n/a";
  return `${shown(f.mean, r)} [${shown(f.ci[0], r)}, ${shown(f.ci[1], r)}]`;
}

/** Whether one printed number reads back as `v` rounded as the task rounds it. */
function tokenAgrees(token: string, v: Num | undefined, r: Rounding): boolean {
  if (!finite(v)) return token === "n/a";
  if (r.pValue && v < 1e-4) return token === "<0.0001";
  const x = Number(token);
  return token !== "" && Number.isFinite(x) &&
    x === Number(((r.scale ?? 1) * v).toFixed(r.digits));
}

/** Where a cell is, for messages. */
interface Where {
  task: string;
  table: MarkdownTable;
  row: MarkdownRow;
  column: number;
}

function cellOf(w: Where): string {
  const cell = w.row.cells[w.column];
  if (cell === undefined) {
    assert.fail(
      `summary.md of ${w.task}, line ${w.row.line}: row "${w.row.cells[0]}" has ` +
        `${w.row.cells.length} cells, but its table (line ${w.table.line}) has ` +
        `${w.table.header.length} columns`,
    );
  }
  return cell;
}

function mismatch(w: Where, cell: string, path: string, value: unknown, expected: string): never {
  assert.fail(
    `summary.md of ${w.task}, line ${w.row.line}: row "${w.row.cells[0]}", column ` +
      `"${w.table.header[w.column]}" shows "${cell}", but results.json ${path} is ` +
      `${preview(value)}, which the task prints as "${expected}"`,
  );
}

/** Checks a cell that shows one number. */
function checkNumber(w: Where, path: string, v: Num | undefined, r: Rounding): void {
  const cell = cellOf(w);
  if (!tokenAgrees(cell, v, r)) mismatch(w, cell, path, v, shown(v, r));
}

/** Checks a cell that shows `mean [low, high]` (or "n/a"). */
function checkFigure(w: Where, path: string, f: Fig | undefined, r: Rounding): void {
  const cell = cellOf(w);
  const expected = shownFigure(f, r);
  if (expected === "n/a") {
    if (cell !== "n/a") mismatch(w, cell, path, f ?? null, expected);
    return;
  }
  const m = /^(\S+) \[(\S+), (\S+)\]$/.exec(cell);
  const agrees = m !== null && tokenAgrees(m[1], f!.mean, r) &&
    tokenAgrees(m[2], f!.ci[0], r) && tokenAgrees(m[3], f!.ci[1], r);
  if (!agrees) mismatch(w, cell, path, f, expected);
}

/** Checks a cell that shows text (a name, a config). */
function checkText(w: Where, path: string, value: string): void {
  const cell = cellOf(w);
  if (cell !== value) mismatch(w, cell, path, value, value);
}

/** The table whose header starts with `start`; fails naming the header when there is none. */
function findTable(task: string, tables: MarkdownTable[], start: string[]): MarkdownTable {
  const t = tables.find((t) => start.every((h, i) => t.header[i] === h));
  if (!t) {
    assert.fail(`summary.md of ${task} has no table whose header starts | ${start.join(" | ")} |`);
  }
  return t;
}

/** Fails unless the table has one row per name, in order, each with a cell per column. */
function checkRows(task: string, t: MarkdownTable, names: string[], path: string, col = 0): void {
  const shownNames = t.rows.map((r) => r.cells[col]);
  if (JSON.stringify(shownNames) !== JSON.stringify(names)) {
    assert.fail(
      `summary.md of ${task}, line ${t.line}: the table | ${t.header.join(" | ")} | has rows ` +
        `${JSON.stringify(shownNames)}, but results.json ${path} holds ${JSON.stringify(names)}`,
    );
  }
  for (const row of t.rows) {
    if (row.cells.length !== t.header.length) {
      assert.fail(
        `summary.md of ${task}, line ${row.line}: row "${row.cells[0]}" has ` +
          `${row.cells.length} cells, but its table (line ${t.line}) has ${t.header.length} columns`,
      );
    }
  }
}

/** Fails unless `pattern`'s first group in the summary's text reads `expected`. */
function checkProse(task: string, md: string, pattern: RegExp, expected: string, path: string) {
  const m = pattern.exec(md);
  if (!m) assert.fail(`summary.md of ${task} has no text matching ${pattern}`);
  if (m[1] !== expected) {
    const line = md.slice(0, m.index).split("\n").length;
    assert.fail(
      `summary.md of ${task}, line ${line}: says "${m[0]}", but results.json ${path} gives ` +
        `"${expected}"`,
    );
  }
}

const key = (k: string) => /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;

// ---------------------------------------------------------------------------
// The tasks

interface PairedTest {
  comparison: string;
  metric: string;
  n: number;
  meanA: Num;
  meanB: Num;
  difference: { estimate: Num; ci: [Num, Num] };
  wilcoxonP: Num;
}

interface CompareResults {
  summary: {
    seeds: number[];
    over: "images" | "seeds";
    accuracy: { a: Fig; b: Fig };
    maps: Record<string, Record<string, Fig>>;
    tests: PairedTest[];
    shortcut: null | { cueEnergy: Record<string, Fig>; pairedTests: PairedTest[] };
    faithfulness?: Record<string, {
      deletionAuc: Num;
      controlDeletionAuc: Num;
      difference: { estimate: Num; ci: [Num, Num] };
      faithful: boolean;
    }>;
  };
}

/** compare-gradcam's table columns, by the label it prints (COMPARE_METRICS of lib/studies/design.ts). */
const COMPARE_COLUMNS: Record<string, string> = {
  "pointing game": "pointingGame",
  "energy on object": "energyPointingGame",
  "mask AUC": "maskAuc",
  "best IoU": "bestIou",
  "deletion AUC (lower is better)": "deletionAuc",
  "insertion AUC": "insertionAuc",
};

// compare-gradcam prints percentages to 1 decimal, other figures to 3, p-values to 4.
const PCT: Rounding = { digits: 1, scale: 100 };
const NUM3: Rounding = { digits: 3 };
const P4: Rounding = { digits: 4, pValue: true };

function checkPairedRows(
  task: string,
  t: MarkdownTable,
  tests: PairedTest[],
  path: string,
  columns: { metric: boolean },
): void {
  checkRows(task, t, tests.map((x) => x.comparison), path);
  tests.forEach((x, i) => {
    const row = t.rows[i];
    const at = (column: number): Where => ({ task, table: t, row, column });
    const p = `${path}[${i}]`;
    const scale = x.metric === "accuracy" ? PCT : NUM3;
    let c = 1;
    if (columns.metric) checkText(at(c++), `${p}.metric`, x.metric);
    checkNumber(at(c++), `${p}.n`, x.n, { digits: 0 });
    if (columns.metric) {
      checkNumber(at(c++), `${p}.meanA`, x.meanA, scale);
      checkNumber(at(c++), `${p}.meanB`, x.meanB, scale);
    }
    checkFigure(
      at(c++),
      `${p}.difference`,
      { mean: x.difference.estimate, ci: x.difference.ci },
      scale,
    );
    checkNumber(at(c++), `${p}.wilcoxonP`, x.wilcoxonP, P4);
  });
}

function compareGradcam(md: string, r: CompareResults): void {
  const task = "compare-gradcam";
  const s = r.summary;
  const tables = markdownTables(md);
  checkProse(task, md, /Seeds ([-\d, ]+)\./, s.seeds.join(", "), "summary.seeds");
  checkProse(
    task,
    md,
    /Figures: (95% percentile bootstrap intervals over test images|mean over \d+ seeds)/,
    s.over === "images"
      ? "95% percentile bootstrap intervals over test images"
      : `mean over ${s.seeds.length} seeds`,
    "summary.over",
  );

  const acc = findTable(task, tables, ["model", "test accuracy (%)"]);
  checkRows(task, acc, ["(a) baseline", "(b) supervised"], "summary.accuracy (a, b)");
  checkFigure(
    { task, table: acc, row: acc.rows[0], column: 1 },
    "summary.accuracy.a",
    s.accuracy.a,
    PCT,
  );
  checkFigure(
    { task, table: acc, row: acc.rows[1], column: 1 },
    "summary.accuracy.b",
    s.accuracy.b,
    PCT,
  );

  const maps = tables.find((t) => t.header[0] === "map" && t.header[1] in COMPARE_COLUMNS);
  if (!maps) assert.fail(`summary.md of ${task} has no table | map | pointing game | … |`);
  const names = Object.keys(s.maps);
  checkRows(task, maps, names, "summary.maps");
  maps.header.slice(1).forEach((label, j) => {
    const metric = COMPARE_COLUMNS[label];
    if (metric === undefined) {
      assert.fail(
        `summary.md of ${task}, line ${maps.line}: column "${label}" is no metric of ` +
          `summary.maps (known: ${Object.keys(COMPARE_COLUMNS).join(", ")})`,
      );
    }
    names.forEach((name, i) =>
      checkFigure(
        { task, table: maps, row: maps.rows[i], column: j + 1 },
        `summary.maps${key(name)}.${metric}`,
        s.maps[name][metric],
        NUM3,
      )
    );
  });

  const tests = findTable(task, tables, ["comparison", "metric", "n", "(a)", "(b)"]);
  checkPairedRows(task, tests, s.tests, "summary.tests", { metric: true });

  const cue = tables.find((t) =>
    t.header[0] === "map" && t.header[1] === "share of energy on the patch"
  );
  if (s.faithfulness) {
    const faith = findTable(task, tables, ["map", "deletion AUC"]);
    const faithNames = Object.keys(s.faithfulness);
    checkRows(task, faith, faithNames, "summary.faithfulness");
    faithNames.forEach((name, i) => {
      const f = s.faithfulness![name];
      const at = (column: number) => ({ task, table: faith, row: faith.rows[i], column });
      checkNumber(at(1), `summary.faithfulness${key(name)}.deletionAuc`, f.deletionAuc, NUM3);
      checkNumber(
        at(2),
        `summary.faithfulness${key(name)}.controlDeletionAuc`,
        f.controlDeletionAuc,
        NUM3,
      );
      checkFigure(
        at(3),
        `summary.faithfulness${key(name)}.difference`,
        { mean: f.difference.estimate, ci: f.difference.ci },
        NUM3,
      );
      checkText(at(6), `summary.faithfulness${key(name)}.faithful`, f.faithful ? "yes" : "**no**");
    });
  }
  if (s.shortcut === null) {
    if (cue) {
      assert.fail(
        `summary.md of ${task}, line ${cue.line}: shows a shortcut table, but results.json ` +
          `summary.shortcut is null`,
      );
    }
    return;
  }
  if (!cue) {
    assert.fail(
      `summary.md of ${task} has no table | map | share of energy on the patch |, but ` +
        `results.json summary.shortcut is set`,
    );
  }
  const cueNames = Object.keys(s.shortcut.cueEnergy);
  checkRows(task, cue, cueNames, "summary.shortcut.cueEnergy");
  cueNames.forEach((name, i) =>
    checkFigure(
      { task, table: cue, row: cue.rows[i], column: 1 },
      `summary.shortcut.cueEnergy${key(name)}`,
      s.shortcut!.cueEnergy[name],
      NUM3,
    )
  );
  const cueTests = findTable(task, tables, ["comparison", "n", "difference (b) − (a) [95% CI]"]);
  checkPairedRows(task, cueTests, s.shortcut.pairedTests, "summary.shortcut.pairedTests", {
    metric: false,
  });
}

interface TransferResults {
  data: { target: { fineTune: number; annotated: number; test: number } };
  pipelines: { name: string; accuracy: Fig; explainers: Record<string, Record<string, Fig>> }[];
  pairedTests: {
    comparison: string;
    explainer: string;
    n: number;
    difference: { estimate: Num; ci: [Num, Num] };
  }[];
}

/** transfer's metric columns, `<explainer> <label>` (tasks/transfer.ts METRICS). */
const TRANSFER_LABELS: Record<string, string> = {
  "energy on object": "energyPointingGame",
  "pointing game": "pointingGame",
};

// transfer and evaluate print every figure to 4 decimals; a whole figure is "n/a" without a mean.
const FIXED4: Rounding = { digits: 4 };
const FIGURE4: Rounding = { digits: 4, wholeNa: true };

function transfer(md: string, r: TransferResults): void {
  const task = "transfer";
  const target = r.data.target;
  checkProse(
    task,
    md,
    /Fine-tuned on (\d+) target images/,
    `${target.fineTune}`,
    "data.target.fineTune",
  );
  checkProse(task, md, /\((\d+) with masks\)/, `${target.annotated}`, "data.target.annotated");
  checkProse(task, md, /scored on (\d+) held-out/, `${target.test}`, "data.target.test");
  const tables = markdownTables(md);
  const main = findTable(task, tables, ["pipeline", "accuracy"]);
  checkRows(task, main, r.pipelines.map((p) => p.name), "pipelines[].name");
  const columns = main.header.slice(2).map((label) => {
    const suffix = Object.keys(TRANSFER_LABELS).find((l) => label.endsWith(` ${l}`));
    if (suffix === undefined) {
      assert.fail(
        `summary.md of ${task}, line ${main.line}: column "${label}" is not ` +
          `"<explainer> <${Object.keys(TRANSFER_LABELS).join(" | ")}>"`,
      );
    }
    return { explainer: label.slice(0, -suffix.length - 1), metric: TRANSFER_LABELS[suffix] };
  });
  r.pipelines.forEach((p, i) => {
    const at = (column: number): Where => ({ task, table: main, row: main.rows[i], column });
    checkFigure(at(1), `pipelines[${i}].accuracy`, p.accuracy, FIGURE4);
    columns.forEach(({ explainer, metric }, j) =>
      checkFigure(
        at(j + 2),
        `pipelines[${i}].explainers${key(explainer)}.${metric}`,
        p.explainers[explainer]?.[metric],
        FIGURE4,
      )
    );
  });
  const paired = findTable(task, tables, ["comparison", "explainer", "images", "difference"]);
  checkRows(task, paired, r.pairedTests.map((t) => t.comparison), "pairedTests[].comparison");
  r.pairedTests.forEach((t, i) => {
    const at = (column: number): Where => ({ task, table: paired, row: paired.rows[i], column });
    checkText(at(1), `pairedTests[${i}].explainer`, t.explainer);
    checkNumber(at(2), `pairedTests[${i}].n`, t.n, { digits: 0 });
    checkFigure(
      at(3),
      `pairedTests[${i}].difference`,
      { mean: t.difference.estimate, ci: t.difference.ci },
      FIXED4,
    );
  });
}

interface SweepResults {
  rankBy: string;
  cells: unknown[];
  incomplete: unknown[];
  /** As lib/studies/sweep.ts ranks them, figures read back from JSON (null for NaN). */
  ranking: (Omit<RankedConfig, "metrics"> & { metrics: Record<string, Fig> })[];
}

// sweep prints figures to 3 decimals, "n/a" for a figure without a mean.
const FIGURE3: Rounding = { digits: 3, wholeNa: true };
const SWEEP_COLUMNS = ["rank", "config", "backbone", "head", "loss", "weight"];

function sweep(md: string, r: SweepResults): void {
  const task = "sweep";
  checkProse(
    task,
    md,
    /^# sweep: (\d+ configurations, \d+ cells, ranked by \S+)$/m,
    `${r.ranking.length} configurations, ${
      r.cells.length + r.incomplete.length
    } cells, ranked by ${r.rankBy}`,
    "ranking, cells, incomplete and rankBy",
  );
  const t = findTable(task, markdownTables(md), SWEEP_COLUMNS);
  const configs = r.ranking.map((x) => x.config);
  checkRows(task, t, configs, "ranking[].config (best first)", 1);
  const metrics = t.header.slice(SWEEP_COLUMNS.length);
  r.ranking.forEach((x, i) => {
    const at = (column: number): Where => ({ task, table: t, row: t.rows[i], column });
    const p = `ranking[${i}]`;
    if (x.rank !== i + 1) {
      assert.fail(`results.json of ${task}: ${p}.rank is ${x.rank}, but it is row ${i + 1}`);
    }
    checkNumber(at(0), `${p}.rank`, x.rank, { digits: 0 });
    checkText(at(2), `${p}.backbone`, x.backbone);
    checkText(at(3), `${p}.head`, x.head);
    checkText(at(4), `${p}.loss`, x.loss);
    const weight = cellOf(at(5));
    if (Number(weight) !== x.weight) {
      mismatch(at(5), weight, `${p}.weight`, x.weight, `${x.weight}`);
    }
    const held = Object.keys(x.metrics);
    if (JSON.stringify([...held].sort()) !== JSON.stringify([...metrics].sort())) {
      assert.fail(
        `summary.md of ${task}, line ${t.line}: the table shows metrics ${
          JSON.stringify(metrics)
        }, ` +
          `but results.json ${p}.metrics holds ${JSON.stringify(held)}`,
      );
    }
    metrics.forEach((m, j) =>
      checkFigure(at(SWEEP_COLUMNS.length + j), `${p}.metrics${key(m)}`, x.metrics[m], FIGURE3)
    );
  });
}

interface EvaluateResults {
  dataset: { test: number };
  evaluation: {
    classification: {
      accuracy: Fig;
      balancedAccuracy: Num;
      macroF1: Num;
      rocAuc: { macro: Num } | null;
      expectedCalibrationError: Num;
    };
    explainers: Record<string, {
      metrics: Record<string, Fig & { scored: number; excluded: number }>;
      maxBoxAccV2: Num;
      pxap: Num;
      sanity?: { step: string; meanSpearman: Num }[];
    }>;
  };
}

function evaluate(md: string, r: EvaluateResults): void {
  const task = "evaluate";
  const ev = r.evaluation;
  const c = ev.classification;
  checkProse(task, md, /^(\d+) test images\./m, `${r.dataset.test}`, "dataset.test");
  const tables = markdownTables(md);
  const cls = findTable(task, tables, ["metric", "value"]);
  const p = "evaluation.classification";
  const rows: [string, string, Num | Fig, boolean][] = [
    ["accuracy", `${p}.accuracy`, c.accuracy, true],
    ["balanced accuracy", `${p}.balancedAccuracy`, c.balancedAccuracy, false],
    ["macro F1", `${p}.macroF1`, c.macroF1, false],
    ["ROC AUC (one vs rest, macro)", `${p}.rocAuc.macro`, c.rocAuc?.macro ?? null, false],
    [
      "expected calibration error",
      `${p}.expectedCalibrationError`,
      c.expectedCalibrationError,
      false,
    ],
  ];
  checkRows(task, cls, rows.map(([name]) => name), `${p} (accuracy, balancedAccuracy, …)`);
  rows.forEach(([, path, value, isFigure], i) => {
    const w: Where = { task, table: cls, row: cls.rows[i], column: 1 };
    if (isFigure) checkFigure(w, path, value as Fig, FIGURE4);
    else checkNumber(w, path, value as Num, FIXED4);
  });

  const names = Object.keys(ev.explainers);
  const ex = tables.find((t) =>
    t.header[0] === "explainer" && t.header.at(-2) === "MaxBoxAccV2" && t.header.at(-1) === "PxAP"
  );
  if (names.length === 0) {
    if (ex) {
      assert.fail(
        `summary.md of ${task}, line ${ex.line}: shows explainers, but results.json has none`,
      );
    }
    return;
  }
  if (!ex) assert.fail(`summary.md of ${task} has no table | explainer | … | MaxBoxAccV2 | PxAP |`);
  checkRows(task, ex, names, "evaluation.explainers");
  const metrics = ex.header.slice(1, -2);
  names.forEach((n, i) => {
    const e = ev.explainers[n];
    const at = (column: number): Where => ({ task, table: ex, row: ex.rows[i], column });
    const base = `evaluation.explainers${key(n)}`;
    metrics.forEach((m, j) =>
      checkFigure(at(j + 1), `${base}.metrics${key(m)}`, e.metrics[m], FIGURE4)
    );
    checkNumber(at(metrics.length + 1), `${base}.maxBoxAccV2`, e.maxBoxAccV2, FIXED4);
    checkNumber(at(metrics.length + 2), `${base}.pxap`, e.pxap, FIXED4);
  });
  const counts = names.map((n) => {
    const first = Object.values(ev.explainers[n].metrics)[0];
    return first ? `${n}: ${first.scored} scored, ${first.excluded} excluded` : null;
  }).filter((s) => s !== null);
  if (counts.length > 0) {
    checkProse(
      task,
      md,
      /Images per explainer: (.*)\.$/m,
      counts.join("; "),
      "evaluation.explainers[].metrics (scored, excluded)",
    );
  }

  const sane = names.filter((n) => ev.explainers[n].sanity);
  const st = tables.find((t) => t.header[0] === "explainer" && t !== ex);
  if (sane.length === 0) {
    if (st) {
      assert.fail(
        `summary.md of ${task}, line ${st.line}: shows a sanity table, but results.json has no sanity results`,
      );
    }
    return;
  }
  if (!st) assert.fail(`summary.md of ${task} has no sanity-check table`);
  checkRows(task, st, sane, "evaluation.explainers[].sanity");
  sane.forEach((n, i) => {
    const steps = ev.explainers[n].sanity!;
    const base = `evaluation.explainers${key(n)}.sanity`;
    if (JSON.stringify(st.header.slice(1)) !== JSON.stringify(steps.map((s) => s.step))) {
      assert.fail(
        `summary.md of ${task}, line ${st.line}: the sanity table's steps are ` +
          `${JSON.stringify(st.header.slice(1))}, but results.json ${base}[].step holds ` +
          `${JSON.stringify(steps.map((s) => s.step))}`,
      );
    }
    steps.forEach((s, j) =>
      checkNumber(
        { task, table: st, row: st.rows[i], column: j + 1 },
        `${base}[${j}].meanSpearman`,
        s.meanSpearman,
        FIXED4,
      )
    );
  });
}

/**
 * Asserts that summary.md shows the figures of results.json: every table row
 * a task writes (compare-gradcam's accuracy, map and paired-test tables and
 * its shortcut tables; transfer's pipeline and paired tables; sweep's ranked
 * table, in rank order; evaluate's classification, explainer and sanity
 * tables), its numbers parsed back from the text and compared with the
 * results.json values rounded as the task rounds them. It first checks
 * `results` against the task's schema, so that every figure it reads is
 * there. Fails naming the summary.md line, row and column and the
 * results.json path.
 *
 * @param summaryMd The text of summary.md.
 * @param results The parsed results.json of the same run.
 * @param task The task: compare-gradcam, evaluate, transfer or sweep (train writes no summary.md).
 *
 * @example Check the sweep fixture
 * ```ts
 * import { assertSummaryAgrees } from "./_schema.ts";
 * const dir = "tests/fixtures/schemas/sweep";
 * const results = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
 * assertSummaryAgrees(await Deno.readTextFile(`${dir}/summary.md.txt`), results, "sweep");
 * ```
 */
export function assertSummaryAgrees(summaryMd: string, results: unknown, task: string): void {
  const name = taskName(task, SUMMARY_TASKS, "summary.md");
  assertMatchesSchema(results, name);
  switch (name) {
    case "compare-gradcam":
      return compareGradcam(summaryMd, results as CompareResults);
    case "transfer":
      return transfer(summaryMd, results as TransferResults);
    case "sweep":
      return sweep(summaryMd, results as SweepResults);
    case "evaluate":
      return evaluate(summaryMd, results as EvaluateResults);
  }
}
