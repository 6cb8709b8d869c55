/**
 * `deno task transfer`: does saliency learned with location supervision
 * survive transfer to a small unannotated dataset? Three pipelines with the
 * same seed, network and target data:
 *
 * 1. pretrain on the source WITH location supervision (cross-entropy plus
 *    the mask loss), then fine-tune on the target;
 * 2. pretrain on the source with labels only (cross-entropy), then
 *    fine-tune on the target;
 * 3. train on the target alone.
 *
 * The target's training part keeps masks for only `--target-annotated`
 * images per class (0: none); a stratified `--held-out` share of the target
 * keeps its masks and is used only for evaluation: accuracy, and the branch
 * map's and Grad-CAM's energy on the object and pointing game. Writes
 * `results.json`, `summary.md` (the table with 95% intervals and paired
 * bootstraps of (1) vs (2) and (1) vs (3) on per-image energy) and
 * `report.html` under `--out`.
 *
 * @module
 */
import {
  collectRunInfo,
  evaluate,
  fewAnnotated,
  initBackend,
  listBackbones,
  listDatasets,
  listSaliencyHeads,
  loadWeightsInto,
  mixedLoss,
  pairedTest,
  saveModel,
  stripAnnotations,
  train,
  writeFileAtomic,
  writeJsonAtomic,
  writeReport,
} from "../mod.ts";
import type { EvaluationResult, MetricSummary, PretrainedReport } from "../mod.ts";
import {
  buildModel,
  parseFreeze,
  parseMicroBatch,
  PRETRAINED_FLAGS,
  pretrainedRecord,
} from "./_model.ts";
import { backendFlag, type FlagSpec, numberFlag, parseFlags, runMain, UsageError } from "./_cli.ts";
import { datasetFlags, holdOut, openDataset } from "./_datasets.ts";

const SUMMARY =
  "Transfer to a small unannotated target: pretrain on a source with location supervision and\n" +
  "fine-tune on the target without masks, against the same pipeline pretrained on labels only\n" +
  "and against the target alone; scores each on a held-out annotated part of the target.\n" +
  "Writes results.json, summary.md and report.html to --out.";

const FLAGS: Record<string, FlagSpec> = {
  source: {
    type: "string",
    default: "synthetic",
    get help() {
      return `source dataset: ${listDatasets().join(", ")} (all but synthetic need --source-root)`;
    },
  },
  "source-root": { type: "string", help: "folder of the source dataset (not for synthetic)" },
  "source-count": { type: "string", default: "900", help: "images in a synthetic source" },
  "source-classes": { type: "string", default: "6", help: "classes of a synthetic source" },
  target: {
    type: "string",
    default: "synthetic",
    get help() {
      return `target dataset: ${listDatasets().join(", ")} (all but synthetic need --target-root)`;
    },
  },
  "target-root": { type: "string", help: "folder of the target dataset (not for synthetic)" },
  "target-count": { type: "string", default: "150", help: "images in a synthetic target" },
  "target-classes": { type: "string", default: "3", help: "classes of a synthetic target" },
  "target-annotated": {
    type: "string",
    default: "0",
    help: "target training images per class that keep their masks (0: none; any: every " +
      "pipeline's fine-tuning adds the BCE mask loss at weight 1)",
  },
  "held-out": {
    type: "string",
    default: "0.3",
    help: "share of the target kept annotated and used only for evaluation",
  },
  size: { type: "string", default: "32", help: "image size in pixels" },
  backbone: {
    type: "string",
    default: "plain_cnn",
    help: "reference (the reference network) or a registered backbone",
  },
  head: { type: "string", default: "decoder", help: "saliency head (not for reference)" },
  width: { type: "string", default: "0.25", help: "width multiplier of the backbone" },
  ...PRETRAINED_FLAGS,
  "mask-weight": {
    type: "string",
    default: "1",
    help: "weight of the mask (BCE) loss in pipeline (1)'s pretraining",
  },
  "source-epochs": { type: "string", default: "8", help: "epochs of source pretraining" },
  "target-epochs": { type: "string", default: "15", help: "epochs on the target" },
  batch: { type: "string", default: "16", help: "batch size" },
  lr: { type: "string", default: "0.003", help: "learning rate of Adam" },
  resamples: { type: "string", default: "1000", help: "bootstrap resamples of each interval" },
  out: { type: "string", default: "runs/transfer", help: "output folder" },
};

/** The three pipelines, in order. */
const PIPELINES = [
  { key: "masks", name: "(1) source with masks → target" },
  { key: "labels-only", name: "(2) source labels only → target" },
  { key: "none", name: "(3) target alone" },
] as const;

const EXPLAINERS = ["branch", "grad-cam"];
const METRICS = [
  { key: "energyPointingGame", label: "energy on object" },
  { key: "pointingGame", label: "pointing game" },
];

function readConfig(flags: Record<string, string | boolean>) {
  const source = datasetFlags({ dataset: flags.source, root: flags["source-root"] });
  const target = datasetFlags({ dataset: flags.target, root: flags["target-root"] });
  const backbone = String(flags.backbone);
  if (backbone !== "reference" && !listBackbones().includes(backbone)) {
    throw new UsageError(
      `Flag --backbone must be reference or one of ${
        listBackbones().join(", ")
      }; got "${backbone}"`,
    );
  }
  const head = String(flags.head);
  if (!listSaliencyHeads().includes(head)) {
    throw new UsageError(
      `Flag --head must be one of ${listSaliencyHeads().join(", ")}; got "${head}"`,
    );
  }
  return {
    source: source.dataset,
    sourceRoot: source.root,
    sourceCount: numberFlag(flags, "source-count", { integer: true, min: 10 }),
    sourceClasses: numberFlag(flags, "source-classes", { integer: true, min: 2, max: 6 }),
    target: target.dataset,
    targetRoot: target.root,
    targetCount: numberFlag(flags, "target-count", { integer: true, min: 10 }),
    targetClasses: numberFlag(flags, "target-classes", { integer: true, min: 2, max: 6 }),
    targetAnnotated: numberFlag(flags, "target-annotated", { integer: true, min: 0 }),
    heldOut: numberFlag(flags, "held-out", { min: 0.05, max: 0.9 }),
    size: numberFlag(flags, "size", { integer: true, min: 8 }),
    backbone,
    head,
    width: numberFlag(flags, "width", { min: 0.01 }),
    pretrained: String(flags.pretrained ?? ""),
    freeze: parseFreeze(flags.freeze),
    backboneLr: numberFlag(flags, "backbone-lr", { min: 0 }),
    microBatch: parseMicroBatch(flags),
    maskWeight: numberFlag(flags, "mask-weight", { min: 0 }),
    sourceEpochs: numberFlag(flags, "source-epochs", { integer: true, min: 1 }),
    targetEpochs: numberFlag(flags, "target-epochs", { integer: true, min: 1 }),
    batch: numberFlag(flags, "batch", { integer: true, min: 2 }),
    lr: numberFlag(flags, "lr", { min: 0 }),
    resamples: numberFlag(flags, "resamples", { integer: true, min: 10 }),
    out: String(flags.out),
    backend: backendFlag(flags),
    threads: numberFlag(flags, "threads", { integer: true, min: 1 }),
    seed: numberFlag(flags, "seed", { integer: true }),
  };
}

type Config = ReturnType<typeof readConfig>;

/** Checks --source/--source-root and --target/--target-root, naming the right flags. */
function sideFlags(
  flags: Record<string, string | boolean>,
  side: "source" | "target",
): void {
  try {
    datasetFlags({ dataset: flags[side], root: flags[`${side}-root`] });
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    throw new UsageError(
      error.message.replaceAll("--dataset", `--${side}`).replaceAll("--root", `--${side}-root`),
    );
  }
}

function fixed(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? "n/a" : v.toFixed(4);
}

function figure(s: MetricSummary | undefined): string {
  return s && Number.isFinite(s.mean)
    ? `${fixed(s.mean)} [${fixed(s.ci[0])}, ${fixed(s.ci[1])}]`
    : "n/a";
}

interface PairedTest {
  comparison: string;
  explainer: string;
  metric: string;
  /** Images where both pipelines have a score. */
  n: number;
  /** Mean of (1) − other, with its paired bootstrap 95% interval. */
  difference: { estimate: number; ci: [number, number] };
}

/** `one` against `two` on energy on the object: the library's pairedTest (`one − two`), labelled. */
function pairedRecord(
  comparison: string,
  explainer: string,
  one: EvaluationResult,
  two: EvaluationResult,
  seed: number,
  resamples: number,
): PairedTest {
  const energy = (e: EvaluationResult) =>
    e.perImage.map((r) => r.scores[explainer]?.energyPointingGame ?? null);
  const r = pairedTest(energy(two), energy(one), { seed, resamples });
  return {
    comparison,
    explainer,
    metric: "energyPointingGame",
    n: r.n,
    difference: r.difference,
  };
}

interface PipelineResult {
  key: string;
  name: string;
  /** Weights loaded from the source model (empty for the target alone). */
  transferred: number;
  trainSeconds: number;
  evaluation: EvaluationResult;
}

function summaryMarkdown(
  c: Config,
  info: { source: string; target: string; fineTune: number; annotated: number; test: number },
  pipelines: PipelineResult[],
  tests: PairedTest[],
): string {
  const cols = EXPLAINERS.flatMap((e) => METRICS.map((m) => `${e} ${m.label}`));
  const lines = [
    `# transfer: ${info.source} → ${info.target}`,
    "",
    `Fine-tuned on ${info.fineTune} target images (${info.annotated} with masks), scored on ` +
    `${info.test} held-out annotated target images. Seed ${c.seed}; ${c.sourceEpochs} source ` +
    `and ${c.targetEpochs} target epochs. Figures: mean with its 95% percentile bootstrap ` +
    `interval over images.`,
    "",
    `| pipeline | accuracy | ${cols.join(" | ")} |`,
    `|---|---|${cols.map(() => "---").join("|")}|`,
  ];
  for (const p of pipelines) {
    const cells = EXPLAINERS.flatMap((e) =>
      METRICS.map((m) => figure(p.evaluation.explainers[e]?.metrics[m.key]))
    );
    lines.push(
      `| ${p.name} | ${figure(p.evaluation.classification.accuracy)} | ${cells.join(" | ")} |`,
    );
  }
  lines.push(
    "",
    "## Paired bootstrap on per-image energy on the object",
    "",
    "Mean difference (1) − other over the same held-out images, with its 95% interval; an " +
      "interval that excludes 0 says the pipelines differ.",
    "",
    "| comparison | explainer | images | difference |",
    "|---|---|---|---|",
    ...tests.map((t) =>
      `| ${t.comparison} | ${t.explainer} | ${t.n} | ${fixed(t.difference.estimate)} [${
        fixed(t.difference.ci[0])
      }, ${fixed(t.difference.ci[1])}] |`
    ),
    "",
  );
  return lines.join("\n");
}

async function main(): Promise<void> {
  const flags = parseFlags("transfer", SUMMARY, FLAGS, Deno.args);
  sideFlags(flags, "source");
  sideFlags(flags, "target");
  const c = readConfig(flags);
  const engine = await initBackend({ backend: c.backend, threads: c.threads });
  const source = await openDataset({
    dataset: c.source,
    root: c.sourceRoot,
    size: c.size,
    count: c.sourceCount,
    classes: c.sourceClasses,
    seed: c.seed,
  });
  // Another seed for a synthetic target, so that it is not the source's images.
  const target = await openDataset({
    dataset: c.target,
    root: c.targetRoot,
    size: c.size,
    count: c.targetCount,
    classes: c.targetClasses,
    seed: c.seed + 1,
  });
  const pool = [...target.train, ...target.test].sort((a, b) => a - b);
  const { train: fineTuneIdx, val: testIdx } = holdOut(target, pool, c.heldOut, c.seed);
  if (fineTuneIdx.length === 0 || testIdx.length === 0) {
    throw new UsageError(
      `Flag --held-out ${c.heldOut}: the target's ${pool.length} images leave ` +
        `${fineTuneIdx.length} to fine-tune on and ${testIdx.length} to evaluate; both need some`,
    );
  }
  const keep = fewAnnotated(target.dataset.records, fineTuneIdx, {
    perClass: c.targetAnnotated,
    seed: c.seed,
  });
  const fineTuneData = stripAnnotations(target.dataset, keep);
  const numClasses = target.dataset.classNames.length;
  await Deno.mkdir(c.out, { recursive: true });
  const run = await collectRunInfo("transfer", c, c.seed);
  console.error(
    `source: ${source.dataset.name}, ${source.train.length} training images; target: ` +
      `${target.dataset.name}, ${fineTuneIdx.length} to fine-tune on (${keep.size} with masks), ` +
      `${testIdx.length} held out; ${c.size}×${c.size}, on ${engine}`,
  );
  const optimizer = { name: "adam" as const, lr: c.lr };
  const started = performance.now();
  const pipelines: PipelineResult[] = [];
  let pretrained: PretrainedReport | null = null;
  for (const p of PIPELINES) {
    console.error(`\n${p.name}`);
    const t0 = performance.now();
    // Every pipeline starts from the same weights: the seed, and --pretrained.
    const built = await buildModel(c, numClasses, c.seed);
    const model = built.model;
    pretrained ??= built.pretrained;
    try {
      let transferred = 0;
      if (p.key !== "none") {
        const src = (await buildModel(c, source.dataset.classNames.length, c.seed)).model;
        const dir = `${c.out}/source-${p.key}`;
        try {
          await train(src, {
            dataset: source.dataset,
            trainIndices: source.train,
            epochs: c.sourceEpochs,
            batchSize: c.batch,
            microBatch: c.microBatch,
            backboneLr: c.backboneLr,
            seed: c.seed,
            optimizer,
            loss: mixedLoss({ ce: 1, bce: p.key === "masks" ? c.maskWeight : 0 }),
          });
          await saveModel(src, dir);
        } finally {
          src.dispose();
        }
        // Everything but the classifier's last layer (when the class counts differ) moves over.
        transferred = (await loadWeightsInto(model, dir, { strict: false })).loaded.length;
      }
      await train(model, {
        dataset: fineTuneData,
        trainIndices: fineTuneIdx,
        epochs: c.targetEpochs,
        batchSize: c.batch,
        microBatch: c.microBatch,
        backboneLr: c.backboneLr,
        seed: c.seed,
        optimizer,
        loss: mixedLoss({ ce: 1, bce: keep.size > 0 ? 1 : 0 }),
      });
      const trainSeconds = (performance.now() - t0) / 1000;
      const evaluation = await evaluate(model, target.dataset, {
        indices: testIdx,
        batchSize: c.batch,
        explainers: EXPLAINERS,
        faithfulness: false,
        resamples: c.resamples,
        seed: c.seed,
        progress: false,
      });
      pipelines.push({ key: p.key, name: p.name, transferred, trainSeconds, evaluation });
    } finally {
      model.dispose();
    }
  }
  const [one, two, three] = pipelines;
  const tests = EXPLAINERS.flatMap((e) => [
    pairedRecord("(1) vs (2)", e, one.evaluation, two.evaluation, c.seed, c.resamples),
    pairedRecord("(1) vs (3)", e, one.evaluation, three.evaluation, c.seed, c.resamples),
  ]);
  const info = {
    source: source.dataset.name,
    target: target.dataset.name,
    fineTune: fineTuneIdx.length,
    annotated: keep.size,
    test: testIdx.length,
  };
  const comparisons = [
    {
      title: "Held-out target accuracy",
      groups: pipelines.map((p) => ({
        name: p.name,
        metrics: { accuracy: p.evaluation.classification.accuracy },
      })),
    },
    ...EXPLAINERS.map((e) => ({
      title: `${e}: energy on the object and pointing game on the held-out target`,
      groups: pipelines.map((p) => ({
        name: p.name,
        metrics: Object.fromEntries(
          METRICS.filter((m) => p.evaluation.explainers[e]?.metrics[m.key])
            .map((m) => [m.key, p.evaluation.explainers[e].metrics[m.key]]),
        ),
      })),
    })),
  ];
  const results = {
    title: `transfer: ${info.source} → ${info.target}`,
    subtitle: `${info.fineTune} target images to fine-tune on (${info.annotated} with masks), ` +
      `${info.test} held out; seed ${c.seed}, on ${engine}`,
    run,
    engine,
    config: c,
    pretrained: pretrainedRecord(pretrained),
    data: {
      source: {
        name: source.dataset.name,
        classNames: source.dataset.classNames,
        train: source.train.length,
      },
      target: {
        name: target.dataset.name,
        classNames: target.dataset.classNames,
        fineTune: fineTuneIdx.length,
        annotated: keep.size,
        test: testIdx.length,
      },
    },
    wallSeconds: (performance.now() - started) / 1000,
    pipelines: pipelines.map((p) => ({
      key: p.key,
      name: p.name,
      transferredVariables: p.transferred,
      trainSeconds: p.trainSeconds,
      accuracy: p.evaluation.classification.accuracy,
      explainers: Object.fromEntries(
        EXPLAINERS.map((e) => [e, p.evaluation.explainers[e]?.metrics ?? {}]),
      ),
      evaluation: p.evaluation,
    })),
    pairedTests: tests,
    comparisons,
  };
  const markdown = summaryMarkdown(c, info, pipelines, tests);
  await writeJsonAtomic(`${c.out}/results.json`, results);
  await writeFileAtomic(`${c.out}/summary.md`, markdown);
  await writeReport(`${c.out}/report.html`, results);
  console.log(`\n${markdown}`);
  console.log(
    `${results.wallSeconds.toFixed(0)} s on ${engine}; wrote ${c.out}/results.json, ` +
      `${c.out}/summary.md and ${c.out}/report.html`,
  );
}

if (import.meta.main) await runMain(main);
