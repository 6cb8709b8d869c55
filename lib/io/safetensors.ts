/**
 * Reading and writing the safetensors format (Hugging Face's weights
 * files): an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}`, then
 * the tensors' raw little-endian bytes, offsets counted from the end of the
 * header.
 *
 * @module
 */
import { DataError } from "../data/errors.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { readWholeFile } from "../util/fs.ts";
import { ITEM_SIZE, toBfloat16Bits, toFloat16Bits, toFloat32 } from "./_decode.ts";
import { shapeSize, type StoredDtype, type StoredTensor } from "./stored_tensor.ts";

/** The safetensors dtype codes read, and the stored dtype each stands for. */
const DTYPES: Readonly<Record<string, StoredDtype>> = {
  F32: "float32",
  F16: "float16",
  BF16: "bfloat16",
  F64: "float64",
  I64: "int64",
  I32: "int32",
  I16: "int16",
  I8: "int8",
  U8: "uint8",
  BOOL: "bool",
};

/** The largest header read (the format's own limit: 100 MB). */
const MAX_HEADER = 100_000_000;

/** The tensors and metadata of a safetensors file. */
export interface SafetensorsContents {
  /** The tensors by name, in the header's order, as float32. */
  tensors: Map<string, StoredTensor>;
  /** The header's `__metadata__` (string to string); `{}` when absent. */
  metadata: Record<string, string>;
}

/** Options of {@linkcode parseSafetensors}. */
export interface ParseSafetensorsOptions {
  /** A name for error messages (the file path). @default {"<bytes>"} */
  name?: string;
}

/**
 * Parses the bytes of a safetensors file into float32 tensors by name.
 * Dtypes F32, F16, BF16, F64, I64, I32, I16, I8, U8 and BOOL are read; F32
 * data that is 4-byte aligned (as every writer aligns it) becomes views on
 * `bytes`, not copies, so a file costs about its own size in memory.
 *
 * A truncated file, a header that is not the format's JSON, offsets outside
 * the data or disagreeing with the shape, and an unknown dtype throw a
 * {@linkcode DataError} naming the file and the tensor.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensors, parseSafetensors } from "./safetensors.ts";
 * const bytes = encodeSafetensors({ w: { shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } });
 * const { tensors } = parseSafetensors(bytes, { name: "w.safetensors" });
 * assert.deepEqual(tensors.get("w")?.shape, [2, 2]);
 * assert.deepEqual([...tensors.get("w")!.data], [1, 2, 3, 4]);
 * ```
 */
export function parseSafetensors(
  bytes: Uint8Array,
  options: ParseSafetensorsOptions = {},
): SafetensorsContents {
  const file = options.name ?? "<bytes>";
  const fail = (reason: string, field?: string): never => {
    throw new DataError(reason, { file, field });
  };
  if (bytes.length < 8) {
    fail(`the file is truncated: ${bytes.length} bytes, fewer than the 8 of the header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER) {
    fail(
      `the header length is ${headerLength} bytes, more than the format's 100 MB; ` +
        `this is not a safetensors file`,
    );
  }
  if (8 + headerLength > bytes.length) {
    fail(
      `the file is truncated: the header needs ${headerLength} bytes, ` +
        `${bytes.length - 8} follow the header length`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(
      bytes.subarray(8, 8 + headerLength),
    ));
  } catch (error) {
    throw new DataError(
      `the header is not JSON (${(error as Error).message}); this is not a safetensors file`,
      { file },
      { cause: error },
    );
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    fail("the header is not a JSON object; this is not a safetensors file");
  }
  const data = bytes.subarray(8 + headerLength);
  const tensors = new Map<string, StoredTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      metadata = checkMetadata(entry, fail);
      continue;
    }
    tensors.set(name, readEntry(name, entry, data, fail));
  }
  return { tensors, metadata };
}

function checkMetadata(
  entry: unknown,
  fail: (reason: string, field?: string) => never,
): Record<string, string> {
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
    fail("expected an object of strings", "__metadata__");
  }
  for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
    if (typeof value !== "string") {
      fail(`expected a string for "${key}", got ${JSON.stringify(value)}`, "__metadata__");
    }
  }
  return { ...(entry as Record<string, string>) };
}

function readEntry(
  name: string,
  entry: unknown,
  data: Uint8Array,
  fail: (reason: string, field?: string) => never,
): StoredTensor {
  const where = `tensor "${name}"`;
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
    fail(`${where}: expected {dtype, shape, data_offsets}, got ${JSON.stringify(entry)}`);
  }
  const { dtype: code, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof code !== "string") fail(`${where}: expected a string dtype, got ${code}`);
  const dtype = DTYPES[code as string];
  if (!dtype) {
    fail(
      `${where} has dtype "${code}", which is not read (known: ${
        Object.keys(DTYPES).join(", ")
      }); ` +
        `convert the file to F32, F16 or BF16`,
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(`${where}: expected a shape of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]
  ) {
    fail(`${where}: expected data_offsets [begin, end], got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  const size = shapeSize(shape as number[]);
  if (end - begin !== size * ITEM_SIZE[dtype]) {
    fail(
      `${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but shape ` +
        `[${shape}] of ${code} needs ${size * ITEM_SIZE[dtype]}`,
    );
  }
  if (end > data.length) {
    fail(
      `the file is truncated or its offsets are out of range: ${where} ends at byte ${end} ` +
        `of the data, which has ${data.length} bytes`,
    );
  }
  return {
    dtype,
    shape: [...(shape as number[])],
    data: toFloat32(data.subarray(begin, end), dtype),
  };
}

/**
 * Reads a safetensors file ({@linkcode parseSafetensors}), naming `path` in
 * every error.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { readSafetensors, writeSafetensors } from "./safetensors.ts";
 * const dir = await Deno.makeTempDir();
 * await writeSafetensors(`${dir}/b.safetensors`, { b: { shape: [3], data: new Float32Array(3) } });
 * const { tensors } = await readSafetensors(`${dir}/b.safetensors`);
 * assert.deepEqual(tensors.get("b")?.shape, [3]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readSafetensors(path: string): Promise<SafetensorsContents> {
  return parseSafetensors(await readWholeFile(path), { name: path });
}

/** The dtypes {@linkcode encodeSafetensors} writes. */
export type SafetensorsWriteDtype = "F32" | "F16" | "BF16";

/** A tensor to write: float32 values, written as `dtype`. */
export interface SafetensorsInput {
  /** The shape, outermost first. */
  shape: readonly number[];
  /** The values, row-major; their count is the shape's product. */
  data: Float32Array;
  /** The dtype in the file (F16 and BF16 round to nearest even). @default {"F32"} */
  dtype?: SafetensorsWriteDtype;
}

/** Options of {@linkcode encodeSafetensors} and {@linkcode writeSafetensors}. */
export interface EncodeSafetensorsOptions {
  /** The header's `__metadata__`, string to string. @default {{}} */
  metadata?: Record<string, string>;
}

/**
 * Encodes tensors as a safetensors file. The header lists them in the order
 * given and is padded with spaces to a multiple of 8 bytes; the data holds
 * the F32 tensors first, then the 2-byte ones, with no gaps (as the format
 * requires), so every tensor is aligned to its element size and readers can
 * view F32 data without copying.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensors, parseSafetensors } from "./safetensors.ts";
 * const bytes = encodeSafetensors(
 *   { h: { shape: [2], data: new Float32Array([0.5, 1 / 3]), dtype: "F16" } },
 *   { metadata: { format: "pt" } },
 * );
 * const parsed = parseSafetensors(bytes);
 * assert.equal(parsed.tensors.get("h")?.dtype, "float16");
 * assert.equal(parsed.tensors.get("h")?.data[0], 0.5);
 * assert.deepEqual(parsed.metadata, { format: "pt" });
 * ```
 */
export function encodeSafetensors(
  tensors: Readonly<Record<string, SafetensorsInput>> | ReadonlyMap<string, SafetensorsInput>,
  options: EncodeSafetensorsOptions = {},
): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  // A null prototype, so that a tensor named "__proto__" is a key like any other.
  const header: Record<string, unknown> = Object.create(null);
  if (options.metadata && Object.keys(options.metadata).length) {
    header.__metadata__ = options.metadata;
  }
  const raws = new Map<string, Uint8Array>();
  for (const [name, tensor] of entries) {
    if (tensor.data.length !== shapeSize(tensor.shape)) {
      throw new RangeError(
        `Cannot encode safetensors tensor "${name}": shape [${tensor.shape}] needs ` +
          `${shapeSize(tensor.shape)} values, data has ${tensor.data.length}`,
      );
    }
    const dtype = tensor.dtype ?? "F32";
    const raw = dtype === "F32"
      ? tensor.data
      : dtype === "F16"
      ? toFloat16Bits(tensor.data)
      : toBfloat16Bits(tensor.data);
    raws.set(name, new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength));
    header[name] = { dtype, shape: [...tensor.shape], data_offsets: [0, 0] };
  }
  // The format allows no gaps between tensors: lay the 4-byte ones out before
  // the 2-byte ones, so that each starts aligned to its own element size.
  const order = entries.map(([name, t]) => ({ name, wide: (t.dtype ?? "F32") === "F32" }))
    .sort((a, b) => Number(b.wide) - Number(a.wide));
  let offset = 0;
  for (const { name } of order) {
    const length = raws.get(name)!.length;
    (header[name] as { data_offsets: number[] }).data_offsets = [offset, offset + length];
    offset += length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const spaced = new Uint8Array(padded).fill(0x20);
    spaced.set(json);
    json = spaced;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const { name } of order) {
    out.set(raws.get(name)!, at);
    at += raws.get(name)!.length;
  }
  return out;
}

/**
 * Writes tensors as a safetensors file ({@linkcode encodeSafetensors}),
 * atomically.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { readSafetensors, writeSafetensors } from "./safetensors.ts";
 * const dir = await Deno.makeTempDir();
 * const data = new Float32Array([1, -2, 3.5]);
 * await writeSafetensors(`${dir}/w.safetensors`, { w: { shape: [3], data, dtype: "BF16" } });
 * const { tensors } = await readSafetensors(`${dir}/w.safetensors`);
 * assert.deepEqual([...tensors.get("w")!.data], [1, -2, 3.5]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeSafetensors(
  path: string,
  tensors: Readonly<Record<string, SafetensorsInput>> | ReadonlyMap<string, SafetensorsInput>,
  options: EncodeSafetensorsOptions = {},
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, options));
}
