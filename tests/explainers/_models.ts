// Tiny TwoBranchModel-shaped models with fixed weights for the explainer
// tests, and plain-JavaScript references that compute their forward pass
// and gradients by hand (no tfjs), so that the explainers can be checked
// against the definitions.
import { tf } from "../../lib/deps.ts";
import type {
  ModelConfig,
  StageInfo,
  TwoBranchModel,
  TwoBranchOutput,
} from "../../lib/models/types.ts";

type Weight = (name: string) => tf.Tensor;

/** What a hand-written test model needs to supply. */
interface Parts {
  name: string;
  inputShape: [number, number, number];
  numClasses: number;
  featureInfo: StageInfo[];
  /** Initial weights by name; the model takes ownership. */
  weights: Record<string, tf.Tensor>;
  stage(index: number, x: tf.Tensor4D, w: Weight): tf.Tensor4D;
  head(last: tf.Tensor4D, w: Weight): tf.Tensor2D;
}

/**
 * Wraps `parts` in the TwoBranchModel contract. The saliency branch is the
 * channel mean of the last stage, upsampled.
 */
function wrap(parts: Parts): TwoBranchModel {
  const variables = new Map(
    Object.entries(parts.weights).map(([k, t]) => [k, tf.variable(t, false)]),
  );
  tf.dispose(Object.values(parts.weights));
  const w: Weight = (k) => variables.get(k)!;
  const config: ModelConfig = { architecture: parts.name };
  const model: TwoBranchModel = {
    name: parts.name,
    config,
    inputShape: parts.inputShape,
    numClasses: parts.numClasses,
    featureInfo: parts.featureInfo,
    forwardStages(x, options = {}) {
      const from = options.from ?? 0, to = options.to ?? parts.featureInfo.length - 1;
      const out: tf.Tensor4D[] = [];
      let h = x;
      for (let i = from; i <= to; i++) {
        const input = h;
        h = tf.tidy(() => parts.stage(i, input, w));
        out.push(h);
      }
      return out;
    },
    forwardHead: (last) => tf.tidy(() => parts.head(last, w)),
    forwardSaliency: (stages) =>
      tf.tidy(() => {
        const m = tf.mean(stages[stages.length - 1], 3, true) as tf.Tensor4D;
        const [hh, ww] = parts.inputShape;
        return tf.squeeze(tf.image.resizeBilinear(m, [hh, ww], false, true), [3]) as tf.Tensor3D;
      }),
    forward(images): TwoBranchOutput {
      return tf.tidy(() => {
        const stages = model.forwardStages(images);
        const logits = model.forwardHead(stages[stages.length - 1]);
        const saliencyLogits = model.forwardSaliency(stages);
        return { logits, saliencyLogits, saliency: tf.sigmoid(saliencyLogits) };
      });
    },
    variables: () => new Map(variables),
    trainableVariables: () => [],
    countParams: () => [...variables.values()].reduce((s, v) => s + v.size, 0),
    dispose: () => variables.forEach((v) => v.dispose()),
  };
  return model;
}

/**
 * A linear classifier `logits = flatten(x) · W + b` with one identity stage
 * (`"pixels"`), input `[h, w, c]`; `W` is `[h·w·c, classes]`, row-major
 * over (row, column, channel).
 */
export function linearModel(
  shape: [number, number, number],
  weights: Float32Array,
  bias: Float32Array,
): TwoBranchModel {
  const [h, w, c] = shape, d = h * w * c, k = bias.length;
  return wrap({
    name: "linear",
    inputShape: shape,
    numClasses: k,
    featureInfo: [{ name: "pixels", channels: c, reduction: 1 }],
    weights: { w: tf.tensor2d(weights, [d, k]), b: tf.tensor1d(bias) },
    stage: (_i, x) => tf.clone(x),
    head: (last, v) =>
      tf.add(tf.matMul(tf.reshape(last, [last.shape[0], d]), v("w") as tf.Tensor2D), v("b")),
  });
}

/** Weights of {@linkcode tinyConvModel}. */
export interface TinyWeights {
  /** 3×3 kernel, one input channel, `k1` filters: [3][3][1][k1] flattened. */
  kernel: Float32Array;
  bias1: Float32Array;
  /** 1×1 conv `[k1, k2]`. */
  mix: Float32Array;
  bias2: Float32Array;
  /** Dense `[k2, classes]`. */
  dense: Float32Array;
  bias3: Float32Array;
  k1: number;
  k2: number;
  classes: number;
  size: number;
  /** The conv stage's rectifier: `tf.relu`, or ReLU6 as `clipByValue(x, 0, 6)`. @default {"relu"} */
  activation?: "relu" | "clip";
}

/**
 * Stage `conv`: 3×3 same conv (1 → k1) + bias, ReLU (reduction 1).
 * Stage `mix`: 2×2 average pool, 1×1 conv (k1 → k2) + bias, ReLU (reduction 2).
 * Head: global average pool, dense (k2 → classes) + bias.
 */
export function tinyConvModel(p: TinyWeights): TwoBranchModel {
  return wrap({
    name: "tiny_conv",
    inputShape: [p.size, p.size, 1],
    numClasses: p.classes,
    featureInfo: [
      { name: "conv", channels: p.k1, reduction: 1 },
      { name: "mix", channels: p.k2, reduction: 2 },
    ],
    weights: {
      kernel: tf.tensor4d(p.kernel, [3, 3, 1, p.k1]),
      bias1: tf.tensor1d(p.bias1),
      mix: tf.tensor4d(p.mix, [1, 1, p.k1, p.k2]),
      bias2: tf.tensor1d(p.bias2),
      dense: tf.tensor2d(p.dense, [p.k2, p.classes]),
      bias3: tf.tensor1d(p.bias3),
    },
    stage(i, x, v) {
      if (i === 0) {
        const pre = tf.add(
          tf.conv2d(x, v("kernel") as tf.Tensor4D, 1, "same"),
          v("bias1"),
        ) as tf.Tensor4D;
        return p.activation === "clip" ? tf.clipByValue(pre, 0, 6) : tf.relu(pre);
      }
      const pooled = tf.avgPool(x, 2, 2, "valid");
      return tf.relu(tf.add(tf.conv2d(pooled, v("mix") as tf.Tensor4D, 1, "valid"), v("bias2")));
    },
    head: (last, v) =>
      tf.add(
        tf.matMul(tf.mean(last, [1, 2]) as tf.Tensor2D, v("dense") as tf.Tensor2D),
        v("bias3"),
      ),
  });
}

/** Everything about one image of the tiny model, by hand. */
export interface TinyTrace {
  /** Pre-ReLU and post-ReLU conv stage, [p][k1], p = y·size + x. */
  pre1: number[][];
  a: number[][];
  /** Pooled, pre-ReLU and post-ReLU mix stage, [q][·], q over the (size/2)² grid. */
  pooled: number[][];
  pre2: number[][];
  b: number[][];
  logits: number[];
  /** Gradients of logit `cls` at the conv stage, the mix stage and the input. */
  gradA: number[][];
  gradB: number[][];
  gradX: number[];
  /** The same gradient with guided ReLUs. */
  guidedX: number[];
}

/** The tiny model's forward pass and its gradients for class `cls`, in plain JavaScript. */
export function traceTiny(p: TinyWeights, x: ArrayLike<number>, cls: number): TinyTrace {
  const s = p.size, half = s / 2, P = s * s, Q = half * half;
  const K = (dy: number, dx: number, k: number) => p.kernel[(dy * 3 + dx) * p.k1 + k];
  const px = (y: number, xx: number) => (y < 0 || xx < 0 || y >= s || xx >= s ? 0 : x[y * s + xx]);
  const pre1 = Array.from({ length: P }, (_, i) => {
    const y = Math.floor(i / s), xx = i % s;
    return Array.from({ length: p.k1 }, (_, k) => {
      let v = p.bias1[k];
      for (let dy = 0; dy < 3; dy++) {
        for (let dx = 0; dx < 3; dx++) v += px(y + dy - 1, xx + dx - 1) * K(dy, dx, k);
      }
      return v;
    });
  });
  const a = pre1.map((r) => r.map((v) => Math.max(0, v)));
  const cell = (q: number) => {
    const qy = Math.floor(q / half), qx = q % half;
    return [0, 1, 2, 3].map((t) => (2 * qy + (t >> 1)) * s + 2 * qx + (t & 1));
  };
  const pooled = Array.from(
    { length: Q },
    (_, q) =>
      Array.from({ length: p.k1 }, (_, k) => cell(q).reduce((acc, i) => acc + a[i][k], 0) / 4),
  );
  const pre2 = pooled.map((r) =>
    Array.from(
      { length: p.k2 },
      (_, j) => r.reduce((acc, v, k) => acc + v * p.mix[k * p.k2 + j], p.bias2[j]),
    )
  );
  const b = pre2.map((r) => r.map((v) => Math.max(0, v)));
  const g = Array.from({ length: p.k2 }, (_, j) => b.reduce((acc, r) => acc + r[j], 0) / Q);
  const logits = Array.from(
    { length: p.classes },
    (_, c) => g.reduce((acc, v, j) => acc + v * p.dense[j * p.classes + c], p.bias3[c]),
  );

  const backward = (guided: boolean) => {
    const gate = (dy: number, pre: number) => (pre > 0 ? (guided ? Math.max(0, dy) : dy) : 0);
    const gradB = b.map(() =>
      Array.from({ length: p.k2 }, (_, j) => p.dense[j * p.classes + cls] / Q)
    );
    const gradPre2 = gradB.map((r, q) => r.map((v, j) => gate(v, pre2[q][j])));
    const gradPooled = gradPre2.map((r) =>
      Array.from(
        { length: p.k1 },
        (_, k) => r.reduce((acc, v, j) => acc + v * p.mix[k * p.k2 + j], 0),
      )
    );
    const gradA = a.map(() => new Array<number>(p.k1).fill(0));
    gradPooled.forEach((r, q) => cell(q).forEach((i) => r.forEach((v, k) => gradA[i][k] = v / 4)));
    const gradPre1 = gradA.map((r, i) => r.map((v, k) => gate(v, pre1[i][k])));
    const gradX = new Array<number>(P).fill(0);
    for (let i = 0; i < P; i++) {
      const y = Math.floor(i / s), xx = i % s;
      for (let dy = 0; dy < 3; dy++) {
        for (let dx = 0; dx < 3; dx++) {
          const yy = y + dy - 1, xs = xx + dx - 1;
          if (yy < 0 || xs < 0 || yy >= s || xs >= s) continue;
          for (let k = 0; k < p.k1; k++) gradX[yy * s + xs] += gradPre1[i][k] * K(dy, dx, k);
        }
      }
    }
    return { gradA, gradB, gradX };
  };
  const plain = backward(false);
  return { pre1, a, pooled, pre2, b, logits, ...plain, guidedX: backward(true).gradX };
}

/** The tiny model's logits from its conv-stage activations `a` [p][k1], by hand. */
export function tinyLogitsFromA(p: TinyWeights, a: number[][]): number[] {
  const s = p.size, half = s / 2, Q = half * half;
  const g = new Array<number>(p.k2).fill(0);
  for (let q = 0; q < Q; q++) {
    const qy = Math.floor(q / half), qx = q % half;
    const cellIdx = [0, 1, 2, 3].map((t) => (2 * qy + (t >> 1)) * s + 2 * qx + (t & 1));
    for (let j = 0; j < p.k2; j++) {
      let v = p.bias2[j];
      for (let k = 0; k < p.k1; k++) {
        v += (cellIdx.reduce((acc, i) => acc + a[i][k], 0) / 4) * p.mix[k * p.k2 + j];
      }
      g[j] += Math.max(0, v) / Q;
    }
  }
  return Array.from(
    { length: p.classes },
    (_, c) => g.reduce((acc, v, j) => acc + v * p.dense[j * p.classes + c], p.bias3[c]),
  );
}

/** Bilinear resize of a square map (half-pixel centres, edges clamped), by hand. */
export function resizeByHand(map: number[], from: number, to: number): number[] {
  const out: number[] = [];
  const src = (d: number) => Math.min(from - 1, Math.max(0, (d + 0.5) * (from / to) - 0.5));
  for (let y = 0; y < to; y++) {
    for (let x = 0; x < to; x++) {
      const sy = src(y), sx = src(x);
      const y0 = Math.floor(sy), x0 = Math.floor(sx);
      const y1 = Math.min(from - 1, y0 + 1), x1 = Math.min(from - 1, x0 + 1);
      const fy = sy - y0, fx = sx - x0;
      const v = (yy: number, xx: number) => map[yy * from + xx];
      out.push(
        (1 - fy) * ((1 - fx) * v(y0, x0) + fx * v(y0, x1)) +
          fy * ((1 - fx) * v(y1, x0) + fx * v(y1, x1)),
      );
    }
  }
  return out;
}

/** ReLU, then divide by the maximum (zero stays zero): the explainers' post-processing. */
export function reluNormalize(map: number[]): number[] {
  const r = map.map((v) => Math.max(0, v));
  const max = Math.max(...r);
  return r.map((v) => (max > 0 ? v / max : 0));
}
