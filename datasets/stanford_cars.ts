/**
 * Stanford Cars (Krause et al., 2013): 196 car models, 8,144 training and
 * 8,041 test images, one bounding box each.
 *
 * Two on-disk layouts are read:
 *
 * - **The devkit.** `devkit/cars_meta.mat` (`class_names`, a 1 × 196 cell of
 *   strings), `devkit/cars_train_annos.mat` and the separately distributed
 *   `cars_test_annos_withlabels.mat` (`annotations`, a 1 × N struct array
 *   with fields `bbox_x1 bbox_y1 bbox_x2 bbox_y2 class fname`), with images in
 *   `cars_train/` and `cars_test/`. The `.mat` files may sit in `root/devkit/`
 *   or in `root/`.
 * - **The CSV redistribution.** `anno_train.csv` and `anno_test.csv` with
 *   rows `fname,x1,y1,x2,y2,class` (no header) and an optional `names.csv`
 *   with one class name per line. Images are looked up in `cars_train/` and
 *   `cars_test/` (or the folders in `options.imageDirs`), directly or one
 *   class folder down, as in the redistribution that sorts images by class.
 *
 * In both, coordinates are 1-based inclusive pixel indices and classes are
 * 1-based. Samples get 0-based labels and pixel-edge boxes (see
 * {@linkcode Box}): the annotation `(x1, y1, x2, y2)` becomes
 * `[x1 - 1, y1 - 1, x2, y2]`.
 *
 * @module
 */
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { DataError } from "../lib/data/errors.ts";
import type { Box, Dataset, Sample, SampleRecord, SkippedSample } from "../lib/data/types.ts";
import { decodeImage, readFileBytes } from "../lib/io/image.ts";
import { type MatValue, readMat5 } from "../lib/io/mat5.ts";
import { pathExists } from "../lib/util/fs.ts";
import { registerDataset } from "./registry.ts";

/** A split of Stanford Cars. */
export type StanfordCarsSplit = "train" | "test";

/** Options of {@linkcode loadStanfordCars}. */
export interface StanfordCarsOptions {
  /**
   * Which layout to read. `"auto"` takes the devkit when `cars_meta.mat` or
   * `cars_train_annos.mat` is present, else the CSV files.
   * @default {"auto"}
   */
  format?: "auto" | "devkit" | "csv";
  /**
   * The splits to read, in this order; each split's annotation file must
   * exist. The devkit's test labels come separately, as
   * `cars_test_annos_withlabels.mat`.
   * @default {["train", "test"]}
   */
  splits?: readonly StanfordCarsSplit[];
  /**
   * Image folders, relative to `root` (or absolute). Annotated file names
   * must stay inside them.
   * @default {{ train: "cars_train", test: "cars_test" }}
   */
  imageDirs?: { train?: string; test?: string };
  /**
   * What to do with a box that reaches outside its image, which is only
   * known once the image is decoded, in `load()`: `"clip"` clips it to the
   * image and records a warning in `warnings`; `"reject"` makes `load()`
   * throw a {@linkcode DataError} naming the annotation file and row or
   * element. A box wholly outside its image is rejected under both.
   * @default {"clip"}
   */
  boxPolicy?: "clip" | "reject";
  /**
   * What to do with a bad annotation (short or non-numeric row, unknown
   * class, empty box, duplicate or missing image, image path escaping its
   * folder): `"throw"` a {@linkcode DataError} naming the file and the line
   * or element, or `"skip"` the sample and record why in `skipped`.
   * @default {"throw"}
   */
  onError?: "throw" | "skip";
  /**
   * Also receives each warning (a clipped box) as a message, beside
   * `dataset.warnings`.
   * @default {undefined}
   */
  onWarning?: (message: string) => void;
  /** Channels of the decoded images (grey images are replicated for 3). @default {3} */
  channels?: 1 | 3;
}

/** A Stanford Cars dataset: a {@linkcode Dataset} with the layout it was read from. */
export interface StanfordCarsDataset extends Dataset {
  /** The layout that was read. */
  readonly format: "devkit" | "csv";
  /**
   * Boxes clipped to their image by `load()` under `boxPolicy: "clip"`, one
   * entry per sample, in the order they were met.
   */
  readonly warnings: readonly SkippedSample[];
}

/**
 * One annotation as Stanford Cars' files state it (the devkit's `.mat`
 * structs and the CSV rows alike).
 */
export interface StanfordCarsAnnotation {
  /** The image's file name. */
  fname: string;
  /** The box's left column, 1-based. */
  x1: number;
  /** The box's top row, 1-based. */
  y1: number;
  /** The box's right column, 1-based and inclusive. */
  x2: number;
  /** The box's bottom row, 1-based and inclusive. */
  y2: number;
  /** The class, 1-based. */
  cls: number;
}

/** One annotation, as read. */
interface Entry extends StanfordCarsAnnotation {
  split: StanfordCarsSplit;
  /** Where it came from. */
  file: string;
  line?: number;
  element?: string;
}

/** A bad annotation, before the `onError` policy applies. */
interface Fault {
  file: string;
  line?: number;
  field?: string;
  id?: string;
  reason: string;
}

/** A sample that passed the checks. */
interface Item {
  entry: Entry;
  id: string;
  path: string;
  source: string;
}

const DEFAULT_DIRS: Record<StanfordCarsSplit, string> = {
  train: "cars_train",
  test: "cars_test",
};
const CSV_FILES: Record<StanfordCarsSplit, string> = {
  train: "anno_train.csv",
  test: "anno_test.csv",
};
const MAT_FILES: Record<StanfordCarsSplit, string> = {
  train: "cars_train_annos.mat",
  test: "cars_test_annos_withlabels.mat",
};
const BOX_FIELDS = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"] as const;
/** How many classes Stanford Cars has; the CSV layout's default when `names.csv` is absent. */
const NUM_CLASSES = 196;

/**
 * Loads Stanford Cars from `root`, in the devkit (`.mat`) or the CSV layout.
 * Annotations are read and checked at once, and image folders listed, so a
 * missing image is reported here; pixels are decoded lazily by `load(i)`.
 * Labels are 0-based (`class - 1`) and each sample has one box
 * `[x1 - 1, y1 - 1, x2, y2]` in pixel-edge coordinates. Sample ids are
 * `"<split>/<fname>"`. The official split lists the train samples first,
 * then the test samples.
 *
 * Without `names.csv`, the CSV layout names its 196 classes `"class 1"` to
 * `"class 196"`.
 *
 * @example Load a one-image CSV layout
 * ```ts
 * import assert from "node:assert";
 * import { loadStanfordCars } from "./stanford_cars.ts";
 * import { loadSharp } from "../lib/deps.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.mkdir(`${root}/cars_train`);
 * const sharp = await loadSharp();
 * const black = sharp({ create: { width: 8, height: 6, channels: 3, background: "#000000" } });
 * await Deno.writeFile(`${root}/cars_train/00001.jpg`, await black.jpeg().toBuffer());
 * await Deno.writeTextFile(`${root}/anno_train.csv`, "00001.jpg,2,1,5,4,2\n");
 * await Deno.writeTextFile(`${root}/names.csv`, "Sedan\nCoupe\n");
 * const cars = await loadStanfordCars(root, { splits: ["train"] });
 * const sample = await cars.load(0);
 * assert.equal(sample.id, "train/00001.jpg");
 * assert.equal(cars.classNames[sample.label], "Coupe"); // class 2, counted from 1
 * assert.deepStrictEqual(sample.boxes, [[1, 0, 5, 4]]); // the CSV's 1-based corners, half-open
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function loadStanfordCars(
  root: string,
  options: StanfordCarsOptions = {},
): Promise<StanfordCarsDataset> {
  const splits = options.splits ?? ["train", "test"];
  const onError = options.onError ?? "throw";
  const boxPolicy = options.boxPolicy ?? "clip";
  const channels = options.channels ?? 3;
  for (const split of splits) {
    if (split !== "train" && split !== "test") {
      throw new TypeError(
        `Option "splits" must hold "train" or "test", got ${JSON.stringify(split)}`,
      );
    }
  }
  if (boxPolicy !== "clip" && boxPolicy !== "reject") {
    throw new TypeError(`Option "boxPolicy" must be "clip" or "reject", got "${boxPolicy}"`);
  }
  if (onError !== "throw" && onError !== "skip") {
    throw new TypeError(`Option "onError" must be "throw" or "skip", got "${onError}"`);
  }
  if (new Set(splits).size !== splits.length) {
    throw new TypeError(`Option "splits" lists a split twice: ${JSON.stringify(splits)}`);
  }
  const format = await detectFormat(root, options.format ?? "auto");
  const absRoot = resolve(root);

  const skipped: SkippedSample[] = [];
  const handle = (fault: Fault): void => {
    if (onError === "throw") {
      throw new DataError(fault.reason, { file: fault.file, line: fault.line, field: fault.field });
    }
    const where = fault.field === undefined
      ? ""
      : fault.line === undefined
      ? `${fault.field}: `
      : `field "${fault.field}": `;
    skipped.push({
      file: fault.file,
      ...(fault.line !== undefined ? { line: fault.line } : {}),
      ...(fault.id !== undefined ? { id: fault.id } : {}),
      reason: where + fault.reason,
    });
  };

  const classNames = format === "devkit"
    ? await readDevkitClassNames(root)
    : await readCsvClassNames(root);

  const items: Item[] = [];
  const ids = new Set<string>();
  const listings = new Map<string, Promise<Set<string> | undefined>>();
  const classIndexes = new Map<string, Promise<Map<string, string[]>>>();
  const ranges: Record<StanfordCarsSplit, number[]> = { train: [], test: [] };
  for (const split of splits) {
    const entries = format === "devkit"
      ? await readDevkitSplit(root, split, handle)
      : await readCsvSplit(root, split, handle);
    const base = resolve(root, options.imageDirs?.[split] ?? DEFAULT_DIRS[split]);
    for (const entry of entries) {
      const id = `${split}/${entry.fname}`;
      const fault = (reason: string, field?: string): void =>
        handle({ file: entry.file, line: entry.line, field: field ?? entry.element, id, reason });
      if (!Number.isInteger(entry.cls) || entry.cls < 1 || entry.cls > classNames.length) {
        fault(
          `unknown class ${entry.cls}: classes are numbered 1 to ${classNames.length}`,
          entry.element ? `${entry.element}.class` : "class",
        );
        continue;
      }
      if (entry.x1 > entry.x2 || entry.y1 > entry.y2) {
        fault(
          `empty box (${entry.x1}, ${entry.y1}, ${entry.x2}, ${entry.y2}): ` +
            `expected x1 <= x2 and y1 <= y2`,
        );
        continue;
      }
      const path = containedPath(base, entry.fname);
      if (typeof path !== "string") {
        fault(path.reason, entry.element ? `${entry.element}.fname` : "fname");
        continue;
      }
      if (ids.has(id)) {
        fault(`duplicate id "${id}": "${entry.fname}" is listed twice in the ${split} split`);
        continue;
      }
      const found = await findImage(path, base, entry.fname, listings, classIndexes);
      if (typeof found !== "string") {
        fault(found.reason);
        continue;
      }
      ids.add(id);
      ranges[split].push(items.length);
      items.push({ entry, id, path: found, source: relative(absRoot, found) });
    }
  }

  const records: SampleRecord[] = items.map((item) => ({
    id: item.id,
    label: item.entry.cls - 1,
    hasMask: false,
    hasBoxes: true,
    source: item.source,
    files: { image: item.path, masks: [] },
  }));
  const warnings: SkippedSample[] = [];
  const warned = new Set<number>();

  return {
    name: "stanford_cars",
    format,
    classNames,
    size: items.length,
    records,
    officialSplit: { train: ranges.train, test: ranges.test },
    skipped,
    warnings,
    async load(index: number): Promise<Sample> {
      if (!Number.isInteger(index) || index < 0 || index >= items.length) {
        throw new RangeError(`Sample index ${index} is out of range [0, ${items.length})`);
      }
      const { entry, id, path } = items[index];
      const image = await decodeImage(await readFileBytes(path), { channels, name: path });
      const placed = placeBox(entry, image.width, image.height, relative(absRoot, path));
      if (placed.warning !== undefined) {
        if (boxPolicy === "reject") {
          throw new DataError(placed.warning, {
            file: entry.file,
            line: entry.line,
            field: entry.element,
          });
        }
        if (!warned.has(index)) {
          warned.add(index);
          const where = entry.element ? `${entry.element}: ` : "";
          const reason = `${where}${placed.warning}; clipped to [${placed.box.join(", ")}]`;
          warnings.push({
            file: entry.file,
            ...(entry.line !== undefined ? { line: entry.line } : {}),
            id,
            reason,
          });
          const place = entry.line !== undefined ? `${entry.file}:${entry.line}` : entry.file;
          options.onWarning?.(`${place}: ${reason}`);
        }
      }
      return { id, image, label: entry.cls - 1, boxes: [placed.box] };
    },
  };
}

/** Converts a 1-based inclusive box to pixel edges, clipped, with the reason when it was. */
function placeBox(
  entry: Entry,
  width: number,
  height: number,
  image: string,
): { box: Box; warning?: string } {
  const raw: Box = [entry.x1 - 1, entry.y1 - 1, entry.x2, entry.y2];
  if (raw[0] >= 0 && raw[1] >= 0 && raw[2] <= width && raw[3] <= height) return { box: raw };
  const box: Box = [
    Math.max(0, raw[0]),
    Math.max(0, raw[1]),
    Math.min(width, raw[2]),
    Math.min(height, raw[3]),
  ];
  const stated = `box (${entry.x1}, ${entry.y1}, ${entry.x2}, ${entry.y2})`;
  if (box[0] >= box[2] || box[1] >= box[3]) {
    throw new DataError(
      `${stated} lies wholly outside the ${width}×${height} image "${image}"`,
      { file: entry.file, line: entry.line, field: entry.element },
    );
  }
  return {
    box,
    warning:
      `${stated} (1-based, inclusive) reaches outside the ${width}×${height} image "${image}"`,
  };
}

/** Resolves `fname` inside `base`, or says why it may not be. */
function containedPath(base: string, fname: string): string | { reason: string } {
  if (fname === "" || fname.includes("\0")) {
    return { reason: `invalid image path ${JSON.stringify(fname)}` };
  }
  if (isAbsolute(fname) || /^[A-Za-z]:[\\/]/.test(fname) || fname.startsWith("\\")) {
    return { reason: `image path "${fname}" is absolute; it must be relative to "${base}"` };
  }
  const path = resolve(base, fname);
  const rel = relative(base, path);
  if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    return { reason: `image path "${fname}" escapes the image folder "${base}"` };
  }
  return path;
}

/**
 * Finds an image: at `path`, or else (for a bare file name) in exactly one
 * class folder directly under `base`.
 */
async function findImage(
  path: string,
  base: string,
  fname: string,
  listings: Map<string, Promise<Set<string> | undefined>>,
  classIndexes: Map<string, Promise<Map<string, string[]>>>,
): Promise<string | { reason: string }> {
  const dir = dirname(path);
  if (!listings.has(dir)) listings.set(dir, listFiles(dir));
  const files = await listings.get(dir);
  if (files?.has(basename(path))) return path;
  if (!fname.includes("/") && !fname.includes("\\")) {
    if (!classIndexes.has(base)) classIndexes.set(base, indexClassFolders(base));
    const matches = (await classIndexes.get(base))!.get(fname) ?? [];
    if (matches.length === 1) return matches[0];
    if (matches.length > 1) {
      return {
        reason:
          `image "${fname}" is ambiguous: it is in ${matches.length} class folders of "${base}"`,
      };
    }
  }
  const where = files === undefined ? ` (the folder "${dir}" does not exist)` : "";
  return { reason: `image "${fname}" not found in "${base}"${where}` };
}

async function listFiles(dir: string): Promise<Set<string> | undefined> {
  const names = new Set<string>();
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isDirectory) names.add(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw new DataError(`cannot list image folder: ${(error as Error).message}`, { file: dir }, {
      cause: error,
    });
  }
  return names;
}

/** Maps each file name one folder below `base` to its paths. */
async function indexClassFolders(base: string): Promise<Map<string, string[]>> {
  const index = new Map<string, string[]>();
  const top = await listDirs(base);
  for (const sub of top) {
    const files = await listFiles(join(base, sub));
    for (const name of files ?? []) {
      const list = index.get(name) ?? [];
      list.push(join(base, sub, name));
      index.set(name, list);
    }
  }
  return index;
}

async function listDirs(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) if (entry.isDirectory) names.push(entry.name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return [];
    }
    throw error;
  }
  return names.sort();
}

/** The first of `candidates` (relative to `root`) that exists. */
async function firstExisting(root: string, candidates: string[]): Promise<string | undefined> {
  for (const candidate of candidates) {
    const path = join(root, candidate);
    if (await pathExists(path)) return path;
  }
  return undefined;
}

function devkitCandidates(file: string): string[] {
  // The devkit archive unpacks to devkit/; the test labels come separately and usually sit in root.
  return file === MAT_FILES.test ? [file, join("devkit", file)] : [join("devkit", file), file];
}

async function detectFormat(
  root: string,
  format: "auto" | "devkit" | "csv",
): Promise<"devkit" | "csv"> {
  if (format !== "auto") {
    if (format !== "devkit" && format !== "csv") {
      throw new TypeError(`Option "format" must be "auto", "devkit" or "csv", got "${format}"`);
    }
    return format;
  }
  if (!(await pathExists(root))) throw new DataError("dataset folder not found", { file: root });
  const devkit = await firstExisting(root, [
    ...devkitCandidates("cars_meta.mat"),
    ...devkitCandidates(MAT_FILES.train),
  ]);
  if (devkit) return "devkit";
  if (await firstExisting(root, [CSV_FILES.train, CSV_FILES.test])) return "csv";
  throw new DataError(
    "found no Stanford Cars annotations: expected the devkit (devkit/cars_meta.mat, " +
      "devkit/cars_train_annos.mat) or the CSV files (anno_train.csv, anno_test.csv)",
    { file: root },
  );
}

async function readMatFile(path: string, variable: string): Promise<MatValue> {
  const vars = await readMat5(await readFileBytes(path), { name: path, variables: [variable] });
  const value = vars[variable];
  if (value === undefined) {
    throw new DataError(`has no variable "${variable}"`, { file: path, field: variable });
  }
  return value;
}

async function readDevkitClassNames(root: string): Promise<string[]> {
  const candidates = devkitCandidates("cars_meta.mat");
  const path = await firstExisting(root, candidates);
  if (!path) {
    throw new DataError(`cars_meta.mat not found (looked for ${candidates.join(", ")})`, {
      file: join(root, candidates[0]),
    });
  }
  const value = await readMatFile(path, "class_names");
  if (value.kind !== "cell") {
    throw new DataError(`expected a cell array of class names, got a ${value.kind} array`, {
      file: path,
      field: "class_names",
    });
  }
  return value.items.map((item, k) => {
    if (item.kind !== "char" || item.rows.length !== 1) {
      throw new DataError(`expected a one-row char array, got a ${describe(item)}`, {
        file: path,
        field: `class_names{${k + 1}}`,
      });
    }
    return item.value.trim();
  });
}

async function readDevkitSplit(
  root: string,
  split: StanfordCarsSplit,
  handle: (fault: Fault) => void,
): Promise<Entry[]> {
  const candidates = devkitCandidates(MAT_FILES[split]);
  const path = await firstExisting(root, candidates);
  if (!path) {
    const hint = split === "test"
      ? "; the test labels are distributed apart from the devkit (cars_test_annos.mat has no " +
        'classes), or pass splits: ["train"]'
      : "";
    throw new DataError(
      `${MAT_FILES[split]} not found (looked for ${candidates.join(", ")})${hint}`,
      { file: join(root, candidates[0]) },
    );
  }
  const value = await readMatFile(path, "annotations");
  if (value.kind !== "struct") {
    throw new DataError(`expected a struct array, got a ${value.kind} array`, {
      file: path,
      field: "annotations",
    });
  }
  for (const field of [...BOX_FIELDS, "class", "fname"]) {
    if (!value.fields.includes(field)) {
      throw new DataError(
        `the annotations have no field "${field}" (fields: ${value.fields.join(", ")})`,
        { file: path, field: "annotations" },
      );
    }
  }
  const entries: Entry[] = [];
  value.elements.forEach((element, i) => {
    const name = `annotations(${i + 1})`;
    const fname = element.fname;
    if (fname.kind !== "char" || fname.rows.length !== 1) {
      handle({
        file: path,
        field: `${name}.fname`,
        reason: `expected a one-row char array, got a ${describe(fname)}`,
      });
      return;
    }
    const numbers: number[] = [];
    for (const field of [...BOX_FIELDS, "class"]) {
      const v = element[field];
      if (v.kind !== "numeric" || v.data.length !== 1 || v.imag) {
        handle({
          file: path,
          field: `${name}.${field}`,
          id: `${split}/${fname.value}`,
          reason: `expected a real numeric scalar, got a ${describe(v)}`,
        });
        return;
      }
      numbers.push(v.data[0]);
    }
    const [x1, y1, x2, y2, cls] = numbers;
    entries.push({ split, fname: fname.value, x1, y1, x2, y2, cls, file: path, element: name });
  });
  return entries;
}

function describe(value: MatValue): string {
  const dims = value.dims.join("×");
  return value.kind === "numeric" ? `${dims} ${value.class} array` : `${dims} ${value.kind} array`;
}

async function readCsvClassNames(root: string): Promise<string[]> {
  const path = join(root, "names.csv");
  if (!(await pathExists(path))) {
    return Array.from({ length: NUM_CLASSES }, (_, k) => `class ${k + 1}`);
  }
  const lines = (await Deno.readTextFile(path)).replace(/^\uFEFF/, "").split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1].trim() === "") lines.pop();
  if (lines.length === 0) throw new DataError("no class names", { file: path });
  return lines.map((line, i) => {
    let name = line.trim();
    if (name.length >= 2 && name.startsWith('"') && name.endsWith('"')) {
      name = name.slice(1, -1).replaceAll('""', '"');
    }
    if (name === "") throw new DataError("empty class name", { file: path, line: i + 1 });
    return name;
  });
}

async function readCsvSplit(
  root: string,
  split: StanfordCarsSplit,
  handle: (fault: Fault) => void,
): Promise<Entry[]> {
  const path = join(root, CSV_FILES[split]);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      const hint = split === "test" ? ', or pass splits: ["train"]' : "";
      throw new DataError(`annotation file not found${hint}`, { file: path }, { cause: error });
    }
    throw new DataError(`cannot read file: ${(error as Error).message}`, { file: path }, {
      cause: error,
    });
  }
  const names = ["x1", "y1", "x2", "y2", "class"];
  const entries: Entry[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === "") return;
    const fields = raw.split(",").map((f) => f.trim());
    if (fields.length !== 6) {
      handle({
        file: path,
        line,
        reason:
          `expected 6 comma-separated fields "fname,x1,y1,x2,y2,class", got ${fields.length}: ` +
          JSON.stringify(raw),
      });
      return;
    }
    const fname = fields[0];
    const numbers: number[] = [];
    for (let k = 0; k < 5; k++) {
      const text = fields[k + 1];
      const value = Number(text);
      if (text === "" || !Number.isInteger(value)) {
        handle({
          file: path,
          line,
          field: names[k],
          id: `${split}/${fname}`,
          reason: `expected an integer, got ${JSON.stringify(text)}`,
        });
        return;
      }
      numbers.push(value);
    }
    const [x1, y1, x2, y2, cls] = numbers;
    entries.push({ split, fname, x1, y1, x2, y2, cls, file: path, line });
  });
  return entries;
}

registerDataset("cars", ({ root }) => loadStanfordCars(root!), {
  needsRoot: true,
  description: "Stanford Cars: 196 car models, boxes",
});
