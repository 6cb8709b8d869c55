/**
 * A study's `summary.md`: its setup, the accuracy and map tables, the
 * paired tests and the verdict, showing the very numbers of `results.json`.
 *
 * @module
 */
import type { StudyDesign } from "./design.ts";
import { type StudySummary, verdict } from "./compare.ts";
import { formatFigure, num, pct, pValue } from "./_format.ts";
import { lossFlagName } from "../train/mixed_loss.ts";

/** The treatment's terms beside cross-entropy as flags spell them: `1 × bce + 1 × cam`. */
function treatmentTerms(design: StudyDesign): string {
  return Object.entries(design.treatment.loss).filter(([k]) => k !== "ce")
    .map(([k, w]) => `${w} × ${lossFlagName(k)}`).join(" + ");
}

/** What {@linkcode compareMarkdown} says of a study's setup. */
export interface StudySetup {
  /** The dataset's name, e.g. `"synthetic"`. */
  dataset: string;
  /** Its number of classes. */
  classes: number;
  /** Training images. */
  train: number;
  /** Training images with a mask or boxes (0: the location loss had nothing to learn from). */
  annotatedTrain: number;
  /** Test images. */
  test: number;
  /** Image size in pixels. */
  size: number;
  /** The backbone and its width multiplier. */
  backbone: string;
  width: number;
  /** Steps of each arm and samples per step. */
  steps: number;
  batch: number;
  /** The treatment's location loss as the command line spells it, and its weight. */
  loss: string;
  lossWeight: number;
  /** Whether the training split carries the decoy shortcut. */
  shortcut: boolean;
  /** Seeds of the series without results yet (a Slurm run being collected). @default {[]} */
  incomplete?: readonly { id: string; state: string }[];
  /** Seeds in the series. @default {the seeds pooled} */
  seeds?: number;
}

/**
 * compare-gradcam's `summary.md` from its pooled seeds.
 *
 * @example The accuracy table shows the pooled figures as percentages
 * ```ts
 * import assert from "node:assert";
 * import { compareGradcamDesign, compareMarkdown, type StudySummary } from "../../mod.ts";
 * const fig = (mean: number) => ({ mean, ci: [mean - 0.1, mean + 0.1] as [number, number] });
 * const summary: StudySummary = {
 *   seeds: [0], over: "images", accuracy: { a: fig(0.5), b: fig(0.75) }, maps: {}, tests: [
 *     { comparison: "classifier (b) vs (a)", metric: "accuracy", n: 4, meanA: 0.5, meanB: 0.75,
 *       difference: { estimate: 0.25, ci: [0, 0.5] }, wilcoxonP: 0.5 },
 *   ], shortcut: null,
 * };
 * const design = { ...compareGradcamDesign(), verdict: [] };
 * const md = compareMarkdown(summary, design, {
 *   dataset: "synthetic", classes: 2, train: 16, annotatedTrain: 16, test: 4, size: 16,
 *   backbone: "reference", width: 0.25, steps: 4, batch: 4, loss: "bce", lossWeight: 1,
 *   shortcut: false,
 * });
 * assert.ok(md.includes("| (b) supervised | 75.0 [65.0, 85.0] |"));
 * assert.ok(md.includes("| classifier (b) vs (a) | accuracy | 4 | 50.0 | 75.0 | 25.0 [0.0, 50.0] | 0.5000 |"));
 * ```
 */
export function compareMarkdown(
  summary: StudySummary,
  design: StudyDesign,
  setup: StudySetup,
): string {
  const { baseline: a, treatment: b, metrics } = design;
  const h = summary;
  const over = h.over === "images"
    ? "95% percentile bootstrap intervals over test images"
    : `mean over ${h.seeds.length} seeds with 95% t intervals across seeds`;
  const lines: string[] = [];
  lines.push(`# compare-gradcam: ${a.name} (${a.key}) vs location-supervised (${b.key})`, "");
  lines.push(
    `Dataset ${setup.dataset}${
      setup.shortcut ? " with the decoy shortcut on the training split" : ""
    }: ` +
      `${setup.train} training and ${setup.test} test images of ${setup.size}×${setup.size}, ` +
      `${setup.classes} classes. Backbone ${setup.backbone} (width ${setup.width}); ` +
      `${setup.steps} steps of batch ${setup.batch} for each model, the same batches in the same order. ` +
      `(${a.key}): cross-entropy only. (${b.key}): cross-entropy + ${
        treatmentTerms(design)
      } on the masks. ` +
      `Seeds ${h.seeds.join(", ")}. Figures: ${over}.`,
    "",
  );
  if (setup.annotatedTrain === 0) {
    lines.push(
      `**No training image has a mask or boxes**, so (b)'s location loss had nothing to learn ` +
        `from and (b) trained as (a) did: this run cannot show what location supervision does.`,
      "",
    );
  }
  lines.push("## Classification", "");
  if (setup.shortcut) {
    lines.push(
      "The test images carry the decoy patch with a random shade: this is decoy-test accuracy, " +
        "which falls where a model learned the patch instead of the object.",
      "",
    );
  }
  lines.push("| model | test accuracy (%) |", "|---|---|");
  lines.push(`| (${a.key}) ${a.name} | ${formatFigure(h.accuracy.a, pct)} |`);
  lines.push(`| (${b.key}) ${b.name} | ${formatFigure(h.accuracy.b, pct)} |`, "");
  lines.push("## Saliency on the test split", "");
  lines.push(`| map | ${metrics.map((m) => m.label).join(" | ")} |`);
  lines.push(`|---|${metrics.map(() => "---").join("|")}|`);
  for (const [name, figures] of Object.entries(h.maps)) {
    lines.push(
      `| ${name} | ${metrics.map((m) => formatFigure(figures[m.key], num)).join(" | ")} |`,
    );
  }
  lines.push("");
  lines.push(`## Paired tests, (${b.key}) − (${a.key})`, "");
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
        `${formatFigure({ mean: t.difference.estimate, ci: t.difference.ci }, scale)} | ${
          pValue(t.wilcoxonP)
        } |`,
    );
  }
  lines.push("");
  if (h.shortcut) {
    lines.push("## Shortcut: saliency energy on the decoy patch (test split)", "");
    lines.push("| map | share of energy on the patch |", "|---|---|");
    for (const [k, f] of Object.entries(h.shortcut.cueEnergy)) {
      lines.push(`| ${k} | ${formatFigure(f, num)} |`);
    }
    lines.push("", "| comparison | n | difference (b) − (a) [95% CI] | Wilcoxon p |");
    lines.push("|---|---|---|---|");
    for (const t of h.shortcut.pairedTests) {
      lines.push(
        `| ${t.comparison} | ${t.n} | ${
          formatFigure({ mean: t.difference.estimate, ci: t.difference.ci }, num)
        } | ${pValue(t.wilcoxonP)} |`,
      );
    }
    lines.push("");
  }
  if (h.faithfulness && Object.keys(h.faithfulness).length > 0) {
    lines.push("## Is each map the model's reason?", "");
    lines.push(
      `Deletion AUC of each map against a ${design.control} map's on the same images ` +
        "(pooled over seeds), with a paired bootstrap 95% interval of the difference: " +
        "a map is the model's reason only if the whole interval lies below 0, whatever its localisation.",
      "",
    );
    lines.push(
      `| map | deletion AUC | ${design.control} map's | difference [95% CI] | images | Wilcoxon p | the model's reason? |`,
    );
    lines.push("|---|---|---|---|---|---|---|");
    for (const [name, f] of Object.entries(h.faithfulness)) {
      lines.push(
        `| ${name} | ${num(f.deletionAuc)} | ${num(f.controlDeletionAuc)} | ${
          formatFigure({ mean: f.difference.estimate, ci: f.difference.ci }, num)
        } | ${f.n} | ${pValue(f.wilcoxonP)} | ${f.faithful ? "yes" : "**no**"} |`,
      );
    }
    lines.push("");
  }
  lines.push("## Verdict", "", verdict(h, design), "");
  const incomplete = setup.incomplete ?? [];
  if (incomplete.length > 0) {
    lines.push(
      `${incomplete.length} of ${setup.seeds ?? h.seeds.length} seeds have no results yet: ${
        incomplete.map((s) => `${s.id} (${s.state})`).join(", ")
      }.`,
      "",
    );
  }
  return lines.join("\n");
}
