/**
 * The registry of datasets that tasks open by name (`--dataset NAME`).
 *
 * @module
 */
import type { Dataset } from "../lib/data/types.ts";
import { globToRegExp } from "../lib/util/glob.ts";

/** What a task asks of a dataset it opens by name. */
export interface DatasetRequest {
  /** The dataset's folder (`--root`); null for datasets that need none. */
  root: string | null;
  /** Images of a generated set. */
  count: number;
  /** Classes of a generated set. */
  classes: number;
  /** Image size of a generated set (real sets are resized by the task). */
  size: number;
  /** Seed of a generated set. */
  seed: number;
}

/** Opens a registered dataset. */
export type DatasetOpener = (request: DatasetRequest) => Promise<Dataset>;

/**
 * A group id per sample index of an opened dataset, for the `groups` option
 * of a split: samples that share an id (copies of one image, one patient's
 * scans) must land on the same side.
 */
export type DatasetGrouper = (dataset: Dataset) => Promise<readonly (number | string)[]>;

/** What {@linkcode registerDataset} records beside the opener. */
export interface DatasetInfo {
  /** Whether it reads a folder (`--root`). */
  needsRoot: boolean;
  /** One line for `--help`. */
  description: string;
  /**
   * The groups its splits must keep together (BUSI: its duplicated images);
   * the tasks split every dataset that has one with them.
   * @default {undefined} (every sample its own group)
   */
  groups?: DatasetGrouper;
}

/** A registered dataset. */
export interface RegisteredDataset {
  /** Its `--dataset` name. */
  name: string;
  /** Opens it. */
  open: DatasetOpener;
  /** Whether it reads a folder (`--root`). */
  needsRoot: boolean;
  /** One line for `--help`. */
  description: string;
  /** The groups its splits must keep together, if any. */
  groups?: DatasetGrouper;
}

const DATASETS = new Map<string, RegisteredDataset>();

/**
 * Registers a dataset that every `--dataset` flag can then name. Names are
 * lower-case words (`a-z`, digits, `-`, `_`); registering a taken name
 * throws.
 *
 * @example A tiny generated set under its own name
 * ```ts
 * import assert from "node:assert";
 * import { getDataset, listDatasets, registerDataset } from "./registry.ts";
 * import { syntheticDataset } from "./synthetic.ts";
 * registerDataset("doc-shapes", async ({ size, seed }) =>
 *   syntheticDataset({ size, count: 8, numClasses: 2, seed }), {
 *   needsRoot: false,
 *   description: "eight shapes",
 * });
 * assert.ok(listDatasets().includes("doc-shapes"));
 * const data = await getDataset("doc-shapes")!.open({ root: null, count: 0, classes: 0, size: 16, seed: 1 });
 * assert.equal(data.size, 8);
 * assert.throws(() => registerDataset("doc-shapes", async () => data, { needsRoot: false, description: "" }), /already registered/);
 * ```
 */
export function registerDataset(
  name: string,
  open: DatasetOpener,
  info: DatasetInfo,
): void {
  if (!/^[a-z][a-z0-9_-]*$/.test(name)) {
    throw new TypeError(
      `A dataset name must be a lower-case word (a-z, digits, - and _), got ${
        JSON.stringify(name)
      }`,
    );
  }
  if (DATASETS.has(name)) throw new TypeError(`A dataset named "${name}" is already registered`);
  DATASETS.set(name, {
    name,
    open,
    needsRoot: info.needsRoot,
    description: info.description,
    ...(info.groups ? { groups: info.groups } : {}),
  });
}

/**
 * The registered dataset names, in registration order (the built-in
 * synthetic set first); `pattern` keeps those it matches (`*` for any run
 * of characters).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { listDatasets } from "./mod.ts";
 * assert.deepStrictEqual(listDatasets().slice(0, 6), ["synthetic", "cub", "cars", "busi", "folder", "idx"]);
 * assert.deepStrictEqual(listDatasets("c*"), ["cub", "cars"]);
 * ```
 */
export function listDatasets(pattern?: string): string[] {
  const re = pattern === undefined ? null : globToRegExp(pattern);
  return [...DATASETS.keys()].filter((n) => !re || re.test(n));
}

/** The registered dataset `name`, or undefined. */
export function getDataset(name: string): RegisteredDataset | undefined {
  return DATASETS.get(name);
}
