// Finite-difference gradient checks shared by the loss tests.
import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import type { TwoBranchModel } from "../../lib/models/types.ts";
import { assertClose } from "../_helpers.ts";

/**
 * Checks `tf.grad(f)` at `values` against central differences with step
 * `h`, element by element. For smooth losses of O(1) inputs in float32,
 * h = 1e-2 balances truncation (h²) against rounding (1e-7 / h).
 */
export function checkInputGradient(
  label: string,
  f: (x: tf.Tensor) => tf.Scalar,
  values: Float32Array | number[],
  shape: number[],
  { h = 1e-2, rtol = 1e-2, atol = 1e-4 } = {},
): void {
  const v = Float32Array.from(values);
  const analytic = tf.tidy(() => tf.grad(f)(tf.tensor(v, shape)).dataSync());
  const at = (w: Float32Array) => tf.tidy(() => f(tf.tensor(w, shape)).dataSync()[0]);
  const fd = Float32Array.from(v, (_, i) => {
    const plus = Float32Array.from(v), minus = Float32Array.from(v);
    plus[i] += h;
    minus[i] -= h;
    return (at(plus) - at(minus)) / (2 * h);
  });
  assert.ok(fd.some((g) => Math.abs(g) > 10 * atol), `${label}: the gradient is not all ~0`);
  assertClose(analytic, fd, { rtol, atol, label });
}

/** What {@linkcode checkWeightGradients} checked, for assertions on coverage. */
export interface WeightCheckReport {
  /** Elements compared, per variable. */
  checked: Record<string, number>;
  /** Elements skipped because a ReLU or max-pool switch lay within ±h. */
  kinks: Record<string, number>;
  /** Elements compared whose gradient stood well above the noise. */
  significant: Record<string, number>;
}

/**
 * Checks the gradient of `loss` with respect to some elements of the
 * model's variables `names` against central differences, perturbing each
 * variable in place and restoring it.
 *
 * Losses built on input gradients (RRR, GAIN) are only piecewise smooth in
 * the weights: their value jumps where a ReLU or a max-pool routing
 * switches. An element whose one-sided differences disagree (a switch lies
 * within ±h) is skipped as a kink; every variable must still have at least
 * `minChecked` elements compared whose gradient is five times the
 * tolerance floor, so the check cannot pass vacuously.
 * The elements compared are the `candidates` with the largest analytic
 * gradients, which stand furthest above the rounding noise.
 */
export function checkWeightGradients(
  label: string,
  model: TwoBranchModel,
  loss: () => tf.Scalar,
  names: string[],
  { h = 1e-3, candidates = 12, minChecked = 2, rtol = 1e-2, atol = 0 } = {},
): WeightCheckReport {
  const vars = model.variables();
  const chosen = names.map((name) => {
    const v = vars.get(name);
    assert.ok(v, `${label}: the model has no variable ${name}`);
    return v;
  });
  const { value, grads } = tf.variableGrads(loss, chosen);
  const f0 = value.dataSync()[0];
  const analytic = new Map(chosen.map((v) => [v.name, grads[v.name].dataSync()]));
  tf.dispose([value, ...Object.values(grads)]);
  // Rounding noise of a float32 loss made of many terms, and of its differences.
  const noise = 3e-7 * Math.max(Math.abs(f0), 1e-3);
  const report: WeightCheckReport = { checked: {}, kinks: {}, significant: {} };
  names.forEach((name, k) => {
    const v = chosen[k];
    const original = v.dataSync().slice();
    const ad = analytic.get(v.name)!;
    let checked = 0, kinks = 0, significant = 0;
    const setTo = (w: Float32Array | Int32Array | Uint8Array) =>
      tf.tidy(() => v.assign(tf.tensor(w, v.shape)));
    const at = (i: number, delta: number) => {
      const w = original.slice();
      w[i] += delta;
      setTo(w);
      return tf.tidy(() => loss().dataSync()[0]);
    };
    try {
      // The elements with the largest gradients: the most signal over the noise.
      const order = Array.from(ad.keys()).sort((a, b) => Math.abs(ad[b]) - Math.abs(ad[a]));
      for (const i of order.slice(0, candidates)) {
        if (ad[i] === 0) continue;
        const plus = at(i, h), minus = at(i, -h);
        const forward = (plus - f0) / h, backward = (f0 - minus) / h;
        const spread = Math.abs(forward - backward);
        if (spread > 0.05 * Math.max(Math.abs(forward), Math.abs(backward)) + 4 * noise / h) {
          kinks++;
          continue;
        }
        const central = (plus - minus) / (2 * h);
        const floor = atol + 4 * noise / h;
        assertClose([ad[i]], [central], {
          rtol,
          atol: floor,
          label: `${label}: d/d ${name}[${i}] (one-sided ${forward}, ${backward})`,
        });
        checked++;
        if (Math.abs(ad[i]) > 5 * floor) significant++;
      }
    } finally {
      setTo(original);
    }
    report.checked[name] = checked;
    report.kinks[name] = kinks;
    report.significant[name] = significant;
    assert.ok(
      significant >= minChecked,
      `${label}: only ${significant} element(s) of ${name} with a gradient well above the ` +
        `noise could be compared (${checked} compared, ${kinks} at kinks)`,
    );
  });
  return report;
}

/**
 * Takes the gradient of `loss` with respect to `model`'s trainable variables
 * four times and asserts that the last three leave `tf.memory().numTensors`
 * where the first left it.
 */
export function assertGradientStepsLeakNothing(model: TwoBranchModel, loss: () => tf.Scalar): void {
  const vars = model.trainableVariables();
  const step = () => {
    const { value, grads } = tf.variableGrads(loss, vars);
    tf.dispose([value, ...Object.values(grads)]);
  };
  step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) step();
  assert.equal(tf.memory().numTensors, before);
}
