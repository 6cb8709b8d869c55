/**
 * `deno task evaluate`: evaluates a saved model on a dataset's test split:
 * classification metrics and, for each chosen explainer, every localisation
 * metric, deletion/insertion faithfulness and optionally the
 * parameter-randomisation sanity check. Writes `results.json`, `summary.md`
 * (every metric's mean with its 95% interval, per explainer) and
 * `report.html` (with a gallery of the best and worst images) under `--out`.
 *
 * @module
 */
import {
  collectRunInfo,
  evaluate,
  explain,
  initBackend,
  listExplainers,
  loadModel,
  pathExists,
  tf,
  writeFileAtomic,
  writeJsonAtomic,
  writeReport,
} from "../mod.ts";
import type {
  Dataset,
  EvaluationResult,
  ExplainRequest,
  MetricSummary,
  TwoBranchModel,
} from "../mod.ts";
import { galleryPictures } from "./_gallery.ts";
import {
  backendFlag,
  type FlagSpec,
  numberFlag,
  outputFolder,
  parseFlags,
  runMain,
  UsageError,
} from "./_cli.ts";
import { DATASET_FLAGS, datasetFlags, openDataset } from "./_datasets.ts";

const SUMMARY =
  "Evaluate a saved model on a dataset's test split: classification metrics and, for each\n" +
  "explainer, localisation metrics against the masks or boxes, deletion/insertion faithfulness\n" +
  "and optionally the sanity check. Writes results.json, summary.md and report.html to --out.";

const FLAGS: Record<string, FlagSpec> = {
  model: { type: "string", help: "folder of a saved model (e.g. runs/train/model); required" },
  ...DATASET_FLAGS,
  count: {
    type: "string",
    default: "1200",
    help: "images in the synthetic set (as when training, for the same test split)",
  },
  classes: {
    type: "string",
    help: "classes in the synthetic set (default: the model's number of classes)",
  },
  explainers: {
    type: "string",
    default: "grad-cam,vanilla-gradient,branch",
    help: "comma-separated explainers (see listExplainers())",
  },
  "no-faithfulness": { type: "boolean", default: false, help: "skip deletion/insertion AUC" },
  "faithfulness-steps": { type: "string", default: "16", help: "steps of the deletion curves" },
  "faithfulness-images": {
    type: "string",
    default: "256",
    help: "images (a seeded random subset) that get the deletion and insertion curves, or all",
  },
  sanity: {
    type: "string",
    default: "0",
    help: "run the parameter-randomisation sanity check on this many images (0: off)",
  },
  limit: { type: "string", default: "0", help: "evaluate only the first N test images (0: all)" },
  batch: { type: "string", default: "16", help: "images per batch" },
  resamples: { type: "string", default: "1000", help: "bootstrap resamples of each interval" },
  gallery: { type: "string", default: "4", help: "images in each gallery section of the report" },
  out: { type: "string", default: "runs/evaluate", help: "output folder" },
};

/** The classification figures summary.md shows, in order. */
function classificationRows(c: EvaluationResult["classification"]): [string, string][] {
  return [
    ["accuracy", figure(c.accuracy)],
    ["balanced accuracy", fixed(c.balancedAccuracy)],
    ["macro F1", fixed(c.macroF1)],
    ["ROC AUC (one vs rest, macro)", c.rocAuc ? fixed(c.rocAuc.macro) : "n/a"],
    ["expected calibration error", fixed(c.expectedCalibrationError)],
  ];
}

function fixed(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? "n/a" : v.toFixed(4);
}

function figure(s: MetricSummary): string {
  return Number.isFinite(s.mean)
    ? `${fixed(s.mean)} [${fixed(s.ci[0])}, ${fixed(s.ci[1])}]`
    : "n/a";
}

/** summary.md: classification, then every metric mean [CI] per explainer. */
function summaryMarkdown(
  evaluation: EvaluationResult,
  info: { model: string; dataset: string; images: number },
): string {
  const lines = [
    `# evaluate: ${info.model} on ${info.dataset}`,
    "",
    `${info.images} test images. Figures: mean with its 95% percentile bootstrap interval over ` +
    `images; localisation metrics count only the images with a mask or boxes.`,
    "",
    "## Classification",
    "",
    "| metric | value |",
    "|---|---|",
    ...classificationRows(evaluation.classification).map(([k, v]) => `| ${k} | ${v} |`),
    "",
  ];
  const names = Object.keys(evaluation.explainers);
  if (names.length > 0) {
    const metrics = [
      ...new Set(names.flatMap((n) => Object.keys(evaluation.explainers[n].metrics))),
    ];
    lines.push("## Explainers", "");
    lines.push(`| explainer | ${metrics.join(" | ")} | MaxBoxAccV2 | PxAP |`);
    lines.push(`|---|${metrics.map(() => "---").join("|")}|---|---|`);
    for (const n of names) {
      const e = evaluation.explainers[n];
      const cells = metrics.map((m) => (e.metrics[m] ? figure(e.metrics[m]) : "n/a"));
      lines.push(`| ${n} | ${cells.join(" | ")} | ${fixed(e.maxBoxAccV2)} | ${fixed(e.pxap)} |`);
    }
    lines.push("");
    const scored = names.map((n) => {
      const counts = Object.values(evaluation.explainers[n].metrics)[0];
      return counts ? `${n}: ${counts.scored} scored, ${counts.excluded} excluded` : null;
    }).filter((s) => s !== null);
    if (scored.length > 0) lines.push(`Images per explainer: ${scored.join("; ")}.`, "");
    const sanity = names.filter((n) => evaluation.explainers[n].sanity);
    if (sanity.length > 0) {
      lines.push("## Sanity check (mean Spearman with the original maps)", "");
      const steps = evaluation.explainers[sanity[0]].sanity!.map((s) => s.step);
      lines.push(`| explainer | ${steps.join(" | ")} |`);
      lines.push(`|---|${steps.map(() => "---").join("|")}|`);
      for (const n of sanity) {
        lines.push(
          `| ${n} | ${
            evaluation.explainers[n].sanity!.map((s) => fixed(s.meanSpearman)).join(" | ")
          } |`,
        );
      }
      lines.push("");
    }
  }
  return lines.join("\n");
}

/** The report's gallery: best and worst images by the first explainer's energy on the object. */
async function gallery(
  model: TwoBranchModel,
  dataset: Dataset,
  evaluation: EvaluationResult,
  explainers: string[],
  count: number,
) {
  const images: Record<string, Uint8Array> = {};
  if (count === 0) return { images, sections: [] };
  const first = explainers[0];
  const ranked = first === undefined ? [] : evaluation.perImage
    .filter((r) => Number.isFinite(r.scores[first]?.energyPointingGame ?? NaN))
    .sort((a, b) => b.scores[first].energyPointingGame! - a.scores[first].energyPointingGame!);
  const sections = ranked.length > 0
    ? [
      { title: `Best (${first} most on the object)`, records: ranked.slice(0, count) },
      {
        title: "Worst",
        records: ranked.slice(Math.max(count, ranked.length - count)).reverse(),
      },
    ]
    : [{ title: "Test images", records: evaluation.perImage.slice(0, count) }];
  const [h, w, c] = model.inputShape;
  const out = [];
  for (const section of sections) {
    const items = [];
    for (const record of section.records) {
      const sample = await dataset.load(record.index);
      const maps: Record<string, Float32Array> = {};
      const x = tf.tensor4d(sample.image.data, [1, h, w, c]);
      try {
        for (const method of explainers) {
          const m = explain(model, x, { method } as ExplainRequest);
          try {
            maps[method] = await m.data() as Float32Array;
          } finally {
            m.dispose();
          }
        }
      } finally {
        x.dispose();
      }
      const pics = await galleryPictures(sample, maps, images);
      items.push({
        id: record.id,
        label: dataset.classNames[record.label],
        predicted: dataset.classNames[record.predicted],
        confidence: record.confidence,
        images: pics,
        scores: record.scores,
      });
    }
    out.push({ title: section.title, items });
  }
  return { images, sections: out };
}

async function main(): Promise<void> {
  const flags = parseFlags("evaluate", SUMMARY, FLAGS, Deno.args);
  const modelDir = typeof flags.model === "string" ? flags.model : "";
  if (modelDir === "") {
    throw new UsageError(
      "Flag --model is required: the folder of a saved model (e.g. runs/train/model)",
    );
  }
  const { dataset: datasetName, root } = datasetFlags(flags);
  const explainers = String(flags.explainers).split(",").map((s) => s.trim()).filter((s) =>
    s !== ""
  );
  const known = listExplainers();
  for (const e of explainers) {
    if (!known.includes(e)) {
      throw new UsageError(
        `Flag --explainers: unknown explainer "${e}" (choices: ${known.join(", ")})`,
      );
    }
  }
  if (!(await pathExists(`${modelDir}/model.json`))) {
    throw new UsageError(
      `Flag --model: "${modelDir}" holds no saved model (no ${modelDir}/model.json); ` +
        `pass the model/ folder that deno task train writes`,
    );
  }
  const backend = backendFlag(flags);
  const threads = numberFlag(flags, "threads", { integer: true, min: 1 });
  const seed = numberFlag(flags, "seed", { integer: true });
  const count = numberFlag(flags, "count", { integer: true, min: 10 });
  const sanity = numberFlag(flags, "sanity", { integer: true, min: 0 });
  const limit = numberFlag(flags, "limit", { integer: true, min: 0 });
  const batch = numberFlag(flags, "batch", { integer: true, min: 1 });
  const resamples = numberFlag(flags, "resamples", { integer: true, min: 10 });
  const faithfulnessSteps = numberFlag(flags, "faithfulness-steps", { integer: true, min: 2 });
  const faithfulnessImages = flags["faithfulness-images"] === "all"
    ? Infinity
    : numberFlag(flags, "faithfulness-images", { integer: true, min: 1 });
  const galleryCount = numberFlag(flags, "gallery", { integer: true, min: 0 });
  const out = String(flags.out);

  const engine = await initBackend({ backend, threads });
  const model = await loadModel(modelDir);
  try {
    const [h, w, channels] = model.inputShape;
    if (h !== w) {
      throw new UsageError(
        `Flag --model: the model in "${modelDir}" takes ${h}×${w} inputs; this task resizes to squares`,
      );
    }
    if (channels !== 3) {
      throw new UsageError(
        `Flag --model: the model in "${modelDir}" takes ${channels}-channel inputs; datasets open as RGB`,
      );
    }
    const classes = flags.classes === undefined
      ? model.numClasses
      : numberFlag(flags, "classes", { integer: true, min: 2, max: 6 });
    const { dataset, test } = await openDataset({
      dataset: datasetName,
      root,
      size: h,
      count,
      classes,
      seed,
    });
    if (dataset.classNames.length !== model.numClasses) {
      throw new UsageError(
        `Flag --dataset: ${dataset.name} has ${dataset.classNames.length} classes but the model in ` +
          `"${modelDir}" predicts ${model.numClasses}`,
      );
    }
    const indices = limit > 0 ? test.slice(0, limit) : test;
    if (indices.length === 0) throw new UsageError(`The test split of ${dataset.name} is empty`);
    await outputFolder(out);
    const config = {
      model: modelDir,
      dataset: datasetName,
      root,
      count,
      classes,
      explainers,
      faithfulness: flags["no-faithfulness"] !== true,
      faithfulnessSteps,
      faithfulnessImages: Number.isFinite(faithfulnessImages) ? faithfulnessImages : "all",
      sanity,
      limit,
      batch,
      resamples,
      backend,
      threads,
      seed,
      out,
    };
    const run = await collectRunInfo("evaluate", config, seed);
    console.error(
      `model: ${model.name} (${model.countParams().toLocaleString("en")} parameters) from ` +
        `${modelDir}; data: ${dataset.name}, ${indices.length} test images of ${h}×${w}`,
    );
    const evaluation = await evaluate(model, dataset, {
      indices,
      batchSize: batch,
      explainers,
      faithfulness: config.faithfulness,
      faithfulnessSteps,
      faithfulnessImages,
      sanity: sanity > 0 ? { images: sanity, seed } : false,
      resamples,
      seed,
    });
    const { images, sections } = await gallery(
      model,
      dataset,
      evaluation,
      explainers,
      galleryCount,
    );
    const metricKeys = [
      ...new Set(explainers.flatMap((n) => Object.keys(evaluation.explainers[n].metrics))),
    ];
    const results = {
      title: `evaluate: ${model.name} on ${dataset.name}`,
      subtitle: `${indices.length} test images, explainers ${explainers.join(", ")}, on ${engine}`,
      run,
      engine,
      config,
      model: { dir: modelDir, name: model.name, parameters: model.countParams() },
      dataset: { name: dataset.name, classNames: dataset.classNames, test: indices.length },
      classification: { classNames: dataset.classNames, ...evaluation.classification },
      comparisons: explainers.length > 0
        ? metricKeys.map((m) => ({
          title: `${m}: explainer vs explainer`,
          groups: explainers.map((n) => ({
            name: n,
            metrics: { [m]: evaluation.explainers[n].metrics[m] },
          })).filter((g) => g.metrics[m] !== undefined),
        }))
        : [],
      gallery: sections,
      evaluation,
    };
    const markdown = summaryMarkdown(evaluation, {
      model: `${model.name} (${modelDir})`,
      dataset: dataset.name,
      images: indices.length,
    });
    await writeJsonAtomic(`${out}/results.json`, results);
    await writeFileAtomic(`${out}/summary.md`, markdown);
    await writeReport(`${out}/report.html`, results, { images });
    console.log(`\n${markdown}`);
    console.log(`wrote ${out}/results.json, ${out}/summary.md and ${out}/report.html`);
  } finally {
    model.dispose();
  }
}

if (import.meta.main) await runMain(main);
