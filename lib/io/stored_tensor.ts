/**
 * The tensors of a weights file (safetensors, PyTorch `.pth`), read as
 * float32 arrays by name.
 *
 * @module
 */

/**
 * The element type a tensor was stored with. Every reader gives float32
 * values whatever this is; it is kept for the record (a float16 file loses
 * precision that float32 cannot bring back).
 */
export type StoredDtype =
  | "float32"
  | "float16"
  | "bfloat16"
  | "float64"
  | "int64"
  | "int32"
  | "int16"
  | "int8"
  | "uint8"
  | "bool";

/**
 * One tensor from a weights file. `data` holds its `shape`'s product of
 * values in row-major order. A reader may make `data` a view on the file's
 * bytes (float32, aligned) or on another tensor's storage (PyTorch views
 * share one), so copy it before writing into it.
 */
export interface StoredTensor {
  /** The element type in the file. */
  dtype: StoredDtype;
  /** The shape, outermost first (`[]` for a scalar). */
  shape: number[];
  /** The values as float32, row-major. */
  data: Float32Array;
}

/**
 * The number of elements of a tensor of `shape` (1 for a scalar).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { shapeSize } from "./stored_tensor.ts";
 * assert.equal(shapeSize([64, 3, 7, 7]), 9408);
 * assert.equal(shapeSize([]), 1);
 * ```
 */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
