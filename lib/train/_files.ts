// Tensor files and atomic folders: the on-disk format shared by saved models
// and checkpoints. Private to lib/train/.
import { tf } from "../deps.ts";
import { DataError } from "../data/errors.ts";
import { pathExists } from "../util/fs.ts";

/** The dtypes a tensor file holds, 4 bytes each, little-endian. */
export type StoredDtype = "float32" | "int32";

/** One tensor in a tensor file. */
export interface TensorEntry {
  /** The variable's path (`reference_net/stem/conv/kernel`). */
  path: string;
  /** The tensor's shape. */
  shape: number[];
  /** The element type. */
  dtype: StoredDtype;
  /** Where the tensor's bytes start in the file. */
  byteOffset: number;
  /** How many bytes it takes (4 per element). */
  byteLength: number;
}

/** The manifest of a tensor file, kept in the JSON file beside it. */
export interface TensorManifest {
  /** The binary file's name, in the same folder. */
  file: string;
  /** The binary file's exact size. */
  byteLength: number;
  /** SHA-256 of the binary file, as lowercase hex. */
  sha256: string;
  /** The tensors, in file order. */
  entries: TensorEntry[];
}

/** A tensor and the path it is stored under. */
export interface NamedValue {
  path: string;
  tensor: tf.Tensor;
}

/** Packs tensors into one buffer and describes it. Reads each tensor once. */
export async function encodeTensors(
  items: readonly NamedValue[],
  file: string,
): Promise<{ manifest: TensorManifest; bytes: Uint8Array }> {
  const entries: TensorEntry[] = [];
  let offset = 0;
  for (const { path, tensor } of items) {
    if (tensor.dtype !== "float32" && tensor.dtype !== "int32") {
      throw new TypeError(
        `Cannot save "${path}": dtype ${tensor.dtype} is not float32 or int32`,
      );
    }
    entries.push({
      path,
      shape: [...tensor.shape],
      dtype: tensor.dtype,
      byteOffset: offset,
      byteLength: tensor.size * 4,
    });
    offset += tensor.size * 4;
  }
  const bytes = new Uint8Array(offset);
  for (let i = 0; i < items.length; i++) {
    const values = await items[i].tensor.data();
    bytes.set(
      new Uint8Array(values.buffer, values.byteOffset, entries[i].byteLength),
      entries[i].byteOffset,
    );
  }
  return { manifest: { file, byteLength: offset, sha256: await sha256(bytes), entries }, bytes };
}

/** SHA-256 of `bytes` as lowercase hex. */
export async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Reads and parses a JSON file, with errors that name it. */
export async function readJson(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new DataError("the file does not exist", { file }, { cause: error });
    }
    throw new DataError(`cannot read the file: ${(error as Error).message}`, { file }, {
      cause: error,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new DataError(`invalid JSON: ${(error as Error).message}`, { file }, { cause: error });
  }
  if (!isRecord(value)) throw new DataError("expected a JSON object", { file });
  return value;
}

/** Whether `value` is a plain JSON object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Field checks that name the file and field of a fault. */
export class Fields {
  readonly file: string;
  constructor(file: string) {
    this.file = file;
  }
  fail(field: string, reason: string): never {
    throw new DataError(reason, { file: this.file, field });
  }
  record(value: unknown, field: string): Record<string, unknown> {
    if (!isRecord(value)) this.fail(field, `expected an object, got ${describe(value)}`);
    return value;
  }
  string(value: unknown, field: string): string {
    if (typeof value !== "string" || value === "") {
      this.fail(field, `expected a non-empty string, got ${describe(value)}`);
    }
    return value;
  }
  integer(value: unknown, field: string, min = 0): number {
    if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
      this.fail(field, `expected an integer of at least ${min}, got ${describe(value)}`);
    }
    return value;
  }
  number(value: unknown, field: string): number {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      this.fail(field, `expected a finite number, got ${describe(value)}`);
    }
    return value;
  }
  array(value: unknown, field: string): unknown[] {
    if (!Array.isArray(value)) this.fail(field, `expected an array, got ${describe(value)}`);
    return value;
  }
  /** Checks the `format` and `formatVersion` fields. */
  format(json: Record<string, unknown>, format: string, version: number): void {
    if (json.format !== format) {
      this.fail("format", `expected "${format}", got ${describe(json.format)}`);
    }
    const v = this.integer(json.formatVersion, "formatVersion", 1);
    if (v > version) {
      this.fail(
        "formatVersion",
        `version ${v} is newer than this saliency-lab reads (up to ${version}); upgrade saliency-lab`,
      );
    }
  }
}

/** Describes a JSON value briefly, for error messages. */
export function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Validates a tensor manifest found at `field` of the JSON file `file`. */
export function checkManifest(value: unknown, file: string, field: string): TensorManifest {
  const f: Fields = new Fields(file);
  const m = f.record(value, field);
  const name = f.string(m.file, `${field}.file`);
  if (name.includes("/") || name.includes("\\") || name.startsWith(".")) {
    f.fail(`${field}.file`, `expected a plain file name in the same folder, got "${name}"`);
  }
  const byteLength = f.integer(m.byteLength, `${field}.byteLength`);
  const hash = f.string(m.sha256, `${field}.sha256`);
  if (!/^[0-9a-f]{64}$/.test(hash)) {
    f.fail(`${field}.sha256`, `expected 64 lowercase hex digits, got ${describe(hash)}`);
  }
  const seen = new Set<string>();
  const entries = f.array(m.entries, `${field}.entries`).map((raw, i): TensorEntry => {
    const at = `${field}.entries[${i}]`;
    const e = f.record(raw, at);
    const path = f.string(e.path, `${at}.path`);
    if (seen.has(path)) f.fail(`${at}.path`, `"${path}" appears twice`);
    seen.add(path);
    const shape = f.array(e.shape, `${at}.shape`).map((d, k) => f.integer(d, `${at}.shape[${k}]`));
    const dtype = e.dtype;
    if (dtype !== "float32" && dtype !== "int32") {
      f.fail(`${at}.dtype`, `expected "float32" or "int32", got ${describe(dtype)}`);
    }
    const byteOffset = f.integer(e.byteOffset, `${at}.byteOffset`);
    const length = f.integer(e.byteLength, `${at}.byteLength`);
    const size = shape.reduce((a, b) => a * b, 1);
    if (length !== size * 4) {
      f.fail(
        `${at}.byteLength`,
        `"${path}" of shape [${shape}] takes ${size * 4} bytes, but byteLength says ${length}`,
      );
    }
    if (byteOffset + length > byteLength) {
      f.fail(
        `${at}.byteOffset`,
        `"${path}" ends at byte ${byteOffset + length}, past the file's ${byteLength} bytes`,
      );
    }
    return { path, shape, dtype, byteOffset, byteLength: length };
  });
  return { file: name, byteLength, sha256: hash, entries };
}

/**
 * Reads the binary file a manifest describes (in `dir`) and checks its size
 * and checksum. `jsonFile` is the manifest's JSON file, named in errors.
 */
export async function readTensorFile(
  dir: string,
  manifest: TensorManifest,
  jsonFile: string,
): Promise<Uint8Array> {
  const file = `${dir}/${manifest.file}`;
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(file);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? `the file does not exist (${jsonFile} refers to it)`
      : `cannot read the file: ${(error as Error).message}`;
    throw new DataError(reason, { file }, { cause: error });
  }
  if (bytes.length !== manifest.byteLength) {
    const what = bytes.length < manifest.byteLength ? "truncated" : "too long";
    throw new DataError(
      `the file is ${what}: ${bytes.length} bytes, but ${jsonFile} says ${manifest.byteLength}`,
      { file },
    );
  }
  const hash = await sha256(bytes);
  if (hash !== manifest.sha256) {
    throw new DataError(
      `the file is corrupt: its SHA-256 is ${hash.slice(0, 12)}…, but ${jsonFile} says ${
        manifest.sha256.slice(0, 12)
      }…`,
      { file },
    );
  }
  return bytes;
}

/** The values of one entry, copied out of the file's bytes. */
export function entryValues(bytes: Uint8Array, entry: TensorEntry): Float32Array | Int32Array {
  const copy = bytes.slice(entry.byteOffset, entry.byteOffset + entry.byteLength);
  return entry.dtype === "int32" ? new Int32Array(copy.buffer) : new Float32Array(copy.buffer);
}

/**
 * Writes `files` into folder `dir` so that `dir` always holds a complete set:
 * they are written into a fresh sibling folder, the old `dir` (if any) is
 * renamed to `dir.old`, the new folder to `dir`, and `dir.old` is removed.
 * A crash between the two renames leaves `dir.old` complete;
 * {@linkcode resolveDir} finds it.
 */
export async function writeDirAtomic(
  dir: string,
  files: Readonly<Record<string, Uint8Array | string>>,
): Promise<void> {
  const parent = dir.includes("/") ? dir.slice(0, dir.lastIndexOf("/")) || "/" : ".";
  await Deno.mkdir(parent, { recursive: true });
  const tmp = `${dir}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const old = `${dir}.old`;
  try {
    await Deno.mkdir(tmp);
    for (const [name, data] of Object.entries(files)) {
      if (typeof data === "string") await Deno.writeTextFile(`${tmp}/${name}`, data);
      else await Deno.writeFile(`${tmp}/${name}`, data);
    }
    // A complete folder left at dir.old by an earlier crash is older than dir, if dir exists.
    if (await pathExists(dir)) {
      await Deno.remove(old, { recursive: true }).catch(() => {});
      await Deno.rename(dir, old);
    }
    await Deno.rename(tmp, dir);
    await Deno.remove(old, { recursive: true }).catch(() => {});
  } catch (error) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw new Error(`Cannot write "${dir}": ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The folder that holds the latest complete copy written by
 * {@linkcode writeDirAtomic} to `dir`: `dir` itself, or `dir.old` after a
 * crash between the renames, or null when neither exists.
 */
export async function resolveDir(dir: string): Promise<string | null> {
  if (await pathExists(dir)) return dir;
  if (await pathExists(`${dir}.old`)) return `${dir}.old`;
  return null;
}
