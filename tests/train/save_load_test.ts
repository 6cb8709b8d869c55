import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { DataError } from "../../lib/data/errors.ts";
import { createReferenceNet } from "../../lib/models/reference_net.ts";
import type { TwoBranchModel } from "../../lib/models/types.ts";
import { loadModel, saveModel } from "../../lib/train/save_load.ts";
import { assertClose, randn, useEngines } from "../_helpers.ts";

await useEngines();

function net(seed = 3, numClasses = 3) {
  return createReferenceNet({ numClasses, inputSize: 16, width: 0.25, seed });
}

/** Runs a forward pass in inference mode; returns logits and saliency as arrays. */
function outputs(model: TwoBranchModel): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(randn([2, 16, 16, 3], 9), [2, 16, 16, 3]);
    const out = model.forward(x);
    return [out.logits.dataSync() as Float32Array, out.saliency.dataSync() as Float32Array];
  });
}

/** Trains a few steps so that the weights and batch-norm statistics are not their initial values. */
function perturb(model: TwoBranchModel): void {
  const opt = tf.train.sgd(0.1);
  for (let i = 0; i < 2; i++) {
    tf.tidy(() => {
      const x = tf.tensor4d(randn([4, 16, 16, 3], 20 + i), [4, 16, 16, 3]);
      opt.minimize(
        () => tf.mean(tf.square(model.forward(x, { training: true }).logits)) as tf.Scalar,
        false,
        model.trainableVariables(),
      );
    });
  }
  opt.dispose();
}

async function withSaved<T>(
  fn: (dir: string, model: TwoBranchModel) => Promise<T>,
): Promise<T> {
  const root = await Deno.makeTempDir();
  const model = net();
  try {
    await saveModel(model, `${root}/m`);
    return await fn(`${root}/m`, model);
  } finally {
    model.dispose();
    await Deno.remove(root, { recursive: true });
  }
}

async function editJson(file: string, edit: (json: Record<string, unknown>) => void) {
  const json = JSON.parse(await Deno.readTextFile(file));
  edit(json);
  await Deno.writeTextFile(file, JSON.stringify(json));
}

/** Expects loadModel(dir) to fail with a DataError matching `pattern`, leaking no tensor. */
async function expectLoadError(dir: string, pattern: RegExp, file: string, field?: string) {
  const before = tf.memory().numTensors;
  const error = await loadModel(dir).then(
    () => assert.fail("loadModel() should have failed"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof DataError, `expected a DataError, got ${error}`);
  assert.match(error.message, pattern);
  assert.equal(error.file, file);
  assert.equal(error.field, field);
  assert.equal(tf.memory().numTensors, before, "a failed load leaves no tensors behind");
}

Deno.test("saveModel() then loadModel() gives identical outputs and batch-norm statistics", async () => {
  const root = await Deno.makeTempDir();
  const model = net(7);
  perturb(model);
  await saveModel(model, `${root}/saved`);
  const loaded = await loadModel(`${root}/saved`);
  assert.deepEqual(loaded.config, model.config);
  const [a, b] = [outputs(model), outputs(loaded)];
  assertClose(b[0], a[0], { rtol: 0, atol: 0, label: "logits" });
  assertClose(b[1], a[1], { rtol: 0, atol: 0, label: "saliency" });
  const stats = "reference_net/stem/bn/moving_mean";
  assertClose(
    loaded.variables().get(stats)!.dataSync(),
    model.variables().get(stats)!.dataSync(),
    { rtol: 0, atol: 0, label: stats },
  );
  assert.notDeepEqual([...model.variables().get(stats)!.dataSync()], [0, 0, 0, 0, 0, 0, 0, 0]);
  model.dispose();
  loaded.dispose();
  await Deno.remove(root, { recursive: true });
});

Deno.test("model.json records the config and every variable's path, shape, dtype, offset and length", async () => {
  await withSaved(async (dir, model) => {
    const json = JSON.parse(await Deno.readTextFile(`${dir}/model.json`));
    assert.equal(json.format, "saliency-lab-model");
    assert.equal(json.formatVersion, 1);
    assert.deepEqual(json.config, model.config);
    const entries = json.weights.entries as {
      path: string;
      shape: number[];
      dtype: string;
      byteOffset: number;
      byteLength: number;
    }[];
    assert.deepEqual(entries.map((e) => e.path), [...model.variables().keys()]);
    let offset = 0;
    for (const e of entries) {
      const v = model.variables().get(e.path)!;
      assert.deepEqual(e.shape, v.shape);
      assert.equal(e.dtype, "float32");
      assert.equal(e.byteOffset, offset);
      assert.equal(e.byteLength, v.size * 4);
      offset += e.byteLength;
    }
    const bytes = await Deno.readFile(`${dir}/weights.bin`);
    assert.equal(bytes.length, offset);
    assert.equal(json.weights.byteLength, offset);
    assert.match(json.weights.sha256, /^[0-9a-f]{64}$/);
  });
});

Deno.test("saveModel() over an existing model replaces it and leaves no temporary folders", async () => {
  const root = await Deno.makeTempDir();
  const a = net(1), b = net(2);
  await saveModel(a, `${root}/m`);
  await saveModel(b, `${root}/m`);
  const loaded = await loadModel(`${root}/m`);
  assertClose(outputs(loaded)[0], outputs(b)[0], { rtol: 0, atol: 0, label: "second save wins" });
  const names = [];
  for await (const e of Deno.readDir(root)) names.push(e.name);
  assert.deepEqual(names, ["m"]);
  a.dispose();
  b.dispose();
  loaded.dispose();
  await Deno.remove(root, { recursive: true });
});

Deno.test("loadModel() names model.json when it is missing or not JSON", async () => {
  await withSaved(async (dir) => {
    await Deno.writeTextFile(`${dir}/model.json`, "{ not json");
    await expectLoadError(dir, /invalid JSON/, `${dir}/model.json`);
    await Deno.remove(`${dir}/model.json`);
    await expectLoadError(dir, /does not exist/, `${dir}/model.json`);
  });
});

Deno.test("loadModel() names the bad field of model.json", async () => {
  const cases: [string, (j: Record<string, unknown>) => void, RegExp, string][] = [
    ["format", (j) => (j.format = "keras"), /expected "saliency-lab-model", got "keras"/, "format"],
    [
      "formatVersion",
      (j) => (j.formatVersion = 99),
      /version 99 is newer/,
      "formatVersion",
    ],
    ["config", (j) => delete j.config, /expected an object, got nothing/, "config"],
    [
      "shape",
      (j) => ((j.weights as { entries: { shape: unknown }[] }).entries[2].shape = "3x3"),
      /expected an array, got "3x3"/,
      "weights.entries[2].shape",
    ],
    [
      "byteLength",
      (j) => ((j.weights as { entries: { byteLength: number }[] }).entries[0].byteLength += 4),
      /takes \d+ bytes, but byteLength says/,
      "weights.entries[0].byteLength",
    ],
    [
      "dtype",
      (j) => ((j.weights as { entries: { dtype: string }[] }).entries[1].dtype = "float16"),
      /expected "float32" or "int32", got "float16"/,
      "weights.entries[1].dtype",
    ],
  ];
  for (const [, edit, pattern, field] of cases) {
    await withSaved(async (dir) => {
      await editJson(`${dir}/model.json`, edit);
      await expectLoadError(dir, pattern, `${dir}/model.json`, field);
    });
  }
});

Deno.test("loadModel() names config.architecture when the architecture is unknown", async () => {
  await withSaved(async (dir) => {
    await editJson(
      `${dir}/model.json`,
      (j) => ((j.config as { architecture: string }).architecture = "resnet-9000"),
    );
    await expectLoadError(
      dir,
      /Unknown model architecture "resnet-9000": expected one of .*reference/,
      `${dir}/model.json`,
      "config.architecture",
    );
  });
});

Deno.test("loadModel() names the variable whose stored shape does not fit the architecture", async () => {
  await withSaved(async (dir) => {
    // The config now asks for 4 classes, while the stored classifier has 3.
    await editJson(
      `${dir}/model.json`,
      (j) => ((j.config as { numClasses: number }).numClasses = 4),
    );
    const json = JSON.parse(await Deno.readTextFile(`${dir}/model.json`));
    const index = json.weights.entries.findIndex((e: { path: string }) =>
      e.path === "reference_net/fc/kernel"
    );
    await expectLoadError(
      dir,
      /variable "reference_net\/fc\/kernel" does not fit: shape \[32,3\] in the file, \[32,4\] in the model/,
      `${dir}/model.json`,
      `weights.entries[${index}]`,
    );
  });
});

Deno.test("loadModel() names a missing and an extra variable", async () => {
  await withSaved(async (dir) => {
    await editJson(`${dir}/model.json`, (j) => {
      (j.weights as { entries: { path: string }[] }).entries[0].path = "reference_net/stem/renamed";
    });
    await expectLoadError(
      dir,
      /the model's variable "reference_net\/stem\/conv\/kernel" has no entry/,
      `${dir}/model.json`,
      "weights.entries",
    );
  });
  await withSaved(async (dir) => {
    await editJson(`${dir}/model.json`, (j) => {
      const w = j.weights as { entries: Record<string, unknown>[] };
      w.entries.push({ ...w.entries[0], path: "reference_net/extra" });
    });
    const json = JSON.parse(await Deno.readTextFile(`${dir}/model.json`));
    await expectLoadError(
      dir,
      /entry "reference_net\/extra" matches no variable/,
      `${dir}/model.json`,
      `weights.entries[${json.weights.entries.length - 1}]`,
    );
  });
});

Deno.test("loadModel() names weights.bin when it is truncated, corrupt or missing", async () => {
  await withSaved(async (dir) => {
    const bytes = await Deno.readFile(`${dir}/weights.bin`);
    await Deno.writeFile(`${dir}/weights.bin`, bytes.slice(0, bytes.length - 100));
    await expectLoadError(
      dir,
      new RegExp(`truncated: ${bytes.length - 100} bytes, but .*model.json says ${bytes.length}`),
      `${dir}/weights.bin`,
    );
    const flipped = bytes.slice();
    flipped[1234] ^= 0xff;
    await Deno.writeFile(`${dir}/weights.bin`, flipped);
    await expectLoadError(dir, /corrupt: its SHA-256 is/, `${dir}/weights.bin`);
    await Deno.remove(`${dir}/weights.bin`);
    await expectLoadError(
      dir,
      /does not exist \(.*model.json refers to it\)/,
      `${dir}/weights.bin`,
    );
  });
});

Deno.test("saveModel() then loadModel() round-trips a two-branch model (ResNet-18, attention head)", async () => {
  const { createTwoBranchModel } = await import("../../lib/models/two_branch.ts");
  const model = createTwoBranchModel({
    backbone: "resnet18",
    backboneOptions: { width: 0.125, stem: "small" },
    saliencyHead: "attention",
    numClasses: 3,
    inputSize: 16,
    seed: 4,
  });
  const dir = await Deno.makeTempDir();
  try {
    await saveModel(model, dir);
    const loaded = await loadModel(dir);
    assert.deepEqual(loaded.config, JSON.parse(JSON.stringify(model.config)));
    const [a, b] = [outputs(model), outputs(loaded)];
    assertClose(b[0], a[0], { rtol: 0, atol: 0, label: "logits" });
    assertClose(b[1], a[1], { rtol: 0, atol: 0, label: "saliency" });
    loaded.dispose();
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("saveModel() then loadModel() keeps the input normalisation and the classifier's hidden layers and pooled grid", async () => {
  const { createTwoBranchModel } = await import("../../lib/models/two_branch.ts");
  const model = createTwoBranchModel({
    backbone: "vgg11_bn",
    backboneOptions: { width: 0.125 },
    classifierOptions: { hidden: [8, 6], pooledSize: 3 },
    dropout: 0.5,
    inputNorm: { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] },
    numClasses: 3,
    inputSize: 32,
    seed: 6,
  });
  perturb32(model);
  const dir = await Deno.makeTempDir();
  try {
    await saveModel(model, dir);
    const json = JSON.parse(await Deno.readTextFile(`${dir}/model.json`));
    assert.deepEqual(json.config.classifierOptions, { hidden: [8, 6], pooledSize: 3 });
    assert.deepEqual(json.config.inputNorm, { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] });
    const loaded = await loadModel(dir);
    assert.deepEqual(loaded.config, JSON.parse(JSON.stringify(model.config)));
    tf.tidy(() => {
      const x = tf.tensor4d(randn([2, 32, 32, 3], 9), [2, 32, 32, 3]);
      const a = model.forward(x).logits.dataSync(), b = loaded.forward(x).logits.dataSync();
      assertClose(b, a, { rtol: 0, atol: 0, label: "logits" });
      // The split run from stage 0 normalises as forward() does.
      const plain = loaded.forwardHead(loaded.forwardStages(x, { from: 0 }).at(-1)!).dataSync();
      assertClose(plain, a, { rtol: 0, atol: 0, label: "forwardStages normalises too" });
    });
    loaded.dispose();
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

/** As {@linkcode perturb}, for 32×32 inputs. */
function perturb32(model: TwoBranchModel): void {
  const opt = tf.train.sgd(0.05);
  tf.tidy(() => {
    const x = tf.tensor4d(randn([4, 32, 32, 3], 30), [4, 32, 32, 3]);
    opt.minimize(
      () => tf.mean(tf.square(model.forward(x, { training: true }).logits)) as tf.Scalar,
      false,
      model.trainableVariables(),
    );
  });
  opt.dispose();
}

Deno.test("saveModel() with classNames keeps them in model.json and loadModel() gives them back; without, null", async () => {
  const root = await Deno.makeTempDir();
  const model = net();
  try {
    await saveModel(model, `${root}/named`, { classNames: ["benign", "malignant", "normal"] });
    const json = JSON.parse(await Deno.readTextFile(`${root}/named/model.json`));
    assert.deepEqual(json.classNames, ["benign", "malignant", "normal"]);
    assert.equal(json.formatVersion, 1, "an added optional field: older readers still read it");
    const named = await loadModel(`${root}/named`);
    assert.deepEqual(named.classNames, ["benign", "malignant", "normal"]);
    assert.ok(Object.isFrozen(named.classNames));
    named.dispose();

    await saveModel(model, `${root}/plain`);
    const plainJson = JSON.parse(await Deno.readTextFile(`${root}/plain/model.json`));
    assert.ok(!("classNames" in plainJson));
    const plain = await loadModel(`${root}/plain`);
    assert.equal(plain.classNames, null);
    plain.dispose();

    // A model.json written before class names were kept: no field at all still loads.
    await editJson(`${root}/named/model.json`, (j) => delete j.classNames);
    const old = await loadModel(`${root}/named`);
    assert.equal(old.classNames, null);
    old.dispose();

    await assert.rejects(
      saveModel(model, `${root}/bad`, { classNames: ["a", "b"] }),
      (e: Error) =>
        e instanceof RangeError &&
        /"classNames" must hold one name per class.*\(3\), got 2/.test(e.message),
    );
    await assert.rejects(
      saveModel(model, `${root}/bad`, { classNames: ["a", "", "c"] }),
      /"classNames" must hold non-empty strings, got "" at 1/,
    );
    assert.ok(!(await Deno.stat(`${root}/bad`).catch(() => null)), "a refused save writes nothing");
  } finally {
    model.dispose();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("loadModel() names classNames in model.json when they are not one string per class", async () => {
  const cases: [(j: Record<string, unknown>) => void, RegExp, string][] = [
    [(j) => (j.classNames = "cats"), /expected an array, got "cats"/, "classNames"],
    [(j) => (j.classNames = ["a", 7, "c"]), /expected a non-empty string, got 7/, "classNames[1]"],
    [(j) => (j.classNames = ["a", "b"]), /expected 3 names \(numClasses\), got 2/, "classNames"],
    [
      (j) => {
        j.classNames = ["a", "b"];
        delete j.numClasses;
      },
      /expected one name per class of the model \(3\), got 2/,
      "classNames",
    ],
  ];
  for (const [edit, pattern, field] of cases) {
    await withSaved(async (dir) => {
      await editJson(`${dir}/model.json`, edit);
      await expectLoadError(dir, pattern, `${dir}/model.json`, field);
    });
  }
});
