import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import {
  registerSecondOrderGradients,
  SECOND_ORDER_GRADIENTS,
} from "../../lib/backend/second_order.ts";
import { assertClose, randn, runOn, useEngines } from "../_helpers.ts";

await useEngines();
registerSecondOrderGradients();

type Shape = number[];

/** One gradient kernel, called directly, with seeded inputs. */
interface KernelCase {
  label: string;
  kernel: string;
  inputs: Record<string, Shape>;
  attrs: Record<string, unknown>;
  /** Inputs the kernel is linear in (when the others are held fixed). */
  linear: string[];
}

function tensors(c: KernelCase, seed: number): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  Object.entries(c.inputs).forEach(([name, shape], i) => {
    out[name] = tf.tensor(randn(shape, seed + i), shape);
  });
  return out;
}

function run(c: KernelCase, inputs: Record<string, tf.Tensor>): tf.Tensor {
  return tf.engine().runKernel(c.kernel, inputs, c.attrs as tf.NamedAttrMap) as tf.Tensor;
}

/**
 * `f = Σ r ⊙ kernel(inputs)`: the gradient of f with respect to each linear
 * input, through the registered second-order gradient.
 */
function analytic(c: KernelCase, seed: number): tf.Tensor[] {
  const base = tensors(c, seed);
  const outShape = run(c, base).shape;
  const r = tf.tensor(randn(outShape, seed + 99), outShape);
  const grads = tf.grads((...xs: tf.Tensor[]) => {
    const inputs = { ...base };
    c.linear.forEach((name, i) => inputs[name] = xs[i]);
    return tf.sum(tf.mul(run(c, inputs), r));
  })(c.linear.map((name) => base[name]));
  return grads;
}

/**
 * The same gradients by central differences with step 1, which is exact
 * (up to rounding) because f is linear in each of these inputs.
 */
function finiteDifferences(c: KernelCase, seed: number): Float32Array[] {
  return tf.tidy(() => {
    const base = tensors(c, seed);
    const outShape = run(c, base).shape;
    const r = tf.tensor(randn(outShape, seed + 99), outShape);
    return c.linear.map((name) => {
      const values = base[name].dataSync();
      const fd = new Float32Array(values.length);
      for (let i = 0; i < values.length; i++) {
        const at = (delta: number) =>
          tf.tidy(() => {
            const v = Float32Array.from(values);
            v[i] += delta;
            const inputs = { ...base, [name]: tf.tensor(v, base[name].shape) };
            return tf.sum(tf.mul(run(c, inputs), r)).dataSync()[0];
          });
        fd[i] = (at(1) - at(-1)) / 2;
      }
      return fd;
    });
  });
}

async function check(c: KernelCase, seed: number): Promise<void> {
  const wasm = await runOn("wasm", () => analytic(c, seed));
  const cpu = await runOn("cpu", () => analytic(c, seed));
  const fd = finiteDifferences(c, seed);
  c.linear.forEach((name, i) => {
    assertClose(wasm[i], fd[i], { rtol: 1e-4, atol: 1e-4, label: `${c.label} d/d${name} vs FD` });
    assertClose(wasm[i], cpu[i], { rtol: 1e-4, atol: 1e-5, label: `${c.label} d/d${name} vs cpu` });
  });
}

function poolCase(
  kernel: "MaxPoolGrad" | "AvgPoolGrad",
  [h, w]: [number, number],
  k: number,
  s: number,
  pad: "same" | "valid",
): KernelCase {
  const info = tf.backend_util.computePool2DInfo([2, h, w, 3], k, s, 1, pad);
  return {
    label: `${kernel} ${h}x${w} k${k} s${s} ${pad}`,
    kernel,
    inputs: { dy: [2, info.outHeight, info.outWidth, 3], input: [2, h, w, 3] },
    attrs: { filterSize: k, strides: s, pad },
    linear: ["dy"],
  };
}

Deno.test("registerSecondOrderGradients() fills each gap once and keeps tfjs's own gradients elsewhere", () => {
  const kernels = [
    "AvgPoolGrad",
    "Conv2DBackpropFilter",
    "DepthwiseConv2dNativeBackpropFilter",
    "DepthwiseConv2dNativeBackpropInput",
    "MaxPoolGrad",
    "ResizeBilinearGrad",
  ];
  for (const name of [...kernels, "Equal", "Greater", "Less", "Exp", "Sigmoid", "Softmax"]) {
    assert.ok(SECOND_ORDER_GRADIENTS.includes(name), name);
    assert.ok(tf.getGradient(name), name);
  }
  // The output-saving gradients now save their input instead.
  for (const name of ["Exp", "Sigmoid", "Tanh", "Softmax", "Elu"]) {
    assert.equal(tf.getGradient(name).outputsToSave, undefined, name);
    assert.equal(tf.getGradient(name).inputsToSave?.length, 1, name);
  }
  const before = SECOND_ORDER_GRADIENTS.map((name) => tf.getGradient(name));
  const tfjsOwn = tf.getGradient("Conv2DBackpropInput");
  registerSecondOrderGradients();
  SECOND_ORDER_GRADIENTS.forEach((name, i) => assert.equal(tf.getGradient(name), before[i], name));
  assert.equal(tf.getGradient("Conv2DBackpropInput"), tfjsOwn, "tfjs's own gradient stays");
});

Deno.test("second derivatives of exp, sigmoid, tanh, elu and softmax are right (tfjs alone gives 0)", () => {
  tf.tidy(() => {
    const d2 = (f: (x: tf.Tensor) => tf.Tensor, at: number) =>
      tf.grad((x: tf.Tensor) => tf.add(tf.grad(f)(x), tf.mul(x, 0)))(tf.scalar(at)).dataSync()[0];
    const s = 1 / (1 + Math.exp(-0.5)), t = Math.tanh(0.5);
    assertClose([d2(tf.exp, 0.5)], [Math.exp(0.5)], { rtol: 1e-5, label: "exp" });
    assertClose([d2(tf.sigmoid, 0.5)], [s * (1 - s) * (1 - 2 * s)], {
      rtol: 1e-4,
      label: "sigmoid",
    });
    assertClose([d2(tf.tanh, 0.5)], [-2 * t * (1 - t * t)], { rtol: 1e-5, label: "tanh" });
    assertClose([d2(tf.elu, -0.5)], [Math.exp(-0.5)], { rtol: 1e-5, label: "elu" });
    // softmax([x, 2x, 0.3]) · [1, 2, 3], against a float64 second difference.
    const r = tf.tensor1d([1, 2, 3]);
    const f64 = (x: number) => {
      const e = [x, 2 * x, 0.3].map(Math.exp);
      return (e[0] + 2 * e[1] + 3 * e[2]) / (e[0] + e[1] + e[2]);
    };
    const h = 1e-4, want = (f64(0.5 + h) - 2 * f64(0.5) + f64(0.5 - h)) / (h * h);
    const got = d2(
      (x) => tf.sum(tf.mul(tf.softmax(tf.stack([x, tf.mul(x, 2), tf.scalar(0.3)])), r)),
      0.5,
    );
    assertClose([got], [want], { rtol: 1e-3, label: "softmax" });
  });
});

Deno.test("a gradient of a gradient passes through max and logSumExp (their masks use Equal)", () => {
  tf.tidy(() => {
    // f(w) = |∂/∂x logSumExp(w ⊙ x)|² = Σ (w_i softmax(w ⊙ x)_i)², by central differences.
    const x = tf.tensor1d([0.3, -1.2, 0.8]);
    const f = (w: tf.Tensor) =>
      tf.sum(tf.square(tf.grad((v: tf.Tensor) => tf.logSumExp(tf.mul(w, v)))(x)));
    const w = [1.5, -0.5, 2];
    const g = tf.grad(f)(tf.tensor1d(w)).dataSync();
    const fd = w.map((_, i) => {
      const at = (d: number) =>
        tf.tidy(() => f(tf.tensor1d(w.map((v, j) => (j === i ? v + d : v)))).dataSync()[0]);
      return (at(1e-2) - at(-1e-2)) / 2e-2;
    });
    assertClose(g, fd, { rtol: 1e-2, atol: 1e-4, label: "logSumExp" });
  });
});

Deno.test("the gradient of AvgPoolGrad matches finite differences and cpu, with and without padding", async () => {
  let seed = 10;
  for (
    const [size, k, s, pad] of [
      [[6, 6], 2, 2, "same"], // windows tile the input: wasm's fast path
      [[7, 5], 3, 2, "same"], // windows overlap the padding
      [[5, 5], 3, 1, "same"],
      [[6, 7], 2, 1, "valid"],
    ] as const
  ) {
    await check(poolCase("AvgPoolGrad", [...size], k, s, pad), seed++);
  }
});

Deno.test("the gradient of MaxPoolGrad matches finite differences and cpu, overlapping and padded windows", async () => {
  let seed = 20;
  for (
    const [size, k, s, pad] of [
      [[6, 6], 2, 2, "valid"],
      [[5, 5], 2, 2, "same"],
      [[7, 7], 3, 2, "same"],
      [[5, 6], 3, 1, "same"],
    ] as const
  ) {
    const c = poolCase("MaxPoolGrad", [...size], k, s, pad);
    // The kernel needs the pooled output of its input; build it, not a random one.
    const runWithOutput = (inputs: Record<string, tf.Tensor>) =>
      tf.engine().runKernel("MaxPoolGrad", {
        ...inputs,
        output: tf.maxPool(inputs.input as tf.Tensor4D, k, s, pad),
      }, c.attrs as tf.NamedAttrMap) as tf.Tensor;
    const grads = (backend: "cpu" | "wasm") =>
      runOn(backend, () => {
        const dy = tf.tensor(randn(c.inputs.dy, seed), c.inputs.dy);
        const x = tf.tensor(randn(c.inputs.input, seed + 1), c.inputs.input);
        const r = tf.tensor(randn(c.inputs.input, seed + 2), c.inputs.input);
        return tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(runWithOutput({ dy: a, input: b }), r))
        )([dy, x]);
      });
    const [wasmDy, wasmX] = await grads("wasm");
    const [cpuDy] = await grads("cpu");
    // Finite differences in dy (linear: step 1 is exact).
    const fd = tf.tidy(() => {
      const dyv = randn(c.inputs.dy, seed);
      const x = tf.tensor(randn(c.inputs.input, seed + 1), c.inputs.input);
      const r = tf.tensor(randn(c.inputs.input, seed + 2), c.inputs.input);
      const f = (v: Float32Array) =>
        tf.tidy(() =>
          tf.sum(tf.mul(runWithOutput({ dy: tf.tensor(v, c.inputs.dy), input: x }), r))
            .dataSync()[0]
        );
      return Float32Array.from(dyv, (_, i) => {
        const plus = Float32Array.from(dyv), minus = Float32Array.from(dyv);
        plus[i] += 1;
        minus[i] -= 1;
        return (f(plus) - f(minus)) / 2;
      });
    });
    assertClose(wasmDy, fd, { rtol: 1e-4, atol: 1e-4, label: `${c.label} d/ddy vs FD` });
    assertClose(wasmDy, cpuDy, { rtol: 1e-5, atol: 1e-6, label: `${c.label} d/ddy vs cpu` });
    // The routing is piecewise constant in x: zero gradient.
    assertClose(wasmX, new Float32Array(wasmX.length), { label: `${c.label} d/dx` });
    seed += 3;
  }
});

Deno.test("the gradient of Conv2DBackpropFilter matches finite differences and cpu in x and dy", async () => {
  let seed = 40;
  for (
    const [[h, w], k, s, pad] of [
      [[6, 6], 3, 1, "same"],
      [[7, 7], 3, 2, "same"],
      [[7, 6], 2, 2, "valid"],
      [[5, 5], 1, 1, "valid"],
    ] as const
  ) {
    const info = tf.backend_util.computeConv2DInfo([2, h, w, 3], [k, k, 3, 4], s, 1, pad);
    await check({
      label: `Conv2DBackpropFilter ${h}x${w} k${k} s${s} ${pad}`,
      kernel: "Conv2DBackpropFilter",
      inputs: { x: [2, h, w, 3], dy: [2, info.outHeight, info.outWidth, 4] },
      attrs: { strides: s, pad, dataFormat: "NHWC", filterShape: [k, k, 3, 4] },
      linear: ["x", "dy"],
    }, seed++);
  }
});

Deno.test("the gradients of the depthwise input and filter gradients match finite differences and cpu", async () => {
  let seed = 60;
  for (
    const [[h, w], k, s, pad, m] of [
      [[6, 6], 3, 1, "same", 1],
      [[7, 7], 3, 2, "same", 2],
      [[6, 5], 2, 2, "valid", 1],
    ] as const
  ) {
    const info = tf.backend_util.computeConv2DInfo(
      [2, h, w, 3],
      [k, k, 3, m],
      s,
      1,
      pad,
      undefined,
      true,
    );
    const dy = [2, info.outHeight, info.outWidth, 3 * m];
    const common = { strides: s, pad, dilations: [1, 1] };
    await check({
      label: `DepthwiseConv2dNativeBackpropInput ${h}x${w} k${k} s${s} ${pad} m${m}`,
      kernel: "DepthwiseConv2dNativeBackpropInput",
      inputs: { dy, filter: [k, k, 3, m] },
      attrs: { ...common, inputShape: [2, h, w, 3] },
      linear: ["dy", "filter"],
    }, seed++);
    await check({
      label: `DepthwiseConv2dNativeBackpropFilter ${h}x${w} k${k} s${s} ${pad} m${m}`,
      kernel: "DepthwiseConv2dNativeBackpropFilter",
      inputs: { x: [2, h, w, 3], dy },
      attrs: { ...common, filterShape: [k, k, 3, m] },
      linear: ["x", "dy"],
    }, seed++);
  }
});

Deno.test("the gradient of ResizeBilinearGrad matches finite differences and cpu for every corner mode", async () => {
  let seed = 80;
  for (
    const [[h, w], [oh, ow], alignCorners, halfPixelCenters] of [
      [[4, 6], [8, 12], false, true],
      [[5, 3], [9, 7], true, false],
      [[4, 4], [7, 5], false, false],
    ] as const
  ) {
    await check({
      label:
        `ResizeBilinearGrad ${h}x${w}→${oh}x${ow} align ${alignCorners} half ${halfPixelCenters}`,
      kernel: "ResizeBilinearGrad",
      inputs: { images: [2, h, w, 2], dy: [2, oh, ow, 2] },
      attrs: { alignCorners, halfPixelCenters },
      linear: ["dy"],
    }, seed++);
  }
});

Deno.test("a gradient of a gradient through max pool, depthwise conv and conv matches finite differences", () => {
  // f(w) = |∂/∂x Σ r ⊙ net(x; w)|², net = conv → maxPool → depthwise → avgPool.
  tf.tidy(() => {
    const x = tf.tensor(randn([1, 6, 6, 2], 1), [1, 6, 6, 2]) as tf.Tensor4D;
    const wc = randn([3, 3, 2, 3], 2, 0.5), wd = randn([3, 3, 3, 1], 3, 0.5);
    const r = tf.tensor(randn([1, 2, 2, 3], 4), [1, 2, 2, 3]);
    const f = (conv: tf.Tensor, dw: tf.Tensor) => {
      const g = tf.grad((v: tf.Tensor) => {
        const a = tf.relu(tf.conv2d(v as tf.Tensor4D, conv as tf.Tensor4D, 1, "same"));
        const p = tf.maxPool(a, 2, 2, "valid");
        const d = tf.depthwiseConv2d(p, dw as tf.Tensor4D, 1, "same");
        return tf.sum(tf.mul(tf.avgPool(d, 2, 1, "valid"), r));
      })(x);
      return tf.sum(tf.square(g));
    };
    const [gc, gd] = tf.grads(f)([tf.tensor(wc, [3, 3, 2, 3]), tf.tensor(wd, [3, 3, 3, 1])]);
    const at = (c: Float32Array, d: Float32Array) =>
      tf.tidy(() => f(tf.tensor(c, [3, 3, 2, 3]), tf.tensor(d, [3, 3, 3, 1])).dataSync()[0]);
    const h = 1e-2;
    // f is quadratic in the depthwise filter (exact central differences) and,
    // away from ReLU and max-pool switches, smooth in the conv filter.
    for (
      const [name, grad, values, other] of [["conv", gc, wc, wd], [
        "depthwise",
        gd,
        wd,
        wc,
      ]] as const
    ) {
      const g = grad.dataSync();
      for (const i of [0, 5, values.length - 1]) {
        const plus = Float32Array.from(values), minus = Float32Array.from(values);
        plus[i] += h;
        minus[i] -= h;
        const fd = name === "conv"
          ? (at(plus, other) - at(minus, other)) / (2 * h)
          : (at(other, plus) - at(other, minus)) / (2 * h);
        assertClose([g[i]], [fd], { rtol: 2e-2, atol: 1e-3, label: `${name}[${i}]` });
      }
    }
  });
});

Deno.test("second-order gradients refuse NCHW and dilated depthwise convolutions, naming the kernel", () => {
  tf.tidy(() => {
    const x = tf.zeros([1, 4, 4, 2]), dy = tf.zeros([1, 4, 4, 3]), ddw = tf.zeros([3, 3, 2, 3]);
    const conv = tf.getGradient("Conv2DBackpropFilter").gradFunc(ddw, [x, dy], {
      strides: 1,
      pad: "same",
      dataFormat: "NCHW",
      filterShape: [3, 3, 2, 3],
    }) as Record<string, () => tf.Tensor>;
    assert.throws(() => conv.x(), /Conv2DBackpropFilter: dataFormat must be "NHWC", got "NCHW"/);
    const dw = tf.getGradient("DepthwiseConv2dNativeBackpropInput").gradFunc(
      tf.zeros([1, 4, 4, 2]),
      [tf.zeros([1, 4, 4, 2]), tf.zeros([3, 3, 2, 1])],
      { strides: 1, pad: "same", dilations: [2, 2], inputShape: [1, 4, 4, 2] },
    ) as Record<string, () => tf.Tensor>;
    assert.throws(
      () => dw.dy(),
      /DepthwiseConv2dNativeBackpropInput: dilations must be 1, got \[2, 2\]/,
    );
  });
});
