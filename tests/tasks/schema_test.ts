import assert from "node:assert/strict";
import { runTask, TINY_COMPARE as TINY } from "./_run.ts";
import {
  assertMatchesSchema,
  assertSummaryAgrees,
  markdownRow,
  markdownTables,
  SCHEMA_TASKS,
} from "./_schema.ts";

/** The outputs of one real compare-gradcam run, made once for every test of this file. */
let compareRun: Promise<{ results: ReturnType<typeof JSON.parse>; summary: string }> | null = null;

function compareOutputs() {
  compareRun ??= (async () => {
    const dir = await Deno.makeTempDir();
    try {
      const r = await runTask("tasks/compare_gradcam.ts", [...TINY, `--out=${dir}`], [
        "--allow-run",
      ]);
      assert.equal(r.code, 0, r.stderr);
      return {
        results: JSON.parse(await Deno.readTextFile(`${dir}/results.json`)),
        summary: await Deno.readTextFile(`${dir}/summary.md`),
      };
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  })();
  return compareRun;
}

/** A fresh copy of the real compare-gradcam results.json and its summary.md. */
async function compare() {
  const { results, summary } = await compareOutputs();
  return { results: structuredClone(results), summary };
}

/**
 * Outputs of the train, evaluate, transfer and sweep tiny presets, made by running the tasks at
 * commit 0330260 (see tests/fixtures/schemas/README.md).
 */
async function fixture(task: string) {
  const dir = `tests/fixtures/schemas/${task}`;
  const results = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
  const summary = task === "train" ? "" : await Deno.readTextFile(`${dir}/summary.md.txt`);
  return { results, summary };
}

/** The message of the error `fn` throws; fails when it throws none. */
function messageOf(fn: () => void): string {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  assert.fail("expected an error, but none was thrown");
}

/** summary.md with line `line` (1-based) passed through `edit`. */
function editLine(md: string, line: number, edit: (text: string) => string): string {
  const lines = md.split("\n");
  const changed = edit(lines[line - 1]);
  assert.notEqual(changed, lines[line - 1], "the edit changes the line");
  lines[line - 1] = changed;
  return lines.join("\n");
}

/** The 1-based line of summary.md that starts `start`. */
function lineOf(md: string, start: string): number {
  const i = md.split("\n").findIndex((l) => l.startsWith(start));
  assert.ok(i >= 0, `summary.md has a line starting ${start}`);
  return i + 1;
}

Deno.test("assertMatchesSchema() passes on a real compare-gradcam results.json and assertSummaryAgrees() on its summary.md", async () => {
  const { results, summary } = await compare();
  assertMatchesSchema(results, "compare-gradcam");
  assertMatchesSchema(results, "compare_gradcam");
  assertSummaryAgrees(summary, results, "compare-gradcam");
});

Deno.test("assertMatchesSchema() passes on the train, evaluate, transfer and sweep outputs, and their summaries agree", async () => {
  for (const task of ["train", "evaluate", "transfer", "sweep"]) {
    const { results, summary } = await fixture(task);
    assert.equal(results.run.task, task);
    assertMatchesSchema(results, task);
    if (task !== "train") assertSummaryAgrees(summary, results, task);
  }
  assert.deepEqual([...SCHEMA_TASKS].sort(), [
    "compare-gradcam",
    "evaluate",
    "sweep",
    "train",
    "transfer",
  ]);
});

Deno.test("assertMatchesSchema() fails naming the field when a required field is deleted", async () => {
  const { results } = await compare();
  delete results.run.seed;
  delete results.seeds[0].a.classification.accuracy;
  delete results.summary;
  const message = messageOf(() => assertMatchesSchema(results, "compare-gradcam"));
  assert.match(message, /results\.json of compare-gradcam does not match/);
  assert.match(message, /tasks\/schemas\/compare_gradcam\.schema\.json \(3 errors\)/);
  assert.match(message, /^ {2}\/run: must have required property 'seed'$/m);
  assert.match(
    message,
    /^ {2}\/seeds\/0\/a\/classification: must have required property 'accuracy'$/m,
  );
  assert.match(message, /^ {2}\(top level\): must have required property 'summary'$/m);
});

Deno.test("assertMatchesSchema() fails naming the field when a metric is a string", async () => {
  const { results } = await compare();
  results.seeds[0].b.explainers.branch.metrics.energyPointingGame.mean = "0.5";
  assert.throws(
    () => assertMatchesSchema(results, "compare-gradcam"),
    /\/seeds\/0\/b\/explainers\/branch\/metrics\/energyPointingGame\/mean: must be number,null, got "0\.5"/,
  );
});

Deno.test("assertMatchesSchema() fails when an accuracy is 1.7, in the headline and in a seed's evaluation", async () => {
  const { results } = await compare();
  results.summary.accuracy.a.mean = 1.7;
  results.seeds[0].b.classification.accuracy.mean = 1.7;
  const message = messageOf(() => assertMatchesSchema(results, "compare-gradcam"));
  assert.match(message, /\/summary\/accuracy\/a\/mean: must be <= 1, got 1\.7/);
  assert.match(
    message,
    /\/seeds\/0\/b\/classification\/accuracy\/mean: must be <= 1, got 1\.7/,
  );
  const sweep = (await fixture("sweep")).results;
  sweep.cells[1].classification.accuracy.mean = -0.25;
  assert.throws(
    () => assertMatchesSchema(sweep, "sweep"),
    /\/cells\/1\/classification\/accuracy\/mean: must be >= 0, got -0\.25/,
  );
});

Deno.test("assertMatchesSchema() takes null for NaN and t intervals across seeds beyond [0, 1], not image bootstrap intervals beyond it", async () => {
  const { results } = await compare();
  // JSON.stringify writes NaN as null: a metric no image could be scored on.
  const nan = JSON.parse(JSON.stringify({ mean: NaN, ci: [NaN, NaN], scored: 0, excluded: 4 }));
  assert.deepEqual(nan, { mean: null, ci: [null, null], scored: 0, excluded: 4 });
  results.seeds[0].a.explainers["grad-cam"].metrics.maskAuc = nan;
  results.seeds[0].a.explainers["grad-cam"].maxBoxAccV2 = null;
  results.summary.maps["(a) grad-cam"].maskAuc = { mean: null, ci: [null, null] };
  results.summary.tests[1].wilcoxonP = null;
  assertMatchesSchema(results, "compare-gradcam");

  // The sweep fixture pools two seeds with a t interval that leaves [0, 1].
  const sweep = (await fixture("sweep")).results;
  const ends = sweep.ranking.flatMap((r: { metrics: Record<string, { ci: number[] }> }) =>
    Object.values(r.metrics).flatMap((m) => m.ci)
  );
  assert.ok(ends.some((v: number) => v < 0 || v > 1), "a t interval leaves [0, 1]");
  assertMatchesSchema(sweep, "sweep");

  results.seeds[0].a.classification.accuracy.ci = [0.2, 1.3];
  assert.throws(
    () => assertMatchesSchema(results, "compare-gradcam"),
    /\/seeds\/0\/a\/classification\/accuracy\/ci\/1: must be <= 1, got 1\.3/,
  );
});

Deno.test("assertMatchesSchema() fails on another task's run record, a bad tfjs version or an unknown engine", async () => {
  const { results } = await compare();
  results.run.task = "train";
  results.run.versions.tfjs = "latest";
  results.engine = "tpu";
  results.summary.over = "pixels";
  const message = messageOf(() => assertMatchesSchema(results, "compare-gradcam"));
  assert.match(message, /\/run\/task: must be equal to constant "compare-gradcam", got "train"/);
  assert.match(message, /\/run\/versions\/tfjs: must match pattern .*, got "latest"/);
  assert.match(message, /\/engine: must be equal to one of the allowed values \("tensorflow", /);
  assert.match(message, /\/summary\/over: .*\("images", "seeds"\), got "pixels"/);
});

Deno.test("assertMatchesSchema() lists at most 30 errors and says how many more there are", async () => {
  const { results } = await fixture("transfer");
  let broken = 0;
  for (const p of results.pipelines) {
    for (const r of p.evaluation.perImage) {
      for (const scores of Object.values(r.scores) as Record<string, number>[]) {
        for (const metric of Object.keys(scores)) {
          scores[metric] = 2;
          broken++;
        }
      }
    }
  }
  assert.ok(broken > 30, `${broken} scores`);
  const message = messageOf(() => assertMatchesSchema(results, "transfer"));
  assert.match(message, new RegExp(`\\(${broken} errors\\)`));
  assert.equal(message.match(/: must be <= 1, got 2$/gm)?.length, 30);
  assert.match(
    message,
    /^ {2}\/pipelines\/0\/evaluation\/perImage\/0\/scores\/branch\/\w+: must be <= 1/m,
  );
  assert.match(message, new RegExp(`… and ${broken - 30} more$`));
});

Deno.test("assertMatchesSchema() and assertSummaryAgrees() refuse a task they know no schema or summary of", () => {
  assert.throws(
    () => assertMatchesSchema({}, "bench"),
    (e: Error) =>
      e instanceof TypeError &&
      /task "bench": expected one of compare-gradcam, train, evaluate, transfer, sweep/.test(
        e.message,
      ),
  );
  assert.throws(
    () => assertSummaryAgrees("", {}, "train"),
    /Cannot check summary\.md of task "train": expected one of compare-gradcam, evaluate, transfer, sweep/,
  );
});

Deno.test("assertSummaryAgrees() fails naming the line, row, column and field when one number of compare-gradcam's summary.md is altered", async () => {
  const { results, summary } = await compare();
  const line = lineOf(summary, "| (b) branch |");
  const energy = results.summary.maps["(b) branch"].energyPointingGame.mean;
  const shown = energy.toFixed(3);
  const altered = (energy + 0.01).toFixed(3);
  const md = editLine(summary, line, (l) => l.replace(`| ${shown} [`, `| ${altered} [`));
  const message = messageOf(() => assertSummaryAgrees(md, results, "compare-gradcam"));
  assert.ok(
    message.includes(
      `summary.md of compare-gradcam, line ${line}: row "(b) branch", column "energy on object" ` +
        `shows "${altered} [`,
    ),
    message,
  );
  assert.ok(
    message.includes(`results.json summary.maps["(b) branch"].energyPointingGame is`),
    message,
  );
  // A paired test's p-value, and the accuracy in percent.
  const accLine = lineOf(summary, "| (a) baseline |");
  const acc = editLine(summary, accLine, (l) => l.replace(/\| ([\d.]+) \[/, "| 99.9 ["));
  assert.throws(
    () => assertSummaryAgrees(acc, results, "compare-gradcam"),
    new RegExp(`line ${accLine}: row "\\(a\\) baseline", column "test accuracy \\(%\\)"`),
  );
  const pLine = lineOf(summary, "| classifier (b) vs (a) |");
  const p = editLine(
    summary,
    pLine,
    (l) => l.replace(/\| ([\d.]+|<0\.0001|n\/a) \|$/, "| 0.0123 |"),
  );
  assert.throws(
    () => assertSummaryAgrees(p, results, "compare-gradcam"),
    /column "Wilcoxon p" shows "0\.0123", but results\.json summary\.tests\[0\]\.wilcoxonP/,
  );
});

Deno.test("assertSummaryAgrees() fails when a number of transfer's, sweep's or evaluate's summary.md is altered", async () => {
  const t = await fixture("transfer");
  const tLine = lineOf(t.summary, "| (1) vs (3) | grad-cam |");
  const tMd = editLine(t.summary, tLine, (l) => l.replace(/\| (\d+) \|/, "| 99 |"));
  assert.throws(
    () => assertSummaryAgrees(tMd, t.results, "transfer"),
    new RegExp(
      `line ${tLine}: row "\\(1\\) vs \\(3\\)", column "images" shows "99", but results\\.json pairedTests\\[3\\]\\.n is 9`,
    ),
  );
  const e = await fixture("evaluate");
  const eLine = lineOf(e.summary, "| expected calibration error |");
  const eMd = editLine(e.summary, eLine, (l) => l.replace(/\| [\d.]+ \|$/, "| 0.9999 |"));
  assert.throws(
    () => assertSummaryAgrees(eMd, e.results, "evaluate"),
    /evaluation\.classification\.expectedCalibrationError is 0\.344\d+, which the task prints as "0\.3447"/,
  );
  const s = await fixture("sweep");
  const sLine = lineOf(s.summary, "| 2 |");
  const sMd = editLine(
    s.summary,
    sLine,
    (l) => l.replace("| 0.500 [0.500, 0.500] |", "| 0.500 [0.500, 0.501] |"),
  );
  assert.throws(
    () => assertSummaryAgrees(sMd, s.results, "sweep"),
    new RegExp(`line ${sLine}: row "2", column "accuracy"`),
  );
});

Deno.test("assertSummaryAgrees() fails when sweep's rows leave rank order or transfer's table loses a row", async () => {
  const s = await fixture("sweep");
  const first = lineOf(s.summary, "| 1 |");
  const lines = s.summary.split("\n");
  [lines[first - 1], lines[first]] = [lines[first], lines[first - 1]];
  assert.throws(
    () => assertSummaryAgrees(lines.join("\n"), s.results, "sweep"),
    /has rows \["plain_cnn-cam-bce-w1","reference-builtin-bce-w1"\], but results\.json ranking\[\]\.config \(best first\) holds \["reference-builtin-bce-w1","plain_cnn-cam-bce-w1"\]/,
  );
  const t = await fixture("transfer");
  const gone = t.summary.split("\n").filter((l) => !l.startsWith("| (3) target alone |"));
  assert.throws(
    () => assertSummaryAgrees(gone.join("\n"), t.results, "transfer"),
    /results\.json pipelines\[\]\.name holds \[.*"\(3\) target alone"\]/,
  );
});

Deno.test("assertSummaryAgrees() rounds as the tasks do: sweep's 0.4375 [0.0625, 0.8125] reads 0.438 [0.063, 0.813]", async () => {
  // A worked example, figures typed by hand: toFixed(3) rounds these exact binary ties up.
  const { results, summary } = await fixture("sweep");
  results.ranking[0].metrics.accuracy = { mean: 0.4375, ci: [0.0625, 0.8125], seeds: 2 };
  const line = lineOf(summary, "| 1 |");
  const withCell = (cell: string) =>
    editLine(summary, line, (l) => {
      const cells = markdownRow(l)!;
      cells[6] = cell;
      return `| ${cells.join(" | ")} |`;
    });
  assertSummaryAgrees(withCell("0.438 [0.063, 0.813]"), results, "sweep");
  assert.throws(
    () => assertSummaryAgrees(withCell("0.437 [0.062, 0.812]"), results, "sweep"),
    /which the task prints as "0\.438 \[0\.063, 0\.813\]"/,
  );
  // A mean that is NaN (null in JSON) prints "n/a" for the whole figure.
  results.ranking[0].metrics.accuracy = { mean: null, ci: [null, null], seeds: 0 };
  assertSummaryAgrees(withCell("n/a"), results, "sweep");
  assert.throws(() => assertSummaryAgrees(withCell("n/a [n/a, n/a]"), results, "sweep"));
});

Deno.test("assertSummaryAgrees() reads compare-gradcam's percentages: 0.375 [0.0625, 0.6875] is 37.5 [6.3, 68.8]", async () => {
  const { results, summary } = await compare();
  results.summary.accuracy.a = { mean: 0.375, ci: [0.0625, 0.6875] };
  const line = lineOf(summary, "| (a) baseline |");
  const md = (cell: string) => editLine(summary, line, () => `| (a) baseline | ${cell} |`);
  assertSummaryAgrees(md("37.5 [6.3, 68.8]"), results, "compare-gradcam");
  assert.throws(
    () => assertSummaryAgrees(md("0.375 [0.063, 0.688]"), results, "compare-gradcam"),
    /is \{"mean":0\.375,"ci":\[0\.0625,0\.6875\]\}, which the task prints as "37\.5 \[6\.3, 68\.8\]"/,
  );
});

Deno.test("markdownTables() reads header, rows and their lines, padded or not, skipping the separator", () => {
  const md = [
    "# t",
    "",
    "| a   | b    |",
    "| --- | :--: |",
    "| 1   | x y  |",
    "|2|3|",
    "text",
    "| c |",
    "|---|",
  ].join("\n");
  assert.deepEqual(markdownTables(md), [
    {
      line: 3,
      header: ["a", "b"],
      rows: [{ line: 5, cells: ["1", "x y"] }, { line: 6, cells: ["2", "3"] }],
    },
    { line: 8, header: ["c"], rows: [] },
  ]);
  assert.equal(markdownRow("| only start"), null);
  assert.deepEqual(markdownRow("  | 0.1 [0.0, 0.2] | n/a |  "), ["0.1 [0.0, 0.2]", "n/a"]);
});
