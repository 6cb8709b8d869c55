/**
 * Running out of engine memory: recognising it and saying what to change.
 *
 * @module
 */
import { tf } from "../deps.ts";

/**
 * The tensor memory the automatic micro-batching of a training step aims to
 * stay under, in bytes, on the active engine: 2.5 GiB on `wasm` (whose
 * memory is at most 4 GiB, wasm32) and `cpu`, unlimited elsewhere (native
 * TensorFlow and WebGPU manage their own memory).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { defaultMemoryBudget } from "./memory.ts";
 * assert.ok(defaultMemoryBudget() > 0);
 * ```
 */
export function defaultMemoryBudget(): number {
  const backend = tf.getBackend();
  return backend === "wasm" || backend === "cpu" ? 2.5 * 2 ** 30 : Infinity;
}

/**
 * Thrown when the engine ran out of memory. The message names what was
 * being run and what to change; on the `wasm` engine the module's memory is
 * then in an unknown state, so end the process (the tasks exit with status 1).
 */
export class EngineOutOfMemoryError extends Error {
  /** Creates the error; `what` says what ran, `hint` what to change. */
  constructor(what: string, hint: string, options?: ErrorOptions) {
    super(
      `The ${tf.getBackend()} engine ran out of memory ${what}; ${hint}`,
      options,
    );
    this.name = "EngineOutOfMemoryError";
  }
}

/**
 * Whether `error` is the engine running out of memory: on `wasm`, a failed
 * allocation surfaces as an out-of-bounds memory access or an "OOM" abort
 * inside the module; elsewhere as an allocation failure.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { isOutOfMemory } from "./memory.ts";
 * assert.ok(isOutOfMemory(new WebAssembly.RuntimeError("memory access out of bounds")));
 * assert.ok(!isOutOfMemory(new RangeError("bad shape")));
 * ```
 */
export function isOutOfMemory(error: unknown): boolean {
  if (error instanceof EngineOutOfMemoryError) return true;
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return /memory access out of bounds|Aborted\(OOM\)|out of memory|Cannot enlarge memory|Array buffer allocation failed|Maximum memory size exceeded/i
    .test(text);
}

/**
 * Runs `f`; if the engine runs out of memory, throws an
 * {@linkcode EngineOutOfMemoryError} with `what` and `hint` instead of the
 * engine's own error (kept as its `cause`).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { EngineOutOfMemoryError, withMemoryHint } from "./memory.ts";
 * await assert.rejects(
 *   withMemoryHint("in a test", "pass a smaller --batch", () => {
 *     throw new WebAssembly.RuntimeError("memory access out of bounds");
 *   }),
 *   (e) => e instanceof EngineOutOfMemoryError && /smaller --batch/.test(e.message),
 * );
 * ```
 */
export async function withMemoryHint<T>(
  what: string,
  hint: string,
  f: () => T | Promise<T>,
): Promise<T> {
  try {
    return await f();
  } catch (error) {
    if (error instanceof EngineOutOfMemoryError || !isOutOfMemory(error)) throw error;
    throw new EngineOutOfMemoryError(what, hint, { cause: error });
  }
}
