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
 * `report.html` under `--out`. The arms, paired tests and summary are
 * `lib/studies/transfer.ts`.
 *
 * @module
 */
import {
  collectRunInfo,
  fewAnnotated,
  initBackend,
  listDatasets,
  type PretrainedReport,
  runTransferArm,
  stripAnnotations,
  TRANSFER_ARMS,
  transferArmRecords,
  type TransferArmResult,
  transferComparisons,
  transferPairedTests,
  transferSummaryMarkdown,
  writeFileAtomic,
  writeJsonAtomic,
  writeReport,
} from "../mod.ts";
import {
  buildModel,
  modelFlags,
  parseMicroBatch,
  PRETRAINED_FLAGS,
  pretrainedRecord,
} from "./_model.ts";
import {
  type FlagSpec,
  numberFlag,
  outputFolder,
  parseFlags,
  runMain,
  UsageError,
} from "./_cli.ts";
import { engineFlags } from "./_shared_flags.ts";
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
    help: "a registered backbone (reference: the reference network, with its own head)",
  },
  head: {
    type: "string",
    default: "decoder",
    help:
      "saliency head (a backbone with a whole model of its own, such as reference, keeps its own)",
  },
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

function readConfig(flags: Record<string, string | boolean>) {
  const source = datasetFlags({ dataset: flags.source, root: flags["source-root"] });
  const target = datasetFlags({ dataset: flags.target, root: flags["target-root"] });
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
    ...modelFlags(flags),
    microBatch: parseMicroBatch(flags),
    maskWeight: numberFlag(flags, "mask-weight", { min: 0 }),
    sourceEpochs: numberFlag(flags, "source-epochs", { integer: true, min: 1 }),
    targetEpochs: numberFlag(flags, "target-epochs", { integer: true, min: 1 }),
    batch: numberFlag(flags, "batch", { integer: true, min: 2 }),
    lr: numberFlag(flags, "lr", { min: 0 }),
    resamples: numberFlag(flags, "resamples", { integer: true, min: 10 }),
    out: String(flags.out),
    ...engineFlags(flags),
  };
}

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
  await outputFolder(c.out);
  const run = await collectRunInfo("transfer", c, c.seed);
  console.error(
    `source: ${source.dataset.name}, ${source.train.length} training images; target: ` +
      `${target.dataset.name}, ${fineTuneIdx.length} to fine-tune on (${keep.size} with masks), ` +
      `${testIdx.length} held out; ${c.size}×${c.size}, on ${engine}`,
  );
  const started = performance.now();
  const pipelines: TransferArmResult[] = [];
  let pretrained: PretrainedReport | null = null;
  const build = async (classes: number) => {
    const built = await buildModel(c, classes, c.seed);
    pretrained ??= built.pretrained;
    return built.model;
  };
  const data = {
    source: { dataset: source.dataset, train: source.train },
    fineTune: fineTuneData,
    fineTuneIndices: fineTuneIdx,
    annotated: keep.size > 0,
    test: { dataset: target.dataset, indices: testIdx },
  };
  for (const arm of TRANSFER_ARMS) {
    console.error(`\n${arm.name}`);
    pipelines.push(await runTransferArm(arm, data, { ...c, build, dir: c.out }));
  }
  const tests = transferPairedTests(pipelines, c);
  const info = {
    source: source.dataset.name,
    target: target.dataset.name,
    fineTune: fineTuneIdx.length,
    annotated: keep.size,
    test: testIdx.length,
  };
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
    pipelines: transferArmRecords(pipelines),
    pairedTests: tests,
    comparisons: transferComparisons(pipelines),
  };
  const markdown = transferSummaryMarkdown(c, info, pipelines, tests);
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
