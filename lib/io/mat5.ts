/**
 * A reader for MATLAB Level 5 MAT-files (`save -v7` and older, not the HDF5
 * based `-v7.3`), written from MathWorks' "MAT-File Format" specification.
 *
 * It covers what annotation files use: numeric arrays of every class,
 * logical and complex arrays, char arrays, cell arrays, struct arrays and
 * objects (read as structs), zlib-compressed variables (`miCOMPRESSED`) and
 * both byte orders. Sparse, function-handle and opaque (`string`, `table`)
 * arrays are rejected with a {@linkcode DataError}.
 *
 * @module
 */
import { DataError } from "../data/errors.ts";

/** The MATLAB class of a numeric array. */
export type MatNumericClass =
  | "double"
  | "single"
  | "int8"
  | "uint8"
  | "int16"
  | "uint16"
  | "int32"
  | "uint32"
  | "int64"
  | "uint64";

/** A numeric or logical array. */
export interface MatNumeric {
  /** Discriminant. */
  kind: "numeric";
  /** The MATLAB class; logical arrays are `"uint8"` with `logical` set. */
  class: MatNumericClass;
  /** Dimensions, at least two (`[1, 1]` for a scalar). */
  dims: number[];
  /**
   * The values in column-major order, as doubles. 64-bit integers beyond
   * ±2^53 lose precision.
   */
  data: Float64Array;
  /** The imaginary parts, for complex arrays. */
  imag?: Float64Array;
  /** Whether MATLAB marked the array logical. */
  logical: boolean;
}

/** A char array. */
export interface MatChar {
  /** Discriminant. */
  kind: "char";
  /** Dimensions, at least two (`[1, n]` for a string). */
  dims: number[];
  /** The rows joined by `"\n"`; the string itself for a `1 × n` array. */
  value: string;
  /** One string per row (the first dimension). */
  rows: string[];
}

/** A cell array. */
export interface MatCell {
  /** Discriminant. */
  kind: "cell";
  /** Dimensions, at least two. */
  dims: number[];
  /** The cells in column-major order. */
  items: MatValue[];
}

/** A struct array, or an object (whose class name is kept). */
export interface MatStruct {
  /** Discriminant. */
  kind: "struct";
  /** Dimensions, at least two (`[1, n]` for a row of n structs). */
  dims: number[];
  /** The field names, in stored order. */
  fields: string[];
  /** The elements in column-major order, each mapping field name to value. */
  elements: Record<string, MatValue>[];
  /** The class name, for MATLAB objects. */
  className?: string;
}

/** A value read from a MAT-file. An empty `[]` reads as a `0 × 0` double. */
export type MatValue = MatNumeric | MatChar | MatCell | MatStruct;

/** Options of {@linkcode readMat5}. */
export interface ReadMat5Options {
  /** A name for error messages (the file path). @default {"<bytes>"} */
  name?: string;
  /**
   * Only these variables are decoded; the others are passed over (a
   * compressed one is still inflated, to learn its name). `undefined` reads
   * every variable.
   * @default {undefined}
   */
  variables?: readonly string[];
}

// Data types (MAT-File Format, table 1-1).
const MI_INT8 = 1, MI_UINT8 = 2, MI_INT16 = 3, MI_UINT16 = 4, MI_INT32 = 5, MI_UINT32 = 6;
const MI_SINGLE = 7, MI_DOUBLE = 9, MI_INT64 = 12, MI_UINT64 = 13, MI_MATRIX = 14;
const MI_COMPRESSED = 15, MI_UTF8 = 16, MI_UTF16 = 17, MI_UTF32 = 18;

// Array classes (table 1-3).
const MX_CELL = 1, MX_STRUCT = 2, MX_OBJECT = 3, MX_CHAR = 4;
const NUMERIC_CLASSES: Record<number, MatNumericClass> = {
  6: "double",
  7: "single",
  8: "int8",
  9: "uint8",
  10: "int16",
  11: "uint16",
  12: "int32",
  13: "uint32",
  14: "int64",
  15: "uint64",
};
const CLASS_NAMES: Record<number, string> = { 5: "sparse", 16: "function handle", 17: "opaque" };

// Array flags (second byte of the first flags word).
const FLAG_COMPLEX = 0x08, FLAG_LOGICAL = 0x02;

const BYTES_PER: Record<number, number> = {
  [MI_INT8]: 1,
  [MI_UINT8]: 1,
  [MI_INT16]: 2,
  [MI_UINT16]: 2,
  [MI_INT32]: 4,
  [MI_UINT32]: 4,
  [MI_SINGLE]: 4,
  [MI_DOUBLE]: 8,
  [MI_INT64]: 8,
  [MI_UINT64]: 8,
  [MI_UTF8]: 1,
  [MI_UTF16]: 2,
  [MI_UTF32]: 4,
};

/** Where a parse is: the file, the byte order, and what the offsets count. */
interface Context {
  file: string;
  le: boolean;
  view: DataView;
  bytes: Uint8Array;
  /** Appended to offsets in messages (`" of the inflated variable #2"`). */
  within: string;
}

/** A data element tag, decoded. */
interface Tag {
  type: number;
  size: number;
  /** Offset of the data. */
  data: number;
  /** Offset of the next element. */
  next: number;
}

/**
 * Reads the variables of a MAT v5 file. Compressed variables are inflated
 * with the platform's `DecompressionStream`. Malformed or truncated input
 * raises a {@linkcode DataError} naming `options.name`, the variable (and
 * the struct element or cell) where known, and the byte offset.
 *
 * @example Read a hand-written file holding `x = 42`
 * ```ts
 * import assert from "node:assert";
 * import { readMat5 } from "./mat5.ts";
 * const file = new Uint8Array(128 + 64);
 * const view = new DataView(file.buffer);
 * file.set(new TextEncoder().encode("MATLAB 5.0 MAT-file"));
 * view.setUint16(124, 0x0100, true); // version
 * file.set([73, 77], 126); // "IM": little-endian
 * // miMATRIX of 56 bytes: flags (double), dims 1×1, name "x" (small element), one miDOUBLE.
 * [14, 56, 6, 8, 6, 0, 5, 8, 1, 1, 0x10001, 0x78, 9, 8]
 *   .forEach((word, i) => view.setUint32(128 + 4 * i, word, true));
 * view.setFloat64(184, 42, true);
 * const vars = await readMat5(file, { name: "x.mat" });
 * const x = vars.x;
 * assert.equal(x.kind, "numeric");
 * assert.deepStrictEqual(x.dims, [1, 1]);
 * assert.equal(x.kind === "numeric" && x.data[0], 42);
 * ```
 */
export async function readMat5(
  bytes: Uint8Array,
  options: ReadMat5Options = {},
): Promise<Record<string, MatValue>> {
  const file = options.name ?? "<bytes>";
  const wanted = options.variables ? new Set(options.variables) : undefined;
  if (bytes.length < 128) {
    throw new DataError(
      `not a MAT v5 file: ${bytes.length} bytes is shorter than the 128-byte header`,
      { file },
    );
  }
  const indicator = String.fromCharCode(bytes[126], bytes[127]);
  if (indicator !== "IM" && indicator !== "MI") {
    const text = new TextDecoder().decode(bytes.subarray(0, 10));
    const hint = text.startsWith("\x89HDF") ? " (this looks like an HDF5 file)" : "";
    throw new DataError(
      `not a MAT v5 file: expected endian indicator "IM" or "MI" at byte 126, got ${
        JSON.stringify(indicator)
      }${hint}`,
      { file },
    );
  }
  const le = indicator === "IM";
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(124, le);
  if (version !== 0x0100) {
    const hint = version === 0x0200
      ? ": MAT v7.3 files are HDF5, which this reader does not read; re-save with save(..., '-v7')"
      : "";
    throw new DataError(
      `unsupported MAT-file version 0x${version.toString(16).padStart(4, "0")} at byte 124, ` +
        `expected 0x0100${hint}`,
      { file },
    );
  }
  const top: Context = { file, le, view, bytes, within: "" };
  const out: Record<string, MatValue> = {};
  let offset = 128;
  for (let index = 1; offset < bytes.length; index++) {
    const tag = readTag(top, offset, bytes.length, undefined);
    if (tag.type === MI_COMPRESSED) {
      const inflated = await inflate(bytes.subarray(tag.data, tag.data + tag.size), top, offset);
      const inner: Context = {
        file,
        le,
        view: new DataView(inflated.buffer, inflated.byteOffset, inflated.byteLength),
        bytes: inflated,
        within: ` of compressed variable #${index} (inflated; it starts at byte ${offset})`,
      };
      const innerTag = readTag(inner, 0, inflated.length, undefined);
      if (innerTag.type !== MI_MATRIX) {
        fail(inner, 0, undefined, `expected a miMATRIX element, got data type ${innerTag.type}`);
      }
      readVariable(inner, innerTag, wanted, out);
    } else if (tag.type === MI_MATRIX) {
      readVariable(top, tag, wanted, out);
    } else {
      fail(
        top,
        offset,
        undefined,
        `expected a miMATRIX or miCOMPRESSED element, got data type ${tag.type}`,
      );
    }
    offset = tag.next;
  }
  return out;
}

function readVariable(
  ctx: Context,
  tag: Tag,
  wanted: Set<string> | undefined,
  out: Record<string, MatValue>,
): void {
  const end = tag.data + tag.size;
  const header = readArrayHeader(ctx, tag.data, end, undefined);
  if (wanted && !wanted.has(header.name)) return;
  out[header.name] = readArrayBody(ctx, header, end, header.name);
}

async function inflate(data: Uint8Array, ctx: Context, offset: number): Promise<Uint8Array> {
  try {
    const stream = new Blob([data.slice()]).stream()
      .pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DataError(
      `cannot inflate the compressed variable at byte ${offset}: ${reason}`,
      { file: ctx.file },
      { cause: error },
    );
  }
}

function fail(ctx: Context, offset: number, path: string | undefined, reason: string): never {
  throw new DataError(`${reason} at byte ${offset}${ctx.within}`, {
    file: ctx.file,
    field: path,
  });
}

/** Reads the tag at `offset`, checking that its data ends by `end`. */
function readTag(ctx: Context, offset: number, end: number, path: string | undefined): Tag {
  if (offset + 8 > end) {
    fail(ctx, offset, path, `truncated: a data element tag needs 8 bytes, ${end - offset} remain`);
  }
  const first = ctx.view.getUint32(offset, ctx.le);
  if (first >>> 16 !== 0) {
    // Small data element: size in the upper 16 bits, up to 4 bytes of data in the tag itself.
    const size = first >>> 16;
    if (size > 4) {
      fail(ctx, offset, path, `a small data element cannot hold ${size} bytes (at most 4)`);
    }
    return { type: first & 0xffff, size, data: offset + 4, next: offset + 8 };
  }
  const size = ctx.view.getUint32(offset + 4, ctx.le);
  const data = offset + 8;
  if (data + size > end) {
    fail(
      ctx,
      offset,
      path,
      `truncated: the data element (type ${first}) declares ${size} bytes, ${end - data} remain`,
    );
  }
  // Elements are padded to 8 bytes, except compressed ones; a missing final pad is tolerated.
  const next = first === MI_COMPRESSED ? data + size : Math.min(data + pad8(size), end);
  return { type: first, size, data, next };
}

function pad8(n: number): number {
  return (n + 7) & ~7;
}

interface ArrayHeader {
  cls: number;
  flags: number;
  dims: number[];
  name: string;
  /** Offset just past the name. */
  next: number;
}

/** Reads the array flags, dimensions and name subelements of a miMATRIX. */
function readArrayHeader(
  ctx: Context,
  start: number,
  end: number,
  path: string | undefined,
): ArrayHeader {
  const flagsTag = readTag(ctx, start, end, path);
  if (flagsTag.type !== MI_UINT32 || flagsTag.size !== 8) {
    fail(
      ctx,
      start,
      path,
      `expected an array flags subelement (miUINT32, 8 bytes), got type ${flagsTag.type} ` +
        `with ${flagsTag.size} bytes`,
    );
  }
  const word = ctx.view.getUint32(flagsTag.data, ctx.le);
  const dimsTag = readTag(ctx, flagsTag.next, end, path);
  if (dimsTag.type !== MI_INT32 || dimsTag.size % 4 !== 0 || dimsTag.size < 8) {
    fail(
      ctx,
      flagsTag.next,
      path,
      `expected a dimensions subelement (miINT32, at least 2 values), got type ${dimsTag.type} ` +
        `with ${dimsTag.size} bytes`,
    );
  }
  const dims: number[] = [];
  for (let p = dimsTag.data; p < dimsTag.data + dimsTag.size; p += 4) {
    const d = ctx.view.getInt32(p, ctx.le);
    if (d < 0) fail(ctx, p, path, `negative dimension ${d}`);
    dims.push(d);
  }
  const nameTag = readTag(ctx, dimsTag.next, end, path);
  if (nameTag.type !== MI_INT8 && nameTag.type !== MI_UINT8) {
    fail(
      ctx,
      dimsTag.next,
      path,
      `expected an array name subelement (miINT8), got type ${nameTag.type}`,
    );
  }
  const name = latin1(ctx.bytes.subarray(nameTag.data, nameTag.data + nameTag.size));
  return { cls: word & 0xff, flags: (word >>> 8) & 0xff, dims, name, next: nameTag.next };
}

/** Reads a miMATRIX element's payload (`start`..`end`) nested in a cell or struct. */
function readMatrix(ctx: Context, start: number, end: number, path: string): MatValue {
  if (start === end) {
    return {
      kind: "numeric",
      class: "double",
      dims: [0, 0],
      data: new Float64Array(0),
      logical: false,
    };
  }
  const header = readArrayHeader(ctx, start, end, path);
  return readArrayBody(ctx, header, end, path);
}

function readArrayBody(ctx: Context, header: ArrayHeader, end: number, path: string): MatValue {
  const { cls, dims } = header;
  const numel = dims.reduce((a, b) => a * b, 1);
  let offset = header.next;
  const numericClass = NUMERIC_CLASSES[cls];
  if (numericClass) {
    const real = readTag(ctx, offset, end, path);
    const data = readNumbers(ctx, real, numel, path, offset, "real part");
    const value: MatNumeric = {
      kind: "numeric",
      class: numericClass,
      dims,
      data,
      logical: (header.flags & FLAG_LOGICAL) !== 0,
    };
    if (header.flags & FLAG_COMPLEX) {
      const imag = readTag(ctx, real.next, end, path);
      value.imag = readNumbers(ctx, imag, numel, path, real.next, "imaginary part");
    }
    return value;
  }
  if (cls === MX_CHAR) {
    const tag = readTag(ctx, offset, end, path);
    return readChars(ctx, tag, dims, numel, path, offset);
  }
  if (cls === MX_CELL) {
    if (numel * 8 > end - offset) {
      fail(ctx, offset, path, `truncated: ${numel} cells cannot fit in ${end - offset} bytes`);
    }
    const items: MatValue[] = [];
    for (let i = 0; i < numel; i++) {
      const at = offset;
      const tag = readTag(ctx, at, end, path);
      const itemPath = `${path}{${i + 1}}`;
      if (tag.type !== MI_MATRIX) {
        fail(ctx, at, itemPath, `expected a miMATRIX cell, got data type ${tag.type}`);
      }
      items.push(readMatrix(ctx, tag.data, tag.data + tag.size, itemPath));
      offset = tag.next;
    }
    return { kind: "cell", dims, items };
  }
  if (cls === MX_STRUCT || cls === MX_OBJECT) {
    let className: string | undefined;
    if (cls === MX_OBJECT) {
      const tag = readTag(ctx, offset, end, path);
      className = latin1(ctx.bytes.subarray(tag.data, tag.data + tag.size));
      offset = tag.next;
    }
    const lengthTag = readTag(ctx, offset, end, path);
    if (lengthTag.type !== MI_INT32 || lengthTag.size !== 4) {
      fail(
        ctx,
        offset,
        path,
        `expected the field name length (miINT32, 4 bytes), got type ${lengthTag.type} with ${lengthTag.size} bytes`,
      );
    }
    const length = ctx.view.getInt32(lengthTag.data, ctx.le);
    const namesTag = readTag(ctx, lengthTag.next, end, path);
    if (length <= 0 || namesTag.size % length !== 0) {
      fail(
        ctx,
        lengthTag.next,
        path,
        `field names take ${namesTag.size} bytes, not a multiple of the name length ${length}`,
      );
    }
    const fields: string[] = [];
    for (let p = namesTag.data; p < namesTag.data + namesTag.size; p += length) {
      fields.push(latin1(ctx.bytes.subarray(p, p + length)));
    }
    offset = namesTag.next;
    if (fields.length === 0 && numel > 1 << 24) {
      fail(ctx, offset, path, `a struct array of ${numel} elements with no fields is implausible`);
    }
    if (numel * fields.length * 8 > end - offset) {
      fail(
        ctx,
        offset,
        path,
        `truncated: ${numel} elements of ${fields.length} fields cannot fit in ${
          end - offset
        } bytes`,
      );
    }
    const elements: Record<string, MatValue>[] = [];
    for (let i = 0; i < numel; i++) {
      const element: Record<string, MatValue> = {};
      for (const field of fields) {
        const at = offset;
        const fieldPath = `${path}(${i + 1}).${field}`;
        const tag = readTag(ctx, at, end, fieldPath);
        if (tag.type !== MI_MATRIX) {
          fail(ctx, at, fieldPath, `expected a miMATRIX field value, got data type ${tag.type}`);
        }
        element[field] = readMatrix(ctx, tag.data, tag.data + tag.size, fieldPath);
        offset = tag.next;
      }
      elements.push(element);
    }
    const value: MatStruct = { kind: "struct", dims, fields, elements };
    if (className !== undefined) value.className = className;
    return value;
  }
  const known = CLASS_NAMES[cls];
  return fail(
    ctx,
    header.next,
    path,
    known ? `${known} arrays are not supported` : `unknown array class ${cls}`,
  );
}

function readNumbers(
  ctx: Context,
  tag: Tag,
  numel: number,
  path: string,
  at: number,
  part: string,
): Float64Array {
  const per = BYTES_PER[tag.type];
  if (per === undefined || tag.type === MI_UTF8 || tag.type === MI_UTF16 || tag.type === MI_UTF32) {
    fail(ctx, at, path, `expected numeric data for the ${part}, got data type ${tag.type}`);
  }
  if (tag.size !== numel * per) {
    fail(
      ctx,
      at,
      path,
      `the ${part} holds ${tag.size / per} values, but the dimensions call for ${numel}`,
    );
  }
  const { view, le } = ctx;
  const out = new Float64Array(numel);
  const p0 = tag.data;
  switch (tag.type) {
    case MI_INT8:
      for (let i = 0; i < numel; i++) out[i] = view.getInt8(p0 + i);
      break;
    case MI_UINT8:
      for (let i = 0; i < numel; i++) out[i] = view.getUint8(p0 + i);
      break;
    case MI_INT16:
      for (let i = 0; i < numel; i++) out[i] = view.getInt16(p0 + 2 * i, le);
      break;
    case MI_UINT16:
      for (let i = 0; i < numel; i++) out[i] = view.getUint16(p0 + 2 * i, le);
      break;
    case MI_INT32:
      for (let i = 0; i < numel; i++) out[i] = view.getInt32(p0 + 4 * i, le);
      break;
    case MI_UINT32:
      for (let i = 0; i < numel; i++) out[i] = view.getUint32(p0 + 4 * i, le);
      break;
    case MI_SINGLE:
      for (let i = 0; i < numel; i++) out[i] = view.getFloat32(p0 + 4 * i, le);
      break;
    case MI_DOUBLE:
      for (let i = 0; i < numel; i++) out[i] = view.getFloat64(p0 + 8 * i, le);
      break;
    case MI_INT64:
      for (let i = 0; i < numel; i++) out[i] = Number(view.getBigInt64(p0 + 8 * i, le));
      break;
    case MI_UINT64:
      for (let i = 0; i < numel; i++) out[i] = Number(view.getBigUint64(p0 + 8 * i, le));
      break;
  }
  return out;
}

function readChars(
  ctx: Context,
  tag: Tag,
  dims: number[],
  numel: number,
  path: string,
  at: number,
): MatChar {
  const raw = ctx.bytes.subarray(tag.data, tag.data + tag.size);
  let units: string[];
  if (tag.type === MI_UTF8) {
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
    } catch {
      return fail(ctx, at, path, "char data is not valid UTF-8");
    }
    // MATLAB counts UTF-16 code units; some writers count code points.
    units = text.length === numel ? text.split("") : Array.from(text);
  } else if (tag.type === MI_UINT16 || tag.type === MI_UTF16 || tag.type === MI_INT16) {
    const codes = readNumbers(
      ctx,
      { ...tag, type: MI_UINT16 },
      tag.size / 2,
      path,
      at,
      "char data",
    );
    units = Array.from(codes, (c) => String.fromCharCode(c));
  } else if (tag.type === MI_UINT8 || tag.type === MI_INT8) {
    units = Array.from(raw, (c) => String.fromCharCode(c));
  } else if (tag.type === MI_UTF32 || tag.type === MI_UINT32 || tag.type === MI_INT32) {
    const codes = readNumbers(
      ctx,
      { ...tag, type: MI_UINT32 },
      tag.size / 4,
      path,
      at,
      "char data",
    );
    try {
      units = Array.from(codes, (c) => String.fromCodePoint(c));
    } catch {
      return fail(ctx, at, path, "char data holds an invalid code point");
    }
  } else {
    return fail(ctx, at, path, `expected char data, got data type ${tag.type}`);
  }
  if (units.length !== numel) {
    fail(
      ctx,
      at,
      path,
      `char data holds ${units.length} characters, but the dimensions call for ${numel}`,
    );
  }
  const m = dims[0];
  const columns = m === 0 ? 0 : numel / m;
  const rows: string[] = [];
  for (let r = 0; r < m; r++) {
    let row = "";
    for (let c = 0; c < columns; c++) row += units[r + m * c];
    rows.push(row);
  }
  return { kind: "char", dims, value: rows.join("\n"), rows };
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) {
    if (b === 0) break;
    s += String.fromCharCode(b);
  }
  return s;
}
