// The data-movement and comparison kernels we put in front of the wasm
// engine's own (Transpose, Identity, Cast, Slice, StridedSlice, Reverse,
// Concat, Pack, the comparisons, Sum/Mean by pooling), checked against the
// cpu engine on every path they take.
import assert from "node:assert/strict";
import { tf } from "../../mod.ts";
import { antiAliasPadding } from "../../lib/backend/_conv2d_grads.ts";
import { MAX_POOLED_CHANNELS, POOLED_REDUCTION_SIZE, poolGrid } from "../../lib/backend/_reduce.ts";
import { simplifyPermutation } from "../../lib/backend/_transpose.ts";
import { assertClose, assertReductionsMatchCpu, randn, runOn, useEngines } from "../_helpers.ts";

await useEngines();

/** Runs `fn` on cpu and wasm and asserts the outputs are identical, dtype and shape included. */
async function sameOnBoth(label: string, fn: () => tf.Tensor | tf.Tensor[]): Promise<void> {
  const describe = async (backend: "cpu" | "wasm") => {
    await tf.setBackend(backend);
    const out = tf.tidy(() => {
      const r = fn();
      return Array.isArray(r) ? r : [r];
    });
    const d = out.map((t) => ({
      shape: t.shape,
      dtype: t.dtype,
      values: Array.from(t.dataSync()),
    }));
    tf.dispose(out);
    await tf.setBackend("wasm");
    return d;
  };
  const want = await describe("cpu");
  const got = await describe("wasm");
  assert.deepEqual(got, want, label);
}

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) =>
    Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)])
  );
}

Deno.test("simplifyPermutation() drops unit axes and merges axes that move together", () => {
  assert.deepEqual(simplifyPermutation([2, 3, 4, 5], [1, 2, 0, 3]), {
    shape: [2, 12, 5],
    perm: [1, 0, 2],
  });
  assert.deepEqual(simplifyPermutation([2, 1, 4, 5], [3, 1, 2, 0]), {
    shape: [2, 4, 5],
    perm: [2, 1, 0],
  });
  // Axes 0 and 2 become adjacent once the unit axis 1 is gone.
  assert.deepEqual(simplifyPermutation([2, 1, 4, 5], [3, 0, 1, 2]), {
    shape: [8, 5],
    perm: [1, 0],
  });
  assert.deepEqual(simplifyPermutation([1, 1], [1, 0]), { shape: [], perm: [] });
});

Deno.test("transpose on wasm equals cpu for every permutation of rank 1–4, float32, int32 and bool", async () => {
  let seed = 2000;
  for (const shape of [[7], [3, 5], [2, 3, 4], [3, 1, 4, 2], [2, 3, 4, 5]]) {
    for (const perm of permutations(shape.length)) {
      const values = randn(shape, seed++);
      await sameOnBoth(`transpose ${JSON.stringify(shape)} ${JSON.stringify(perm)}`, () => {
        const x = tf.tensor(values, shape);
        return [
          tf.transpose(x, perm),
          tf.transpose(tf.cast(tf.mul(x, 10), "int32"), perm),
          tf.transpose(tf.greater(x, 0), perm),
        ];
      });
    }
  }
});

Deno.test("transpose on wasm equals cpu for large power-of-two shapes, which take the tiled copy", async () => {
  let seed = 2100;
  const cases: [number[], number[]][] = [
    [[512, 96], [1, 0]], // 2-D, rows a multiple of 256: tiled
    [[96, 512], [1, 0]], // 2-D, engine
    [[8, 33, 35, 16], [3, 1, 2, 0]], // channels and batch swapped: tiled
    [[8, 33, 35, 16], [1, 2, 0, 3]], // last axis stays: engine, merged to rank 3
    [[4, 1, 64, 32], [2, 1, 3, 0]],
  ];
  for (const [shape, perm] of cases) {
    const values = randn(shape, seed++);
    await sameOnBoth(
      `transpose ${JSON.stringify(shape)} ${JSON.stringify(perm)}`,
      () => tf.transpose(tf.tensor(values, shape), perm),
    );
  }
});

Deno.test("identity and a cast to the same dtype on wasm share data that outlives the original", () => {
  const before = tf.memory().numTensors;
  const x = tf.tensor2d([[1, 2], [3, 4]]);
  const copy = tf.clone(x);
  const same = tf.cast(x, "float32");
  const other = tf.cast(x, "int32");
  x.dispose();
  assert.deepEqual(Array.from(copy.dataSync()), [1, 2, 3, 4]);
  assert.deepEqual(Array.from(same.dataSync()), [1, 2, 3, 4]);
  assert.equal(other.dtype, "int32");
  assert.deepEqual(Array.from(other.dataSync()), [1, 2, 3, 4]);
  tf.dispose([copy, same, other]);
  assert.equal(tf.memory().numTensors, before);
  // A variable saved by the gradient tape keeps its old value after assign.
  const v = tf.variable(tf.tensor1d([1, 2, 3]));
  const g = tf.grad((a: tf.Tensor) => {
    const y = tf.sum(tf.mul(a, v));
    v.assign(tf.tensor1d([10, 20, 30]));
    return y;
  })(tf.ones([3]));
  assert.deepEqual(Array.from(g.dataSync()), [1, 2, 3]);
  tf.dispose([g, v]);
});

Deno.test("slice, stridedSlice and reverse on wasm equal cpu, also for strides above 1 and every axis", async () => {
  const shape = [4, 5, 6, 7];
  const values = randn(shape, 2200);
  await sameOnBoth("slices", () => {
    const x = tf.tensor(values, shape);
    const xi = tf.cast(tf.mul(x, 10), "int32");
    return [
      tf.slice(x, [1, 0, 0, 0], [2, 5, 6, 7]), // one contiguous block
      tf.slice(x, [0, 1, 2, 0], [4, 3, 4, 7]), // runs of 4 rows × 7
      tf.slice(x, [1, 2, 3, 4], [2, 2, 2, 3]), // short runs
      tf.slice(xi, [0, 0, 0, 1], [4, 5, 6, 5]),
      tf.slice(x, [0, 0, 0, 0], [4, 0, 6, 7]), // empty
      tf.stridedSlice(x, [0, 1, 0, 0], [4, 5, 6, 7], [2, 2, 1, 1]),
      tf.stridedSlice(x, [1, 0, 1, 2], [4, 5, 6, 7], [1, 3, 2, 2]),
      tf.stridedSlice(x, [3, 4, 5, 6], [0, 0, 0, 0], [-1, -2, -1, -3]), // engine's own
      tf.stridedSlice(x, [1], [3], [1], 0, 0, 0, 0, 1), // shrink axis 0
      tf.reverse(x, [0, 1]),
      tf.reverse(x, [3]),
      tf.reverse(x, [1, 3]),
      tf.reverse(xi, [0, 1, 2, 3]),
      tf.reverse(tf.greater(x, 0), 2),
    ];
  });
});

Deno.test("concat and stack on wasm equal cpu along every axis, with short rows, int32 and bool", async () => {
  const a = randn([2, 3, 4], 2300), b = randn([2, 3, 4], 2301), c = randn([2, 3, 1], 2302);
  await sameOnBoth("concat and stack", () => {
    const [x, y] = [tf.tensor(a, [2, 3, 4]), tf.tensor(b, [2, 3, 4])];
    const z = tf.tensor(c, [2, 3, 1]);
    const out: tf.Tensor[] = [];
    for (const axis of [0, 1, 2, -1]) {
      out.push(tf.concat([x, y, x], axis), tf.stack([x, y], axis), tf.stack([x, y, x], 3));
    }
    out.push(tf.concat([x, z, y], 2)); // rows of 4, 1, 4
    out.push(tf.concat([x, tf.zeros([2, 3, 0])], 2)); // one empty input
    out.push(tf.stack([tf.cast(tf.mul(x, 10), "int32"), tf.cast(tf.mul(y, 10), "int32")], 1));
    out.push(tf.concat([tf.greater(x, 0), tf.greater(y, 0)], 1));
    return out;
  });
});

Deno.test("comparisons on wasm equal cpu with broadcasting along leading, middle and trailing axes, NaN included", async () => {
  const a = randn([3, 4, 5], 2400).map((v, i) => (i % 7 === 0 ? 0 : i % 11 === 0 ? NaN : v));
  const b = randn([3, 4, 5], 2401).map((v, i) => (i % 4 === 0 ? 0 : v));
  await sameOnBoth("comparisons", () => {
    const x = tf.tensor(a, [3, 4, 5]);
    const shapes: number[][] = [[3, 4, 5], [3, 1, 5], [1, 4, 1], [5], [], [3, 1, 1]];
    const out: tf.Tensor[] = [];
    for (const shape of shapes) {
      const size = shape.reduce((p, d) => p * d, 1);
      const y = tf.tensor(b.slice(0, size), shape);
      out.push(
        tf.equal(x, y),
        tf.notEqual(x, y),
        tf.less(y, x),
        tf.lessEqual(x, y),
        tf.greater(x, y),
        tf.greaterEqual(y, x),
      );
    }
    const xi = tf.cast(tf.mul(tf.tensor(b.slice(0, 15), [3, 1, 5]), 3), "int32");
    out.push(tf.equal(xi, tf.tensor1d([0, 1, -1, 2, 0], "int32")));
    return out;
  });
});

Deno.test("sum and mean over leading and middle axes of tensors large enough to be pooled on wasm match cpu", async () => {
  const shape = [4, 16400, 4, 4];
  assert.ok(shape.reduce((a, b) => a * b) >= POOLED_REDUCTION_SIZE);
  const values = randn(shape, 2500);
  const cases: [number | number[], boolean][] = [
    [0, false],
    [[0, 1], false],
    [[1, 2], true],
    [1, false],
    [[0, 1, 2], false],
  ];
  await assertReductionsMatchCpu(values, shape, cases);
});

Deno.test("a pooled sum over rows wider than one average pool takes (a ViT's [16, 197·384]) matches cpu", async () => {
  const [w, c] = poolGrid(197 * 384);
  assert.ok(w * c === 197 * 384 && c <= MAX_POOLED_CHANNELS && c >= 64, `grid ${w}×${c}`);
  assert.deepEqual(poolGrid(1000), [1, 1000]);
  assert.deepEqual(poolGrid(2 * 65537), [65537, 2]); // no grid: the matrix-product route
  // [16, 75264] over axis 0: one pool of 75264 channels overran XNNPACK's stack.
  const shape = [16, 197 * 384];
  assert.ok(shape[0] * shape[1] >= POOLED_REDUCTION_SIZE);
  await assertReductionsMatchCpu(randn(shape, 2550), shape, [[0, false], [0, true]]);
});

Deno.test("antiAliasPadding() pads the output gradient so the filter is not a multiple of 256 floats per channel", () => {
  assert.deepEqual(antiAliasPadding(3, 3, 2, 4), [0, 0]); // small: left alone
  assert.deepEqual(antiAliasPadding(15, 15, 8, 64), [0, 0]); // 1800 is not a multiple of 256
  for (
    const [oh, ow, n, co] of [[32, 32, 32, 64], [64, 64, 32, 32], [16, 16, 8, 32], [8, 8, 64, 64]]
  ) {
    const [a, b] = antiAliasPadding(oh, ow, n, co);
    assert.ok(a + b > 0, `padding for ${oh}x${ow}x${n}`);
    assert.notEqual(((oh + a) * (ow + b) * n) % 256, 0, `padded size for ${oh}x${ow}x${n}`);
  }
});

Deno.test("conv2d filter gradients on wasm match cpu where the output gradient is padded against aliasing", async () => {
  let seed = 2600;
  for (const stride of [1, 2]) {
    const xShape = [8, 16 * stride, 16 * stride, 4], wShape = [3, 3, 4, 32];
    const xv = randn(xShape, seed++), wv = randn(wShape, seed++);
    const rv = randn([8, 16, 16, 32], seed++);
    const run = () => {
      const x = tf.tensor4d(xv, xShape as [number, number, number, number]);
      const w = tf.tensor4d(wv, wShape as [number, number, number, number]);
      const r = tf.tensor(rv, [8, 16, 16, 32]);
      return tf.grad((f: tf.Tensor) =>
        tf.sum(tf.mul(tf.conv2d(x, f as tf.Tensor4D, stride, "same"), r))
      )(w);
    };
    const want = await runOn("cpu", run);
    const got = await runOn("wasm", run);
    assertClose(got[0], want[0], { rtol: 1e-4, label: `filter gradient, stride ${stride}` });
  }
});

Deno.test("max-pool gradients on wasm send each tied window's gradient to its first maximum, as cpu does", async () => {
  // ReLU outputs: whole windows of zeros, and windows with repeated maxima.
  const shape = [2, 8, 8, 3];
  const xv = randn(shape, 2700).map((v) => Math.max(0, Math.round(v * 2) / 2));
  const rv = randn([2, 4, 4, 3], 2701);
  for (
    const [k, s, pad] of [[2, 2, "valid"], [2, 2, "same"], [4, 4, "valid"], [3, 2, "same"]] as const
  ) {
    const run = () => {
      const x = tf.tensor4d(xv, shape as [number, number, number, number]);
      const f = (a: tf.Tensor) => {
        const y = tf.maxPool(a as tf.Tensor4D, k, s, pad);
        return tf.sum(tf.mul(y, tf.tensor(rv.slice(0, y.size), y.shape)));
      };
      return tf.grad(f)(x);
    };
    const want = await runOn("cpu", run);
    const got = await runOn("wasm", run);
    // Exact up to the sign of zero (a masked negative gradient is -0 here).
    assertClose(got[0], want[0], { rtol: 1e-6, atol: 0, label: `maxPool k${k} s${s} ${pad}` });
  }
});

Deno.test("matMul on wasm equals cpu for both transposes, batches, broadcasts and small items, and frees what it makes", async () => {
  const cases: Array<{ a: number[]; b: number[]; ta: boolean; tb: boolean }> = [];
  for (const ta of [false, true]) {
    for (const tb of [false, true]) {
      const dims = (
        batch: number[],
        r: number,
        c: number,
        t: boolean,
      ) => [...batch, ...(t ? [c, r] : [r, c])];
      // [m, k]·[k, n] shapes: 2-D; one right operand under a batch (folded into rows);
      // a batch of products; a left operand broadcast over the batch; items under the work floor.
      for (
        const [batchA, batchB, m, k, n] of [
          [[], [], 37, 29, 23],
          [[3], [1], 19, 33, 17],
          [[2, 3], [2, 3], 21, 16, 25],
          [[1], [4], 20, 24, 18],
          [[5], [5], 4, 3, 5],
        ] as const
      ) {
        cases.push({ a: dims([...batchA], m, k, ta), b: dims([...batchB], k, n, tb), ta, tb });
      }
    }
  }
  for (const [i, c] of cases.entries()) {
    const av = randn(c.a, 3000 + i);
    const bv = randn(c.b, 3100 + i);
    const run = () => tf.matMul(tf.tensor(av, c.a), tf.tensor(bv, c.b), c.ta, c.tb);
    const want = await runOn("cpu", run);
    await tf.setBackend("wasm");
    const before = tf.backend().numDataIds();
    const got = await runOn("wasm", run);
    const after = tf.backend().numDataIds();
    const label = `[${c.a}]${c.ta ? "ᵀ" : ""}·[${c.b}]${c.tb ? "ᵀ" : ""}`;
    assertClose(got[0], want[0], { rtol: 1e-5, label });
    assert.equal(after, before, `${label}: data left on the engine`);
  }
  // The gradient of a dense layer (both transposed products) as on cpu.
  const xv = randn([30, 40], 3200);
  const wv = randn([40, 12], 3201);
  const grads = () => {
    const g = tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, w))));
    return g([tf.tensor2d(xv, [30, 40]), tf.tensor2d(wv, [40, 12])]);
  };
  const want = await runOn("cpu", grads);
  const got = await runOn("wasm", grads);
  assertClose(got[0], want[0], { rtol: 1e-5, label: "dX" });
  assertClose(got[1], want[1], { rtol: 1e-5, label: "dW" });
});
