/**
 * `deno task sweep`: a grid over backbones × saliency heads × saliency
 * losses × loss weights × seeds, run one cell after another and resumable.
 * Each cell trains a two-branch model with `ce + weight · loss`, evaluates it
 * on the test split (accuracy, and localisation metrics of Grad-CAM and the
 * branch map) and writes `cells/<cellId>/result.json` atomically when done;
 * a rerun skips the cells already done. Seeds of one configuration are
 * aggregated (mean with a t interval over seeds; with one seed, the
 * bootstrap interval over images), ranked by `--rank-by`, and written to
 * `summary.md`, `results.json` and `report.html` under `--out`.
 *
 * A backbone registered with a whole model of its own (the reference
 * network, with its own saliency branch) takes no `--heads`: it makes one
 * cell per loss, weight and seed, with its own head (`reference`). The grid,
 * cell configs, pooling, ranking and summary are `lib/studies/sweep.ts`.
 *
 * @module
 */
import { resolve } from "node:path";
import {
  cellMetric,
  checkResumedRuns,
  collectRunInfo,
  defaultSweepGrid,
  initBackend,
  listBackbones,
  listExplainers,
  listSaliencyHeads,
  pathExists,
  rankChoices,
  REFERENCE_BACKBONE,
  SWEEP_VIT,
  type SweepCell,
  sweepCellConfig,
  type SweepCellResult,
  sweepCellResult,
  sweepCells,
  sweepCellSettings,
  type SweepConfig,
  sweepLossChoices,
  type SweepOutcome,
  sweepRecordConfig,
  sweepResults,
  type TrainRunResults,
  writeFileAtomic,
  writeJsonAtomic,
  writeReport,
} from "../mod.ts";
import {
  defaultFlags,
  type FlagSpec,
  mergeConfigObject,
  numberFlag,
  parseFlags,
  readConfigFile,
  runMain,
  UsageError,
} from "./_cli.ts";
import { engineFlags, listFlag, numberListFlag, studyFlags } from "./_shared_flags.ts";
import { DATASET_FLAGS, datasetFlags, openDataset } from "./_datasets.ts";
import {
  cellPaths,
  cellStatus,
  describeIncomplete,
  SLURM_FLAGS,
  submitArray,
  writeCells,
} from "./_slurm.ts";
import { completedRun, runTraining, trainConfigFrom } from "./train.ts";
import { trainConfigRecord } from "../lib/studies/train_run.ts";
import { GATE_FLAG, GATES, parseMicroBatch, PRETRAINED_FLAGS } from "./_model.ts";

const SUMMARY =
  "Sweep a grid of backbones × saliency heads × saliency losses × loss weights × seeds: train\n" +
  "each cell with cross-entropy + weight · loss, evaluate it on the test split, and rank the\n" +
  "configurations (seeds aggregated, mean with a 95% interval). Resumable: each finished cell\n" +
  "writes cells/<cellId>/result.json under --out and a rerun skips it. Writes summary.md,\n" +
  "results.json and report.html to --out. --seed fixes the data; --seeds are training seeds.\n" +
  "Each cell is a `deno task train` config file, cells/<cellId>.json. With --slurm the cells run\n" +
  "as a Slurm array job instead (each `deno task train --config <cell>.json`); resubmitting runs\n" +
  "only the cells without results, and --collect <out> gathers them into the table and report\n" +
  "(exit status 3 while some cells have no results).";

const FLAGS: Record<string, FlagSpec> = {
  backbones: {
    type: "string",
    default: "",
    help:
      `comma list of registered backbones (see listBackbones()); empty: ${REFERENCE_BACKBONE},plain_cnn, plus one ${SWEEP_VIT} configuration (the first head, loss and weight) from --pretrained when that is given, the others then from scratch`,
  },
  heads: {
    type: "string",
    default: "cam,decoder",
    help:
      "comma list of saliency heads (see listSaliencyHeads(); a backbone with a whole model of its own, such as reference, takes its own)",
  },
  gate: { ...GATE_FLAG, help: `${GATE_FLAG.help}; for the cells with the attention head` },
  losses: {
    type: "string",
    default: "bce,dice",
    help: `comma list of saliency losses added to cross-entropy (${sweepLossChoices().join(", ")})`,
  },
  weights: { type: "string", default: "1", help: "comma list of saliency loss weights (> 0)" },
  seeds: { type: "string", default: "0,1", help: "comma list of training seeds (whole numbers)" },
  "rank-by": {
    type: "string",
    default: "branch.energyPointingGame",
    help: "metric to rank by: accuracy or <explainer>.<metric>, e.g. grad-cam.maskAuc",
  },
  explainers: {
    type: "string",
    default: "grad-cam,branch",
    help: "comma list of explainers scored on the test split",
  },
  faithfulness: {
    type: "boolean",
    default: false,
    help: "also score deletion/insertion AUC (slow)",
  },
  ...DATASET_FLAGS,
  count: { type: "string", default: "400", help: "images in the synthetic set" },
  classes: { type: "string", default: "4", help: "classes in the synthetic set (2 to 6)" },
  size: { type: "string", default: "32", help: "image size in pixels" },
  width: { type: "string", default: "0.25", help: "width multiplier of the backbones" },
  ...PRETRAINED_FLAGS,
  pretrained: {
    type: "string",
    default: "",
    help:
      "pretrained weights for every cell: a file, hf:<repo>, or torchvision (each cell from torchvision:<its backbone>); needs --width 1",
  },
  epochs: { type: "string", default: "8", help: "training epochs of each cell" },
  batch: { type: "string", default: "16", help: "batch size" },
  lr: { type: "string", default: "0.003", help: "Adam learning rate" },
  resamples: { type: "string", default: "500", help: "bootstrap resamples of each interval" },
  out: { type: "string", default: "runs/sweep", help: "output folder" },
  "override-settings": {
    type: "boolean",
    default: false,
    help:
      "resume cells started with other settings, with the new ones (recorded in their run.json)",
  },
  ...SLURM_FLAGS,
};

/** Flags of one call, not of the study: left out of sweep.json. */
const SWITCHES = { ...SLURM_FLAGS, "override-settings": FLAGS["override-settings"] };

function readConfig(flags: Record<string, string | boolean>): SweepConfig {
  const { dataset, root } = datasetFlags(flags);
  const heads = listFlag(flags, "heads", { choices: listSaliencyHeads() });
  const gate = String(flags.gate ?? "none");
  if (!GATES.includes(gate)) {
    throw new UsageError(`Flag --gate must be ${GATES.join(", ")}; got "${gate}"`);
  }
  const losses = listFlag(flags, "losses", { choices: sweepLossChoices() });
  const weights = numberListFlag(flags, "weights", (n) => n > 0, "a number above 0");
  const given = String(flags.pretrained ?? "");
  const { backbones, pretrained, extra } = flags.backbones === ""
    ? defaultSweepGrid({ heads, losses, weights, pretrained: given })
    : {
      backbones: listFlag(flags, "backbones", { choices: listBackbones() }),
      pretrained: given,
      extra: [],
    };
  const seeds = numberListFlag(flags, "seeds", Number.isInteger, "a whole number");
  const explainers = listFlag(flags, "explainers", { choices: listExplainers() });
  const faithfulness = flags.faithfulness === true;
  const rankBy = String(flags["rank-by"]);
  const metricChoices = rankChoices(explainers, { faithfulness });
  if (!metricChoices.includes(rankBy)) {
    throw new UsageError(
      `Flag --rank-by: unknown metric "${rankBy}" (choices: ${metricChoices.join(", ")})`,
    );
  }
  return {
    dataset,
    root,
    backbones,
    heads,
    gate: gate === "none" ? null : gate,
    losses,
    weights,
    seeds,
    extra,
    explainers,
    faithfulness,
    rankBy,
    count: numberFlag(flags, "count", { integer: true, min: 10 }),
    classes: numberFlag(flags, "classes", { integer: true, min: 2, max: 6 }),
    size: numberFlag(flags, "size", { integer: true, min: 8 }),
    width: numberFlag(flags, "width", { min: 0.01 }),
    pretrained,
    freeze: String(flags.freeze ?? ""),
    backboneLr: numberFlag(flags, "backbone-lr", { min: 0 }),
    microBatch: parseMicroBatch(flags),
    epochs: numberFlag(flags, "epochs", { integer: true, min: 1 }),
    batch: numberFlag(flags, "batch", { integer: true, min: 2 }),
    lr: numberFlag(flags, "lr", { min: 0 }),
    resamples: numberFlag(flags, "resamples", { integer: true, min: 10 }),
    out: String(flags.out),
    ...engineFlags(flags),
  };
}

/** The `deno task train` config file of a cell: its run folder is cells/<cellId>/. */
function cellConfig(c: SweepConfig, cell: SweepCell): Record<string, unknown> {
  return sweepCellConfig(c, cell, { out: resolve(cellPaths(c.out, cell.id).dir) });
}

/** A finished cell as the ranking reads it, from the train run's results.json. */
function fromTrainResults(c: SweepConfig, cell: SweepCell, r: unknown): SweepCellResult {
  return sweepCellResult(cell, sweepCellSettings(c), r as TrainRunResults);
}

const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : "n/a");

/**
 * Reads a cell's train results if complete; fails if they were run with other
 * settings, unless `override` (then the cell resumes with the new ones).
 */
async function finishedCell(
  c: SweepConfig,
  cell: SweepCell,
  override: boolean,
): Promise<SweepCellResult | null> {
  const values = { ...cellConfig(c, cell), resume: true, "override-settings": override };
  const done = await completedRun(trainConfigFrom(values, cell.id));
  return done === null ? null : fromTrainResults(c, cell, done);
}

async function main(): Promise<void> {
  const flags = parseFlags("sweep", SUMMARY, FLAGS, Deno.args);
  if (typeof flags.collect === "string") return await collect(flags.collect, flags);
  const c = readConfig(flags);
  const cells = sweepCells(c);
  const files = cells.map((cell) => ({ id: cell.id, config: cellConfig(c, cell) }));
  // Cells started before with other settings are refused, all listed, before anything is written.
  const override = flags["override-settings"] === true;
  await checkResumedRuns(
    files.map((f) => ({
      outDir: cellPaths(c.out, f.id).dir,
      settings: trainConfigRecord(trainConfigFrom(f.config, f.id)),
    })),
    { overrideSettings: override },
  );
  await writeCells(c.out, files);
  await writeJsonAtomic(`${c.out}/sweep.json`, studyFlags(flags, FLAGS, { except: SWITCHES }));
  if (flags.slurm === true) {
    return await submitArray({
      out: c.out,
      study: "sweep",
      cells: files,
      isComplete: async (file) =>
        await finishedCell(c, cells.find((cell) => cell.id === file.id)!, override) !== null,
      task: "train",
      taskArgs: ["--skip-complete", "--resume", ...(override ? ["--override-settings"] : [])],
      flags,
    });
  }
  if (flags["dry-run"] === true) throw new UsageError("Flag --dry-run goes with --slurm");

  const engine = await initBackend({ backend: c.backend, threads: c.threads });
  const opened = await openDataset({ ...c, seed: c.seed });
  const { dataset, train: trainIdx, test: testIdx } = opened;
  if (testIdx.length === 0) throw new UsageError(`The test split of ${dataset.name} is empty`);
  if (trainIdx.length < c.batch) {
    throw new UsageError(
      `Flag --batch: ${trainIdx.length} training images make no batch of ${c.batch} (lower --batch)`,
    );
  }
  const steps = c.epochs * Math.ceil(trainIdx.length / c.batch);
  console.error(
    `sweep: ${cells.length} cells (${new Set(cells.map((x) => x.config)).size} configurations × ` +
      `${c.seeds.length} seeds) on ${dataset.name}, ${trainIdx.length} training and ` +
      `${testIdx.length} test images of ${c.size}×${c.size}, ~${steps} steps each, on ${engine}`,
  );
  const started = performance.now();
  const done = new Map<string, SweepCellResult>();
  let skipped = 0, ran = 0;
  for (const [i, cell] of cells.entries()) {
    const tag = `[${i + 1}/${cells.length}] ${cell.id}`;
    const previous = await finishedCell(c, cell, override);
    if (previous) {
      done.set(cell.id, previous);
      skipped++;
      console.log(`${tag}: skipped, already done (${cellPaths(c.out, cell.id).results})`);
      continue;
    }
    console.log(`${tag}: running`);
    const config = trainConfigFrom(cellConfig(c, cell), cellPaths(c.out, cell.id).config);
    const result = fromTrainResults(
      c,
      cell,
      await runTraining({ ...config, resume: true, overrideSettings: override }, {
        opened,
        report: false,
      }),
    );
    done.set(cell.id, result);
    ran++;
    const acc = result.classification.accuracy.mean;
    const rankBy = cellMetric(result, c.rankBy)?.mean ?? NaN;
    console.log(
      `${tag}: done in ${(result.training.seconds + result.evaluationSeconds).toFixed(1)} s; ` +
        `accuracy ${fmt(acc)}, ${c.rankBy} ${fmt(rankBy)}`,
    );
  }
  console.log(`ran ${ran} cell(s), skipped ${skipped} already done`);
  await finish(c, cells, done, {
    mode: "local",
    engine,
    dataset: { name: dataset.name, classNames: dataset.classNames },
    train: trainIdx.length,
    test: testIdx.length,
    steps,
    ranThisCall: ran,
    skippedThisCall: skipped,
    wallSeconds: (performance.now() - started) / 1000,
    incomplete: [],
  });
}

/** --collect: gathers the finished cells of a Slurm run into the ranked table and report. */
async function collect(dir: string, flags: Record<string, string | boolean>): Promise<void> {
  const path = `${dir}/sweep.json`;
  if (!(await pathExists(path))) {
    throw new UsageError(
      `Flag --collect: ${path} does not exist; pass the --out folder of a sweep run with --slurm`,
    );
  }
  const saved = await readConfigFile(path);
  const c = readConfig({
    ...mergeConfigObject(defaultFlags(FLAGS), saved, FLAGS, { source: `"${path}"` }),
    out: dir,
    backend: flags.backend,
    threads: flags.threads,
  });
  const cells = sweepCells(c);
  const statuses = await Promise.all(cells.map((cell) => cellStatus(c.out, cell.id)));
  const done = new Map<string, SweepCellResult>();
  // deno-lint-ignore no-explicit-any
  let first: any = null;
  for (const cell of cells) {
    const r = await completedRun(trainConfigFrom(cellConfig(c, cell), cell.id));
    if (r === null) continue;
    first ??= r;
    done.set(cell.id, fromTrainResults(c, cell, r));
  }
  const report = describeIncomplete(c.out, statuses);
  if (first === null) {
    console.error(report);
    throw new Error(`None of the ${cells.length} cells of ${dir} has results yet`);
  }
  await finish(c, cells, done, {
    mode: "slurm",
    engine: String(first.engine),
    dataset: { name: first.dataset.name, classNames: first.dataset.classNames },
    train: first.dataset.train,
    test: first.dataset.test,
    steps: first.training.steps,
    ranThisCall: 0,
    skippedThisCall: done.size,
    wallSeconds: [...done.values()].reduce(
      (s, r) => s + r.training.seconds + r.evaluationSeconds,
      0,
    ),
    incomplete: statuses.filter((s) => s.state !== "complete"),
  });
  if (report) {
    console.error(`\n${report}`);
    Deno.exit(3);
  }
}

/** Ranks the finished cells and writes summary.md, results.json and report.html. */
async function finish(
  c: SweepConfig,
  cells: SweepCell[],
  done: Map<string, SweepCellResult>,
  o: SweepOutcome,
): Promise<void> {
  const run = await collectRunInfo("sweep", sweepRecordConfig(c), c.seed);
  const { results, markdown } = sweepResults(c, cells, done, o, run);
  await writeJsonAtomic(`${c.out}/results.json`, results);
  await writeFileAtomic(`${c.out}/summary.md`, markdown);
  await writeReport(`${c.out}/report.html`, results);
  console.log(`\n${markdown}`);
  console.log(`wrote ${c.out}/summary.md, ${c.out}/results.json and ${c.out}/report.html`);
}

if (import.meta.main) await runMain(main);
