import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import {
  type Backbone,
  type BackboneOptions,
  createBackbone,
  listBackbones,
  registerBackbone,
} from "../../lib/backbones/mod.ts";
import { assertClose, randn, useEngines } from "../_helpers.ts";

await useEngines();

const FAMILIES = [
  "mobilenet_v2",
  "plain_cnn",
  "resnet18",
  "resnet34",
  "resnet50",
  "resnet101",
  "vgg11",
  "vgg11_bn",
];
/** The backbones with a `stem` option. */
const WITH_STEM = ["mobilenet_v2", "resnet18", "resnet34", "resnet50", "resnet101"];

/** Every registered backbone, and the `"small"` stem of those that have one. */
function variants(): { name: string; options: BackboneOptions }[] {
  return listBackbones().flatMap((name) => [
    { name, options: {} },
    ...(WITH_STEM.includes(name) ? [{ name, options: { stem: "small" as const } }] : []),
  ]);
}

function label(name: string, options: BackboneOptions): string {
  return options.stem ? `${name} (stem ${options.stem})` : name;
}

Deno.test("listBackbones() lists every family and filters by glob", () => {
  for (const name of FAMILIES) assert.ok(listBackbones().includes(name), name);
  assert.deepEqual(listBackbones("resnet*"), ["resnet101", "resnet18", "resnet34", "resnet50"]);
  assert.deepEqual(listBackbones("resnet?8"), ["resnet18"]);
  assert.deepEqual(listBackbones("vgg11*"), ["vgg11", "vgg11_bn"]);
  assert.deepEqual(listBackbones("*net*_v?"), ["mobilenet_v2"]);
  assert.deepEqual(listBackbones("res.et*"), [], "a dot in the glob is literal");
  assert.deepEqual(listBackbones("nothing*"), []);
});

Deno.test("every backbone's featureInfo matches its real stage outputs at 1 and 3 channels and two sizes", () => {
  for (const { name, options } of variants()) {
    for (const inputChannels of [1, 3] as const) {
      const backbone = createBackbone(name, { ...options, inputChannels, width: 0.125 });
      const info = backbone.featureInfo;
      const m = info[info.length - 1].reduction;
      assert.ok(info.every((s, i) => i === 0 || s.reduction >= info[i - 1].reduction));
      assert.equal(new Set(info.map((s) => s.name)).size, info.length, "stage names are unique");
      for (const [h, w] of [[m, m], [2 * m, 3 * m]]) {
        tf.tidy(() => {
          const x = tf.zeros([2, h, w, inputChannels]) as tf.Tensor4D;
          const stages = backbone.forwardStages(x);
          assert.equal(stages.length, info.length);
          stages.forEach((s, i) => {
            assert.deepEqual(
              s.shape,
              [2, h / info[i].reduction, w / info[i].reduction, info[i].channels],
              `${label(name, options)}, ${inputChannels} channels, ${h}×${w}: stage ${
                info[i].name
              }`,
            );
          });
        });
      }
      backbone.dispose();
    }
  }
});

Deno.test("every backbone run in two parts at every stage equals one full run", () => {
  for (const { name, options } of variants()) {
    const backbone = createBackbone(name, { ...options, inputChannels: 3, width: 0.125, seed: 7 });
    const m = backbone.featureInfo[backbone.featureInfo.length - 1].reduction;
    tf.tidy(() => {
      const x = tf.tensor4d(randn([2, m, m, 3], 3), [2, m, m, 3]);
      const full = backbone.forwardStages(x).map((t) => t.dataSync());
      for (let k = 0; k < full.length - 1; k++) {
        const head = backbone.forwardStages(x, { to: k });
        assert.equal(head.length, k + 1);
        const rest = backbone.forwardStages(head[k], { from: k + 1 });
        assert.equal(rest.length, full.length - k - 1);
        rest.forEach((t, j) => {
          assertClose(t.dataSync(), full[k + 1 + j], {
            rtol: 1e-5,
            label: `${label(name, options)} split after stage ${k}, stage ${k + 1 + j}`,
          });
        });
      }
      // A single stage in the middle, too (the vision transformers have two stages).
      if (full.length < 3) return;
      const mid = backbone.forwardStages(x, { to: 1 });
      const only = backbone.forwardStages(mid[1], { from: 2, to: 2 });
      assert.equal(only.length, 1);
      assertClose(only[0].dataSync(), full[2], { rtol: 1e-5, label: `${name} stage 2 alone` });
    });
    backbone.dispose();
  }
});

/**
 * The reference net keeps the variable paths its saved models have always had
 * (`reference/block1_conv1/…`): a layer's name starts with its stage's.
 */
const legacy = (backbone: string) => backbone === "reference";
const stageOf = (path: string) => path.split("/")[1].split("_")[0];

Deno.test("every backbone's variables have unique paths under its name and a stage name, and stageVariables() partitions them", () => {
  for (const name of listBackbones()) {
    const backbone = createBackbone(name, { width: 0.125 });
    const all = backbone.variables();
    const paths = [...all.keys()];
    assert.equal(new Set(paths).size, paths.length);
    const stageNames = backbone.featureInfo.map((s) => s.name);
    let counted = 0;
    backbone.featureInfo.forEach((stage, i) => {
      const own = backbone.stageVariables(i);
      assert.ok(own.size > 0, `${name} stage ${stage.name} has variables`);
      for (const [path, v] of own) {
        assert.ok(path.startsWith(`${name}/${stage.name}${legacy(name) ? "" : "/"}`), path);
        assert.equal(all.get(path), v);
      }
      counted += own.size;
      const prefixed = [...backbone.stageVariables(i, "model").keys()];
      assert.ok(
        prefixed.every((p) =>
          p.startsWith(`model/${name}/${stage.name}${legacy(name) ? "" : "/"}`)
        ),
      );
    });
    assert.equal(counted, all.size, `${name}: every variable belongs to one stage`);
    assert.ok(
      paths.every((p) => stageNames.includes(legacy(name) ? stageOf(p) : p.split("/")[1])),
    );
    // Batch norm statistics are saved; the vision transformers have layer norms only.
    assert.ok(
      paths.some((p) => p.endsWith("/bn/moving_mean")) ||
        paths.some((p) => /\/norm\/gamma$/.test(p)),
      "batch norm statistics are saved",
    );
    assert.equal(
      backbone.countParams(),
      backbone.trainableVariables().reduce((n, v) => n + v.size, 0),
    );
    backbone.dispose();
  }
});

Deno.test("the same seed gives the same weights, another seed different ones", () => {
  for (const name of listBackbones()) {
    const a = createBackbone(name, { width: 0.125, seed: 4 });
    const b = createBackbone(name, { width: 0.125, seed: 4 });
    const c = createBackbone(name, { width: 0.125, seed: 5 });
    const first = [...a.variables()].find(([p]) => p.endsWith("kernel"))!;
    const same = b.variables().get(first[0])!, other = c.variables().get(first[0])!;
    assert.deepEqual(same.dataSync(), first[1].dataSync(), `${name} seed 4 twice`);
    assert.notDeepEqual(other.dataSync(), first[1].dataSync(), `${name} seeds 4 and 5`);
    for (const m of [a, b, c]) m.dispose();
  }
});

/**
 * Each backbone's stage channels at width 0.125 and, but for the plain CNN,
 * at width 1 (torchvision's), with its parameter count at width 1:
 * torchvision's total minus its ImageNet classifier. resnet18 11,689,512 −
 * 513,000; resnet34 21,797,672 − 513,000; resnet50 25,557,032 − 2,049,000;
 * resnet101 44,549,160 − 2,049,000; mobilenet_v2 3,504,872 − 1,281,000;
 * vgg11_bn 132,868,840 − 123,642,856 (three dense layers); our vgg11 has none
 * of its 2,752 conv biases before batch norm. Bottleneck blocks end at four
 * times their width. MobileNetV2 rounds to multiples of 8 and keeps the last
 * conv at 1280 up to width 1.
 */
const SIZES: Record<string, { narrow: number[]; full?: number[]; params?: number }> = {
  plain_cnn: { narrow: [4, 8, 16, 32] },
  resnet18: { narrow: [8, 8, 16, 32, 64], full: [64, 64, 128, 256, 512], params: 11_176_512 },
  resnet34: { narrow: [8, 8, 16, 32, 64], full: [64, 64, 128, 256, 512], params: 21_284_672 },
  resnet50: { narrow: [8, 32, 64, 128, 256], full: [64, 256, 512, 1024, 2048], params: 23_508_032 },
  resnet101: {
    narrow: [8, 32, 64, 128, 256],
    full: [64, 256, 512, 1024, 2048],
    params: 42_500_160,
  },
  mobilenet_v2: { narrow: [8, 8, 8, 16, 1280], full: [16, 24, 32, 96, 1280], params: 2_223_872 },
  vgg11: { narrow: [8, 16, 32, 64, 64], full: [64, 128, 256, 512, 512], params: 9_225_984 - 2_752 },
  vgg11_bn: { narrow: [8, 16, 32, 64, 64], full: [64, 128, 256, 512, 512], params: 9_225_984 },
};

Deno.test("the width multiplier scales the stage channels and the parameter count", () => {
  for (const [name, { narrow }] of Object.entries(SIZES)) {
    const a = createBackbone(name, { width: 0.125 }), b = createBackbone(name, { width: 0.5 });
    assert.deepEqual(a.featureInfo.map((s) => s.channels), narrow, `${name} width 0.125`);
    assert.ok(b.countParams() > 2 * a.countParams(), name);
    a.dispose();
    b.dispose();
  }
});

Deno.test("at width 1 the backbones have torchvision's parameter counts less the classifier", () => {
  for (const [name, { full, params }] of Object.entries(SIZES)) {
    if (!full) continue;
    const backbone = createBackbone(name);
    assert.equal(backbone.countParams(), params, name);
    assert.deepEqual(backbone.featureInfo.map((s) => s.channels), full, name);
    backbone.dispose();
  }
});

Deno.test("the reductions follow the stem option", () => {
  const reductions = (name: string, options: BackboneOptions) => {
    const b = createBackbone(name, { ...options, width: 0.125 });
    const r = b.featureInfo.map((s) => s.reduction);
    b.dispose();
    return r;
  };
  assert.deepEqual(reductions("resnet18", {}), [2, 4, 8, 16, 32]);
  assert.deepEqual(reductions("resnet34", { stem: "small" }), [1, 1, 2, 4, 8]);
  assert.deepEqual(reductions("mobilenet_v2", {}), [2, 4, 8, 16, 32]);
  assert.deepEqual(reductions("mobilenet_v2", { stem: "small" }), [1, 1, 2, 4, 8]);
  assert.deepEqual(reductions("resnet50", {}), [2, 4, 8, 16, 32]);
  assert.deepEqual(reductions("resnet101", { stem: "small" }), [1, 1, 2, 4, 8]);
  assert.deepEqual(reductions("vgg11", {}), [1, 2, 4, 8, 16]);
  assert.deepEqual(reductions("vgg11_bn", {}), [1, 2, 4, 8, 32]);
  assert.deepEqual(reductions("plain_cnn", {}), [1, 2, 4, 8]);
});

Deno.test("createBackbone() names the bad name or option and the valid choices", () => {
  assert.throws(
    () => createBackbone("resnet152"),
    /Unknown backbone "resnet152": expected one of .*mobilenet_v2.*plain_cnn.*resnet101.*resnet18.*resnet34.*resnet50.*vgg11.*vgg11_bn/,
  );
  assert.throws(
    () => createBackbone("vgg11", { stem: "small" }),
    /Option "stem" does not apply to backbone vgg11: it takes inputChannels, width, seed/,
  );
  assert.throws(
    () => createBackbone("resnet18", { depth: 50 } as BackboneOptions),
    /Option "depth" does not apply to backbone resnet18: it takes inputChannels, width, seed, stem/,
  );
  assert.throws(
    () => createBackbone("plain_cnn", { inputChannels: 4 as 3 }),
    /Option "inputChannels" of backbone plain_cnn must be 1 or 3, got 4/,
  );
  assert.throws(
    () => createBackbone("mobilenet_v2", { width: 0 }),
    /Option "width" of backbone mobilenet_v2 must be a number in \(0, 16\], got 0/,
  );
  assert.throws(
    () => createBackbone("resnet34", { stem: "cifar" as "small" }),
    /Option "stem" of backbone resnet34 must be "imagenet" or "small", got "cifar"/,
  );
  assert.throws(
    () => createBackbone("vgg11", { seed: 0.5 }),
    /Option "seed" of backbone vgg11 must be an integer, got 0.5/,
  );
  assert.throws(() => registerBackbone("bad name", () => createBackbone("vgg11")), /"bad name"/);
  assert.throws(
    () => registerBackbone("resnet18", () => createBackbone("vgg11")),
    /backbone "resnet18": the name is taken/,
  );
});

Deno.test("forwardStages() rejects a bad stage range or an input of the wrong channels", () => {
  const backbone = createBackbone("plain_cnn", { width: 0.25, inputChannels: 1 });
  const x = tf.zeros([1, 8, 8, 3]) as tf.Tensor4D;
  assert.throws(
    () => backbone.forwardStages(x),
    /Backbone plain_cnn expects the input of stage 0 to be \[n, h, w, 1\] \(the images\), got \[1, 8, 8, 3\]/,
  );
  assert.throws(
    () => backbone.forwardStages(x, { from: 2 }),
    /input of stage 2 to be \[n, h, w, 16\] \(stage 1 \(stage2\)\), got \[1, 8, 8, 3\]/,
  );
  assert.throws(
    () => backbone.forwardStages(x, { from: 3, to: 1 }),
    /Cannot run stages 3 to 1 of backbone plain_cnn: it has stages 0 to 3/,
  );
  assert.throws(() => backbone.forwardStages(x, { to: 4 }), /stages 0 to 3/);
  assert.throws(() => backbone.stageVariables(4), /Backbone plain_cnn has no stage 4/);
  x.dispose();
  backbone.dispose();
});

Deno.test("forwardStages() in training mode updates batch-norm statistics only when asked", () => {
  const backbone: Backbone = createBackbone("resnet18", { width: 0.125, stem: "small" });
  const mean = () => backbone.variables().get("resnet18/stem/bn/moving_mean")!.dataSync().slice();
  const x = tf.tensor4d(randn([2, 8, 8, 3], 9, 2), [2, 8, 8, 3]);
  const before = mean();
  tf.dispose(backbone.forwardStages(x, { training: true, updateStats: false }));
  assert.deepEqual(mean(), before);
  tf.dispose(backbone.forwardStages(x, { training: true }));
  assert.notDeepEqual(mean(), before);
  x.dispose();
  backbone.dispose();
});

Deno.test("forwardStages() leaves no tensors behind and dispose() frees every variable", () => {
  const start = tf.memory().numTensors;
  for (const name of listBackbones()) {
    const backbone = createBackbone(name, { width: 0.125 });
    const m = backbone.featureInfo[backbone.featureInfo.length - 1].reduction;
    const x = tf.zeros([1, m, m, 3]) as tf.Tensor4D;
    tf.dispose(backbone.forwardStages(x, { training: true }));
    // The first inference pass keeps each folded kernel; later ones add nothing.
    tf.dispose(backbone.forwardStages(x));
    const after = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose(backbone.forwardStages(x));
    assert.equal(tf.memory().numTensors, after, name);
    // A training pass moves the running statistics: the next inference pass folds anew.
    tf.dispose(backbone.forwardStages(x, { training: true }));
    tf.dispose(backbone.forwardStages(x));
    assert.equal(tf.memory().numTensors, after, `${name}, after new statistics`);
    x.dispose();
    backbone.dispose();
  }
  assert.equal(tf.memory().numTensors, start);
});
