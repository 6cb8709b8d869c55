/**
 * `deno task compare-gradcam`: the headline study. Trains (a) a baseline
 * classifier (cross-entropy only) and (b) the same network with location
 * supervision of its saliency branch, on the same data, seed, batch order
 * and step budget; evaluates both on the test split (classification,
 * Grad-CAM and vanilla gradients of both, the branch map of (b),
 * localisation and deletion/insertion), tests each difference with a paired
 * bootstrap and the Wilcoxon signed-rank test, and writes `results.json`,
 * `summary.md`, `report.html` and an overlay grid under `--out`.
 *
 * @module
 */
import {
  aggregateSeeds,
  augment,
  batches,
  bootstrapCi,
  collectRunInfo,
  createOptimizer,
  createTrainStep,
  energyPointingGame,
  evaluate,
  explain,
  initBackend,
  injectShortcut,
  listBackbones,
  listDatasets,
  listLosses,
  lossFlagName,
  mixedLoss,
  pairedTest,
  pathExists,
  ProgressBar,
  saliencyGrid,
  selectVariables,
  tf,
  wilcoxonSignedRank,
  writeFileAtomic,
  writeJsonAtomic,
  writeReport,
} from "../mod.ts";
import type {
  Dataset,
  EvaluationResult,
  GridRow,
  LossFn,
  MetricSummary,
  TwoBranchModel,
} from "../mod.ts";
import { DATASET_FLAGS, datasetFlags, openDataset, type OpenedDataset } from "./_datasets.ts";
import { galleryPictures } from "./_gallery.ts";
import {
  buildModel,
  parseFreeze,
  parseMicroBatch,
  PRETRAINED_FLAGS,
  pretrainedRecord,
  sayPretrained,
} from "./_model.ts";
import {
  backendFlag,
  type FlagSpec,
  givenOnCommandLine,
  mergeConfigObject,
  numberFlag,
  parseFlags,
  readConfigFile,
  runMain,
  UsageError,
} from "./_cli.ts";
import { cellPaths, cellStatus, describeIncomplete, SLURM_FLAGS, submitArray } from "./_slurm.ts";

/** The location losses model (b) can be trained with, in their flag spelling. */
function locationLosses(): string[] {
  return listLosses({ kind: "location" }).map((n) => lossFlagName(n));
}

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

const FLAGS: Record<string, FlagSpec> = {
  config: { type: "string", help: "JSON file of flag values (keys are flag names)" },
  preset: {
    type: "string",
    default: "full",
    help: `preset of the flags below: ${
      Object.entries(PRESETS).map(([k, v]) =>
        `${k}${
          Object.keys(v).length
            ? ` (${Object.entries(v).map(([f, x]) => `--${f} ${x}`).join(", ")})`
            : ""
        }`
      ).join(", ")
    }`,
  },
  ...DATASET_FLAGS,
  loss: {
    type: "string",
    default: "bce",
    help: `location loss of model (b): ${locationLosses().join(", ")}`,
  },
  "loss-weight": { type: "string", default: "1", help: "weight of the location loss of (b)" },
  backbone: {
    type: "string",
    default: "reference",
    help: "reference (the reference network) or a registered backbone (e.g. resnet18)",
  },
  steps: { type: "string", default: "600", help: "training steps of each model" },
  batch: { type: "string", default: "16", help: "batch size" },
  size: { type: "string", default: "48", help: "image size in pixels (a multiple of 4)" },
  width: { type: "string", default: "0.5", help: "width multiplier of the network" },
  ...PRETRAINED_FLAGS,
  count: {
    type: "string",
    default: "1200",
    help: "images in the synthetic set (80% train, 20% test)",
  },
  classes: { type: "string", default: "4", help: "classes in the synthetic set (2 to 6)" },
  lr: { type: "string", default: "0.003", help: "Adam learning rate" },
  seeds: {
    type: "string",
    default: "1",
    help: "repeat the whole comparison with this many training seeds (--seed, --seed+1, …)",
  },
  limit: {
    type: "string",
    default: "0",
    help: "evaluate only the first N test images (0: all; for large real test splits)",
  },
  shortcut: {
    type: "boolean",
    default: false,
    help: "put a class-coded decoy patch on the training images (random on the test images)",
  },
  "seed-index": {
    type: "string",
    default: "",
    help: "run only this seed of the --seeds series (0-based; what a --slurm array task runs)",
  },
  out: { type: "string", default: "runs/compare-gradcam", help: "output folder" },
  ...SLURM_FLAGS,
};

/** The flags that define the study, as its Slurm cells and compare.json carry them. */
const STUDY_FLAGS = [
  "dataset",
  "root",
  "loss",
  "loss-weight",
  "backbone",
  "steps",
  "batch",
  "size",
  "width",
  "pretrained",
  "freeze",
  "backbone-lr",
  "micro-batch",
  "count",
  "classes",
  "lr",
  "seeds",
  "shortcut",
  "limit",
  "seed",
  "backend",
] as const;

/** The localisation and faithfulness metrics the tables show, with how they read. */
const METRICS: { key: string; label: string; higher: boolean }[] = [
  { key: "pointingGame", label: "pointing game", higher: true },
  { key: "energyPointingGame", label: "energy on object", higher: true },
  { key: "maskAuc", label: "mask AUC", higher: true },
  { key: "bestIou", label: "best IoU", higher: true },
  { key: "deletionAuc", label: "deletion AUC (lower is better)", higher: false },
  { key: "insertionAuc", label: "insertion AUC", higher: true },
];

/** The comparisons tested pairwise, per image: (b)'s map against (a)'s. */
const PAIRS: { name: string; a: string; b: string }[] = [
  { name: "branch (b) vs Grad-CAM (a)", a: "grad-cam", b: "branch" },
  { name: "branch (b) vs vanilla gradient (a)", a: "vanilla-gradient", b: "branch" },
  { name: "Grad-CAM (b) vs Grad-CAM (a)", a: "grad-cam", b: "grad-cam" },
  {
    name: "vanilla gradient (b) vs vanilla gradient (a)",
    a: "vanilla-gradient",
    b: "vanilla-gradient",
  },
];

const EXPLAINERS_A = ["grad-cam", "vanilla-gradient"];
const EXPLAINERS_B = ["grad-cam", "vanilla-gradient", "branch"];

interface Config {
  dataset: string;
  root: string | null;
  /** The location loss of (b), in the flag's spelling. */
  loss: string;
  lossWeight: number;
  backbone: string;
  backend: ReturnType<typeof backendFlag>;
  threads: number;
  seed: number;
  seeds: number;
  /** Run only this index of the seed series, or null for all. */
  seedIndex: number | null;
  steps: number;
  batch: number;
  size: number;
  width: number;
  /** The --pretrained source, or "". */
  pretrained: string;
  /** Stages kept frozen. */
  freeze: string[];
  backboneLr: number;
  microBatch: number | "auto";
  count: number;
  classes: number;
  lr: number;
  shortcut: boolean;
  /** Test images evaluated (the first ones), or 0 for all. */
  limit: number;
  out: string;
}

function readConfig(flags: Record<string, string | boolean>): Config {
  const { dataset, root } = datasetFlags(flags);
  const loss = String(flags.loss);
  if (!locationLosses().includes(loss)) {
    throw new UsageError(
      `Flag --loss must be one of ${locationLosses().join(", ")}; got "${loss}"`,
    );
  }
  const backbone = String(flags.backbone);
  if (backbone !== "reference" && !listBackbones().includes(backbone)) {
    throw new UsageError(
      `Flag --backbone must be reference or one of ${
        listBackbones().join(", ")
      }; got "${backbone}"`,
    );
  }
  return {
    dataset,
    root,
    loss,
    lossWeight: numberFlag(flags, "loss-weight", { min: 0 }),
    backbone,
    backend: backendFlag(flags),
    threads: numberFlag(flags, "threads", { integer: true, min: 1 }),
    seed: numberFlag(flags, "seed", { integer: true }),
    seeds: numberFlag(flags, "seeds", { integer: true, min: 1, max: 100 }),
    seedIndex: flags["seed-index"] === undefined || flags["seed-index"] === ""
      ? null
      : numberFlag(flags, "seed-index", {
        integer: true,
        min: 0,
        max: numberFlag(flags, "seeds", { integer: true, min: 1 }) - 1,
      }),
    steps: numberFlag(flags, "steps", { integer: true, min: 1 }),
    batch: numberFlag(flags, "batch", { integer: true, min: 2 }),
    size: numberFlag(flags, "size", { integer: true, min: 16 }),
    width: numberFlag(flags, "width", { min: 0.01 }),
    pretrained: String(flags.pretrained ?? ""),
    freeze: parseFreeze(flags.freeze),
    backboneLr: numberFlag(flags, "backbone-lr", { min: 0 }),
    microBatch: parseMicroBatch(flags),
    count: numberFlag(flags, "count", { integer: true, min: 10 }),
    classes: numberFlag(flags, "classes", { integer: true, min: 2, max: 6 }),
    lr: numberFlag(flags, "lr", { min: 0 }),
    shortcut: flags.shortcut === true,
    limit: numberFlag(flags, "limit", { integer: true, min: 0 }),
    out: String(flags.out),
  };
}

/** The chosen dataset at the model's size, with boxes drawn into masks, and its split. */
function loadData(config: Config): Promise<OpenedDataset> {
  return openDataset({
    dataset: config.dataset,
    root: config.root,
    size: config.size,
    count: config.count,
    classes: config.classes,
    seed: config.seed,
  });
}

/** One optimiser step of `loss`; returns the loss terms. Disposes every tensor it makes. */
function makeStep(
  model: TwoBranchModel,
  loss: LossFn,
  config: Config,
): {
  step: (batch: Parameters<LossFn>[1]) => Promise<Record<string, number>>;
  dispose(): void;
} {
  const optimizer = createOptimizer({ name: "adam", lr: config.lr });
  if (config.backboneLr !== 1) {
    const variables = model.variables();
    optimizer.setLrScale(
      selectVariables(model, "backbone").map((p) => variables.get(p)!),
      config.backboneLr,
    );
  }
  return {
    step: createTrainStep(model, optimizer, { loss, microBatch: config.microBatch }),
    dispose: () => optimizer.dispose(),
  };
}

/** Per-image shares of Grad-CAM (or branch) energy on the decoy patch. */
async function cueEnergy(
  model: TwoBranchModel,
  dataset: Dataset,
  indices: readonly number[],
  methods: readonly string[],
): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = Object.fromEntries(methods.map((m) => [m, []]));
  for await (const batch of batches(dataset, indices, { batchSize: 32 })) {
    try {
      const [n, h, w] = batch.images.shape;
      const ignore = (await batch.ignoreMasks?.data()) ?? new Float32Array(n * h * w);
      for (const method of methods) {
        const maps = explain(model, batch.images, { method } as Parameters<typeof explain>[2]);
        let data: Float32Array;
        try {
          data = await maps.data() as Float32Array;
        } finally {
          maps.dispose();
        }
        for (let k = 0; k < n; k++) {
          const v = energyPointingGame(
            { width: w, height: h, data: data.subarray(k * h * w, (k + 1) * h * w) },
            { mask: ignore.subarray(k * h * w, (k + 1) * h * w) },
          );
          out[method].push(v ?? NaN);
        }
      }
    } finally {
      tf.dispose([batch.images, batch.labels, batch.masks, batch.hasMask]);
      batch.ignoreMasks?.dispose();
    }
  }
  return out;
}

interface PairedTest {
  comparison: string;
  metric: string;
  /** Images where both scores exist. */
  n: number;
  meanA: number;
  meanB: number;
  /** Mean of b − a with its paired bootstrap interval. */
  difference: { estimate: number; ci: [number, number] };
  wilcoxonP: number;
}

/** (b) against (a) on one metric: the library's pairedTest, labelled. */
function pairedRecord(
  comparison: string,
  metric: string,
  a: (number | null)[],
  b: (number | null)[],
  seed: number,
): PairedTest {
  const r = pairedTest(a, b, { seed, resamples: 2000 });
  return {
    comparison,
    metric,
    n: r.n,
    meanA: r.meanBaseline,
    meanB: r.meanTreatment,
    difference: r.difference,
    wilcoxonP: r.wilcoxonP,
  };
}

function summarize(values: number[], seed: number): MetricSummary {
  const ok = values.filter(Number.isFinite);
  if (ok.length === 0) return { mean: NaN, ci: [NaN, NaN], scored: 0, excluded: values.length };
  const b = bootstrapCi(ok, { seed, resamples: 1000 });
  return {
    mean: b.estimate,
    ci: [b.low, b.high],
    scored: ok.length,
    excluded: values.length - ok.length,
  };
}

/** One seed's comparison. */
interface SeedRun {
  seed: number;
  trainSeconds: number;
  history: { step: number; a: Record<string, number>; b: Record<string, number> }[];
  a: EvaluationResult;
  b: EvaluationResult;
  pairedTests: PairedTest[];
  /** Per image, whether each model was right (a, b), for pooled tests. */
  correct: { a: number[]; b: number[] };
  /** The pretrained start of both models, or null. */
  pretrained: Record<string, unknown> | null;
  shortcut: null | {
    cueEnergy: Record<string, MetricSummary>;
    pairedTests: PairedTest[];
    perImage: Record<string, number[]>;
  };
}

async function runSeed(
  config: Config,
  data: { dataset: Dataset; train: number[]; test: number[] },
  seed: number,
  label: string,
): Promise<{ run: SeedRun; models: { a: TwoBranchModel; b: TwoBranchModel } }> {
  const { dataset, train: trainIdx, test: testIdx } = data;
  const numClasses = dataset.classNames.length;
  // Both models start from the same weights: the same seed, and the same pretrained source.
  const { model: a, pretrained } = await buildModel(config, numClasses, seed);
  const { model: b } = await buildModel(config, numClasses, seed);
  sayPretrained(pretrained);
  const termB = lossFlagName(config.loss, { toFlag: false });
  const lossB = mixedLoss({ ce: 1, [termB]: config.lossWeight });
  const stepA = makeStep(a, mixedLoss({ ce: 1 }), config);
  const stepB = makeStep(b, lossB, config);
  const history: SeedRun["history"] = [];
  const bar = new ProgressBar(config.steps, { label: `train ${label}` });
  const started = performance.now();
  try {
    for (let epoch = 0; history.length < config.steps; epoch++) {
      // Both models take each step on the very same batch: same data order and augmentation.
      const stream = batches(dataset, trainIdx, {
        batchSize: config.batch,
        shuffle: true,
        seed: seed * 1009 + epoch,
        dropLast: true,
        transform: (sample, rng) => augment(sample, rng, { flipProbability: 0.5 }),
      });
      let any = false;
      for await (const batch of stream) {
        any = true;
        try {
          if (history.length >= config.steps) break;
          const n = history.length + 1;
          const la = await stepA.step(batch);
          const lb = await stepB.step(batch);
          history.push({ step: n, a: la, b: lb });
          bar.tick(
            1,
            `epoch ${epoch + 1}  (a) ce ${la.ce.toFixed(3)}  (b) ce ${
              lb.ce.toFixed(3)
            } ${config.loss} ${(lb[termB] ?? 0).toFixed(3)}`,
          );
        } finally {
          tf.dispose([batch.images, batch.labels, batch.masks, batch.hasMask]);
          batch.ignoreMasks?.dispose();
        }
      }
      if (!any) {
        throw new UsageError(
          `Cannot train: ${trainIdx.length} training images make no batch of ${config.batch} (lower --batch)`,
        );
      }
    }
  } finally {
    bar.done();
    stepA.dispose();
    stepB.dispose();
  }
  const trainSeconds = (performance.now() - started) / 1000;

  const options = { indices: testIdx, batchSize: 32, faithfulnessSteps: 8, seed };
  console.error(`evaluating (a) baseline, seed ${seed}`);
  const evalA = await evaluate(a, dataset, { ...options, explainers: EXPLAINERS_A });
  console.error(`evaluating (b) supervised, seed ${seed}`);
  const evalB = await evaluate(b, dataset, { ...options, explainers: EXPLAINERS_B });

  const correct = {
    a: evalA.perImage.map((r) => (r.label === r.predicted ? 1 : 0)),
    b: evalB.perImage.map((r) => (r.label === r.predicted ? 1 : 0)),
  };
  const pairedTests: PairedTest[] = [
    pairedRecord("classifier (b) vs (a)", "accuracy", correct.a, correct.b, seed),
  ];
  for (const pair of PAIRS) {
    for (const m of METRICS) {
      pairedTests.push(pairedRecord(
        pair.name,
        m.key,
        evalA.perImage.map((r) => r.scores[pair.a][m.key] ?? null),
        evalB.perImage.map((r) => r.scores[pair.b][m.key] ?? null),
        seed,
      ));
    }
  }

  let shortcut: SeedRun["shortcut"] = null;
  if (config.shortcut) {
    const ea = await cueEnergy(a, dataset, testIdx, ["grad-cam", "vanilla-gradient"]);
    const eb = await cueEnergy(b, dataset, testIdx, ["grad-cam", "vanilla-gradient", "branch"]);
    const perImage: Record<string, number[]> = {
      "(a) grad-cam": ea["grad-cam"],
      "(a) vanilla-gradient": ea["vanilla-gradient"],
      "(b) grad-cam": eb["grad-cam"],
      "(b) vanilla-gradient": eb["vanilla-gradient"],
      "(b) branch": eb.branch,
    };
    shortcut = {
      cueEnergy: Object.fromEntries(
        Object.entries(perImage).map(([k, v]) => [k, summarize(v, seed)]),
      ),
      pairedTests: PAIRS.map((p) => pairedRecord(p.name, "cueEnergy", ea[p.a], eb[p.b], seed)),
      perImage,
    };
  }
  return {
    run: {
      seed,
      trainSeconds,
      history,
      a: evalA,
      b: evalB,
      pairedTests,
      correct,
      shortcut,
      pretrained: pretrainedRecord(pretrained),
    },
    models: { a, b },
  };
}

// ---------------------------------------------------------------------------
// Formatting

const pct = (v: number) => Number.isFinite(v) ? (100 * v).toFixed(1) : "n/a";
const num = (v: number) => Number.isFinite(v) ? v.toFixed(3) : "n/a";
const pValue = (p: number) => !Number.isFinite(p) ? "n/a" : p < 1e-4 ? "<0.0001" : p.toFixed(4);

/** A figure with its interval: over images (one seed) or over seeds. */
interface Figure {
  mean: number;
  ci: [number, number];
}

function figure(values: number[], single: MetricSummary | null): Figure {
  if (single) return { mean: single.mean, ci: single.ci };
  const ok = values.filter(Number.isFinite);
  if (ok.length === 0) return { mean: NaN, ci: [NaN, NaN] };
  const g = aggregateSeeds(ok);
  return { mean: g.mean, ci: [g.low, g.high] };
}

const fmtFigure = (f: Figure, scale: (v: number) => string) =>
  `${scale(f.mean)} [${scale(f.ci[0])}, ${scale(f.ci[1])}]`;

/** Every headline figure, across seeds when there are several. */
function headline(runs: SeedRun[]) {
  const one = runs.length === 1;
  const fig = (get: (r: SeedRun) => MetricSummary | undefined) =>
    figure(runs.map((r) => get(r)?.mean ?? NaN), one ? get(runs[0]) ?? null : null);
  const accuracy = {
    a: fig((r) => r.a.classification.accuracy),
    b: fig((r) => r.b.classification.accuracy),
  };
  const maps: Record<string, Record<string, Figure>> = {};
  for (const [model, names] of [["a", EXPLAINERS_A], ["b", EXPLAINERS_B]] as const) {
    for (const e of names) {
      maps[`(${model}) ${e}`] = Object.fromEntries(
        METRICS.map((m) => [m.key, fig((r) => r[model].explainers[e].metrics[m.key])]),
      );
    }
  }
  // Paired tests: per image on one seed; on several, the seeds' mean difference with a t
  // interval and the Wilcoxon test over every (seed, image) pair pooled.
  const keys = runs[0].pairedTests.map((t) => [t.comparison, t.metric] as const);
  const tests = keys.map(([comparison, metric], i) => {
    if (one) return runs[0].pairedTests[i];
    const diffs = runs.map((r) => r.pairedTests[i].difference.estimate);
    const f = figure(diffs, null);
    const pooled = pooledPairs(runs, comparison, metric);
    return {
      comparison,
      metric,
      n: pooled.a.length,
      meanA: meanOf(runs.map((r) => r.pairedTests[i].meanA)),
      meanB: meanOf(runs.map((r) => r.pairedTests[i].meanB)),
      difference: { estimate: f.mean, ci: f.ci },
      wilcoxonP: pooled.a.length > 0 ? wilcoxonSignedRank(pooled.b, pooled.a).pValue : NaN,
    };
  });
  let shortcut = null;
  if (runs[0].shortcut) {
    const names = Object.keys(runs[0].shortcut.cueEnergy);
    shortcut = {
      cueEnergy: Object.fromEntries(
        names.map((k) => [k, fig((r) => r.shortcut!.cueEnergy[k])]),
      ),
      pairedTests: runs[0].shortcut.pairedTests.map((t, i) => {
        if (one) return t;
        const f = figure(runs.map((r) => r.shortcut!.pairedTests[i].difference.estimate), null);
        const p = PAIRS[i];
        const pa = runs.flatMap((r) => r.shortcut!.perImage[`(a) ${p.a}`]);
        const pb = runs.flatMap((r) => r.shortcut!.perImage[`(b) ${p.b}`]);
        const pooled = pairedRecord(t.comparison, "cueEnergy", pa, pb, 0);
        return { ...pooled, difference: { estimate: f.mean, ci: f.ci } };
      }),
    };
  }
  return {
    seeds: runs.map((r) => r.seed),
    over: one ? "images" : "seeds",
    accuracy,
    maps,
    tests,
    shortcut,
  };
}

function meanOf(v: number[]): number {
  const ok = v.filter(Number.isFinite);
  return ok.length ? ok.reduce((s, x) => s + x, 0) / ok.length : NaN;
}

function pooledPairs(runs: SeedRun[], comparison: string, metric: string) {
  const a: number[] = [], b: number[] = [];
  for (const r of runs) {
    let xa: (number | null)[], xb: (number | null)[];
    if (metric === "accuracy") {
      xa = r.correct.a;
      xb = r.correct.b;
    } else {
      const p = PAIRS.find((q) => q.name === comparison)!;
      xa = r.a.perImage.map((x) => x.scores[p.a][metric] ?? null);
      xb = r.b.perImage.map((x) => x.scores[p.b][metric] ?? null);
    }
    xa.forEach((v, i) => {
      const u = xb[i];
      if (v !== null && u !== null && Number.isFinite(v) && Number.isFinite(u)) {
        a.push(v);
        b.push(u);
      }
    });
  }
  return { a, b };
}

function summaryMarkdown(
  config: Config,
  dataset: { name: string; classNames: readonly string[] },
  h: ReturnType<typeof headline>,
  sizes: { train: number; annotatedTrain: number; test: number },
): string {
  const over = h.over === "images"
    ? "95% percentile bootstrap intervals over test images"
    : `mean over ${h.seeds.length} seeds with 95% t intervals across seeds`;
  const lines: string[] = [];
  lines.push(`# compare-gradcam: baseline (a) vs location-supervised (b)`, "");
  lines.push(
    `Dataset ${dataset.name}${
      config.shortcut ? " with the decoy shortcut on the training split" : ""
    }: ` +
      `${sizes.train} training and ${sizes.test} test images of ${config.size}×${config.size}, ` +
      `${dataset.classNames.length} classes. Backbone ${config.backbone} (width ${config.width}); ` +
      `${config.steps} steps of batch ${config.batch} for each model, the same batches in the same order. ` +
      `(a): cross-entropy only. (b): cross-entropy + ${config.lossWeight} × ${config.loss} on the masks. ` +
      `Seeds ${h.seeds.join(", ")}. Figures: ${over}.`,
    "",
  );
  if (sizes.annotatedTrain === 0) {
    lines.push(
      `**No training image has a mask or boxes**, so (b)'s location loss had nothing to learn ` +
        `from and (b) trained as (a) did: this run cannot show what location supervision does.`,
      "",
    );
  }
  lines.push("## Classification", "");
  lines.push("| model | test accuracy (%) |", "|---|---|");
  lines.push(`| (a) baseline | ${fmtFigure(h.accuracy.a, pct)} |`);
  lines.push(`| (b) supervised | ${fmtFigure(h.accuracy.b, pct)} |`, "");
  lines.push("## Saliency on the test split", "");
  lines.push(`| map | ${METRICS.map((m) => m.label).join(" | ")} |`);
  lines.push(`|---|${METRICS.map(() => "---").join("|")}|`);
  for (const [name, metrics] of Object.entries(h.maps)) {
    lines.push(`| ${name} | ${METRICS.map((m) => fmtFigure(metrics[m.key], num)).join(" | ")} |`);
  }
  lines.push("");
  lines.push("## Paired tests, (b) − (a)", "");
  lines.push(
    h.over === "images"
      ? "Per test image: mean difference with its paired bootstrap 95% interval, and the two-sided Wilcoxon signed-rank p-value."
      : "Mean over seeds of each seed's mean difference, with a t 95% interval across seeds; the Wilcoxon p-value pools every (seed, image) pair.",
    "",
  );
  lines.push("| comparison | metric | n | (a) | (b) | difference [95% CI] | Wilcoxon p |");
  lines.push("|---|---|---|---|---|---|---|");
  for (const t of h.tests) {
    const scale = t.metric === "accuracy" ? pct : num;
    lines.push(
      `| ${t.comparison} | ${t.metric} | ${t.n} | ${scale(t.meanA)} | ${scale(t.meanB)} | ` +
        `${fmtFigure({ mean: t.difference.estimate, ci: t.difference.ci }, scale)} | ${
          pValue(t.wilcoxonP)
        } |`,
    );
  }
  lines.push("");
  if (h.shortcut) {
    lines.push("## Shortcut: saliency energy on the decoy patch (test split)", "");
    lines.push("| map | share of energy on the patch |", "|---|---|");
    for (const [k, f] of Object.entries(h.shortcut.cueEnergy)) {
      lines.push(`| ${k} | ${fmtFigure(f, num)} |`);
    }
    lines.push("", "| comparison | n | difference (b) − (a) [95% CI] | Wilcoxon p |");
    lines.push("|---|---|---|---|");
    for (const t of h.shortcut.pairedTests) {
      lines.push(
        `| ${t.comparison} | ${t.n} | ${
          fmtFigure({ mean: t.difference.estimate, ci: t.difference.ci }, num)
        } | ${pValue(t.wilcoxonP)} |`,
      );
    }
    lines.push("");
  }
  lines.push("## Verdict", "", verdict(h), "");
  return lines.join("\n");
}

/** Plain sentences on what the tests show, including when they show nothing. */
function verdict(h: ReturnType<typeof headline>): string {
  const say: string[] = [];
  const find = (c: string, m: string) => h.tests.find((t) => t.comparison === c && t.metric === m)!;
  const describe = (t: PairedTest, what: string, scale: (v: number) => string) => {
    const d = t.difference;
    const sig = d.ci[0] > 0 || d.ci[1] < 0;
    if (!Number.isFinite(d.estimate)) return `${what}: no pairs to compare.`;
    return sig
      ? `${what}: (b) ${d.estimate > 0 ? "higher" : "lower"} than (a) by ${
        scale(Math.abs(d.estimate))
      } ` +
        `(interval excludes 0; Wilcoxon p ${pValue(t.wilcoxonP)}).`
      : `${what}: no clear difference (interval [${scale(d.ci[0])}, ${
        scale(d.ci[1])
      }] includes 0; ` +
        `Wilcoxon p ${pValue(t.wilcoxonP)}).`;
  };
  say.push(
    describe(find("classifier (b) vs (a)", "accuracy"), "Test accuracy", (v) => `${pct(v)} points`),
  );
  say.push(
    describe(
      find(PAIRS[0].name, "energyPointingGame"),
      "Energy on the object, branch (b) vs Grad-CAM (a)",
      num,
    ),
  );
  say.push(
    describe(
      find(PAIRS[2].name, "energyPointingGame"),
      "Energy on the object, Grad-CAM (b) vs Grad-CAM (a)",
      num,
    ),
  );
  if (h.shortcut) {
    say.push(describe(h.shortcut.pairedTests[2], "Grad-CAM energy on the decoy patch", num));
  }
  return say.join("\n");
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
  return {
    id,
    config: { ...studyFlags(flags), "seed-index": k, out: cellPaths(out, id).dir },
  };
}

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
  const loaded = await loadData(config);
  if (config.shortcut) {
    loaded.dataset = injectShortcutOn(loaded.dataset, loaded.train, config);
  }
  if (config.limit > 0) loaded.test = loaded.test.slice(0, config.limit);
  const { dataset, train: trainIdx, test: testIdx } = loaded;
  if (testIdx.length === 0) throw new UsageError(`The test split of ${dataset.name} is empty`);
  const annotated =
    trainIdx.filter((i) => dataset.records[i].hasMask || dataset.records[i].hasBoxes).length;
  if (annotated === 0) {
    console.error(
      `note: no training image of ${dataset.name} has a mask or boxes, so (b)'s location loss ` +
        `has nothing to learn from and (b) trains as (a) does; the localisation metrics need ` +
        `annotated test images too`,
    );
  }
  await Deno.mkdir(config.out, { recursive: true });
  const { seedIndex: _seedIndex, ...shown } = config;
  const run = await collectRunInfo("compare-gradcam", { ...shown }, config.seed);
  console.error(
    `data: ${dataset.name} (${dataset.classNames.join(", ")}), ${trainIdx.length} training and ` +
      `${testIdx.length} test images of ${config.size}×${config.size}; backbone ${config.backbone}`,
  );

  const runs: SeedRun[] = [];
  let last: { a: TwoBranchModel; b: TwoBranchModel } | null = null;
  const started = performance.now();
  const indices = config.seedIndex === null
    ? Array.from({ length: config.seeds }, (_, s) => s)
    : [config.seedIndex];
  for (const s of indices) {
    const seed = config.seed + s;
    const { run: r, models } = await runSeed(
      config,
      loaded,
      seed,
      config.seeds > 1 ? `seed ${seed} (${s + 1}/${config.seeds})` : `seed ${seed}`,
    );
    runs.push(r);
    if (last) {
      last.a.dispose();
      last.b.dispose();
    }
    last = models;
  }
  let pics;
  try {
    pics = await pictures(config, dataset, runs.at(-1)!, last!);
  } finally {
    last!.a.dispose();
    last!.b.dispose();
  }
  // The gallery's pictures as files too, so that --collect can build the report from them.
  await Deno.mkdir(`${config.out}/gallery`, { recursive: true });
  for (const [key, png] of Object.entries(pics.images)) {
    await writeFileAtomic(`${config.out}/gallery/${encodeURIComponent(key)}.png`, png);
  }
  await writeOutputs(config, {
    annotatedTrain: annotated,
    run,
    engine,
    dataset: { name: dataset.name, classNames: dataset.classNames },
    train: trainIdx.length,
    test: testIdx.length,
    runs,
    pictures: pics,
    wallSeconds: (performance.now() - started) / 1000,
    incomplete: [],
  });
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

/** --collect: pools the seeds of a Slurm run into one comparison, as a local --seeds N run does. */
async function collect(dir: string): Promise<void> {
  const path = `${dir}/compare.json`;
  if (!(await pathExists(path))) {
    throw new UsageError(
      `Flag --collect: ${path} does not exist; pass the --out folder of a compare-gradcam ` +
        `run with --slurm`,
    );
  }
  const saved = await readConfigFile(path);
  const flags = mergeConfigObject(
    parseFlags("compare-gradcam", SUMMARY, FLAGS, []),
    saved,
    FLAGS,
    { source: `"${path}"` },
  );
  const config = readConfig({ ...flags, out: dir });
  const cells = Array.from({ length: config.seeds }, (_, k) => seedCell(dir, flags, k));
  const statuses = await Promise.all(cells.map((cell) => cellStatus(dir, cell.id)));
  const runs: SeedRun[] = [];
  // deno-lint-ignore no-explicit-any
  let last: any = null;
  let lastDir = "";
  for (const cell of cells) {
    const p = cellPaths(dir, cell.id);
    if (!(await pathExists(p.results))) continue;
    const r = JSON.parse(await Deno.readTextFile(p.results));
    runs.push(r.seeds[0]);
    last = r;
    lastDir = p.dir;
  }
  const report = describeIncomplete(dir, statuses);
  if (last === null) {
    console.error(report);
    throw new Error(`None of the ${cells.length} seeds of ${dir} has results yet`);
  }
  const images: Record<string, Uint8Array> = {};
  for await (const entry of Deno.readDir(`${lastDir}/gallery`)) {
    if (entry.isFile && entry.name.endsWith(".png")) {
      images[decodeURIComponent(entry.name.slice(0, -4))] = await Deno.readFile(
        `${lastDir}/gallery/${entry.name}`,
      );
    }
  }
  const gridPath = `${dir}/saliency.png`;
  await writeFileAtomic(gridPath, await Deno.readFile(`${lastDir}/saliency.png`));
  await writeOutputs(config, {
    annotatedTrain: last.dataset.annotatedTrain,
    engine: String(last.engine),
    dataset: { name: last.dataset.name, classNames: last.dataset.classNames },
    train: last.dataset.train,
    test: last.dataset.test,
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

interface Outputs {
  /** Training images with a mask or boxes. */
  annotatedTrain: number;
  /** Run info collected when the run started (collected at the end if absent). */
  run?: Awaited<ReturnType<typeof collectRunInfo>>;
  engine: string;
  dataset: { name: string; classNames: readonly string[] };
  train: number;
  test: number;
  runs: SeedRun[];
  pictures: Awaited<ReturnType<typeof pictures>>;
  wallSeconds: number;
  incomplete: Awaited<ReturnType<typeof cellStatus>>[];
}

/** Writes results.json, summary.md and report.html from the seeds' runs. */
async function writeOutputs(config: Config, o: Outputs): Promise<void> {
  const { runs, dataset } = o;
  const h = headline(runs);
  const { images, gallery, gridPath } = o.pictures;
  const lastRun = runs.at(-1)!;
  // What each figure pools: test images for one seed, the seeds' means for several.
  const toSummary = (f: Figure): MetricSummary => ({
    mean: f.mean,
    ci: f.ci,
    scored: h.over === "images" ? o.test : runs.length,
    excluded: 0,
  });
  const metricsOf = (name: string) =>
    Object.fromEntries(METRICS.map((m) => [m.key, toSummary(h.maps[name][m.key])]));
  const comparisons = [
    {
      title: "Test accuracy: (a) baseline vs (b) supervised",
      groups: [
        { name: "(a) baseline", metrics: { accuracy: toSummary(h.accuracy.a) } },
        { name: "(b) supervised", metrics: { accuracy: toSummary(h.accuracy.b) } },
      ],
    },
    ...EXPLAINERS_A.map((e) => ({
      title: `${e}: (a) baseline vs (b) supervised`,
      groups: [
        { name: `(a) ${e}`, metrics: metricsOf(`(a) ${e}`) },
        { name: `(b) ${e}`, metrics: metricsOf(`(b) ${e}`) },
      ],
    })),
    {
      title: "Branch map of (b) vs Grad-CAM and vanilla gradients of (a)",
      groups: [
        { name: "(a) grad-cam", metrics: metricsOf("(a) grad-cam") },
        { name: "(a) vanilla-gradient", metrics: metricsOf("(a) vanilla-gradient") },
        { name: "(b) branch", metrics: metricsOf("(b) branch") },
      ],
    },
    ...(h.shortcut
      ? [{
        title: "Shortcut: share of saliency energy on the decoy patch",
        groups: Object.entries(h.shortcut.cueEnergy).map(([name, f]) => ({
          name,
          metrics: { cueEnergy: toSummary(f) },
        })),
      }]
      : []),
  ];
  const trainSeconds = runs.reduce((s, r) => s + r.trainSeconds, 0);
  const { seedIndex: _seedIndex, ...shown } = config;
  const run = o.run ?? await collectRunInfo("compare-gradcam", { ...shown }, config.seed);
  const results = {
    title: "compare-gradcam: baseline (a) vs location-supervised (b)",
    subtitle: `${dataset.name}${config.shortcut ? " + decoy shortcut" : ""}: ${o.train} ` +
      `training and ${o.test} test images, ${config.steps} steps each, ` +
      `seeds ${h.seeds.join(", ")}, on ${o.engine}`,
    run,
    engine: o.engine,
    config: shown,
    dataset: {
      name: dataset.name,
      classNames: dataset.classNames,
      train: o.train,
      annotatedTrain: o.annotatedTrain,
      test: o.test,
    },
    trainSeconds,
    wallSeconds: o.wallSeconds,
    summary: h,
    comparisons,
    trainLog: epochLog(lastRun, Math.floor(o.train / config.batch)),
    classification: { classNames: dataset.classNames, ...lastRun.b.classification },
    gallery,
    incomplete: o.incomplete.map((s) => ({ id: s.id, state: s.state, reason: s.reason })),
    seeds: runs,
  };
  await writeJsonAtomic(`${config.out}/results.json`, results);
  const markdown = summaryMarkdown(config, dataset, h, {
    train: o.train,
    annotatedTrain: o.annotatedTrain,
    test: o.test,
  }) +
    (o.incomplete.length > 0
      ? `\n${o.incomplete.length} of ${config.seeds} seeds have no results yet: ${
        o.incomplete.map((s) => `${s.id} (${s.state})`).join(", ")
      }.\n`
      : "");
  await writeFileAtomic(`${config.out}/summary.md`, markdown);
  await writeReport(`${config.out}/report.html`, results, { images });
  console.log(`\n${markdown}`);
  console.log(
    `${trainSeconds.toFixed(0)} s training on ${o.engine}; wrote ${config.out}/summary.md, ` +
      `${config.out}/results.json, ${config.out}/report.html and ${gridPath}`,
  );
}

function injectShortcutOn(dataset: Dataset, train: number[], config: Config): Dataset {
  const patch = Math.max(2, Math.round(config.size / 8));
  return injectShortcut(dataset, { split: train, seed: config.seed, patch });
}

/** Epoch means of each model's loss terms, for the report's training curves. */
function epochLog(run: SeedRun, perEpoch: number) {
  const epochs = new Map<number, Map<string, number[]>>();
  for (const h of run.history) {
    const e = Math.floor((h.step - 1) / Math.max(1, perEpoch)) + 1;
    const acc = epochs.get(e) ?? new Map<string, number[]>();
    for (const [model, terms] of [["a", h.a], ["b", h.b]] as const) {
      for (const [k, v] of Object.entries(terms)) {
        const key = `${model}_${k}`;
        acc.set(key, [...(acc.get(key) ?? []), v]);
      }
    }
    epochs.set(e, acc);
  }
  return [...epochs].map(([epoch, acc]) => ({
    epoch,
    metrics: Object.fromEntries([...acc].map(([k, v]) => [k, meanOf(v)])),
  }));
}

/** The overlay grid and the report's gallery, from the last seed's models. */
async function pictures(
  config: Config,
  dataset: Dataset,
  run: SeedRun,
  models: { a: TwoBranchModel; b: TwoBranchModel },
) {
  const columns = [
    "(a) grad-cam",
    "(a) vanilla-gradient",
    "(b) grad-cam",
    "(b) vanilla-gradient",
    "(b) branch",
  ];
  const byGain = run.b.perImage
    .map((r, i) => ({
      r,
      gain: (r.scores.branch.energyPointingGame ?? NaN) -
        (run.a.perImage[i].scores["grad-cam"].energyPointingGame ?? NaN),
    }))
    .filter((x) => Number.isFinite(x.gain))
    .sort((x, y) => y.gain - x.gain);
  const sections = [
    {
      title: "Largest gain of (b)'s branch map over (a)'s Grad-CAM (energy on object)",
      picks: byGain.slice(0, 4),
    },
    { title: "Smallest gain", picks: byGain.slice(Math.max(4, byGain.length - 4)).reverse() },
  ];
  if (byGain.length === 0) {
    sections.splice(0, 2, {
      title: "Test images",
      picks: run.b.perImage.slice(0, 4).map((r) => ({ r, gain: NaN })),
    });
  }
  const images: Record<string, Uint8Array> = {};
  const rows: GridRow[] = [];
  const gallery = [];
  const size = config.size;
  for (const section of sections) {
    const items = [];
    for (const { r } of section.picks) {
      const sample = await dataset.load(r.index);
      const x = tf.tensor4d(sample.image.data, [1, size, size, 3]);
      const maps: Record<string, Float32Array> = {};
      for (const column of columns) {
        const [model, method] = column.split(" ") as [string, string];
        const m = explain(
          model === "(a)" ? models.a : models.b,
          x,
          { method } as Parameters<typeof explain>[2],
        );
        try {
          maps[column] = await m.data() as Float32Array;
        } finally {
          m.dispose();
        }
      }
      x.dispose();
      if (rows.length < 8) rows.push({ image: sample.image, mask: sample.mask, maps });
      const pics = await galleryPictures(sample, maps, images);
      const recA = run.a.perImage.find((q) => q.index === r.index)!;
      items.push({
        id: r.id,
        label: dataset.classNames[r.label],
        predicted: `(a) ${dataset.classNames[recA.predicted]}, (b) ${
          dataset.classNames[r.predicted]
        }`,
        confidence: r.confidence,
        images: pics,
        scores: {
          ...Object.fromEntries(Object.entries(recA.scores).map(([k, v]) => [`(a) ${k}`, v])),
          ...Object.fromEntries(Object.entries(r.scores).map(([k, v]) => [`(b) ${k}`, v])),
        },
      });
    }
    gallery.push({ title: section.title, items });
  }
  const gridPath = `${config.out}/saliency.png`;
  await saliencyGrid(rows, { columns, path: gridPath });
  return { images, gallery, gridPath };
}

if (import.meta.main) await runMain(main);
