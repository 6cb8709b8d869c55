// Private helpers shared by the dataset loaders in this folder: safe path
// resolution, a line-oriented annotation parser, duplicate-id checks, the
// throw-or-skip policy, a directory-listing cache and the Dataset object.
// Only files in datasets/ import this module.
import * as path from "node:path";
import { DataError, type DataErrorLocation } from "../lib/data/errors.ts";
import type { Dataset, Sample, SampleRecord, SkippedSample } from "../lib/data/types.ts";
import { decodeImage, decodeMask, readFileBytes } from "../lib/io/image.ts";

/** What a loader does with a bad sample or annotation line. */
export type OnError = "throw" | "skip";

/** Checks an `onError` option value. */
export function checkOnError(value: unknown): OnError {
  if (value === undefined) return "throw";
  if (value !== "throw" && value !== "skip") {
    throw new TypeError(`Option "onError" must be "throw" or "skip", got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Checks a `channels` option value. */
export function checkChannels(value: unknown): 1 | 3 {
  if (value === undefined) return 3;
  if (value !== 1 && value !== 3) {
    throw new TypeError(`Option "channels" must be 1 or 3, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * The throw-or-skip policy, and the list of what was skipped. Under
 * `"throw"`, {@linkcode Problems.fail} throws a {@linkcode DataError};
 * under `"skip"` it records a {@linkcode SkippedSample} instead.
 */
export class Problems {
  /** What was passed over, in the order it was found. */
  readonly skipped: SkippedSample[] = [];
  readonly #mode: OnError;
  readonly #skippedIds = new Set<string>();

  constructor(mode: OnError) {
    this.#mode = mode;
  }

  /** Throws (policy "throw") or records (policy "skip") a fault. */
  fail(reason: string, where: DataErrorLocation & { id?: string }): void {
    if (this.#mode === "throw") throw new DataError(reason, where);
    this.#record(reason, where);
  }

  /** Records something passed over that is not an error under either policy (an unknown file type). */
  note(reason: string, where: { file: string; line?: number; id?: string }): void {
    this.#record(reason, where);
  }

  /**
   * Runs `fn`; a {@linkcode DataError} it throws is rethrown under "throw"
   * and recorded (with `id`) under "skip", and then `undefined` is returned.
   */
  attempt<T>(fn: () => T, id?: string): T | undefined {
    try {
      return fn();
    } catch (error) {
      if (this.#mode === "throw" || !(error instanceof DataError)) throw error;
      this.#record(bareReason(error), { file: error.file, line: error.line, id });
      return undefined;
    }
  }

  /** Whether a sample with this id has already been recorded as skipped. */
  hasSkipped(id: string): boolean {
    return this.#skippedIds.has(id);
  }

  #record(reason: string, where: { file: string; line?: number; field?: string; id?: string }) {
    const entry: SkippedSample = { file: where.file, reason };
    if (where.line !== undefined) entry.line = where.line;
    if (where.id !== undefined) {
      entry.id = where.id;
      this.#skippedIds.add(where.id);
    }
    if (where.field !== undefined) entry.reason = `field "${where.field}": ${reason}`;
    this.skipped.push(entry);
  }
}

/** A DataError's message without its "file:line (field ...): " prefix. */
function bareReason(error: DataError): string {
  const place = error.line !== undefined ? `${error.file}:${error.line}` : error.file;
  const field = error.field ? ` (field "${error.field}")` : "";
  const prefix = `${place}${field}: `;
  const reason = error.message.startsWith(prefix)
    ? error.message.slice(prefix.length)
    : error.message;
  return error.field ? `field "${error.field}": ${reason}` : reason;
}

/**
 * Resolves `relative` (a path read from an annotation file) inside `base`,
 * rejecting absolute paths and paths whose `..` parts leave `base`. The
 * check is lexical (symbolic links are not followed). Backslashes are read
 * as separators, so Windows-style paths are checked too.
 */
export function resolveInside(base: string, relative: string, where: DataErrorLocation): string {
  const field = where.field ?? "path";
  const at = { ...where, field };
  if (relative.length === 0) throw new DataError("empty path", at);
  if (relative.includes("\0")) {
    throw new DataError(`path ${JSON.stringify(relative)} contains NUL`, at);
  }
  const normal = relative.replaceAll("\\", "/");
  if (path.isAbsolute(normal) || /^[A-Za-z]:\//.test(normal)) {
    throw new DataError(
      `path "${relative}" is absolute; expected a path relative to "${base}"`,
      at,
    );
  }
  const joined = path.join(base, normal);
  const back = path.relative(path.resolve(base), path.resolve(joined));
  if (back === "" || back === ".." || back.startsWith(`..${path.sep}`) || path.isAbsolute(back)) {
    throw new DataError(`path "${relative}" escapes the dataset root "${base}"`, at);
  }
  return joined;
}

/** One non-blank line of an annotation file, split into fields. */
export interface TableLine {
  /** The 1-based line number. */
  line: number;
  /** The fields, split on whitespace (the last one keeps inner spaces when `rest` is set). */
  fields: string[];
}

/** Reads a text file, with a DataError naming it when it is missing or unreadable. */
export async function readText(file: string): Promise<string> {
  return new TextDecoder().decode(await readFileBytes(file));
}

/**
 * Decodes an image file and, where given, its mask file, checking that the
 * two have one size. The sample carries no boxes.
 */
export async function loadImageAndMask(
  entry: { id: string; label: number; image: string; mask?: string },
  channels: 1 | 3,
): Promise<Sample> {
  const image = await decodeImage(await readFileBytes(entry.image), {
    channels,
    name: entry.image,
  });
  const sample: Sample = { id: entry.id, image, label: entry.label };
  if (entry.mask) {
    const mask = await decodeMask(await readFileBytes(entry.mask), { name: entry.mask });
    checkMaskSize(mask, image, entry.mask, entry.image);
    sample.mask = mask.data;
  }
  return sample;
}

/**
 * Reads a whitespace-separated annotation file with the given columns.
 * Blank lines are passed over. A line with too few or too many fields is a
 * fault (thrown or skipped by `problems`). With `rest`, the last column
 * takes the remainder of the line, inner spaces included.
 */
export async function readTable(
  file: string,
  columns: readonly string[],
  problems: Problems,
  options: { rest?: boolean } = {},
): Promise<TableLine[]> {
  const text = await readText(file);
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  const out: TableLine[] = [];
  const expected = `${columns.length} fields (${columns.join(" ")})`;
  for (let i = 0; i < lines.length; i++) {
    const trimmed = lines[i].trim();
    if (trimmed === "") continue;
    let fields = trimmed.split(/\s+/);
    if (options.rest && fields.length > columns.length) {
      const head = fields.slice(0, columns.length - 1);
      let remainder = trimmed;
      for (const h of head) remainder = remainder.slice(h.length).trimStart();
      fields = [...head, remainder];
    }
    if (fields.length !== columns.length) {
      const kind = fields.length < columns.length ? "short line" : "too many fields";
      problems.fail(
        `${kind}: expected ${expected}, got ${fields.length}: ${JSON.stringify(trimmed)}`,
        { file, line: i + 1 },
      );
      continue;
    }
    out.push({ line: i + 1, fields });
  }
  return out;
}

/** Parses field `index` of `row` as an integer, or throws a DataError naming file, line and field. */
export function intField(file: string, row: TableLine, index: number, name: string): number {
  const text = row.fields[index];
  const value = /^[+-]?\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) {
    throw new DataError(`expected an integer, got ${JSON.stringify(text)}`, {
      file,
      line: row.line,
      field: name,
    });
  }
  return value;
}

/** Parses field `index` of `row` as a finite number, or throws a DataError naming file, line and field. */
export function numberField(file: string, row: TableLine, index: number, name: string): number {
  const text = row.fields[index];
  const value = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(value)) {
    throw new DataError(`expected a number, got ${JSON.stringify(text)}`, {
      file,
      line: row.line,
      field: name,
    });
  }
  return value;
}

/**
 * Adds `key` (first seen on `line`) to `seen`, or throws a DataError naming
 * the file, both lines and the field when it is already there.
 */
export function addUnique<K>(
  seen: Map<K, number>,
  key: K,
  where: { file: string; line: number; field: string },
): void {
  const first = seen.get(key);
  if (first !== undefined) {
    throw new DataError(`duplicate ${where.field} ${key} (first on line ${first})`, where);
  }
  seen.set(key, where.line);
}

/**
 * Lists directories once and answers "does this file exist" from the
 * listing, so a loader can check thousands of paths with one `readDir` per
 * folder.
 */
export class DirectoryCache {
  readonly #listings = new Map<string, Promise<Map<string, Deno.DirEntry>>>();

  /** The entries of `dir` by name; an empty map when it does not exist. */
  list(dir: string): Promise<Map<string, Deno.DirEntry>> {
    const key = path.resolve(dir);
    let listing = this.#listings.get(key);
    if (!listing) {
      listing = (async () => {
        const entries = new Map<string, Deno.DirEntry>();
        try {
          for await (const entry of Deno.readDir(dir)) entries.set(entry.name, entry);
        } catch (error) {
          if (
            !(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory)
          ) {
            throw error;
          }
        }
        return entries;
      })();
      this.#listings.set(key, listing);
    }
    return listing;
  }

  /** Whether `file` exists (as a file or a link to one). */
  async hasFile(file: string): Promise<boolean> {
    const entry = (await this.list(path.dirname(file))).get(path.basename(file));
    if (!entry) return false;
    if (entry.isFile) return true;
    return entry.isSymlink && (await statKind(file)) === "file";
  }
}

/** "file", "dir" or undefined (missing), following links. */
export async function statKind(p: string): Promise<"file" | "dir" | undefined> {
  try {
    const info = await Deno.stat(p);
    return info.isDirectory ? "dir" : info.isFile ? "file" : undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw error;
  }
}

/** The sorted entries of a directory, links followed, as files and folders. */
export async function listDir(dir: string): Promise<{ files: string[]; dirs: string[] }> {
  const files: string[] = [], dirs: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      let kind: "file" | "dir" | undefined = entry.isFile
        ? "file"
        : entry.isDirectory
        ? "dir"
        : undefined;
      if (entry.isSymlink) kind = await statKind(path.join(dir, entry.name));
      if (kind === "file") files.push(entry.name);
      else if (kind === "dir") dirs.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new DataError("folder not found", { file: dir }, { cause: error });
    }
    throw error;
  }
  files.sort(compareNames);
  dirs.sort(compareNames);
  return { files, dirs };
}

/**
 * Orders names naturally ("img2" before "img10"), falling back to code-unit
 * order so the result does not depend on the locale.
 */
export function compareNames(a: string, b: string): number {
  const natural = a.localeCompare(b, "en", { numeric: true, sensitivity: "variant" });
  if (natural !== 0) return natural;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Throws a DataError naming both files when a mask's size differs from its image's. */
export function checkMaskSize(
  mask: { width: number; height: number },
  image: { width: number; height: number },
  maskFile: string,
  imageFile: string,
): void {
  if (mask.width !== image.width || mask.height !== image.height) {
    throw new DataError(
      `mask is ${mask.width}×${mask.height} but its image "${imageFile}" is ${image.width}×${image.height}`,
      { file: maskFile },
    );
  }
}

/** What to do with a box that reaches outside its image. */
export type BoxOutside = "clip" | "reject";

/** Checks a `boxOutside` option value. */
export function checkBoxOutside(value: unknown): BoxOutside {
  if (value === undefined) return "clip";
  if (value !== "clip" && value !== "reject") {
    throw new TypeError(
      `Option "boxOutside" must be "clip" or "reject", got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** The parts from which {@linkcode makeDataset} builds a Dataset. */
export interface DatasetParts {
  name: string;
  classNames: readonly string[];
  records: SampleRecord[];
  officialSplit?: { train: number[]; test: number[] };
  skipped: SkippedSample[];
  load: (index: number) => Promise<Sample>;
}

/** Builds a frozen Dataset whose `load` checks its index. */
export function makeDataset<T extends object = Record<never, never>>(
  parts: DatasetParts,
  extra?: T,
): Dataset & T {
  const size = parts.records.length;
  const read = parts.load;
  const dataset: Dataset = {
    name: parts.name,
    classNames: Object.freeze([...parts.classNames]),
    size,
    records: Object.freeze(parts.records.map((r) => Object.freeze(r))),
    skipped: Object.freeze(parts.skipped.map((s) => Object.freeze(s))),
    load(index: number): Promise<Sample> {
      if (!Number.isInteger(index) || index < 0 || index >= size) {
        return Promise.reject(
          new RangeError(
            `Cannot load sample ${index} of "${parts.name}": expected an integer in [0, ${size})`,
          ),
        );
      }
      return read(index);
    },
  };
  if (parts.officialSplit) {
    Object.assign(dataset, {
      officialSplit: Object.freeze({
        train: parts.officialSplit.train,
        test: parts.officialSplit.test,
      }),
    });
  }
  return Object.freeze(Object.assign(dataset, extra ?? {})) as Dataset & T;
}

/** `console.warn`, the default warning sink. */
export function defaultWarn(message: string): void {
  console.warn(message);
}
