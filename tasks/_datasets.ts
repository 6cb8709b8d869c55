// Opening the dataset a task names by flag (--dataset, --root): the built-in
// synthetic set or a real one, at the model's size, in 3 channels, with boxes
// drawn into masks, and its train/test split. Private to tasks/.
import {
  boxesToMask,
  checkDatasetFiles,
  getDataset,
  listDatasets,
  pathExists,
  resizeSample,
  stratifiedSplit,
} from "../mod.ts";
import type { Dataset, Sample } from "../mod.ts";
import { failOnFileProblems, type FlagSpec, UsageError } from "./_cli.ts";

/** The registered datasets that need no --root. */
function rootless(): string[] {
  return listDatasets().filter((n) => !getDataset(n)!.needsRoot);
}

/**
 * The --dataset and --root flags every task that opens a dataset takes;
 * their help reads the dataset registry when it is shown.
 */
export const DATASET_FLAGS: Record<string, FlagSpec> = {
  dataset: {
    type: "string",
    default: "synthetic",
    get help() {
      return `dataset: ${listDatasets().join(", ")} (all but ${rootless().join(", ")} need --root)`;
    },
  },
  root: {
    type: "string",
    get help() {
      return `folder of the dataset (not for ${rootless().join(", ")})`;
    },
  },
};

/** What {@linkcode openDataset} needs. */
export interface DatasetChoice {
  /** One of {@linkcode DATASETS}. */
  dataset: string;
  /** The dataset's folder; null for synthetic. */
  root: string | null;
  /** Image height and width the samples are resized to. */
  size: number;
  /** Images of the synthetic set. */
  count: number;
  /** Classes of the synthetic set. */
  classes: number;
  /** Seed of the synthetic set and of a split made here. */
  seed: number;
}

/** A dataset with its train and test indices. */
export interface OpenedDataset {
  dataset: Dataset;
  train: number[];
  test: number[];
  /**
   * The group of each sample index that splits keep on one side (BUSI's
   * duplicates), from the dataset's registration; undefined where it
   * registered none. Pass it on to {@linkcode holdOut}.
   */
  groups?: readonly (number | string)[];
}

/** Checks --dataset and --root, failing with the choices. */
export function datasetFlags(
  flags: Record<string, string | boolean | undefined>,
): { dataset: string; root: string | null } {
  const dataset = String(flags.dataset);
  const known = getDataset(dataset);
  if (!known) {
    throw new UsageError(
      `Flag --dataset must be one of ${listDatasets().join(", ")}; got "${dataset}"`,
    );
  }
  const root = typeof flags.root === "string" && flags.root !== "" ? flags.root : null;
  if (known.needsRoot && root === null) {
    throw new UsageError(
      `Flag --dataset ${dataset} needs --root PATH, the dataset's folder ` +
        `(choices: ${listDatasets().join(", ")}; only ${rootless().join(", ")} need no --root)`,
    );
  }
  return { dataset, root };
}

/**
 * Opens the chosen dataset at `size`, with boxes drawn into masks, and its
 * split: the official one, else a seeded stratified 80/20 one that keeps
 * the dataset's registered groups (BUSI's duplicates) on one side. Every
 * image and mask file's header is read first ({@linkcode checkDatasetFiles}):
 * a bad file fails here, before a task writes anything, and where there are
 * several, each is printed on its own line before the error.
 */
export async function openDataset(choice: DatasetChoice): Promise<OpenedDataset> {
  const known = getDataset(choice.dataset);
  if (!known) {
    throw new UsageError(
      `Flag --dataset must be one of ${listDatasets().join(", ")}; got "${choice.dataset}"`,
    );
  }
  if (known.needsRoot && !(await pathExists(choice.root ?? ""))) {
    throw new UsageError(
      `Flag --root: the folder "${choice.root}" for --dataset ${choice.dataset} does not exist`,
    );
  }
  const raw = await known.open({
    root: choice.root,
    size: choice.size,
    count: choice.count,
    classes: choice.classes,
    seed: choice.seed,
  });
  failOnFileProblems(await checkDatasetFiles(raw), {
    what: `files of --dataset ${choice.dataset}`,
    file: choice.root ?? raw.name,
  });
  const groups = known.groups ? await known.groups(raw) : undefined;
  const split = raw.officialSplit ?? stratifiedSplit(raw.records.map((r) => r.label), {
    train: 0.8,
    val: 0,
    test: 0.2,
    seed: choice.seed,
    groups,
  });
  const parts = { train: [...split.train], test: [...split.test], ...(groups ? { groups } : {}) };
  // A generated set comes at the requested size.
  if (!known.needsRoot) return { dataset: raw, ...parts };
  const size = choice.size;
  const dataset: Dataset = {
    name: raw.name,
    classNames: raw.classNames,
    size: raw.size,
    records: raw.records,
    officialSplit: raw.officialSplit,
    skipped: raw.skipped,
    async load(index: number): Promise<Sample> {
      let sample = await raw.load(index);
      if (sample.image.channels !== 3) {
        const { width, height, data } = sample.image;
        const rgb = new Float32Array(width * height * 3);
        for (let i = 0; i < width * height; i++) rgb.fill(data[i], 3 * i, 3 * i + 3);
        sample = { ...sample, image: { width, height, channels: 3, data: rgb } };
      }
      sample = resizeSample(sample, { size });
      if (!sample.mask && sample.boxes && sample.boxes.length > 0) {
        sample = { ...sample, mask: boxesToMask(sample.boxes, sample.image) };
      }
      return sample;
    },
  };
  return { dataset, ...parts };
}

/**
 * Holds out a stratified `fraction` of `train` (indices of `opened.dataset`)
 * for validation (none for 0), keeping each of `opened.groups` on one side.
 */
export function holdOut(
  opened: Pick<OpenedDataset, "dataset" | "groups">,
  train: readonly number[],
  fraction: number,
  seed: number,
): { train: number[]; val: number[] } {
  if (fraction <= 0) return { train: [...train], val: [] };
  const { dataset, groups } = opened;
  const parts = stratifiedSplit(train.map((i) => dataset.records[i].label), {
    train: 1 - fraction,
    val: fraction,
    test: 0,
    seed,
    groups: groups ? train.map((i) => groups[i]) : undefined,
  });
  return { train: parts.train.map((k) => train[k]), val: parts.val.map((k) => train[k]) };
}
