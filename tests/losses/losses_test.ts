import assert from "node:assert/strict";
import { bceSaliencyLoss, crossEntropyLoss, tf } from "../../mod.ts";
import { assertClose, useEngines } from "../_helpers.ts";

await useEngines();

Deno.test("crossEntropyLoss() equals −log softmax of the true class, worked by hand", () => {
  tf.tidy(() => {
    const logits = tf.tensor2d([[1, 2, 3], [0, 0, 0]]);
    const labels = tf.tensor1d([2, 0], "int32");
    const z = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
    const expected = ((z - 3) + Math.log(3)) / 2;
    assertClose(crossEntropyLoss(logits, labels).dataSync(), [expected], { label: "ce" });
  });
});

Deno.test("bceSaliencyLoss() equals the mean BCE of sigmoid(z) over annotated samples, worked by hand", () => {
  tf.tidy(() => {
    const z = tf.tensor3d([[[2, -1]], [[0, 30]]]);
    const y = tf.tensor3d([[[1, 0.5]], [[1, 0]]]);
    const sig = (v: number) => 1 / (1 + Math.exp(-v));
    const bce = (p: number, t: number) => -(t * Math.log(p) + (1 - t) * Math.log(1 - p));
    const s0 = (bce(sig(2), 1) + bce(sig(-1), 0.5)) / 2;
    const s1 = (bce(sig(0), 1) + 30 /* −log(1 − σ(30)) ≈ 30 */) / 2;
    assertClose(bceSaliencyLoss(z, y).dataSync(), [(s0 + s1) / 2], { rtol: 1e-5, label: "all" });
    const w = tf.tensor1d([1, 0]);
    assertClose(bceSaliencyLoss(z, y, { weights: w }).dataSync(), [s0], {
      rtol: 1e-5,
      label: "first only",
    });
    assertClose(bceSaliencyLoss(z, y, { weights: tf.tensor1d([0, 0]) }).dataSync(), [0], {
      label: "none",
    });
  });
});

Deno.test("bceSaliencyLoss() names both shapes when they differ", () => {
  const z = tf.zeros([1, 2, 2]) as tf.Tensor3D, y = tf.zeros([1, 2, 3]) as tf.Tensor3D;
  assert.throws(() => bceSaliencyLoss(z, y), /\[1, 2, 2\], got \[1, 2, 3\]/);
  tf.dispose([z, y]);
});

Deno.test("bceSaliencyLoss() gradient matches finite differences", () => {
  tf.tidy(() => {
    const zv = [0.3, -1.2, 2.0, 0.1];
    const y = tf.tensor3d([[[1, 0], [0.25, 1]]]);
    const f = (z: tf.Tensor) => bceSaliencyLoss(z as tf.Tensor3D, y);
    const g = tf.grad(f)(tf.tensor3d([[[...zv.slice(0, 2)], [...zv.slice(2)]]])).dataSync();
    const eps = 1e-2;
    const fd = zv.map((_, i) => {
      const plus = [...zv], minus = [...zv];
      plus[i] += eps;
      minus[i] -= eps;
      const at = (v: number[]) => f(tf.tensor3d([[[v[0], v[1]], [v[2], v[3]]]])).dataSync()[0];
      return (at(plus) - at(minus)) / (2 * eps);
    });
    assertClose(g, fd, { rtol: 1e-2, atol: 1e-4, label: "dBCE/dz" });
  });
});
