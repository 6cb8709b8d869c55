import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { Conv2d, DepthwiseConv2d, tfjsPad } from "../../lib/layers/convolutional.ts";
import { assertClose, randn, runOn, useEngines } from "../_helpers.ts";

await useEngines();

Deno.test("symmetric padding is PyTorch's: (k − 1) / 2 zeros on every side, on wasm and cpu", async () => {
  for (const [k, strides, size] of [[3, 2, 8], [7, 2, 8], [3, 2, 7], [3, 1, 6], [1, 2, 8]]) {
    const conv = new Conv2d("c", { inChannels: 2, filters: 3, kernelSize: k, strides, seed: k });
    const sym = new Conv2d("c", {
      inChannels: 2,
      filters: 3,
      kernelSize: k,
      strides,
      padding: "symmetric",
      seed: k,
    });
    const dw = new DepthwiseConv2d("d", { channels: 2, kernelSize: k, strides, seed: k });
    const dwSym = new DepthwiseConv2d("d", {
      channels: 2,
      kernelSize: k,
      strides,
      padding: "symmetric",
      seed: k,
    });
    const xv = randn([1, size, size, 2], size);
    const p = (k - 1) / 2;
    for (const backend of ["wasm", "cpu"] as const) {
      const [got, want, gotDw, wantDw] = await runOn(backend, () => {
        const x = tf.tensor4d(xv, [1, size, size, 2]);
        const padded = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]);
        return [
          sym.apply(x),
          tf.conv2d(padded, conv.kernel as tf.Tensor4D, strides, "valid"),
          dwSym.apply(x),
          tf.depthwiseConv2d(padded, dw.kernel as tf.Tensor4D, strides, "valid"),
        ];
      });
      const label = `${k}×${k} stride ${strides} on ${size}×${size}, ${backend}`;
      assertClose(got, want, { rtol: 1e-5, label });
      assertClose(gotDw, wantDw, { rtol: 1e-5, label: `depthwise ${label}` });
    }
    const shapes = tf.tidy(() => {
      const x = tf.tensor4d(xv, [1, size, size, 2]);
      return [conv.apply(x).shape, sym.apply(x).shape];
    });
    assert.deepEqual(shapes[1], shapes[0], "the same output size as same padding");
    for (const m of [conv, sym, dw, dwSym]) m.dispose();
  }
});

Deno.test("symmetric and same padding differ exactly where same pads unevenly (even input, stride 2)", () => {
  const a = new Conv2d("c", { inChannels: 1, filters: 1, strides: 2, seed: 3 });
  const b = new Conv2d("c", {
    inChannels: 1,
    filters: 1,
    strides: 2,
    padding: "symmetric",
    seed: 3,
  });
  tf.tidy(() => {
    const even = tf.tensor4d(randn([1, 8, 8, 1], 1), [1, 8, 8, 1]);
    const odd = tf.tensor4d(randn([1, 9, 9, 1], 2), [1, 9, 9, 1]);
    assert.notDeepEqual(a.apply(even).dataSync(), b.apply(even).dataSync());
    assertClose(a.apply(odd).dataSync(), b.apply(odd).dataSync(), { rtol: 1e-6, label: "odd" });
  });
  a.dispose();
  b.dispose();
  assert.throws(
    () => new Conv2d("c", { inChannels: 1, filters: 1, kernelSize: 2, padding: "symmetric" }),
    /Padding "symmetric" needs an odd kernel size, got 2: use "same" or "valid"/,
  );
  assert.equal(tfjsPad("valid", 3), "valid");
});
