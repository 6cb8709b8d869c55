import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { listBackbones } from "../../lib/backbones/mod.ts";
import { attentionGate, createSaliencyHead, listSaliencyHeads } from "../../lib/heads/mod.ts";
import { createModel } from "../../lib/models/registry.ts";
import { createTwoBranchModel, type TwoBranchOptions } from "../../lib/models/two_branch.ts";
import { createTrainStep } from "../../lib/train/train_step.ts";
import { syntheticDataset, syntheticTensors } from "../../datasets/synthetic.ts";
import { assertClose, randn, useEngines } from "../_helpers.ts";
import { cpuAndWasmGradients } from "../_engine_gradients.ts";

await useEngines();

const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;

function tiny(backbone: string, saliencyHead: string, extra: Partial<TwoBranchOptions> = {}) {
  return createTwoBranchModel({
    backbone,
    backboneOptions: { width: 0.125 },
    saliencyHead,
    numClasses: 3,
    inputSize: 32,
    seed: 1,
    ...extra,
  });
}

Deno.test("every backbone × saliency head builds, runs forward and trains with the loss falling (wasm, Adam)", async () => {
  assert.deepEqual(listSaliencyHeads(), ["attention", "cam", "decoder", "reference"]);
  const data = syntheticTensors(syntheticDataset({ count: 6, size: 32, numClasses: 3, seed: 2 }));
  const batch = { images: data.images, labels: data.labels, masks: data.masks };
  // The bottleneck ResNets train with one head, the decoder, which reads every stage: ResNet-101
  // is ResNet-50 with more blocks of the same kind (the conformance test runs it), and the heads
  // meet the same stage shapes as on the other backbones.
  const heads = (backbone: string) =>
    backbone === "resnet50" ? ["decoder"] : backbone === "resnet101" ? [] : listSaliencyHeads();
  for (const backbone of listBackbones()) {
    for (const head of heads(backbone)) {
      const name = `${backbone} + ${head}`;
      const model = tiny(backbone, head);
      tf.tidy(() => {
        const out = model.forward(data.images);
        assert.deepEqual(out.logits.shape, [6, 3], name);
        assert.deepEqual(out.saliencyLogits.shape, [6, 32, 32], name);
        assert.deepEqual(out.saliency.shape, [6, 32, 32], name);
        const s = out.saliency.dataSync();
        assert.ok(s.every((v) => v >= 0 && v <= 1), `${name}: saliency lies in [0, 1]`);
        assert.ok(out.logits.dataSync().every(Number.isFinite), `${name}: finite logits`);
      });
      const step = createTrainStep(model, tf.train.adam(3e-3));
      const losses: number[] = [];
      for (let i = 0; i < 15; i++) losses.push((await step(batch)).loss);
      const first = mean(losses.slice(0, 3)), last = mean(losses.slice(-3));
      assert.ok(
        last < 0.8 * first,
        `${name}: loss fell from ${first.toFixed(3)} to ${last.toFixed(3)}`,
      );
      model.dispose();
    }
  }
  tf.dispose([data.images, data.labels, data.masks]);
});

Deno.test("the weights' gradients on wasm match cpu for ResNet-18 and MobileNetV2 with the attention head", async () => {
  // Covers the kernels these models add over the reference net: the 7×7 stride-2 stem, the 3×3
  // stride-2 max pool, stride-2 depthwise convs, ReLU6 (clipByValue) and the gate.
  for (const backbone of ["resnet18", "mobilenet_v2"]) {
    const model = tiny(backbone, "attention", { inputSize: 64, seed: 2 });
    const { cpu: want, wasm: got, paths } = await cpuAndWasmGradients(model, 64);
    // Some gradients are zero but for rounding (the shift of a batch norm that feeds another
    // through a conv), so the absolute tolerance is relative to the largest gradient anywhere.
    const largest = Math.max(...want.map((g) => Math.max(...g.map(Math.abs))));
    want.forEach((w, i) => {
      assertClose(got[i], w, { rtol: 2e-3, atol: 1e-5 * largest, label: paths[i] });
    });
    model.dispose();
  }
});

Deno.test("a split run (stages to k, stages from k + 1, forwardHead) gives forward()'s logits and saliency, gated heads too", () => {
  const cases: [string, string, Partial<TwoBranchOptions>][] = [
    ["resnet18", "attention", { headOptions: { gate: "residual" } }],
    ["mobilenet_v2", "attention", { headOptions: { gate: "multiplicative" } }],
    ["vgg11", "decoder", {}],
    ["plain_cnn", "cam", {}],
  ];
  for (const [backbone, head, extra] of cases) {
    const model = tiny(backbone, head, { ...extra, seed: 6 });
    tf.tidy(() => {
      const x = tf.tensor4d(randn([2, 32, 32, 3], 4), [2, 32, 32, 3]);
      const out = model.forward(x);
      const k = 1;
      const first = model.forwardStages(x, { to: k });
      const rest = model.forwardStages(first[k], { from: k + 1 });
      const logits = model.forwardHead(rest[rest.length - 1]);
      assertClose(logits.dataSync(), out.logits.dataSync(), {
        rtol: 1e-5,
        label: `${backbone} + ${head} logits`,
      });
      const saliency = model.forwardSaliency([...first, ...rest]);
      assertClose(saliency.dataSync(), out.saliencyLogits.dataSync(), {
        rtol: 1e-5,
        label: `${backbone} + ${head} saliency`,
      });
    });
    model.dispose();
  }
});

Deno.test("with the attention head the classifier sees the gated features, not the raw ones", () => {
  for (const gate of ["residual", "multiplicative"] as const) {
    const model = tiny("plain_cnn", "attention", { headOptions: { gate } });
    tf.tidy(() => {
      const x = tf.tensor4d(randn([2, 32, 32, 3], 8), [2, 32, 32, 3]);
      const last = model.forwardStages(x).at(-1)!;
      const logits = model.forwardHead(last).dataSync();
      const gated = model.saliencyHead.gate(last)!;
      const expected = model.classifier.apply(gated).dataSync();
      assertClose(logits, expected, { rtol: 1e-6, label: gate });
      const ungated = model.classifier.apply(last).dataSync();
      assert.ok(
        logits.some((v, i) => Math.abs(v - ungated[i]) > 1e-4),
        `${gate}: gating changes the logits`,
      );
      // The gate's map is the sigmoid of the saliency logits before upsampling: at the last
      // stage's resolution (4×4 here) a residual gate scales each pixel by 1 + map, a
      // multiplicative one by map.
      const ratio = tf.div(gated, tf.add(last, 1e-12)).dataSync();
      assert.ok(
        ratio.every((r, i) =>
          last.dataSync()[i] === 0 || (gate === "residual" ? r >= 1 && r <= 2 : r >= 0 && r <= 1)
        ),
        `${gate}: gated / raw lies in the map's range`,
      );
    });
    model.dispose();
  }
});

Deno.test("attentionGate(): a multiplicative zero map zeroes the features, a residual one leaves them", () => {
  tf.tidy(() => {
    const f = tf.tensor4d(randn([2, 3, 3, 4], 10), [2, 3, 3, 4]);
    const zero = tf.zeros([2, 3, 3, 1]) as tf.Tensor4D;
    const one = tf.ones([2, 3, 3, 1]) as tf.Tensor4D;
    assert.ok(attentionGate(f, zero, "multiplicative").dataSync().every((v) => v === 0));
    assert.deepEqual(attentionGate(f, zero, "residual").dataSync(), f.dataSync());
    assert.deepEqual(attentionGate(f, one, "multiplicative").dataSync(), f.dataSync());
    assertClose(attentionGate(f, one, "residual").dataSync(), f.mul(2).dataSync());
    // Worked example: one pixel of map 0.25 over features [4, −8].
    const g = tf.tensor4d([4, -8], [1, 1, 1, 2]), m = tf.tensor4d([0.25], [1, 1, 1, 1]);
    assert.deepEqual([...attentionGate(g, m, "residual").dataSync()], [5, -10]);
    assert.deepEqual([...attentionGate(g, m, "multiplicative").dataSync()], [1, -2]);
    assert.throws(
      () => attentionGate(f, tf.zeros([2, 2, 3, 1]) as tf.Tensor4D, "residual"),
      /attentionGate needs a map of shape \[2, 3, 3, 1\] for features of shape \[2, 3, 3, 4\], got \[2, 2, 3, 1\]/,
    );
    assert.throws(
      () => attentionGate(f, zero, "additive" as "residual"),
      /Option "gate" must be "residual" or "multiplicative", got "additive"/,
    );
  });
});

Deno.test("createModel(model.config) rebuilds the same model, through JSON too", () => {
  // Every option given: the config is the options, plus the architecture.
  const options: TwoBranchOptions = {
    backbone: "mobilenet_v2",
    backboneOptions: { width: 0.25, stem: "small" },
    saliencyHead: "decoder",
    headOptions: { channels: 8, skips: 2 },
    numClasses: 4,
    inputSize: [16, 24],
    inputChannels: 1,
    dropout: 0.2,
    seed: 9,
  };
  const model = createTwoBranchModel(options);
  assert.deepEqual(model.config, { architecture: "two-branch", ...options });
  assert.deepEqual(model.inputShape, [16, 24, 1]);
  const copy = createModel(JSON.parse(JSON.stringify(model.config)));
  assert.equal(copy.countParams(), model.countParams());
  assert.deepEqual([...copy.variables().keys()], [...model.variables().keys()]);
  tf.tidy(() => {
    const x = tf.tensor4d(randn([2, 16, 24, 1], 5), [2, 16, 24, 1]);
    const a = model.forward(x), b = copy.forward(x);
    assert.deepEqual(b.logits.dataSync(), a.logits.dataSync(), "same seed, same weights");
    assert.deepEqual(b.saliency.dataSync(), a.saliency.dataSync());
  });
  copy.dispose();
  model.dispose();
  // Defaults are filled in.
  const plain = createTwoBranchModel({ backbone: "vgg11", numClasses: 2, inputSize: 16 });
  assert.deepEqual(plain.config, {
    architecture: "two-branch",
    backbone: "vgg11",
    backboneOptions: { width: 1 },
    saliencyHead: "cam",
    headOptions: {},
    numClasses: 2,
    inputSize: 16,
    inputChannels: 3,
    dropout: 0,
    seed: 0,
  });
  const again = createModel(plain.config);
  assert.equal(again.countParams(), plain.countParams());
  again.dispose();
  plain.dispose();
});

Deno.test("the model's variables have unique, stable paths under its parts", () => {
  const model = tiny("resnet18", "attention");
  const paths = [...model.variables().keys()];
  assert.equal(new Set(paths).size, paths.length);
  assert.ok(paths.includes("two_branch/resnet18/layer1/block0/conv1/conv/kernel"));
  assert.ok(paths.includes("two_branch/resnet18/layer2/block0/shortcut/bn/moving_variance"));
  assert.ok(paths.includes("two_branch/classifier/fc/kernel"));
  assert.ok(paths.includes("two_branch/saliency/map_bn/gamma"));
  assert.ok(
    paths.every((p) => /^two_branch\/(resnet18|classifier|saliency)\//.test(p)),
    "every path is under a part",
  );
  const parts = model.backbone.countParams() + model.classifier.countParams() +
    model.saliencyHead.countParams();
  assert.equal(model.countParams(), parts);
  const again = tiny("resnet18", "attention");
  assert.deepEqual([...again.variables().keys()], paths);
  assert.deepEqual(
    [...model.backbone.stageVariables(4, model.name).keys()],
    paths.filter((p) => p.startsWith("two_branch/resnet18/layer4/")),
  );
  again.dispose();
  model.dispose();
});

Deno.test("dropout acts only in training mode and repeats with the seed", () => {
  const make = () => tiny("plain_cnn", "cam", { dropout: 0.5, seed: 3 });
  const a = make(), b = make();
  tf.tidy(() => {
    const x = tf.tensor4d(randn([4, 32, 32, 3], 12), [4, 32, 32, 3]);
    const opts = { training: true, updateStats: false };
    const evalA = a.forward(x).logits.dataSync(), evalA2 = a.forward(x).logits.dataSync();
    assert.deepEqual(evalA2, evalA, "inference is deterministic");
    const trainA1 = a.forward(x, opts).logits.dataSync();
    const trainA2 = a.forward(x, opts).logits.dataSync();
    assert.notDeepEqual(trainA2, trainA1, "each training pass draws a new mask");
    assert.equal(a.classifier.dropoutStep, 2);
    assert.deepEqual(b.forward(x, opts).logits.dataSync(), trainA1, "same seed, same masks");
    b.classifier.dropoutStep = 1;
    assert.deepEqual(b.forward(x, opts).logits.dataSync(), trainA2, "the stream resumes at a step");
  });
  a.dispose();
  b.dispose();
});

Deno.test("createTwoBranchModel() names a bad backbone, head or option and the valid choices", () => {
  const base = { backbone: "plain_cnn", numClasses: 2, inputSize: 16 };
  const start = tf.memory().numTensors;
  assert.throws(
    () => createTwoBranchModel({ ...base, backbone: "resnet152" }),
    /Unknown backbone "resnet152": expected one of deit_base_patch16_224, .*mobilenet_v2, plain_cnn, reference, resnet101, resnet18, resnet34, resnet50, vgg11, vgg11_bn, vit_b_16/,
  );
  assert.throws(
    () => createTwoBranchModel({ ...base, saliencyHead: "gradcam" }),
    /Unknown saliency head "gradcam": expected one of attention, cam, decoder, reference/,
  );
  assert.equal(tf.memory().numTensors, start, "a failed build frees what it made");
  assert.throws(
    () => createTwoBranchModel({ ...base, saliencyHead: "cam", headOptions: { gate: "residual" } }),
    /Option "gate" does not apply to saliency head cam: it takes no options of its own/,
  );
  assert.throws(
    () =>
      createTwoBranchModel({
        ...base,
        headOptions: { gate: "both" as "residual" },
        saliencyHead: "attention",
      }),
    /Option "gate" of saliency head attention must be "residual" or "multiplicative", got "both"/,
  );
  assert.throws(
    () => createTwoBranchModel({ ...base, saliencyHead: "decoder", headOptions: { skips: 4 } }),
    /Option "skips" of saliency head decoder must be an integer from 1 to 3, got 4/,
  );
  assert.throws(
    () => createTwoBranchModel({ ...base, backbone: "vgg11", backboneOptions: { stem: "small" } }),
    /Option "stem" does not apply to backbone vgg11/,
  );
  assert.throws(
    () => createTwoBranchModel({ ...base, backboneOptions: { seed: 3 } as { width?: number } }),
    /Option "backboneOptions.seed" is set by the model: use the model's "seed" option/,
  );
  assert.throws(
    () => createTwoBranchModel({ ...base, backbone: "resnet18", inputSize: 48 }),
    /Option "inputSize" must be a multiple of 32 for backbone resnet18 .*got 48/,
  );
  assert.throws(
    () => createTwoBranchModel({ ...base, inputSize: [16, 0] }),
    /Option "inputSize" must be a positive integer or \[height, width\], got \[16,0\]/,
  );
  assert.throws(
    () => createTwoBranchModel({ ...base, numClasses: 1 }),
    /Option "numClasses" must be an integer of at least 2, got 1/,
  );
  assert.throws(
    () => createTwoBranchModel({ ...base, inputChannels: 4 as 3 }),
    /Option "inputChannels" must be 1 or 3, got 4/,
  );
  assert.throws(
    () => createTwoBranchModel({ ...base, dropout: 1 }),
    /Option "dropout" must be in \[0, 1\), got 1/,
  );
  assert.throws(
    () => createTwoBranchModel({ ...base, widht: 2 } as TwoBranchOptions),
    /Option "widht" is not an option of a two-branch model: expected backbone, backboneOptions/,
  );
  assert.throws(
    () => createModel({ ...base, architecture: "three-branch" }),
    /Unknown model architecture "three-branch"/,
  );
  assert.equal(tf.memory().numTensors, start);
});

Deno.test("forward() and the heads reject inputs of the wrong shape, naming both shapes", () => {
  const model = tiny("plain_cnn", "decoder");
  tf.tidy(() => {
    assert.throws(
      () => model.forward(tf.zeros([1, 32, 32, 1]) as tf.Tensor4D),
      /two_branch: "images" must have shape \[n, 32, 32, 3\] for this model, got \[1, 32, 32, 1\]/,
    );
    const stages = model.forwardStages(tf.zeros([1, 32, 32, 3]) as tf.Tensor4D);
    assert.throws(
      () => model.forwardSaliency(stages.slice(1)),
      /Saliency head decoder needs all 4 stage outputs \(stage1, stage2, stage3, stage4\), got 3/,
    );
    assert.throws(
      () => model.forwardHead(stages[0]),
      /two_branch expects the last stage's output as \[n, h, w, 32\], got \[1, 32, 32, 4\]/,
    );
    assert.throws(
      () => model.saliencyHead.apply(stages, [32, 0]),
      /needs the input size as \[height, width\] of positive integers, got \[32,0\]/,
    );
  });
  model.dispose();
  assert.throws(
    () => createSaliencyHead("cam", { featureInfo: [] }),
    /Option "featureInfo" of saliency head cam must list at least one stage/,
  );
});

Deno.test("forward() in training mode updates each running statistic once, and none with updateStats false", () => {
  for (const head of listSaliencyHeads()) {
    const model = tiny("mobilenet_v2", head);
    const stats = () =>
      new Map(
        [...model.variables()].filter(([, v]) => !v.trainable).map((
          [p, v],
        ) => [p, v.dataSync().slice()]),
      );
    const x = tf.tensor4d(randn([2, 32, 32, 3], 13), [2, 32, 32, 3]);
    const before = stats();
    tf.dispose(Object.values(model.forward(x, { training: true, updateStats: false })));
    for (const [path, value] of stats()) assert.deepEqual(value, before.get(path), path);
    tf.dispose(Object.values(model.forward(x, { training: true })));
    const after = stats();
    const changed = [...after].filter(([p, v]) => v.some((e, i) => e !== before.get(p)![i]));
    const headStats = [...after.keys()].filter((p) => p.startsWith("two_branch/saliency/"));
    assert.ok(changed.length > 0, `${head}: a training pass updates the statistics`);
    assert.ok(
      headStats.every((p) => changed.some(([q]) => q === p)),
      `${head}: the head's own batch norms update too`,
    );
    // Once per pass: the same as one forwardSaliency() in training mode on a fresh twin.
    const twin = tiny("mobilenet_v2", head);
    tf.tidy(() => {
      const stages = twin.forwardStages(x, { training: true, updateStats: false });
      twin.forwardSaliency(stages, { training: true });
    });
    const twinStats = twin.variables();
    for (const path of headStats) {
      assertClose(twinStats.get(path)!.dataSync(), after.get(path)!, { label: path });
    }
    twin.dispose();
    x.dispose();
    model.dispose();
  }
});

Deno.test("tf.memory().numTensors stays flat across repeated forward calls, in both modes", () => {
  for (const head of listSaliencyHeads()) {
    const model = tiny("resnet18", head, { dropout: 0.1 });
    const x = tf.tensor4d(randn([2, 32, 32, 3], 1), [2, 32, 32, 3]);
    const run = (training: boolean) => {
      const out = model.forward(x, { training });
      tf.dispose([out.logits, out.saliency, out.saliencyLogits]);
      tf.dispose(model.forwardStages(x));
    };
    run(true);
    run(false);
    const after = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      run(true);
      run(false);
    }
    assert.equal(tf.memory().numTensors, after, head);
    x.dispose();
    model.dispose();
  }
});

Deno.test("inputNorm normalises inside forward() and forwardStages() from stage 0, as feeding (x − mean) / std to a model without it", () => {
  const norm = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
  for (const inputNorm of ["imagenet", norm] as const) {
    const normed = tiny("resnet18", "decoder", { inputNorm, seed: 8 });
    const plain = tiny("resnet18", "decoder", { seed: 8 });
    tf.tidy(() => {
      const x = tf.randomUniform([2, 32, 32, 3], 0, 1, "float32", 4) as tf.Tensor4D;
      const z = tf.div(tf.sub(x, norm.mean), norm.std) as tf.Tensor4D;
      const a = normed.forward(x), b = plain.forward(z);
      assertClose(a.logits.dataSync(), b.logits.dataSync(), { rtol: 1e-5, label: "logits" });
      assertClose(a.saliency.dataSync(), b.saliency.dataSync(), { rtol: 1e-5, label: "saliency" });
      const stages = normed.forwardStages(x, { to: 1 });
      assertClose(stages[1].dataSync(), plain.forwardStages(z, { to: 1 })[1].dataSync(), {
        rtol: 1e-5,
        label: "stages from 0",
      });
      // From a later stage the input is a stage output, which is never normalised.
      const rest = normed.forwardStages(stages[1], { from: 2 });
      assertClose(
        rest.at(-1)!.dataSync(),
        plain.forwardStages(stages[1], { from: 2 }).at(-1)!
          .dataSync(),
        { rtol: 1e-6, label: "stages from 2" },
      );
      // The gradient with respect to the images in [0, 1] flows through the normalisation.
      const g = tf.grad((t: tf.Tensor) => tf.sum(normed.forward(t as tf.Tensor4D).logits))(x);
      const gz = tf.grad((t: tf.Tensor) => tf.sum(plain.forward(t as tf.Tensor4D).logits))(z);
      assertClose(g.dataSync(), tf.div(gz, norm.std).dataSync(), { rtol: 1e-3, label: "grad" });
    });
    assert.deepEqual(normed.config.inputNorm, inputNorm);
    assert.equal("inputNorm" in plain.config, false, "no normalisation, no config entry");
    normed.dispose();
    plain.dispose();
  }
});

Deno.test("classifierOptions and inputNorm go into the config only when set, and createModel() rebuilds them", () => {
  const model = tiny("vgg11_bn", "cam", {
    classifierOptions: { hidden: [16] },
    inputNorm: "imagenet",
    dropout: 0.5,
  });
  assert.deepEqual(model.config.classifierOptions, { hidden: [16], pooledSize: 1 });
  assert.equal(model.config.inputNorm, "imagenet");
  const copy = createModel(JSON.parse(JSON.stringify(model.config)));
  assert.deepEqual([...copy.variables().keys()], [...model.variables().keys()]);
  assert.ok(copy.variables().has("two_branch/classifier/hidden1/kernel"));
  tf.tidy(() => {
    const x = tf.randomUniform([2, 32, 32, 3], 0, 1, "float32", 2) as tf.Tensor4D;
    assert.deepEqual(copy.forward(x).logits.dataSync(), model.forward(x).logits.dataSync());
  });
  copy.dispose();
  model.dispose();
  const plain = tiny("plain_cnn", "cam", { classifierOptions: { hidden: [], pooledSize: 1 } });
  assert.equal("classifierOptions" in plain.config, false, "the defaults are not recorded");
  plain.dispose();
});

Deno.test("createTwoBranchModel() names a bad classifier option or input normalisation", () => {
  const base = { backbone: "plain_cnn", numClasses: 2, inputSize: 16 };
  const start = tf.memory().numTensors;
  assert.throws(
    () => createTwoBranchModel({ ...base, classifierOptions: { hidden: [0] } }),
    /Option "classifierOptions.hidden" must be an array of positive integers, got \[0\]/,
  );
  assert.throws(
    () => createTwoBranchModel({ ...base, classifierOptions: { pooledSize: 0 } }),
    /Option "classifierOptions.pooledSize" must be a positive integer, got 0/,
  );
  assert.throws(
    () =>
      createTwoBranchModel({
        ...base,
        classifierOptions: { layers: 2 } as unknown as TwoBranchOptions["classifierOptions"],
      }),
    /Option "classifierOptions.layers" is not a classifier option: expected hidden, pooledSize/,
  );
  assert.throws(
    () => createTwoBranchModel({ ...base, inputChannels: 1, inputNorm: "imagenet" }),
    /Option "inputNorm" "imagenet" is for 3 input channels, the model has 1: give \{ mean: \[m\], std: \[s\] \}/,
  );
  assert.throws(
    () => createTwoBranchModel({ ...base, inputNorm: { mean: [0, 0, 0], std: [1, 0, 1] } }),
    /Option "inputNorm" needs 3 finite means and 3 positive stds \(one per input channel\)/,
  );
  assert.throws(
    () => createTwoBranchModel({ ...base, inputNorm: "cifar" as "imagenet" }),
    /Option "inputNorm" must be "imagenet" or \{ mean, std \}, got "cifar"/,
  );
  assert.equal(tf.memory().numTensors, start);
});
