/**
 * A whole study: its seeds one after another with fresh models, the last
 * seed's pictures, and the results and summary of the pooled seeds.
 *
 * @module
 */
import type { TwoBranchModel } from "../models/types.ts";
import type { ReportData } from "../viz/report.ts";
import type { RunInfo } from "../train/run_info.ts";
import {
  epochLog,
  poolSeeds,
  reportComparisons,
  runSeedComparison,
  type SeedComparison,
  type SeedComparisonOptions,
  type StudySummary,
  verdict,
} from "./compare.ts";
import type { StudyDesign } from "./design.ts";
import { type StudyPictures, studyPictures } from "./pictures.ts";
import { compareMarkdown, type StudySetup } from "./summary.ts";

/** Both arms' fresh models for one seed, and the pretrained start they share. */
export interface SeedModels {
  baseline: TwoBranchModel;
  treatment: TwoBranchModel;
  /** The pretrained start, recorded as it is. @default {null} */
  pretrained?: Record<string, unknown> | null;
}

/** Options of {@linkcode runStudy}. */
export interface StudyOptions extends Omit<SeedComparisonOptions, "seed" | "pretrained"> {
  /** The training seeds, one comparison each. */
  seeds: readonly number[];
  /** Where the last seed's overlay grid goes. */
  gridPath: string;
}

/**
 * Runs one {@linkcode runSeedComparison} per seed with the models `models`
 * builds for it (both arms must start from the same weights), draws the last
 * seed's pictures ({@linkcode studyPictures}), and disposes every model.
 */
export async function runStudy(
  models: (seed: number) => Promise<SeedModels>,
  options: StudyOptions,
): Promise<{ runs: SeedComparison[]; pictures: StudyPictures }> {
  const runs: SeedComparison[] = [];
  let pictures: StudyPictures | null = null;
  for (const seed of options.seeds) {
    const m = await models(seed);
    try {
      runs.push(await runSeedComparison(m, { ...options, seed, pretrained: m.pretrained ?? null }));
      if (seed === options.seeds.at(-1)) {
        pictures = await studyPictures(m, runs.at(-1)!, { ...options, gridPath: options.gridPath });
      }
    } finally {
      m.baseline.dispose();
      m.treatment.dispose();
    }
  }
  if (!pictures) throw new RangeError("Cannot run a study without seeds");
  return { runs, pictures };
}

/** compare-gradcam's `results.json`: what the report shows, and the study's own records. */
export type StudyResults = ReportData & {
  summary: StudySummary;
  trainSeconds: number;
  seeds: readonly SeedComparison[];
};

/** What {@linkcode studyResults} needs besides the runs. */
export interface StudyRecord {
  /** The study's setup, for the summary's prose. */
  setup: StudySetup;
  /** The dataset's class names. */
  classNames: readonly string[];
  /** The run record (`collectRunInfo()`). */
  run: RunInfo;
  /** The engine's name. */
  engine: string;
  /** Every option of the run. */
  config: Record<string, unknown>;
  /** Seconds the whole run took. */
  wallSeconds: number;
  /** The report's gallery. */
  gallery: StudyPictures["gallery"];
  /** Seeds of the series without results, with why. @default {[]} */
  incomplete?: readonly { id: string; state: string; reason?: string }[];
}

/**
 * compare-gradcam's `results.json` (the pooled summary, the report's
 * comparisons, the last seed's training log and classification, every
 * seed's run) and its `summary.md`.
 */
export function studyResults(
  runs: readonly SeedComparison[],
  design: StudyDesign,
  record: StudyRecord,
): { results: StudyResults; markdown: string } {
  const { setup } = record;
  const summary = poolSeeds(runs, design);
  const last = runs.at(-1)!;
  const incomplete = record.incomplete ?? [];
  const results = {
    title: "compare-gradcam: baseline (a) vs location-supervised (b)",
    subtitle: `${setup.dataset}${setup.shortcut ? " + decoy shortcut" : ""}: ${setup.train} ` +
      `training and ${setup.test} test images, ${setup.steps} steps each, ` +
      `seeds ${summary.seeds.join(", ")}, on ${record.engine}`,
    run: record.run,
    engine: record.engine,
    config: record.config,
    dataset: {
      name: setup.dataset,
      classNames: record.classNames,
      train: setup.train,
      annotatedTrain: setup.annotatedTrain,
      test: setup.test,
    },
    trainSeconds: runs.reduce((s, r) => s + r.trainSeconds, 0),
    wallSeconds: record.wallSeconds,
    summary,
    findings: verdict(summary, design).split("\n").filter((line) => line !== ""),
    comparisons: reportComparisons(summary, runs, design),
    trainLog: epochLog(last, Math.floor(setup.train / setup.batch)),
    classification: { classNames: record.classNames, ...last.b.classification },
    gallery: record.gallery,
    incomplete: incomplete.map((s) => ({ id: s.id, state: s.state, reason: s.reason })),
    seeds: runs,
  };
  return { results, markdown: compareMarkdown(summary, design, { ...setup, incomplete }) };
}
