import assert from "node:assert/strict";
import {
  convertTensor,
  createTwoBranchModel,
  pretrainedKeyMap,
  type TwoBranchNet,
  type TwoBranchOptions,
} from "../../lib/models/mod.ts";
import { useEngines } from "../_helpers.ts";

await useEngines();

/** torchvision's state-dict keys and shapes (tests/backbones/torchvision_reference.py --keys). */
const FIXTURE: { models: Record<string, Record<string, number[]>> } = JSON.parse(
  await Deno.readTextFile(new URL("../fixtures/torchvision_keys.json", import.meta.url)),
);

const VGG_CLASSIFIER: Partial<TwoBranchOptions> = {
  classifierOptions: { hidden: [64, 64], pooledSize: 7 },
};

function model(backbone: string, extra: Partial<TwoBranchOptions> = {}): TwoBranchNet {
  return createTwoBranchModel({
    backbone,
    numClasses: 1000,
    inputSize: 224,
    ...(backbone === "vgg11_bn" ? VGG_CLASSIFIER : {}),
    ...extra,
  });
}

Deno.test("pretrainedKeyMap() names exactly torchvision's state-dict keys, each variable once, for all six backbones", () => {
  for (const [name, keys] of Object.entries(FIXTURE.models)) {
    // Names do not depend on the width, so a narrow model has the same keys.
    const net = model(name, { backboneOptions: { width: 0.125 } });
    const { entries, ignorable } = pretrainedKeyMap(net, "torchvision");
    const named = [...entries.keys(), ...ignorable.keys()].sort();
    assert.deepEqual(named, Object.keys(keys).sort(), name);
    assert.ok([...ignorable.keys()].every((k) => k.endsWith(".num_batches_tracked")), name);
    const paths = [...entries.values()].map((e) => e.path);
    assert.equal(new Set(paths).size, paths.length, `${name}: one key per variable`);
    const expected = [...net.variables().keys()].filter((p) =>
      !p.startsWith("two_branch/saliency/")
    );
    assert.deepEqual(
      paths.sort(),
      expected.sort(),
      `${name}: every backbone and classifier variable`,
    );
    for (const [key, e] of entries) {
      assert.equal(
        e.classifier,
        /^(fc|classifier)\./.test(key),
        `${name} ${key} is${e.classifier ? "" : " not"} the classifier`,
      );
    }
    net.dispose();
  }
});

Deno.test("at width 1 every source shape is torchvision's", () => {
  for (const name of ["resnet18", "resnet50", "mobilenet_v2"]) {
    const net = model(name);
    for (const [key, e] of pretrainedKeyMap(net, "torchvision").entries) {
      assert.deepEqual(e.sourceShape, FIXTURE.models[name][key], `${name} ${key}`);
      assert.equal(
        e.sourceShape.reduce((a, b) => a * b, 1),
        e.shape.reduce((a, b) => a * b, 1),
        `${name} ${key} keeps its size`,
      );
    }
    net.dispose();
  }
  // VGG with torchvision's classifier widths would be 120M parameters: check the
  // features at width 1 and the first dense layer's flatten of 512 × 7 × 7.
  const vgg = model("vgg11_bn");
  const { entries } = pretrainedKeyMap(vgg, "torchvision");
  for (const [key, e] of entries) {
    if (!e.classifier) assert.deepEqual(e.sourceShape, FIXTURE.models.vgg11_bn[key], key);
  }
  assert.deepEqual(entries.get("classifier.0.weight")!.sourceShape, [64, 25088]);
  assert.deepEqual(entries.get("classifier.0.weight")!.shape, [25088, 64]);
  assert.deepEqual(entries.get("classifier.6.weight")!.sourceShape, [1000, 64]);
  vgg.dispose();
});

Deno.test("the names map each layer where it belongs", () => {
  const expected = {
    torchvision: {
      resnet50: {
        "layer2.0.downsample.0.weight": "resnet50/layer2/block0/shortcut/conv/kernel",
        "layer3.5.bn3.running_mean": "resnet50/layer3/block5/conv3/bn/moving_mean",
      },
      resnet101: {
        "layer3.22.conv2.weight": "resnet101/layer3/block22/conv2/conv/kernel",
      },
      mobilenet_v2: {
        "features.0.0.weight": "mobilenet_v2/stage1/stem/conv/kernel",
        "features.1.conv.0.0.weight": "mobilenet_v2/stage1/block0/depthwise/conv/kernel",
        "features.1.conv.1.weight": "mobilenet_v2/stage1/block0/project/conv/kernel",
        "features.1.conv.2.bias": "mobilenet_v2/stage1/block0/project/bn/beta",
        "features.2.conv.0.1.weight": "mobilenet_v2/stage2/block1/expand/bn/gamma",
        "features.7.conv.1.0.weight": "mobilenet_v2/stage4/block6/depthwise/conv/kernel",
        "features.17.conv.3.running_var": "mobilenet_v2/stage5/block16/project/bn/moving_variance",
        "features.18.0.weight": "mobilenet_v2/stage5/head/conv/kernel",
        "classifier.1.weight": "classifier/fc/kernel",
      },
      vgg11_bn: {
        "features.0.bias": "vgg11_bn/block1/conv1/conv/bias",
        "features.12.running_mean": "vgg11_bn/block3/conv2/bn/moving_mean",
        "features.25.weight": "vgg11_bn/block5/conv2/conv/kernel",
        "classifier.3.weight": "classifier/hidden2/kernel",
      },
    },
    timm: {
      mobilenet_v2: {
        "conv_stem.weight": "mobilenet_v2/stage1/stem/conv/kernel",
        "blocks.0.0.conv_dw.weight": "mobilenet_v2/stage1/block0/depthwise/conv/kernel",
        "blocks.0.0.bn2.bias": "mobilenet_v2/stage1/block0/project/bn/beta",
        "blocks.3.2.conv_pwl.weight": "mobilenet_v2/stage4/block8/project/conv/kernel",
        "blocks.6.0.bn1.running_var": "mobilenet_v2/stage5/block16/expand/bn/moving_variance",
        "bn2.weight": "mobilenet_v2/stage5/head/bn/gamma",
        "classifier.bias": "classifier/fc/bias",
      },
      resnet34: {
        "layer4.0.downsample.1.weight": "resnet34/layer4/block0/shortcut/bn/gamma",
      },
      vgg11_bn: {
        "pre_logits.fc1.weight": "classifier/hidden1/kernel",
        "head.fc.bias": "classifier/fc/bias",
      },
    },
  };
  for (const naming of ["torchvision", "timm"] as const) {
    for (const [name, keys] of Object.entries(expected[naming])) {
      const net = model(name, { backboneOptions: { width: 0.125 } });
      const { entries } = pretrainedKeyMap(net, naming);
      for (const [key, path] of Object.entries(keys)) {
        assert.equal(entries.get(key)?.path, `two_branch/${path}`, `${naming} ${key}`);
      }
      net.dispose();
    }
  }
});

Deno.test("convert() turns PyTorch's layouts into ours, and VGG's (c, h, w) flatten into (h, w, c)", () => {
  const net = model("vgg11_bn", {
    backboneOptions: { width: 1 / 256 },
    classifierOptions: { hidden: [1, 1], pooledSize: 2 },
  });
  // Width 1/256: two channels in block5; the first dense layer sees 2 × 2 × 2 features.
  const { entries } = pretrainedKeyMap(net, "torchvision");
  const fc1 = entries.get("classifier.0.weight")!;
  assert.deepEqual(fc1.sourceShape, [1, 8]);
  // PyTorch's order is (c, h, w): value 100c + 10h + w at each position.
  const torch = new Float32Array([0, 1, 10, 11, 100, 101, 110, 111]);
  assert.deepEqual([...fc1.convert(torch, [1, 8])], [0, 100, 1, 101, 10, 110, 11, 111]);
  const timmFc1 = pretrainedKeyMap(net, "timm").entries.get("pre_logits.fc1.weight")!;
  assert.deepEqual(timmFc1.sourceShape, [1, 2, 2, 2]);
  assert.deepEqual([...timmFc1.convert(torch, [1, 2, 2, 2])], [0, 100, 1, 101, 10, 110, 11, 111]);
  assert.throws(
    () => fc1.convert(torch, [8, 1]),
    /Cannot convert "classifier.0.weight" for two_branch\/classifier\/hidden1\/kernel: expected shape \[1, 8\] \(8 values\), got \[8, 1\] \(8 values\)/,
  );
  net.dispose();
  // A conv weight [out 2, in 1, 1, 2] to [1, 2, in 1, out 2], a depthwise [2, 1, 1, 2] likewise.
  assert.deepEqual([...convertTensor(new Float32Array([1, 2, 3, 4]), [2, 1, 1, 2])], [1, 3, 2, 4]);
  assert.deepEqual([...convertTensor(new Float32Array([5, 6]), [2])], [5, 6]);
  assert.throws(
    () => convertTensor(new Float32Array(3), [2, 2]),
    /convertTensor needs a rank 1, 2 or 4 array whose length is its shape's size: got 3 values for shape \[2, 2\]/,
  );
});

Deno.test("a classifier of another shape is ignorable, with the reason; other backbones and namings are refused", () => {
  const vgg = model("vgg11_bn", { backboneOptions: { width: 0.125 }, classifierOptions: {} });
  const { entries, ignorable } = pretrainedKeyMap(vgg, "torchvision");
  assert.ok(![...entries.values()].some((e) => e.classifier));
  assert.match(
    ignorable.get("classifier.0.weight")!,
    /the model's classifier has 0 hidden layers, not 2 \(use classifierOptions \{ hidden: \[4096, 4096\], pooledSize: 7 \} to load it\)/,
  );
  assert.ok(pretrainedKeyMap(vgg, "timm").ignorable.has("head.fc.bias"));
  vgg.dispose();
  const resnet = model("resnet18", {
    backboneOptions: { width: 0.125 },
    classifierOptions: { hidden: [8] },
  });
  assert.match(
    pretrainedKeyMap(resnet, "torchvision").ignorable.get("fc.weight")!,
    /has 1 hidden layers, not 0/,
  );
  assert.throws(
    () => pretrainedKeyMap(resnet, "keras" as "timm"),
    /Cannot map pretrained weights named "keras": expected "torchvision" or "timm"/,
  );
  resnet.dispose();
  for (const name of ["vgg11", "plain_cnn"]) {
    const net = createTwoBranchModel({ backbone: name, numClasses: 2, inputSize: 32 });
    assert.throws(
      () => pretrainedKeyMap(net, "torchvision"),
      new RegExp(
        `Backbone ${name} has no torchvision counterpart: pretrained weights map onto resnet18, resnet34, resnet50, resnet101, mobilenet_v2, vgg11_bn`,
      ),
    );
    net.dispose();
  }
});
