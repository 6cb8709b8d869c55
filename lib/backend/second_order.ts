/**
 * What tfjs 4.22 needs to take gradients of gradients (double
 * backpropagation) through real networks.
 *
 * An input gradient taken inside a loss (Right for the Right Reasons), or a
 * Grad-CAM map differentiated with respect to the weights (GAIN), puts the
 * first-order backward pass on the tape, and the outer gradient then
 * differentiates it. In tfjs-core 4.22 that fails or goes silently wrong in
 * three ways, each fixed here by registering gradients (tfjs keeps one
 * gradient registry for every engine):
 *
 * 1. **Gradient kernels without a gradient.** `MaxPoolGrad`, `AvgPoolGrad`,
 *    `Conv2DBackpropFilter`, `DepthwiseConv2dNativeBackpropInput`,
 *    `DepthwiseConv2dNativeBackpropFilter` and `ResizeBilinearGrad` have
 *    none, so the outer gradient stops with "gradient function not found".
 *    Each is linear in its upstream gradient `dy` (the filter gradients are
 *    bilinear in `x` and `dy`), so its own gradient is again a convolution,
 *    a pooling or a resize.
 * 2. **Comparisons without a gradient.** First-order gradients of `max`,
 *    `min`, `where`-based ops and the like build masks with `Equal`,
 *    `Greater`, `Less`…; on the tape these stop the outer gradient too.
 *    Their derivative is zero almost everywhere, which is what we register.
 * 3. **Gradients that read the op's saved output.** `Exp`, `Sigmoid`,
 *    `Tanh`, `Softmax` and `Elu` compute their gradient from their output,
 *    and tfjs saves that output as a copy made inside the kernel, off the
 *    tape. Their second derivative is then **silently zero** (tfjs gives
 *    `exp'' = 0`). We replace them with gradients that save the input and
 *    recompute the output, which is exact and costs one element-wise op.
 *    `tf.logSoftmax` has the same defect in a form a registry cannot fix
 *    (a `customGrad` closure): in a function that is differentiated twice,
 *    write `x − logSumExp(x)` instead.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { padOrCrop, poolWindows, tap } from "./_kernel_util.ts";
import type { ConvWindowAttrs, PoolAttrs } from "./_kernel_util.ts";
import { firstMaxHits, poolGeometry } from "./_pool_grads.ts";

type Pair = [number, number] | number;

interface ConvFilterGradAttrs extends ConvWindowAttrs {
  dataFormat?: "NHWC" | "NCHW";
  filterShape: [number, number, number, number];
}

interface DepthwiseGradAttrs extends ConvWindowAttrs {
  dilations?: Pair;
}

interface ResizeGradAttrs {
  alignCorners: boolean;
  halfPixelCenters: boolean;
}

function attrsOf<T>(attrs: unknown): T {
  return attrs as T;
}

/**
 * The routing of `MaxPoolGrad`, applied to `ddx`: each output position takes
 * `ddx` at the first position (row-major in its window) that equals the
 * window's maximum. That is the tie rule of the `cpu` engine and of our wasm
 * kernel, so this is the exact adjoint of the kernel `dy ↦ dx`.
 */
function maxPoolGradGradDy(
  ddx: tf.Tensor4D,
  x: tf.Tensor4D,
  y: tf.Tensor4D,
  attrs: PoolAttrs,
): tf.Tensor4D {
  const geo = poolGeometry(x.shape, attrs);
  const { top, left, bottom, right, oh, ow, sh, sw, kw } = geo;
  const ddxp = padOrCrop(ddx, top, bottom, left, right);
  const hits = firstMaxHits(x, y, geo);
  const routed = hits.map((hit, t) =>
    tf.mul(hit, tap(ddxp, Math.floor(t / kw), t % kw, oh, ow, sh, sw))
  );
  return (routed.length === 1 ? routed[0] : tf.addN(routed)) as tf.Tensor4D;
}

/**
 * The adjoint of `AvgPoolGrad`. The kernel spreads each `dy` evenly over its
 * window, divided by the full window size even where the window overlaps
 * the padding (as the `cpu` and `wasm` kernels both do). Its adjoint is the
 * window sum of the zero-padded `ddx` over the window size: an average pool
 * over explicitly zero-padded input.
 */
function avgPoolGradGradDy(ddx: tf.Tensor4D, x: tf.Tensor4D, attrs: PoolAttrs): tf.Tensor4D {
  const { top, bottom, left, right, oh, ow, sh, sw, kh, kw } = poolWindows(x.shape, attrs);
  const [n, h, w, c] = x.shape;
  // Grow the padding if the output needs more rows than the pad info covers.
  const extraH = Math.max(0, (oh - 1) * sh + kh - (h + top + bottom));
  const extraW = Math.max(0, (ow - 1) * sw + kw - (w + left + right));
  const padded = padOrCrop(ddx, top, bottom + extraH, left, right + extraW);
  const pooled = tf.avgPool(padded, [kh, kw], [sh, sw], "valid");
  if (pooled.shape[1] === oh && pooled.shape[2] === ow) return pooled;
  return tf.slice(pooled, [0, 0, 0, 0], [n, oh, ow, c]);
}

function assertNhwc(kernel: string, dataFormat: string | undefined): void {
  if (dataFormat !== undefined && dataFormat !== "NHWC") {
    throw new TypeError(
      `Cannot take the gradient of ${kernel}: dataFormat must be "NHWC", got "${dataFormat}"`,
    );
  }
}

function assertNoDilation(kernel: string, dilations: Pair | undefined): [number, number] {
  const [dh, dw] = dilations === undefined
    ? [1, 1]
    : typeof dilations === "number"
    ? [dilations, dilations]
    : dilations;
  if (dh !== 1 || dw !== 1) {
    throw new RangeError(
      `Cannot take the gradient of ${kernel}: dilations must be 1, got [${dh}, ${dw}]`,
    );
  }
  return [dh, dw];
}

function runKernel(name: string, inputs: tf.NamedTensorMap, attrs: object): tf.Tensor4D {
  return tf.engine().runKernel(
    name,
    inputs,
    attrs as unknown as tf.NamedAttrMap,
  ) as tf.Tensor4D;
}

/** The gradient configs that {@linkcode registerSecondOrderGradients} adds. */
const CONFIGS: tf.GradConfig[] = [
  {
    // dx = MaxPoolGrad(dy; x, y): linear in dy, piecewise constant in x and y.
    kernelName: "MaxPoolGrad",
    inputsToSave: ["input", "output"],
    gradFunc: (ddx, saved, attrs) => {
      const [x, y] = saved as tf.Tensor4D[];
      const a = attrsOf<PoolAttrs>(attrs);
      return {
        dy: () => maxPoolGradGradDy(ddx as tf.Tensor4D, x, y, a),
        input: () => tf.zerosLike(x),
        output: () => tf.zerosLike(y),
      };
    },
  },
  {
    // dx = AvgPoolGrad(dy; x): linear in dy, independent of x's values.
    kernelName: "AvgPoolGrad",
    inputsToSave: ["input"],
    gradFunc: (ddx, saved, attrs) => {
      const [x] = saved as tf.Tensor4D[];
      const a = attrsOf<PoolAttrs>(attrs);
      return {
        dy: () => avgPoolGradGradDy(ddx as tf.Tensor4D, x, a),
        input: () => tf.zerosLike(x),
      };
    },
  },
  {
    // dW = Conv2DBackpropFilter(x, dy) = ∂⟨dy, conv2d(x, W)⟩/∂W, bilinear in
    // x and dy. ⟨ddW, dW⟩ = ⟨dy, conv2d(x, ddW)⟩, so the gradient with
    // respect to dy is conv2d(x, ddW) and with respect to x is the input
    // gradient of that convolution, conv2dTranspose(dy, ddW).
    kernelName: "Conv2DBackpropFilter",
    inputsToSave: ["x", "dy"],
    gradFunc: (ddw, saved, attrs) => {
      const [x, dy] = saved as tf.Tensor4D[];
      const a = attrsOf<ConvFilterGradAttrs>(attrs);
      return {
        x: () => {
          assertNhwc("Conv2DBackpropFilter", a.dataFormat);
          return tf.conv2dTranspose(
            dy,
            ddw as tf.Tensor4D,
            x.shape,
            a.strides,
            a.pad as "same",
            a.dimRoundingMode,
          );
        },
        dy: () => {
          assertNhwc("Conv2DBackpropFilter", a.dataFormat);
          return tf.conv2d(
            x,
            ddw as tf.Tensor4D,
            a.strides,
            a.pad as "same",
            "NHWC",
            1,
            a.dimRoundingMode,
          );
        },
      };
    },
  },
  {
    // dx = DepthwiseConv2dNativeBackpropInput(dy, W): bilinear. ⟨ddx, dx⟩ =
    // ⟨dy, depthwiseConv2d(ddx, W)⟩, so the gradient with respect to dy is
    // that convolution and with respect to W is its filter gradient.
    kernelName: "DepthwiseConv2dNativeBackpropInput",
    inputsToSave: ["dy", "filter"],
    gradFunc: (ddx, saved, attrs) => {
      const [dy, filter] = saved as tf.Tensor4D[];
      const a = attrsOf<DepthwiseGradAttrs>(attrs);
      const name = "DepthwiseConv2dNativeBackpropInput";
      return {
        dy: () =>
          tf.depthwiseConv2d(
            ddx as tf.Tensor4D,
            filter,
            a.strides,
            a.pad as "same",
            "NHWC",
            assertNoDilation(name, a.dilations),
            a.dimRoundingMode,
          ),
        filter: () =>
          runKernel("DepthwiseConv2dNativeBackpropFilter", { x: ddx as tf.Tensor4D, dy }, {
            strides: a.strides,
            pad: a.pad,
            dilations: assertNoDilation(name, a.dilations),
            dimRoundingMode: a.dimRoundingMode,
            filterShape: filter.shape,
          }),
      };
    },
  },
  {
    // dW = DepthwiseConv2dNativeBackpropFilter(x, dy): bilinear. ⟨ddW, dW⟩ =
    // ⟨dy, depthwiseConv2d(x, ddW)⟩.
    kernelName: "DepthwiseConv2dNativeBackpropFilter",
    inputsToSave: ["x", "dy"],
    gradFunc: (ddw, saved, attrs) => {
      const [x, dy] = saved as tf.Tensor4D[];
      const a = attrsOf<DepthwiseGradAttrs>(attrs);
      const name = "DepthwiseConv2dNativeBackpropFilter";
      return {
        x: () =>
          runKernel("DepthwiseConv2dNativeBackpropInput", { dy, filter: ddw as tf.Tensor4D }, {
            strides: a.strides,
            pad: a.pad,
            dilations: assertNoDilation(name, a.dilations),
            dimRoundingMode: a.dimRoundingMode,
            inputShape: x.shape,
          }),
        dy: () =>
          tf.depthwiseConv2d(
            x,
            ddw as tf.Tensor4D,
            a.strides,
            a.pad as "same",
            "NHWC",
            assertNoDilation(name, a.dilations),
            a.dimRoundingMode,
          ),
      };
    },
  },
  {
    // dx = ResizeBilinearGrad(images, dy) = Rᵀ·dy: linear in dy, independent
    // of the images' values. Its adjoint is the resize itself.
    kernelName: "ResizeBilinearGrad",
    inputsToSave: ["images", "dy"],
    gradFunc: (ddx, saved, attrs) => {
      const [images, dy] = saved as tf.Tensor4D[];
      const a = attrsOf<ResizeGradAttrs>(attrs);
      return {
        dy: () =>
          tf.image.resizeBilinear(
            ddx as tf.Tensor4D,
            [dy.shape[1], dy.shape[2]],
            a.alignCorners,
            a.halfPixelCenters,
          ),
        images: () => tf.zerosLike(images),
      };
    },
  },
];

/** Derivative zero almost everywhere: comparisons and logical ops. */
const PIECEWISE_CONSTANT = [
  "Equal",
  "NotEqual",
  "Greater",
  "Less",
  "LessEqual",
  "LogicalAnd",
  "LogicalOr",
  "LogicalNot",
];

function zeroGradient(kernelName: string, inputs: string[]): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: inputs,
    gradFunc: (_dy, saved) =>
      Object.fromEntries(inputs.map((name, i) => [name, () => tf.zerosLike(saved[i])])),
  };
}

/**
 * Element-wise gradients that tfjs computes from the saved output, which
 * is off the tape. These save the input and recompute the output instead.
 */
const INPUT_SAVING: tf.GradConfig[] = [
  {
    kernelName: "Exp",
    inputsToSave: ["x"],
    gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.exp(x)) }),
  },
  {
    kernelName: "Sigmoid",
    inputsToSave: ["x"],
    gradFunc: (dy, [x]) => ({
      x: () => {
        const y = tf.sigmoid(x);
        return tf.mul(dy as tf.Tensor, tf.mul(y, tf.sub(1, y)));
      },
    }),
  },
  {
    kernelName: "Tanh",
    inputsToSave: ["x"],
    gradFunc: (dy, [x]) => ({
      x: () => tf.mul(dy as tf.Tensor, tf.sub(1, tf.square(tf.tanh(x)))),
    }),
  },
  {
    kernelName: "Softmax",
    inputsToSave: ["logits"],
    gradFunc: (dy, [logits], attrs) => ({
      logits: () => {
        const dim = (attrs as unknown as { dim: number }).dim;
        const y = tf.softmax(logits, dim);
        const dyTimesY = tf.mul(dy as tf.Tensor, y);
        return tf.sub(dyTimesY, tf.mul(tf.sum(dyTimesY, [dim], true), y));
      },
    }),
  },
  {
    kernelName: "Elu",
    inputsToSave: ["x"],
    gradFunc: (dy, [x]) => ({
      x: () => tf.mul(dy as tf.Tensor, tf.where(tf.greater(x, 0), tf.onesLike(x), tf.exp(x))),
    }),
  },
];

const ours = new WeakSet<tf.GradConfig>();

/** Names of every kernel whose gradient {@linkcode registerSecondOrderGradients} adds or replaces. */
export const SECOND_ORDER_GRADIENTS: readonly string[] = [
  ...CONFIGS.map((c) => c.kernelName),
  ...PIECEWISE_CONSTANT,
  ...INPUT_SAVING.map((c) => c.kernelName),
];

/**
 * Whether {@linkcode registerSecondOrderGradients} has run in this process
 * (every gradient it adds or replaces is in place): what input-gradient
 * losses (`rrrLoss`) and GAIN rely on.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { registerSecondOrderGradients, secondOrderGradientsRegistered } from "./second_order.ts";
 * registerSecondOrderGradients();
 * assert.ok(secondOrderGradientsRegistered());
 * ```
 */
export function secondOrderGradientsRegistered(): boolean {
  return CONFIGS.every((c) => tf.getGradient(c.kernelName) !== undefined) &&
    INPUT_SAVING.every((c) => ours.has(tf.getGradient(c.kernelName)!));
}

/**
 * Throws, naming `who` and what to call, unless the second-order gradients
 * are registered ({@linkcode secondOrderGradientsRegistered}).
 */
export function requireSecondOrderGradients(who: string): void {
  if (!secondOrderGradientsRegistered()) {
    throw new Error(
      `${who} differentiates a gradient, which needs the second-order gradients tfjs 4.22 lacks: call registerSecondOrderGradients() (initBackend() does) first`,
    );
  }
}

/**
 * Makes tfjs's gradients of gradients work and come out right through the
 * layers our networks use (see the module notes): it adds gradients for the
 * gradient kernels and comparisons that have none, and replaces the
 * element-wise gradients (`Exp`, `Sigmoid`, `Tanh`, `Softmax`, `Elu`) whose
 * second derivative tfjs silently drops. First-order gradients are
 * unchanged. A gradient that tfjs (or a later tfjs) defines for one of the
 * missing kernels is left alone. Calling it again is harmless. Gradients
 * are shared by every engine; call it once after importing tfjs.
 *
 * Limits: NHWC only, and depthwise dilation 1 (tfjs refuses first-order
 * gradients of dilated depthwise convolutions too). The max-pool gradient
 * is zero with respect to the pooled input (the routing is piecewise
 * constant), so it is exact away from ties. `tf.logSoftmax` stays wrong at
 * second order; use `x − logSumExp(x)` where it matters.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { registerSecondOrderGradients } from "./second_order.ts";
 * import { tf } from "../deps.ts";
 * registerSecondOrderGradients();
 * // exp'' = exp: tfjs alone gives 0 here.
 * const d2 = tf.grad((x: tf.Tensor) => tf.grad((v: tf.Tensor) => tf.exp(v))(x))(tf.scalar(0));
 * assert.equal(d2.dataSync()[0], 1);
 * // The gradient of an input gradient through max pooling.
 * const x = tf.tensor4d([1, 5, 3, 2], [1, 2, 2, 1]);
 * const inner = (v: tf.Tensor) => tf.sum(tf.square(tf.maxPool(v as tf.Tensor4D, 2, 2, "valid")));
 * const g = tf.grad((v: tf.Tensor) => tf.sum(tf.grad(inner)(v)))(x);
 * assert.deepStrictEqual(Array.from(g.dataSync()), [0, 2, 0, 0]); // d(2 · max)/dx at the max
 * ```
 */
export function registerSecondOrderGradients(): void {
  const install = (config: tf.GradConfig, replace: boolean) => {
    const existing = tf.getGradient(config.kernelName);
    if (existing && (ours.has(existing) || !replace)) return;
    ours.add(config);
    tf.registerGradient(config);
  };
  for (const config of CONFIGS) install(config, false);
  for (const name of PIECEWISE_CONSTANT) {
    install(zeroGradient(name, name === "LogicalNot" ? ["x"] : ["a", "b"]), false);
  }
  for (const config of INPUT_SAVING) install(config, true);
}
