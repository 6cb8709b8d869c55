/**
 * The reference network's seven convolutions, each timed by itself in the
 * forward pass's shapes, for `deno task bench --convs on`: the part of the
 * forward pass that is XNNPACK's (or the GPU's) arithmetic alone.
 * `tasks/bench_torch.py --convs` times the same shapes with `F.conv2d`.
 *
 * @module
 */
import { tf } from "../mod.ts";

/** One convolution of the reference network at some batch size and input size. */
export interface ConvLayer {
  /** Its name, as the bench prints it. */
  name: string;
  /** Input `[n, h, w, c]`. */
  input: [number, number, number, number];
  /** Output channels (equal to the input's for a depthwise one). */
  filters: number;
  /** Square kernel size. */
  kernel: number;
  /** Stride. */
  stride: number;
  /** A depthwise convolution. */
  depthwise: boolean;
}

/**
 * The seven convolutions of the reference network at width 1 (32, 64 and
 * 128 channels) for a batch of `batch` images of `size` pixels, in the
 * order of the forward pass. `size` must be a multiple of 4.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { referenceConvLayers } from "./bench_convs.ts";
 * const layers = referenceConvLayers(32, 64);
 * assert.equal(layers.length, 7);
 * assert.equal(layers[2].name, "block1 conv2, 3×3, 64 → 64");
 * assert.deepStrictEqual(layers[2].input, [32, 32, 32, 64]); // after the stride-2 conv1
 * ```
 */
export function referenceConvLayers(batch: number, size: number): ConvLayer[] {
  if (!Number.isInteger(size) || size < 4 || size % 4) {
    throw new RangeError(`Expected a size that is a multiple of 4, got ${size}`);
  }
  const half = size / 2, quarter = size / 4;
  const layer = (
    name: string,
    s: number,
    c: number,
    filters: number,
    kernel: number,
    stride = 1,
    depthwise = false,
  ): ConvLayer => ({ name, input: [batch, s, s, c], filters, kernel, stride, depthwise });
  return [
    layer("stem, 3×3, 3 → 32", size, 3, 32, 3),
    layer("block1 conv1, 3×3 s2, 32 → 64", size, 32, 64, 3, 2),
    layer("block1 conv2, 3×3, 64 → 64", half, 64, 64, 3),
    layer("block1 shortcut, 1×1, 32 → 64", half, 32, 64, 1),
    layer("block2 depthwise, 3×3, 64", quarter, 64, 64, 3, 1, true),
    layer("block2 pw1, 1×1, 64 → 128", quarter, 64, 128, 1),
    layer("block2 pw2, 1×1, 128 → 128", quarter, 128, 128, 1),
  ];
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Times each layer's convolution ("same" padding, random normal input and
 * filter): `warmup` untimed runs, then the median of `repeats` runs in
 * milliseconds, by layer name. On the synchronous engines (wasm, cpu) a
 * kernel call finishes its work before it returns, so nothing is read back;
 * on the others each run ends with an asynchronous read of one value.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { benchConvs, referenceConvLayers } from "./bench_convs.ts";
 * const layers = referenceConvLayers(1, 8);
 * const times = await benchConvs(layers, { warmup: 0, repeats: 1 });
 * assert.deepStrictEqual(Object.keys(times), layers.map((l) => l.name));
 * assert.ok(Object.values(times).every((ms) => ms >= 0));
 * ```
 */
export async function benchConvs(
  layers: readonly ConvLayer[],
  { warmup = 5, repeats = 21 }: { warmup?: number; repeats?: number } = {},
): Promise<Record<string, number>> {
  const synchronous = ["wasm", "cpu"].includes(tf.getBackend());
  const out: Record<string, number> = {};
  for (const l of layers) {
    const x = tf.randomNormal(l.input, 0, 1, "float32", 1) as tf.Tensor4D;
    const c = l.input[3];
    const f = tf.randomNormal(
      l.depthwise ? [l.kernel, l.kernel, c, 1] : [l.kernel, l.kernel, c, l.filters],
      0,
      1,
      "float32",
      2,
    ) as tf.Tensor4D;
    const run = async () => {
      const y = l.depthwise
        ? tf.depthwiseConv2d(x, f, l.stride, "same")
        : tf.conv2d(x, f, l.stride, "same");
      if (!synchronous) {
        const one = tf.slice(y, [0, 0, 0, 0], [1, 1, 1, 1]);
        await one.data();
        one.dispose();
      }
      y.dispose();
    };
    try {
      for (let i = 0; i < warmup; i++) await run();
      const times: number[] = [];
      for (let i = 0; i < repeats; i++) {
        const t = performance.now();
        await run();
        times.push(performance.now() - t);
      }
      out[l.name] = median(times);
    } finally {
      tf.dispose([x, f]);
    }
  }
  return out;
}
