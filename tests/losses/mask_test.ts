import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { bceSaliencyLoss, diceLoss, klSaliencyLoss, softIouLoss } from "../../lib/losses/mask.ts";
import { boxSaliencyLoss } from "../../lib/losses/box.ts";
import { assertClose, randn, useEngines } from "../_helpers.ts";
import { checkInputGradient } from "./_finite_diff.ts";

await useEngines();

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
const logit = (p: number) => Math.log(p / (1 - p));

function value(t: tf.Scalar): number {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
}

type MapLoss = (
  z: tf.Tensor3D,
  m: tf.Tensor3D,
  options?: { weights?: tf.Tensor1D | readonly number[] },
) => tf.Scalar;

const LOSSES: [string, MapLoss][] = [
  ["bceSaliencyLoss", bceSaliencyLoss],
  ["diceLoss", diceLoss],
  ["softIouLoss", softIouLoss],
  ["klSaliencyLoss", klSaliencyLoss],
  ["boxSaliencyLoss", (z, m, o) => boxSaliencyLoss(z, m, o)],
  ["boxSaliencyLoss minFill", (z, m, o) => boxSaliencyLoss(z, m, { ...o, minFill: 0.9 })],
];

// Two 3×3 samples: logits and soft masks.
const Z = [
  0.3,
  -1.2,
  2.0,
  0.1,
  -0.4,
  1.1,
  -2.2,
  0.7,
  0.05,
  1.5,
  -0.3,
  0.2,
  -1.0,
  0.8,
  -0.6,
  0.4,
  1.9,
  -1.4,
];
const M = [1, 0.5, 0, 1, 1, 0, 0, 0.25, 0, 0, 0, 1, 0, 1, 1, 0.75, 1, 0];

Deno.test("bceSaliencyLoss() is the mean BCE of σ(z) over pixels and annotated samples, by hand", () => {
  tf.tidy(() => {
    const bce = (p: number, t: number) => -(t * Math.log(p) + (1 - t) * Math.log(1 - p));
    const per = [0, 1].map((s) => {
      let sum = 0;
      for (let i = 0; i < 9; i++) sum += bce(sigmoid(Z[9 * s + i]), M[9 * s + i]);
      return sum / 9;
    });
    const z = tf.tensor3d(Z, [2, 3, 3]), m = tf.tensor3d(M, [2, 3, 3]);
    assertClose([value(bceSaliencyLoss(z, m))], [(per[0] + per[1]) / 2], { rtol: 1e-5 });
    assertClose([value(bceSaliencyLoss(z, m, { weights: [0, 1] }))], [per[1]], { rtol: 1e-5 });
    assertClose([value(bceSaliencyLoss(z, m, { weights: tf.tensor1d([0, 1]) }))], [per[1]], {
      rtol: 1e-5,
      label: "weights as a tensor",
    });
    // Stable at large logits: σ(40) against 0 costs 40.
    assertClose([value(bceSaliencyLoss(tf.tensor3d([[[40]]]), tf.tensor3d([[[0]]])))], [40], {
      rtol: 1e-6,
    });
  });
});

/** Σ p·t, Σ p and Σ t over the 9 pixels of sample `s` of Z and M, with p = σ(z). */
function overlap(s: number): { inter: number; ss: number; sm: number } {
  let inter = 0, ss = 0, sm = 0;
  for (let i = 0; i < 9; i++) {
    const p = sigmoid(Z[9 * s + i]), t = M[9 * s + i];
    inter += p * t;
    ss += p;
    sm += t;
  }
  return { inter, ss, sm };
}

Deno.test("diceLoss() is 0 for identical binary maps and matches soft Dice by hand", () => {
  tf.tidy(() => {
    const m = tf.tensor3d([[[1, 0, 1], [1, 1, 0], [0, 0, 1]]]);
    const z = tf.sub(tf.mul(m, 60), 30) as tf.Tensor3D; // σ = 1 and ~1e-13
    assertClose([value(diceLoss(z, m))], [0], { atol: 1e-6, label: "identical" });
    assertClose([value(diceLoss(z, m, { smooth: 0 }))], [0], { atol: 1e-6, label: "no smoothing" });
    // Disjoint maps: 1 − smooth / (Σs + Σm + smooth) with smooth 1e-3, nearly 1.
    const disjoint = diceLoss(tf.neg(z) as tf.Tensor3D, m, { smooth: 1e-3 });
    assertClose([value(disjoint)], [1 - 1e-3 / (9 + 1e-3)], { rtol: 1e-4, label: "disjoint" });
    const per = [0, 1].map((s) => {
      const { inter, ss, sm } = overlap(s);
      return 1 - (2 * inter + 0.5) / (ss + sm + 0.5);
    });
    const soft = diceLoss(tf.tensor3d(Z, [2, 3, 3]), tf.tensor3d(M, [2, 3, 3]), { smooth: 0.5 });
    assertClose([value(soft)], [(per[0] + per[1]) / 2], { rtol: 1e-5, label: "soft" });
  });
});

Deno.test("softIouLoss() is 0 for identical binary maps and matches the soft Jaccard index by hand", () => {
  tf.tidy(() => {
    const m = tf.tensor3d([[[1, 0], [1, 1]]]);
    const z = tf.sub(tf.mul(m, 60), 30) as tf.Tensor3D;
    assertClose([value(softIouLoss(z, m))], [0], { atol: 1e-6, label: "identical" });
    const per = [0, 1].map((s) => {
      const { inter, ss, sm } = overlap(s);
      return 1 - (inter + 1) / (ss + sm - inter + 1);
    });
    const soft = softIouLoss(tf.tensor3d(Z, [2, 3, 3]), tf.tensor3d(M, [2, 3, 3]));
    assertClose([value(soft)], [(per[0] + per[1]) / 2], { rtol: 1e-5, label: "soft" });
  });
});

Deno.test("klSaliencyLoss() is 0 when the map is proportional to the mask, and KL(q‖p) by hand", () => {
  tf.tidy(() => {
    const mask = [0.2, 0.4, 0.6, 0.8, 0.1, 0.3];
    for (const scale of [0.9, 0.5, 0.1]) {
      const z = tf.tensor3d(mask.map((v) => logit(scale * v)), [1, 2, 3]);
      assertClose([value(klSaliencyLoss(z, tf.tensor3d(mask, [1, 2, 3])))], [0], {
        atol: 2e-6,
        label: `map = ${scale} · mask`,
      });
    }
    const per = [0, 1].map((s) => {
      let sp = 0, sm = 0;
      for (let i = 0; i < 9; i++) {
        sp += sigmoid(Z[9 * s + i]);
        sm += M[9 * s + i];
      }
      let kl = 0;
      for (let i = 0; i < 9; i++) {
        const q = M[9 * s + i] / sm, p = sigmoid(Z[9 * s + i]) / sp;
        if (q > 0) kl += q * Math.log(q / p);
      }
      return kl;
    });
    const kl = klSaliencyLoss(tf.tensor3d(Z, [2, 3, 3]), tf.tensor3d(M, [2, 3, 3]));
    assertClose([value(kl)], [(per[0] + per[1]) / 2], { rtol: 1e-5, label: "soft" });
    // Extreme logits stay finite.
    const far = klSaliencyLoss(tf.tensor3d([[[-200, 5]]]), tf.tensor3d([[[1, 0]]]));
    // q = [1, 0]: KL = −log p₀ = −logσ(−200) + log(σ(−200) + σ(5)) ≈ 200 − log(1 + e⁻⁵)
    assertClose([value(far)], [200 - Math.log1p(Math.exp(-5))], {
      rtol: 1e-6,
      label: "logits −200 and 5",
    });
  });
});

Deno.test("klSaliencyLoss() and boxSaliencyLoss() leave out samples with an empty mask", () => {
  tf.tidy(() => {
    const z = tf.tensor3d(Z, [2, 3, 3]);
    const m = tf.concat([
      tf.tensor3d(M.slice(0, 9), [1, 3, 3]),
      tf.zeros([1, 3, 3]),
    ]) as tf.Tensor3D;
    const first = tf.tensor3d(Z.slice(0, 9), [1, 3, 3]),
      firstMask = tf.tensor3d(M.slice(0, 9), [1, 3, 3]);
    assertClose([value(klSaliencyLoss(z, m))], [value(klSaliencyLoss(first, firstMask))], {
      rtol: 1e-6,
      label: "kl",
    });
    assertClose([value(boxSaliencyLoss(z, m))], [value(boxSaliencyLoss(first, firstMask))], {
      rtol: 1e-6,
      label: "box",
    });
  });
});

Deno.test("changing an unannotated sample's map leaves every saliency loss and its gradient there unchanged", () => {
  tf.tidy(() => {
    const n = 3;
    const masks = tf.tensor3d(randn([n, 4, 4], 1).map((v) => v > 0 ? 1 : 0.25), [n, 4, 4]);
    const base = randn([n, 4, 4], 2);
    const other = Float32Array.from(base);
    for (let i = 16; i < 32; i++) other[i] = 10 * Math.sin(i); // sample 1: a very different map
    const weights = tf.tensor1d([1, 0, 1]);
    for (const [name, loss] of LOSSES) {
      const f = (v: Float32Array) => loss(tf.tensor3d(v, [n, 4, 4]), masks, { weights });
      const a = value(f(base)), b = value(f(other));
      assert.equal(a, b, `${name}: the loss moved when only an unannotated map changed`);
      // The same as a batch of the annotated samples alone.
      const pick = (t: tf.Tensor) => tf.gather(t, [0, 2]) as tf.Tensor3D;
      const alone = value(loss(pick(tf.tensor3d(base, [n, 4, 4])), pick(masks)));
      assertClose([a], [alone], { rtol: 1e-5, label: `${name}: annotated samples alone` });
      const g = tf.grad((z: tf.Tensor) => loss(z as tf.Tensor3D, masks, { weights }))(
        tf.tensor3d(other, [n, 4, 4]),
      ).dataSync();
      assert.ok(
        g.slice(16, 32).every((v) => v === 0),
        `${name}: gradient reaches the unannotated sample`,
      );
      assert.ok(g.slice(0, 16).some((v) => v !== 0), `${name}: no gradient on annotated samples`);
      // With no annotated sample at all, the loss is 0.
      assert.equal(value(loss(tf.tensor3d(base, [n, 4, 4]), masks, { weights: [0, 0, 0] })), 0);
    }
  });
});

Deno.test("every saliency loss's gradient matches finite differences", () => {
  const masks = tf.tensor3d(M, [2, 3, 3]);
  for (const [name, loss] of LOSSES) {
    checkInputGradient(name, (z) => loss(z as tf.Tensor3D, masks), Z, [2, 3, 3]);
    checkInputGradient(
      `${name} weighted`,
      (z) => loss(z as tf.Tensor3D, masks, { weights: [0.5, 1] }),
      Z,
      [
        2,
        3,
        3,
      ],
    );
  }
  masks.dispose();
});

Deno.test("saliency losses name the shapes, weights and options that are wrong", () => {
  tf.tidy(() => {
    const z = tf.zeros([2, 3, 3]) as tf.Tensor3D, m = tf.zeros([2, 3, 4]) as tf.Tensor3D;
    for (const [name, loss] of LOSSES) {
      assert.throws(
        () => loss(z, m),
        new RegExp(
          `${
            name.split(" ")[0]
          }: ".*[mM]asks" must have the shape of "saliencyLogits" \\[2, 3, 3\\], got \\[2, 3, 4\\]`,
        ),
      );
      assert.throws(
        () => loss(z, tf.zeros([2, 3, 3]) as tf.Tensor3D, { weights: [1, 0, 1] }),
        /option "weights" must have one entry per sample \(2\), got shape \[3\]/,
      );
    }
    assert.throws(
      () =>
        diceLoss(
          tf.zeros([3, 3]) as unknown as tf.Tensor3D,
          tf.zeros([3, 3]) as unknown as tf.Tensor3D,
        ),
      /diceLoss: "saliencyLogits" must have rank 3, got shape \[3, 3\]/,
    );
    assert.throws(
      () => softIouLoss(z, z, { smooth: -1 }),
      /softIouLoss: option "smooth" must be .* got -1/,
    );
    assert.throws(
      () => boxSaliencyLoss(z, z, { minFill: 2 }),
      /option "minFill" must be in \[0, 1\], got 2/,
    );
    assert.throws(() => bceSaliencyLoss(z, m), /bceSaliencyLoss/);
  });
});
