// Depthwise conv2d gradient kernels for wasm, composed from ops it has.
// Private to lib/backend/.
import { tf } from "../deps.ts";
import { composedKernel, convWindows, dilate, padOrCrop, tap } from "./_kernel_util.ts";
import type { ConvWindowAttrs, Windows } from "./_kernel_util.ts";

interface DepthwiseGradAttrs extends ConvWindowAttrs {
  dilations: [number, number] | number;
}

type Shape4 = [number, number, number, number];

/** The windows of the depthwise convolution; throws for a dilated one, which `kernel` does not support. */
function undilatedWindows(
  kernel: string,
  xShape: Shape4,
  filterShape: Shape4,
  attrs: DepthwiseGradAttrs,
): Windows {
  const dilations = attrs.dilations;
  const [dh, dw] = typeof dilations === "number" ? [dilations, dilations] : dilations;
  if (dh !== 1 || dw !== 1) {
    throw new RangeError(
      `${kernel} on wasm supports dilation 1 only, got [${dh}, ${dw}] (tfjs has no gradient for dilated depthwise convolutions either)`,
    );
  }
  return convWindows(xShape, filterShape, { ...attrs, depthwise: true });
}

/**
 * Filter gradient of a depthwise conv2d: for each filter tap, the strided
 * slice of the padded input times the output gradient, summed over batch and
 * space. Supports channel multipliers.
 */
export function depthwiseBackpropFilter(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  attrs: DepthwiseGradAttrs & { filterShape: Shape4 },
): tf.Tensor4D {
  const { top, left, oh, ow, sh, sw } = undilatedWindows(
    "DepthwiseConv2dNativeBackpropFilter",
    x.shape,
    attrs.filterShape,
    attrs,
  );
  const [kh, kw, c, m] = attrs.filterShape;
  const [n, h, w] = x.shape;
  const needH = (oh - 1) * sh + kh, needW = (ow - 1) * sw + kw;
  const xp = padOrCrop(x, top, Math.max(0, needH - h - top), left, Math.max(0, needW - w - left));
  const dy5 = tf.reshape(dy, [n, oh, ow, c, m]);
  const taps: tf.Tensor[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const xs = tap(xp, i, j, oh, ow, sh, sw);
      taps.push(
        m === 1
          ? tf.sum(tf.mul(xs, dy), [0, 1, 2])
          : tf.sum(tf.mul(tf.expandDims(xs, 4), dy5), [0, 1, 2]),
      );
    }
  }
  return tf.reshape(tf.stack(taps), [kh, kw, c, m]);
}

/**
 * Input gradient of a depthwise conv2d: dilate the output gradient by the
 * stride, pad by `k - 1 - pad`, run a depthwise convolution with the filter
 * rotated by 180°, and sum over the channel multiplier.
 */
export function depthwiseBackpropInput(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  attrs: DepthwiseGradAttrs & { inputShape: Shape4 },
): tf.Tensor4D {
  const inputShape = attrs.inputShape;
  const { top, left, sh, sw } = undilatedWindows(
    "DepthwiseConv2dNativeBackpropInput",
    inputShape,
    filter.shape,
    attrs,
  );
  const [kh, kw, c, m] = filter.shape;
  const [n, h, w] = inputShape;
  const dyd = dilate(dy, sh, sw);
  const padTop = kh - 1 - top, padLeft = kw - 1 - left;
  const dyp = padOrCrop(
    dyd,
    padTop,
    h + kh - 1 - padTop - dyd.shape[1],
    padLeft,
    w + kw - 1 - padLeft - dyd.shape[2],
  );
  const rotated = tf.reshape(tf.reverse(filter, [0, 1]), [kh, kw, c * m, 1]) as tf.Tensor4D;
  const out = tf.depthwiseConv2d(dyp, rotated, 1, "valid");
  return m === 1 ? out : tf.sum(tf.reshape(out, [n, h, w, c, m]), 4);
}

/** Kernel configs for registration on the wasm backend. */
export const depthwiseGradKernels: tf.KernelConfig[] = [
  composedKernel("DepthwiseConv2dNativeBackpropFilter", {
    inputs: ["x", "dy"],
    compute: (t, attrs: DepthwiseGradAttrs & { filterShape: Shape4 }) =>
      depthwiseBackpropFilter(t.x, t.dy, attrs),
  }),
  composedKernel("DepthwiseConv2dNativeBackpropInput", {
    inputs: ["dy", "filter"],
    compute: (t, attrs: DepthwiseGradAttrs & { inputShape: Shape4 }) =>
      depthwiseBackpropInput(t.dy, t.filter, attrs),
  }),
];
