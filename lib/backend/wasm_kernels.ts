/**
 * Training kernels for the tfjs `wasm` engine.
 *
 * As shipped, `@tensorflow/tfjs-backend-wasm@4.22.0` cannot train a
 * convolutional network: `Conv2DBackpropFilter`, both depthwise gradients and
 * `UnsortedSegmentSum` (the gradient of `gather`) are missing, and
 * `MaxPoolGrad` routes the gradient to the wrong place when every value in a
 * window is negative. `ResizeBilinearGrad` ignores `halfPixelCenters` and
 * `OneHot` ignores its dtype. `Conv2DBackpropInput` is present but slow. This module
 * registers replacements composed from ops the wasm engine has; each is
 * tested against the `cpu` engine.
 *
 * It also puts faster versions in front of engine kernels that training and
 * the explainers call thousands of times: `Identity` and same-dtype `Cast`
 * share data instead of copying it (the gradient tape clones every tensor it
 * saves); `Transpose` copies in tiles where the engine's element loop
 * thrashes the cache; `Slice`, `StridedSlice`, `Reverse`, `Concat` and
 * `Pack` copy contiguous runs straight on the heap; the comparisons
 * broadcast without the engine's per-element index arithmetic; `Sum` and
 * `Mean` over leading axes run as XNNPACK average pools; a max pool with
 * disjoint windows gets its gradient in one pass; and `BatchMatMul` runs
 * transposed and batched products (every dense layer's backward pass, and
 * attention) on XNNPACK instead of the engine's scalar loop. The module's
 * private files give the measurements behind each.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { conv2dGradKernels } from "./_conv2d_grads.ts";
import { depthwiseGradKernels } from "./_depthwise_grads.ts";
import { fastAvgPoolGrad, poolGradKernels } from "./_pool_grads.ts";
import { segmentSumKernels } from "./_segment_sum.ts";
import { fixedOneHot } from "./_one_hot.ts";
import { resizeGradKernel } from "./_resize_grad.ts";
import { fastReduce } from "./_reduce.ts";
import { fastTranspose } from "./_transpose.ts";
import { sharedCast, sharedIdentity } from "./_identity.ts";
import { fastConcat, fastPack, fastReverse, fastSlice, fastStridedSlice } from "./_copy_kernels.ts";
import { COMPARISONS, fastCompare } from "./_compare.ts";
import { chunkedAddN } from "./_add_n.ts";
import { fastBatchMatMul } from "./_batch_matmul.ts";

const KERNELS: tf.KernelConfig[] = [
  ...conv2dGradKernels,
  ...depthwiseGradKernels,
  ...poolGradKernels,
  ...segmentSumKernels,
  resizeGradKernel("wasm"),
];

/** Kernels whose engine implementation we wrap rather than replace. */
const WRAPPERS: Record<string, (original: tf.KernelConfig) => tf.KernelConfig> = {
  OneHot: fixedOneHot,
  Sum: fastReduce(false),
  Mean: fastReduce(true),
  AvgPoolGrad: fastAvgPoolGrad,
  Transpose: fastTranspose,
  BatchMatMul: fastBatchMatMul,
  Identity: sharedIdentity,
  Cast: sharedCast,
  Slice: fastSlice,
  Concat: fastConcat,
  Pack: fastPack,
  StridedSlice: fastStridedSlice,
  Reverse: fastReverse,
  ...Object.fromEntries(Object.keys(COMPARISONS).map((name) => [name, fastCompare])),
};

const ours = new WeakSet<tf.KernelFunc>();

/** Names of the kernels that {@linkcode registerWasmTrainingKernels} adds, replaces or wraps. */
export const WASM_TRAINING_KERNELS: readonly string[] = [
  ...KERNELS.map((k) => k.kernelName),
  ...Object.keys(WRAPPERS),
];

/**
 * Adds the missing training kernels to the `wasm` engine and replaces the
 * wrong or slow ones. Call it after the wasm engine module is imported (it
 * registers its own kernels at import); {@linkcode initBackend} does this.
 * Calling it again is harmless.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { loadWasmBackend, tf } from "../deps.ts";
 * import { registerWasmTrainingKernels, WASM_TRAINING_KERNELS } from "./wasm_kernels.ts";
 * await loadWasmBackend();
 * registerWasmTrainingKernels();
 * registerWasmTrainingKernels(); // again: harmless
 * assert.ok(WASM_TRAINING_KERNELS.every((name) => tf.getKernel(name, "wasm") !== undefined));
 * ```
 */
export function registerWasmTrainingKernels(): void {
  for (const config of KERNELS) install("wasm", config.kernelName, () => config);
  for (const [name, wrap] of Object.entries(WRAPPERS)) {
    install("wasm", name, (existing) => {
      if (!existing) throw new Error(`Cannot wrap wasm kernel ${name}: it is not registered`);
      return wrap(existing);
    });
  }
}

/**
 * Replaces tfjs's `ResizeBilinearGrad` on an engine other than wasm (`cpu`,
 * `webgpu`) with ours. tfjs's own ignores `halfPixelCenters` on every
 * engine, and on `cpu` returns a transposed shape for non-square images.
 * On `webgpu` it also splits `AddN` so that no shader binds more storage
 * buffers than the device allows (tfjs's own then writes nothing and
 * returns stale data). {@linkcode initBackend} calls it for the engine it
 * starts.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { loadCpuBackend, tf } from "../deps.ts";
 * import { registerKernelFixes } from "./wasm_kernels.ts";
 * await loadCpuBackend();
 * registerKernelFixes("cpu");
 * await tf.setBackend("cpu");
 * // The gradient of a half-pixel resize of a non-square image keeps its shape.
 * const x = tf.ones([1, 2, 3, 1]) as tf.Tensor4D;
 * const resize = (v: tf.Tensor) => tf.image.resizeBilinear(v as tf.Tensor4D, [4, 6], false, true);
 * const g = tf.grad((v: tf.Tensor) => resize(v).sum())(x);
 * assert.deepStrictEqual(g.shape, [1, 2, 3, 1]);
 * assert.ok(Math.abs(g.sum().dataSync()[0] - 24) < 1e-4); // each of 24 outputs spreads weight 1
 * ```
 */
export function registerKernelFixes(backendName: string): void {
  if (backendName === "wasm") {
    registerWasmTrainingKernels();
    return;
  }
  install(backendName, "ResizeBilinearGrad", () => resizeGradKernel(backendName));
  if (backendName === "webgpu") {
    install(backendName, "AddN", (existing) => {
      if (!existing) throw new Error("Cannot wrap webgpu kernel AddN: it is not registered");
      return chunkedAddN(existing);
    });
  }
}

function install(
  backendName: string,
  kernelName: string,
  make: (existing: tf.KernelConfig | undefined) => tf.KernelConfig,
): void {
  const existing = tf.getKernel(kernelName, backendName);
  if (existing && ours.has(existing.kernelFunc)) return;
  // Keep the engine's setup function, which the wrapped kernels need.
  const config = { ...make(existing), setupFunc: existing?.setupFunc };
  if (existing) tf.unregisterKernel(kernelName, backendName);
  ours.add(config.kernelFunc);
  tf.registerKernel(config);
}
