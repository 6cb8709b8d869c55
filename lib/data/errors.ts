/**
 * The project's one error class for bad data.
 *
 * @module
 */

/** Where in the input a fault lies. */
export interface DataErrorLocation {
  /** The file at fault. */
  file: string;
  /** The 1-based line, for text annotation files. */
  line?: number;
  /** The field or column, where one is at fault. */
  field?: string;
}

/**
 * Bad input data: a missing or corrupt image, a malformed annotation line,
 * a mask that does not fit its image. The message names the file, and the
 * line or field where known, then says what is wrong:
 * `images.txt:12: expected "<id> <path>", got "12"`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { DataError } from "./errors.ts";
 * const e = new DataError("expected 2 fields, got 1", { file: "images.txt", line: 3 });
 * assert.equal(e.message, "images.txt:3: expected 2 fields, got 1");
 * assert.deepStrictEqual([e.file, e.line], ["images.txt", 3]);
 * ```
 */
export class DataError extends Error {
  /** The file at fault. */
  readonly file: string;
  /** The 1-based line, where known. */
  readonly line?: number;
  /** The field, where known. */
  readonly field?: string;

  /** Creates the error; `options.cause` keeps the underlying error. */
  constructor(reason: string, where: DataErrorLocation, options?: ErrorOptions) {
    const place = where.line !== undefined ? `${where.file}:${where.line}` : where.file;
    const field = where.field ? ` (field "${where.field}")` : "";
    super(`${place}${field}: ${reason}`, options);
    this.name = "DataError";
    this.file = where.file;
    this.line = where.line;
    this.field = where.field;
  }
}
