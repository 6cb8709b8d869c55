import assert from "node:assert/strict";
import { loadCpuBackend, tf } from "../../mod.ts";
import { assertClose, assertReductionsMatchCpu, randn, runOn, useEngines } from "../_helpers.ts";

// tfjs's own cpu ResizeBilinearGrad, saved before useEngines() replaces it.
await loadCpuBackend();
const tfjsCpuResizeGrad = tf.getKernel("ResizeBilinearGrad", "cpu")!;
await useEngines();

function t4(values: Float32Array, shape: number[]): tf.Tensor4D {
  const t: tf.Tensor = tf.tensor(values, shape);
  return t as tf.Tensor4D;
}

type Pad = "same" | "valid";

/** Gradients of sum(op(x, w) · r) with respect to x and w, compared across engines. */
async function compareGrads(
  label: string,
  op: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D,
  xShape: number[],
  wShape: number[],
  seed: number,
  { rtol = 1e-4, withForward = true } = {},
): Promise<void> {
  const xv = randn(xShape, seed), wv = randn(wShape, seed + 1);
  const outShape = tf.tidy(() => op(t4(xv, xShape), t4(wv, wShape)).shape);
  const rv = randn(outShape, seed + 2);
  const run = () => {
    const x = t4(xv, xShape);
    const w = t4(wv, wShape);
    const r = tf.tensor(rv, outShape);
    const f = (a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(op(a as tf.Tensor4D, b as tf.Tensor4D), r));
    const [dx, dw] = tf.grads(f)([x, w]);
    return withForward ? [op(x, w), dx, dw] : [dx, dw];
  };
  const want = await runOn("cpu", run);
  const got = await runOn("wasm", run);
  const names = withForward ? ["forward", "dx", "dw"] : ["dx", "dw"];
  names.forEach((name, i) => assertClose(got[i], want[i], { rtol, label: `${label} ${name}` }));
}

Deno.test("conv2d gradients on wasm match cpu for strides 1 and 2, same and valid, odd sizes", async () => {
  let seed = 100;
  for (const [h, w] of [[7, 9], [8, 8], [5, 6]]) {
    for (const k of [1, 2, 3, 5]) {
      for (const stride of [1, 2]) {
        for (const pad of ["same", "valid"] as Pad[]) {
          if (pad === "valid" && (k > h || k > w)) continue;
          await compareGrads(
            `conv2d ${h}x${w} k${k} s${stride} ${pad}`,
            (x, f) => tf.conv2d(x, f, stride, pad),
            [2, h, w, 3],
            [k, k, 3, 4],
            seed++,
          );
        }
      }
    }
  }
});

Deno.test("conv2d gradients on wasm match cpu for explicit padding and non-square strides", async () => {
  await compareGrads(
    "conv2d explicit",
    (x, f) => tf.conv2d(x, f, [2, 1], [[0, 0], [2, 1], [0, 2], [0, 0]]),
    [2, 9, 7, 2],
    [3, 3, 2, 3],
    7,
  );
});

Deno.test("depthwise conv2d gradients on wasm match cpu, with channel multipliers 1 and 2", async () => {
  let seed = 300;
  for (const [h, w] of [[7, 9], [8, 8]]) {
    for (const k of [1, 3]) {
      for (const stride of [1, 2]) {
        for (const pad of ["same", "valid"] as Pad[]) {
          for (const mult of [1, 2]) {
            await compareGrads(
              `depthwise ${h}x${w} k${k} s${stride} ${pad} m${mult}`,
              (x, f) => tf.depthwiseConv2d(x, f, stride, pad),
              [2, h, w, 3],
              [k, k, 3, mult],
              seed++,
            );
          }
        }
      }
    }
  }
});

Deno.test("transposed conv2d forward and gradients on wasm match cpu", async () => {
  let seed = 500;
  for (const [h, w] of [[4, 5], [8, 8]]) {
    for (const k of [2, 3]) {
      for (const stride of [1, 2]) {
        for (const pad of ["same", "valid"] as Pad[]) {
          const oh = pad === "same" ? h * stride : (h - 1) * stride + k;
          const ow = pad === "same" ? w * stride : (w - 1) * stride + k;
          await compareGrads(
            `conv2dTranspose ${h}x${w} k${k} s${stride} ${pad}`,
            (x, f) => tf.conv2dTranspose(x, f, [x.shape[0], oh, ow, 2], stride, pad),
            [2, h, w, 4],
            [k, k, 2, 4],
            seed++,
          );
        }
      }
    }
  }
});

/** Gradient of sum(op(x) · r) with respect to x, compared across engines. */
async function compareUnaryGrad(
  label: string,
  op: (x: tf.Tensor4D) => tf.Tensor,
  xShape: number[],
  seed: number,
  { rtol = 1e-4, offset = 0 } = {},
): Promise<void> {
  const xv = randn(xShape, seed).map((v) => v + offset);
  const outShape = tf.tidy(() => op(t4(xv, xShape)).shape);
  const rv = randn(outShape, seed + 1);
  const run = () => {
    const x = t4(xv, xShape);
    const r = tf.tensor(rv, outShape);
    const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(op(a as tf.Tensor4D), r)))(x);
    return [op(x), dx];
  };
  const want = await runOn("cpu", run);
  const got = await runOn("wasm", run);
  assertClose(got[0], want[0], { rtol, label: `${label} forward` });
  assertClose(got[1], want[1], { rtol, label: `${label} dx` });
}

Deno.test("max-pool gradients on wasm match cpu, also where a whole window is negative", async () => {
  let seed = 700;
  const cases: [number, number, Pad][] = [[2, 2, "valid"], [2, 2, "same"], [3, 2, "same"], [
    3,
    1,
    "same",
  ], [3, 2, "valid"]];
  for (const [h, w] of [[8, 8], [7, 9]]) {
    for (const [k, s, pad] of cases) {
      for (const offset of [0, -5]) {
        await compareUnaryGrad(
          `maxPool ${h}x${w} k${k} s${s} ${pad} offset ${offset}`,
          (x) => tf.maxPool(x, k, s, pad),
          [2, h, w, 3],
          seed++,
          { offset },
        );
      }
    }
  }
});

Deno.test("average-pool gradients on wasm match cpu", async () => {
  let seed = 900;
  for (const [h, w] of [[8, 8], [7, 9]]) {
    for (
      const [k, s, pad] of [[2, 2, "valid"], [2, 2, "same"], [3, 2, "same"], [3, 1, "same"], [
        3,
        3,
        "valid",
      ]] as const
    ) {
      await compareUnaryGrad(
        `avgPool ${h}x${w} k${k} s${s} ${pad}`,
        (x) => tf.avgPool(x, k, s, pad),
        [2, h, w, 3],
        seed++,
      );
    }
  }
});

Deno.test("bilinear resize gradients on wasm match tfjs's own cpu kernel where that is right (square, no half-pixel centres)", async () => {
  const ours = tf.getKernel("ResizeBilinearGrad", "cpu")!;
  tf.unregisterKernel("ResizeBilinearGrad", "cpu");
  tf.registerKernel(tfjsCpuResizeGrad);
  let seed = 1100;
  for (const [h, w, oh, ow] of [[4, 4, 8, 8], [8, 8, 5, 5]]) {
    for (const [alignCorners, halfPixel] of [[false, false], [true, false]]) {
      await compareUnaryGrad(
        `resizeBilinear ${h}x${w}->${oh}x${ow} align ${alignCorners} halfPixel ${halfPixel}`,
        (x) => tf.image.resizeBilinear(x, [oh, ow], alignCorners, halfPixel),
        [2, h, w, 3],
        seed++,
      );
    }
  }
  tf.unregisterKernel("ResizeBilinearGrad", "cpu");
  tf.registerKernel(ours);
});

Deno.test("bilinear resize gradients on wasm and cpu are exact directional derivatives, also non-square", async () => {
  // tfjs's cpu ResizeBilinearGrad returns a transposed shape for non-square
  // inputs and ignores halfPixelCenters, so here the reference is the operator itself: resizing is linear,
  // so L(x) = Σ resize(x)·r changes by exactly <∇L, v> along any direction v.
  for (const backend of ["wasm", "cpu"]) {
    await tf.setBackend(backend);
    let seed = 1200;
    for (const [h, w, oh, ow] of [[5, 7, 16, 9], [8, 6, 5, 3], [4, 4, 8, 8]]) {
      for (const [alignCorners, halfPixel] of [[false, false], [true, false], [false, true]]) {
        tf.tidy(() => {
          const shape = [2, h, w, 3];
          const x = t4(randn(shape, seed++), shape);
          const r = tf.tensor(randn([2, oh, ow, 3], seed++), [2, oh, ow, 3]);
          const loss = (a: tf.Tensor) =>
            tf.sum(
              tf.mul(
                tf.image.resizeBilinear(a as tf.Tensor4D, [oh, ow], alignCorners, halfPixel),
                r,
              ),
            );
          const g = tf.grad(loss)(x);
          for (let k = 0; k < 3; k++) {
            const v = t4(randn(shape, seed++), shape);
            const exact = tf.sub(loss(tf.add(x, v)), loss(x)).dataSync()[0];
            const viaGrad = tf.sum(tf.mul(g, v)).dataSync()[0];
            assertClose([viaGrad], [exact], {
              rtol: 1e-3,
              atol: 1e-3,
              label:
                `${backend} resizeBilinear ${h}x${w}->${oh}x${ow} align ${alignCorners} halfPixel ${halfPixel}`,
            });
          }
        });
      }
    }
  }
  await tf.setBackend("wasm");
});

Deno.test("oneHot on wasm honours float32 dtype", async () => {
  const run = () => tf.oneHot(tf.tensor1d([2, 0, -1, 1], "int32"), 3, 5, -1, "float32");
  const want = await runOn("cpu", run);
  const got = await runOn("wasm", run);
  assertClose(got[0], want[0], { label: "oneHot" });
  assertClose(got[0], [-1, -1, 5, 5, -1, -1, -1, -1, -1, -1, 5, -1], { label: "oneHot by hand" });
});

Deno.test("batch-norm gradients on wasm match cpu", async () => {
  const shape = [4, 5, 6, 3];
  const xv = randn(shape, 1300, 2), rv = randn(shape, 1301);
  const gv = randn([3], 1302), bv = randn([3], 1303);
  const run = () => {
    const x = tf.tensor(xv, shape), r = tf.tensor(rv, shape);
    const gamma = tf.tensor(gv), beta = tf.tensor(bv);
    const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(a, [0, 1, 2]);
      return tf.sum(tf.mul(tf.batchNorm(a, mean, variance, b, g, 1e-3), r));
    };
    return tf.grads(f)([x, gamma, beta]);
  };
  const want = await runOn("cpu", run);
  const got = await runOn("wasm", run);
  ["dx", "dgamma", "dbeta"].forEach((n, i) =>
    assertClose(got[i], want[i], { rtol: 1e-4, label: `batchNorm ${n}` })
  );
});

Deno.test("gather gradients (UnsortedSegmentSum) on wasm match cpu", async () => {
  const xv = randn([5, 4], 1400);
  const run = () => {
    const x = tf.tensor2d(xv, [5, 4]);
    const idx = tf.tensor1d([4, 0, 4, 2, 1, 4], "int32");
    const r = tf.tensor(randn([6, 4], 1401), [6, 4]);
    return tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.gather(a, idx), r)))(x);
  };
  const want = await runOn("cpu", run);
  const got = await runOn("wasm", run);
  assertClose(got[0], want[0], { label: "gather dx" });
});

Deno.test("replacement kernels leave no tensors behind", () => {
  const x = t4(randn([2, 8, 8, 3], 1500), [2, 8, 8, 3]);
  const w = t4(randn([3, 3, 3, 4], 1501), [3, 3, 3, 4]);
  const dw = t4(randn([3, 3, 3, 1], 1502), [3, 3, 3, 1]);
  const step = () =>
    tf.tidy(() => {
      const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
        const y = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, "same");
        const z = tf.depthwiseConv2d(a as tf.Tensor4D, c as tf.Tensor4D, 1, "same");
        return tf.add(tf.sum(tf.maxPool(y, 2, 2, "valid")), tf.sum(tf.maxPool(z, 3, 2, "same")));
      };
      tf.grads(f)([x, w, dw]).forEach((g) => g.dataSync());
    });
  step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) step();
  if (tf.memory().numTensors !== before) {
    throw new Error(`tensor count grew from ${before} to ${tf.memory().numTensors}`);
  }
  tf.dispose([x, w, dw]);
});

Deno.test("sum and mean on wasm match cpu over leading, middle, trailing and split axes", async () => {
  const shape = [3, 4, 5, 6];
  const xv = randn(shape, 1600);
  const cases: [number | number[], boolean][] = [
    [0, false],
    [[0, 1, 2], false],
    [[0, 1, 2], true],
    [[1, 2], false],
    [[1, 2], true],
    [1, false],
    [3, false],
    [[2, 3], true],
    [[0, 2], false],
    [-4, false],
  ];
  await assertReductionsMatchCpu(xv, shape, cases, { checkShapes: true });
  // Integer sums keep their dtype and go to the engine's own kernel.
  const ints = tf.tensor2d([[1, 2], [3, 4]], [2, 2], "int32");
  const s = tf.sum(ints, 0);
  assert.equal(s.dtype, "int32");
  assert.deepEqual(Array.from(s.dataSync()), [4, 6]);
  tf.dispose([ints, s]);
});
