// Opening the dataset a task names by flag (--dataset, --root): the built-in
// synthetic set or a real one, at the model's size, in 3 channels, with boxes
// drawn into masks, and its train/test split. Private to tasks/.
import {
  boxesToMask,
  loadBusi,
  loadCub,
  loadIdx,
  loadImageFolder,
  loadStanfordCars,
  pathExists,
  resizeSample,
  stratifiedSplit,
  syntheticDataset,
} from "../mod.ts";
import type { Dataset, Sample } from "../mod.ts";
import { type FlagSpec, UsageError } from "./_cli.ts";

/** The datasets a task can open. */
export const DATASETS = ["synthetic", "cub", "cars", "busi", "folder", "idx"] as const;

/** The --dataset and --root flags every task that opens a dataset takes. */
export const DATASET_FLAGS: Record<string, FlagSpec> = {
  dataset: {
    type: "string",
    default: "synthetic",
    help: `dataset: ${DATASETS.join(", ")} (all but synthetic need --root)`,
  },
  root: { type: "string", help: "folder of the dataset (not for synthetic)" },
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
}

/** Checks --dataset and --root, failing with the choices. */
export function datasetFlags(
  flags: Record<string, string | boolean | undefined>,
): { dataset: string; root: string | null } {
  const dataset = String(flags.dataset);
  if (!(DATASETS as readonly string[]).includes(dataset)) {
    throw new UsageError(`Flag --dataset must be one of ${DATASETS.join(", ")}; got "${dataset}"`);
  }
  const root = typeof flags.root === "string" && flags.root !== "" ? flags.root : null;
  if (dataset !== "synthetic" && root === null) {
    throw new UsageError(
      `Flag --dataset ${dataset} needs --root PATH, the dataset's folder ` +
        `(choices: ${DATASETS.join(", ")}; only synthetic needs no --root)`,
    );
  }
  return { dataset, root };
}

/** Opens the chosen dataset at `size`, with boxes drawn into masks, and its split. */
export async function openDataset(choice: DatasetChoice): Promise<OpenedDataset> {
  if (choice.dataset === "synthetic") {
    const data = syntheticDataset({
      size: choice.size,
      numClasses: choice.classes,
      count: choice.count,
      seed: choice.seed,
    });
    return {
      dataset: data,
      train: [...data.officialSplit.train],
      test: [...data.officialSplit.test],
    };
  }
  const root = choice.root!;
  if (!(await pathExists(root))) {
    throw new UsageError(
      `Flag --root: the folder "${root}" for --dataset ${choice.dataset} does not exist`,
    );
  }
  let raw: Dataset;
  switch (choice.dataset) {
    case "cub":
      raw = await loadCub(root, { channels: 3 });
      break;
    case "cars":
      raw = await loadStanfordCars(root);
      break;
    case "busi":
      raw = await loadBusi(root, { channels: 3 });
      break;
    case "folder":
      raw = await loadImageFolder(root, { channels: 3 });
      break;
    case "idx": {
      const find = async (part: string) => {
        for (const ext of ["", ".gz"]) {
          const file = `${root}/train-${part}${ext}`;
          if (await pathExists(file)) return file;
        }
        throw new UsageError(
          `Flag --root: "${root}" holds no train-${part} (or train-${part}.gz) for --dataset idx`,
        );
      };
      raw = await loadIdx({
        images: await find("images-idx3-ubyte"),
        labels: await find("labels-idx1-ubyte"),
        channels: 3,
      });
      break;
    }
    default:
      throw new UsageError(
        `Flag --dataset must be one of ${DATASETS.join(", ")}; got "${choice.dataset}"`,
      );
  }
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
  const split = raw.officialSplit ?? stratifiedSplit(raw.records.map((r) => r.label), {
    train: 0.8,
    val: 0,
    test: 0.2,
    seed: choice.seed,
  });
  return { dataset, train: [...split.train], test: [...split.test] };
}

/** Holds out a stratified `fraction` of `train` for validation (none for 0). */
export function holdOut(
  dataset: Dataset,
  train: readonly number[],
  fraction: number,
  seed: number,
): { train: number[]; val: number[] } {
  if (fraction <= 0) return { train: [...train], val: [] };
  const parts = stratifiedSplit(train.map((i) => dataset.records[i].label), {
    train: 1 - fraction,
    val: fraction,
    test: 0,
    seed,
  });
  return { train: parts.train.map((k) => train[k]), val: parts.val.map((k) => train[k]) };
}
