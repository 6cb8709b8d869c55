// Shared test helpers: engines, seeded tensors and tolerant comparisons.
import assert, { AssertionError } from "node:assert";
import { DataError } from "../lib/data/errors.ts";
import { initBackend, loadCpuBackend, Random, registerKernelFixes, tf } from "../mod.ts";
import type { TwoBranchModel } from "../mod.ts";

/**
 * Starts wasm (with our kernels) and loads cpu (with our ResizeBilinearGrad,
 * as initBackend would), then leaves wasm active.
 */
export async function useEngines(): Promise<void> {
  await loadCpuBackend();
  registerKernelFixes("cpu");
  await initBackend({ backend: "wasm", log: null });
}

/** Runs `fn` on `backend` and returns every output's values as plain arrays. */
export async function runOn(
  backend: "cpu" | "wasm",
  fn: () => tf.Tensor | tf.Tensor[],
): Promise<Float32Array[]> {
  if (!(await tf.setBackend(backend))) throw new Error(`Cannot start backend ${backend}`);
  const out = tf.tidy(fn);
  const list = Array.isArray(out) ? out : [out];
  const values = list.map((t) => Float32Array.from(t.dataSync()));
  tf.dispose(list);
  await tf.setBackend("wasm");
  return values;
}

/** A seeded normal Float32Array of the given shape's size. */
export function randn(shape: number[], seed: number, scale = 1): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Random(seed).normalArray(n, 0, scale);
}

/**
 * Asserts `|actual - expected| <= atol + rtol * max|expected|` elementwise,
 * naming the worst element when it fails.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { rtol = 1e-4, atol = 1e-6, label = "" }: { rtol?: number; atol?: number; label?: string } = {},
): void {
  if (actual.length !== expected.length) {
    throw new AssertionError({
      message: `${label}: length ${actual.length} differs from expected ${expected.length}`,
    });
  }
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  const tol = atol + rtol * scale;
  let worst = -1, worstDiff = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= worstDiff) || Number.isNaN(actual[i])) {
      worst = i;
      worstDiff = Number.isNaN(actual[i]) ? Infinity : d;
    }
  }
  if (worstDiff > tol) {
    throw new AssertionError({
      message: `${label}: element ${worst} is ${actual[worst]}, expected ${
        expected[worst]
      } (diff ${worstDiff}, tolerance ${tol})`,
    });
  }
}

/**
 * Asserts that `tf.sum` and `tf.mean` of `values` (of `shape`) over each
 * `[axis, keepDims]` case give the same values on wasm as on cpu (relative
 * tolerance 1e-5), and, with `checkShapes`, the same output shapes.
 */
export async function assertReductionsMatchCpu(
  values: Float32Array,
  shape: number[],
  cases: readonly [number | number[], boolean][],
  { checkShapes = false }: { checkShapes?: boolean } = {},
): Promise<void> {
  for (const [axis, keepDims] of cases) {
    const run = () => {
      const x = tf.tensor(values, shape);
      return [tf.sum(x, axis, keepDims), tf.mean(x, axis, keepDims)];
    };
    const want = await runOn("cpu", run);
    const got = await runOn("wasm", run);
    const label = `axis ${JSON.stringify(axis)} keepDims ${keepDims}`;
    assertClose(got[0], want[0], { rtol: 1e-5, label: `sum ${label}` });
    assertClose(got[1], want[1], { rtol: 1e-5, label: `mean ${label}` });
    if (!checkShapes) continue;
    const shapes = tf.tidy(() => run().map((t) => t.shape.join()));
    await tf.setBackend("cpu");
    const cpuShapes = tf.tidy(() => run().map((t) => t.shape.join()));
    await tf.setBackend("wasm");
    if (shapes.join(";") !== cpuShapes.join(";")) {
      throw new AssertionError({
        message: `shapes ${label}: wasm ${shapes.join(" / ")}, cpu ${cpuShapes.join(" / ")}`,
      });
    }
  }
}

/**
 * One inference pass of `model` on zeros, so that the convolutions keep
 * their folded kernels (they do from the first pass on): a count of
 * `tf.memory().numTensors` taken after it stays flat over later passes.
 */
export function warmUp(model: TwoBranchModel): void {
  tf.tidy(() => {
    model.forward(tf.zeros([1, ...model.inputShape]) as tf.Tensor4D);
  });
}

/**
 * Expects `promise` to reject with a `DataError` whose message matches
 * `pattern` (and, when given, which names `file`); returns the error.
 */
export async function rejectsData(
  promise: Promise<unknown>,
  pattern: RegExp,
  file?: string,
): Promise<DataError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof DataError, `expected a DataError, got ${caught}`);
  if (file !== undefined) assert.equal(caught.file, file);
  assert.match(caught.message, pattern);
  return caught;
}
