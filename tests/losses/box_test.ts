import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { boxSaliencyLoss } from "../../lib/losses/box.ts";
import { bceSaliencyLoss } from "../../lib/losses/mask.ts";
import { assertClose, useEngines } from "../_helpers.ts";
import { checkInputGradient } from "./_finite_diff.ts";

await useEngines();

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

function value(t: tf.Scalar): number {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
}

/** A 6×6 box mask with 1 inside the given [top, left, bottom, right) rectangles. */
function boxes(...rects: [number, number, number, number][]): number[] {
  const out = new Array(36).fill(0);
  for (const [t, l, b, r] of rects) {
    for (let y = t; y < b; y++) for (let x = l; x < r; x++) out[6 * y + x] = 1;
  }
  return out;
}

/** Logits of +30 on the given pixels and −30 elsewhere (σ = 1 and ~1e-13). */
function hotPixels(...pixels: number[]): number[] {
  const out = new Array(36).fill(-30);
  for (const p of pixels) out[p] = 30;
  return out;
}

Deno.test("boxSaliencyLoss() is 0 when all energy lies inside the boxes, however little of them it fills", () => {
  tf.tidy(() => {
    const box = boxes([1, 1, 5, 4], [0, 5, 2, 6]); // two boxes, 14 pixels
    const cases = {
      "one pixel of the first box": hotPixels(6 * 2 + 2),
      "one pixel in each box": hotPixels(6 * 3 + 1, 5),
      "the whole of both boxes": box.map((b) => (b ? 30 : -30)),
    };
    for (const [name, z] of Object.entries(cases)) {
      const loss = boxSaliencyLoss(tf.tensor3d(z, [1, 6, 6]), tf.tensor3d(box, [1, 6, 6]));
      assertClose([value(loss)], [0], { atol: 1e-6, label: name });
    }
    // A mask loss against the box would punish the partly filled map heavily.
    const bce = bceSaliencyLoss(
      tf.tensor3d(hotPixels(6 * 2 + 2), [1, 6, 6]),
      tf.tensor3d(box, [1, 6, 6]),
    );
    assert.ok(value(bce) > 5, "BCE against the box demands every pixel of it");
  });
});

Deno.test("boxSaliencyLoss() is the share of energy outside the boxes, worked by hand", () => {
  tf.tidy(() => {
    // One hot pixel inside, one outside: half the energy is outside.
    const box = boxes([0, 0, 2, 2]);
    const half = boxSaliencyLoss(
      tf.tensor3d(hotPixels(0, 35), [1, 6, 6]),
      tf.tensor3d(box, [1, 6, 6]),
    );
    assertClose([value(half)], [0.5], { rtol: 1e-6, label: "half outside" });
    // A soft map: Σσ(z)(1 − b) / Σσ(z), in float64.
    const z = Array.from({ length: 36 }, (_, i) => Math.sin(i) * 2);
    const b = boxes([1, 2, 4, 5]);
    let out = 0, all = 0, inside = 0;
    z.forEach((v, i) => {
      all += sigmoid(v);
      out += sigmoid(v) * (1 - b[i]);
      inside += sigmoid(v) * b[i];
    });
    const soft = boxSaliencyLoss(tf.tensor3d(z, [1, 6, 6]), tf.tensor3d(b, [1, 6, 6]));
    assertClose([value(soft)], [out / all], { rtol: 1e-5, label: "soft map" });
    // The floor on the mean inside the box adds max(0, minFill − mean).
    const mean = inside / 9;
    const floored = boxSaliencyLoss(tf.tensor3d(z, [1, 6, 6]), tf.tensor3d(b, [1, 6, 6]), {
      minFill: 0.9,
    });
    assert.ok(mean < 0.9);
    assertClose([value(floored)], [out / all + 0.9 - mean], { rtol: 1e-5, label: "minFill" });
    const met = boxSaliencyLoss(tf.tensor3d(z, [1, 6, 6]), tf.tensor3d(b, [1, 6, 6]), {
      minFill: mean / 2,
    });
    assertClose([value(met)], [out / all], { rtol: 1e-5, label: "minFill already met" });
  });
});

Deno.test("boxSaliencyLoss() averages over boxed samples and its gradient pushes energy into the box", () => {
  tf.tidy(() => {
    const box = boxes([1, 1, 4, 4]);
    const z = Array.from({ length: 72 }, (_, i) => Math.cos(i));
    const two = boxSaliencyLoss(
      tf.tensor3d(z, [2, 6, 6]),
      tf.tensor3d([...box, ...boxes([0, 0, 6, 3])], [2, 6, 6]),
    );
    const a = boxSaliencyLoss(tf.tensor3d(z.slice(0, 36), [1, 6, 6]), tf.tensor3d(box, [1, 6, 6]));
    const b = boxSaliencyLoss(
      tf.tensor3d(z.slice(36), [1, 6, 6]),
      tf.tensor3d(boxes([0, 0, 6, 3]), [1, 6, 6]),
    );
    assertClose([value(two)], [(value(a) + value(b)) / 2], { rtol: 1e-6, label: "mean" });
    const g = tf.grad((v: tf.Tensor) =>
      boxSaliencyLoss(v as tf.Tensor3D, tf.tensor3d(box, [1, 6, 6]))
    )(tf.tensor3d(z.slice(0, 36), [1, 6, 6])).dataSync();
    box.forEach((inBox, i) => {
      assert.ok(
        inBox ? g[i] < 0 : g[i] > 0,
        `pixel ${i} (${inBox ? "inside" : "outside"}): ${g[i]}`,
      );
    });
    checkInputGradient(
      "boxSaliencyLoss 6×6",
      (v) => boxSaliencyLoss(v as tf.Tensor3D, tf.tensor3d(box, [1, 6, 6]), { minFill: 0.8 }),
      z.slice(0, 36),
      [1, 6, 6],
    );
  });
});
