/**
 * `deno task compare-gradcam`: the command line of the headline study
 * (lib/studies/): (a) a baseline classifier and (b) the same network with
 * location supervision, trained on the same batches, evaluated and tested
 * per image; writes `results.json`, `summary.md`, `report.html` and an
 * overlay grid under `--out`, or runs the seeds as a Slurm array.
 *
 * @module
 */
import {
  collectRunInfo,
  COMPARE_DEFAULT_TREATMENT,
  compareGradcamDesign,
  initBackend,
  injectShortcut,
  listDatasets,
  listLosses,
  lossFlagName,
  parseTreatmentLosses,
  pathExists,
  runStudy,
  studyResults,
  treatmentLossFlag,
  writeFileAtomic,
  writeJsonAtomic,
  writeReport,
} from "../mod.ts";
import type { RunInfo, SeedComparison, StudyDesign, StudyPictures, StudyRecord } from "../mod.ts";
import { DATASET_FLAGS, datasetFlags, openDataset } from "./_datasets.ts";
import {
  buildModel,
  GATE_FLAG,
  headFlags,
  modelFlags,
  parseMicroBatch,
  PRETRAINED_FLAGS,
  pretrainedRecord,
  sayPretrained,
} from "./_model.ts";
import {
  type FlagSpec,
  givenOnCommandLine,
  mergeConfigObject,
  numberFlag,
  outputFolder,
  parseFlags,
  readConfigFile,
  runMain,
  UsageError,
} from "./_cli.ts";
import { engineFlags } from "./_shared_flags.ts";
import { cellPaths, cellStatus, describeIncomplete, SLURM_FLAGS, submitArray } from "./_slurm.ts";

const SUMMARY =
  "Train (a) a baseline classifier (cross-entropy only) and (b) the same network with location\n" +
  "supervision of its saliency branch, on the same data, seed, batch order and steps; compare\n" +
  "their accuracy and where their saliency maps land (Grad-CAM, vanilla gradients, branch map),\n" +
  "with bootstrap intervals and paired tests. Writes results.json, summary.md, report.html and\n" +
  "saliency.png to --out. --preset quick is the demo's smaller run; flags and a --config file\n" +
  "override a preset. With --seeds N --slurm each seed runs as one task of a Slurm array job;\n" +
  "--collect <out> then pools them (exit status 3 while some seeds have no results).";

/** Named sets of flag values; the command line and a --config file override them. */
const PRESETS: Record<string, Record<string, string>> = {
  full: {},
  quick: { steps: "300", count: "800", size: "40" },
};

/** The presets as the help lists them: `quick (--steps 300, …)`. */
function presetHelp(): string {
  return Object.entries(PRESETS).map(([k, v]) => {
    const set = Object.entries(v).map(([name, x]) => `--${name} ${x}`);
    return set.length ? `${k} (${set.join(", ")})` : k;
  }).join(", ");
}

/** A string flag with its default and help. */
const flag = (value: string, help: string): FlagSpec => ({ type: "string", default: value, help });

const FLAGS: Record<string, FlagSpec> = {
  config: { type: "string", help: "JSON file of flag values (keys are flag names)" },
  preset: flag("full", `preset of the flags below: ${presetHelp()}`),

  ...DATASET_FLAGS,
  loss: flag(
    treatmentLossFlag(COMPARE_DEFAULT_TREATMENT.losses),
    `location loss terms of model (b), e.g. bce or bce,cam or bce=1,cam=0.5 (terms: ${
      listLosses({ kind: "location" }).map((n) => lossFlagName(n)).join(", ")
    })`,
  ),
  "loss-weight": flag("1", "weight of each --loss term given without =WEIGHT"),
  head: flag(COMPARE_DEFAULT_TREATMENT.head, "saliency head of both models (not for reference)"),
  gate: { ...GATE_FLAG, default: COMPARE_DEFAULT_TREATMENT.gate ?? "none" },
  backbone: flag("plain_cnn", "a registered backbone, e.g. plain_cnn, reference or resnet18"),
  steps: flag("600", "training steps of each model"),
  batch: flag("16", "batch size"),
  size: flag("48", "image size in pixels (a multiple of 4)"),
  width: flag("0.5", "width multiplier of the network"),
  ...PRETRAINED_FLAGS,
  count: flag("1200", "images in the synthetic set (80% train, 20% test)"),
  classes: flag("4", "classes of a generated set (synthetic: 2 to 6; fashion-canvas: 2 to 10)"),
  lr: flag("0.003", "Adam learning rate"),
  seeds: flag(
    "1",
    "repeat the comparison with this many training seeds (--seed, --seed+1, …)",
  ),
  resamples: flag(
    "1000",
    "bootstrap resamples of each interval (twice as many for paired tests)",
  ),
  limit: flag("0", "evaluate only the first N test images (0: all; for large real test splits)"),
  shortcut: {
    type: "boolean",
    default: false,
    help: "put a class-coded decoy patch on the training images (random on the test images)",
  },
  "seed-index": flag(
    "",
    "run only this seed of the --seeds series (0-based; what a --slurm array task runs)",
  ),
  out: flag("runs/compare-gradcam", "output folder"),
  ...SLURM_FLAGS,
};

/** The flags that define the study, as its Slurm cells and compare.json carry them. */
const STUDY_FLAGS = ("dataset root loss loss-weight head gate backbone steps batch size width " +
  "pretrained freeze backbone-lr micro-batch count classes lr seeds shortcut limit resamples seed " +
  "backend").split(" ");

/** The study's settings, from its flags. */
type Config = ReturnType<typeof readConfig>;

function readConfig(flags: Record<string, string | boolean>) {
  const { dataset, root } = datasetFlags(flags);
  const loss = String(flags.loss);
  const lossWeight = numberFlag(flags, "loss-weight", { min: 0 });
  let losses: Record<string, number>;
  try {
    losses = parseTreatmentLosses(loss, lossWeight);
  } catch (error) {
    throw new UsageError(`Flag --loss: ${(error as Error).message}`);
  }
  const { gate } = headFlags(flags);
  const seeds = numberFlag(flags, "seeds", { integer: true, min: 1, max: 100 });
  return {
    dataset,
    root,
    loss,
    lossWeight,
    /** (b)'s location loss terms by registered name. */
    losses,
    ...modelFlags(flags),
    /** The attention head's gate, or null. */
    gate,
    ...engineFlags(flags),
    seeds,
    /** Run only this index of the seed series, or null for all. */
    seedIndex: flags["seed-index"] === undefined || flags["seed-index"] === ""
      ? null
      : numberFlag(flags, "seed-index", { integer: true, min: 0, max: seeds - 1 }),
    steps: numberFlag(flags, "steps", { integer: true, min: 1 }),
    batch: numberFlag(flags, "batch", { integer: true, min: 2 }),
    size: numberFlag(flags, "size", { integer: true, min: 16 }),
    microBatch: parseMicroBatch(flags),
    count: numberFlag(flags, "count", { integer: true, min: 10 }),
    classes: numberFlag(flags, "classes", { integer: true, min: 2, max: 10 }),
    lr: numberFlag(flags, "lr", { min: 0 }),
    shortcut: flags.shortcut === true,
    /** Test images evaluated (the first ones), or 0 for all. */
    limit: numberFlag(flags, "limit", { integer: true, min: 0 }),
    resamples: numberFlag(flags, "resamples", { integer: true, min: 10 }),
    out: String(flags.out),
  };
}

/** The study's design: (b) trained with the --loss at --loss-weight. */
const designOf = (c: Config): StudyDesign =>
  compareGradcamDesign({ losses: c.losses, head: c.head, gate: c.gate });

/** The config as results.json records it (without the seed index of a Slurm task). */
const shownConfig = ({ seedIndex: _, ...shown }: Config): Record<string, unknown> => shown;

async function main(): Promise<void> {
  const flags = await readFlags(Deno.args);
  if (typeof flags.collect === "string") return await collect(flags.collect);
  const config = readConfig(flags);
  if (config.root !== null && !(await pathExists(config.root))) {
    throw new UsageError(
      `Flag --root: the folder "${config.root}" for --dataset ${config.dataset} does not exist ` +
        `(choices: ${listDatasets().join(", ")})`,
    );
  }
  if (flags.slurm === true) return await submitSeeds(config, flags);
  if (flags["dry-run"] === true) throw new UsageError("Flag --dry-run goes with --slurm");
  const engine = await initBackend({ backend: config.backend, threads: config.threads });
  const { size, seed } = config;
  const loaded = await openDataset(config);
  if (config.shortcut) {
    const patch = Math.max(2, Math.round(size / 8));
    loaded.dataset = injectShortcut(loaded.dataset, { split: loaded.train, seed, patch });
  }
  if (config.limit > 0) loaded.test = loaded.test.slice(0, config.limit);
  const { dataset, train, test } = loaded;
  if (test.length === 0) throw new UsageError(`The test split of ${dataset.name} is empty`);
  const annotated = train.filter((i) => dataset.records[i].hasMask || dataset.records[i].hasBoxes);
  if (annotated.length === 0) {
    console.error(
      `note: no training image of ${dataset.name} has a mask or boxes, so (b)'s location loss has ` +
        `nothing to learn from and (b) trains as (a) does; localisation needs annotated test images`,
    );
  }
  await outputFolder(config.out);
  const run = await collectRunInfo("compare-gradcam", shownConfig(config), seed);
  console.error(
    `data: ${dataset.name} (${dataset.classNames.join(", ")}), ${train.length} training and ` +
      `${test.length} test images of ${size}×${size}; backbone ${config.backbone}`,
  );
  const started = performance.now();
  const { runs, pictures } = await runStudy(async (seed) => {
    // Both models start from the same weights: the same seed, and the same pretrained source.
    const n = dataset.classNames.length;
    const { model: baseline, pretrained } = await buildModel(config, n, seed);
    const { model: treatment } = await buildModel(config, n, seed).catch((error) => {
      baseline.dispose();
      throw error;
    });
    sayPretrained(pretrained);
    return { baseline, treatment, pretrained: pretrainedRecord(pretrained) };
  }, {
    ...config,
    design: designOf(config),
    dataset,
    trainIndices: train,
    testIndices: test,
    seeds: config.seedIndex === null
      ? Array.from({ length: config.seeds }, (_, s) => seed + s)
      : [seed + config.seedIndex],
    batchSize: config.batch,
    gridPath: `${config.out}/saliency.png`,
  });
  // The gallery's pictures as files too, so that --collect can build the report from them.
  await Deno.mkdir(`${config.out}/gallery`, { recursive: true });
  for (const [name, png] of Object.entries(pictures.images)) {
    await writeFileAtomic(`${config.out}/gallery/${name}.png`, png);
  }
  await writeOutputs(config, {
    sizes: { train: train.length, annotatedTrain: annotated.length, test: test.length },
    run,
    engine,
    dataset: { name: dataset.name, classNames: dataset.classNames },
    runs,
    pictures,
    wallSeconds: (performance.now() - started) / 1000,
    incomplete: [],
  });
}

/** --collect: pools the seeds of a Slurm run into one comparison, as a local --seeds N run does. */
async function collect(dir: string): Promise<void> {
  const path = `${dir}/compare.json`;
  if (!(await pathExists(path))) {
    throw new UsageError(
      `Flag --collect: ${path} does not exist; pass the --out folder of a compare-gradcam ` +
        `run with --slurm`,
    );
  }
  const defaults = parseFlags("compare-gradcam", SUMMARY, FLAGS, []);
  const saved = await readConfigFile(path);
  const flags = mergeConfigObject(defaults, saved, FLAGS, { source: `"${path}"` });
  const config = readConfig({ ...flags, out: dir });
  const cells = Array.from({ length: config.seeds }, (_, k) => seedCell(dir, flags, k));
  const statuses = await Promise.all(cells.map((cell) => cellStatus(dir, cell.id)));
  const runs: SeedComparison[] = [];
  // deno-lint-ignore no-explicit-any
  let last: any = null;
  let lastDir = "";
  for (const cell of cells) {
    const p = cellPaths(dir, cell.id);
    if (!(await pathExists(p.results))) continue;
    last = JSON.parse(await Deno.readTextFile(p.results));
    runs.push(last.seeds[0]);
    lastDir = p.dir;
  }
  const report = describeIncomplete(dir, statuses);
  if (last === null) {
    console.error(report);
    throw new Error(`None of the ${cells.length} seeds of ${dir} has results yet`);
  }
  const images: Record<string, Uint8Array> = {};
  for await (const { name, isFile } of Deno.readDir(`${lastDir}/gallery`)) {
    if (isFile && name.endsWith(".png")) {
      images[name.slice(0, -4)] = await Deno.readFile(`${lastDir}/gallery/${name}`);
    }
  }
  const gridPath = `${dir}/saliency.png`;
  await writeFileAtomic(gridPath, await Deno.readFile(`${lastDir}/saliency.png`));
  await writeOutputs(config, {
    sizes: last.dataset,
    engine: String(last.engine),
    dataset: { name: last.dataset.name, classNames: last.dataset.classNames },
    runs,
    pictures: { images, gallery: last.gallery, gridPath },
    wallSeconds: runs.reduce((s, r) => s + r.trainSeconds, 0),
    incomplete: statuses.filter((s) => s.state !== "complete"),
  });
  if (report) {
    console.error(`\n${report}`);
    Deno.exit(3);
  }
}

/** What the outputs come from: a run here, or the cells --collect gathers (no run info then). */
type Outputs = Omit<StudyRecord, "setup" | "classNames" | "config" | "gallery" | "run"> & {
  run?: RunInfo;
  sizes: { train: number; annotatedTrain: number; test: number };
  dataset: { name: string; classNames: readonly string[] };
  runs: SeedComparison[];
  pictures: StudyPictures;
};

/** Writes results.json, summary.md and report.html from the seeds' runs. */
async function writeOutputs(config: Config, o: Outputs): Promise<void> {
  const { results, markdown } = studyResults(o.runs, designOf(config), {
    ...o,
    setup: {
      ...config,
      ...o.sizes,
      dataset: o.dataset.name,
      classes: o.dataset.classNames.length,
    },
    classNames: o.dataset.classNames,
    run: o.run ?? await collectRunInfo("compare-gradcam", shownConfig(config), config.seed),
    config: shownConfig(config),
    gallery: o.pictures.gallery,
  });
  await writeJsonAtomic(`${config.out}/results.json`, results);
  await writeFileAtomic(`${config.out}/summary.md`, markdown);
  await writeReport(`${config.out}/report.html`, results, { images: o.pictures.images });
  console.log(`\n${markdown}`);
  console.log(
    `${results.trainSeconds.toFixed(0)} s training on ${o.engine}; wrote ` +
      `${config.out}/summary.md, ${config.out}/results.json, ${config.out}/report.html and ` +
      o.pictures.gridPath,
  );
}

/** The flags: the command line over a --config file over the --preset over the defaults. */
async function readFlags(args: string[]): Promise<Record<string, string | boolean>> {
  const flags = parseFlags("compare-gradcam", SUMMARY, FLAGS, args);
  const given = givenOnCommandLine(args);
  const path = typeof flags.config === "string" && flags.config !== "" ? flags.config : null;
  const file = path === null ? {} : await readConfigFile(path);
  const preset = String(given.has("preset") ? flags.preset : file.preset ?? flags.preset);
  if (!(preset in PRESETS)) {
    throw new UsageError(
      `Flag --preset must be one of ${Object.keys(PRESETS).join(", ")}; got "${preset}"`,
    );
  }
  const fromPreset = mergeConfigObject(flags, PRESETS[preset], FLAGS, {
    source: `Preset ${preset}`,
    given: new Set([...given, ...Object.keys(file)]),
  });
  fromPreset.preset = preset;
  return path === null
    ? fromPreset
    : mergeConfigObject(fromPreset, file, FLAGS, { source: `Config file "${path}"`, given });
}

/** The study's own flags (those that change its figures). */
function studyFlags(flags: Record<string, string | boolean>): Record<string, unknown> {
  return Object.fromEntries(
    STUDY_FLAGS.filter((k) => flags[k] !== undefined).map((k) => [k, flags[k]]),
  );
}

/** The Slurm cell of seed index `k`: the study's flags for that seed alone, into cells/seed-<k>/. */
function seedCell(out: string, flags: Record<string, string | boolean>, k: number) {
  const id = `seed-${k}`;
  return { id, config: { ...studyFlags(flags), "seed-index": k, out: cellPaths(out, id).dir } };
}

/** --slurm: one array task per seed, each `compare-gradcam --config cells/seed-<k>.json`. */
async function submitSeeds(config: Config, flags: Record<string, string | boolean>): Promise<void> {
  if (config.seedIndex !== null) throw new UsageError("Flag --seed-index does not go with --slurm");
  await Deno.mkdir(config.out, { recursive: true });
  await writeJsonAtomic(`${config.out}/compare.json`, studyFlags(flags));
  await submitArray({
    out: config.out,
    study: "compare-gradcam",
    cells: Array.from({ length: config.seeds }, (_, k) => seedCell(config.out, flags, k)),
    isComplete: async (cell) => (await cellStatus(config.out, cell.id)).state === "complete",
    task: "compare-gradcam",
    taskArgs: [],
    flags,
  });
}

if (import.meta.main) await runMain(main);
