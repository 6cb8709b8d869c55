// Worked examples of the attention explainers on a tiny vision transformer whose attention is
// set by hand, transformer attribution against PyTorch's autograd on seeded weights
// (attention_reference.py), and their refusal of other models.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { tf } from "../../lib/deps.ts";
import { createTwoBranchModel, type TwoBranchNet } from "../../lib/models/two_branch.ts";
import { loadPretrained } from "../../lib/models/pretrained.ts";
import { createReferenceNet } from "../../lib/models/reference_net.ts";
import { attentionRollout } from "../../lib/explainers/attention_rollout.ts";
import { transformerAttribution } from "../../lib/explainers/transformer_attribution.ts";
import { normalizeMaps, upsampleMaps } from "../../lib/explainers/core.ts";
import { assertClose, useEngines, warmUp } from "../_helpers.ts";
import { PYTHON, requirePython } from "../_python.ts";

await useEngines();
const hasTorch = await requirePython("torchvision", "the transformer attribution autograd test");

/** The sign of each token (class token, then the 2×2 patches in row order). */
const SIGNS = [1, 1, -1, -1, 1];

/**
 * ViT-Tiny at width 1/64 (3 heads of 1 channel, 12 blocks) on 32×32 images: 5 tokens. Every
 * token is its position embedding, ±[1, −1, 0] (the patch embedding is zero); layer norm makes
 * it ±[√1.5, −√1.5, 0]. Queries and keys read its first channel, scaled so that the logit of
 * token i attending to j is ln 3 · s_i · s_j: a token attends 3 times as much to tokens of its
 * own sign. Attention output and MLP are zero (when `last` is false), so the tokens, and the
 * attention, stay the same in every block.
 */
function handSet(): TwoBranchNet {
  const model = createTwoBranchModel({
    backbone: "vit_tiny_patch16_224",
    backboneOptions: { width: 1 / 64, imageSize: 32 } as Record<string, unknown>,
    numClasses: 2,
    inputSize: 32,
  });
  const a = Math.sqrt(Math.log(3) / 1.5);
  const set = (suffix: string, make: (v: tf.Variable) => tf.Tensor) => {
    for (const [path, v] of model.variables()) {
      if (path.endsWith(suffix)) tf.tidy(() => v.assign(make(v)));
    }
  };
  set("patch_embed/proj/kernel", (v) => tf.zerosLike(v));
  set("encoder/cls_token", (v) => tf.zerosLike(v));
  set("patch_embed/pos_embed", () => tf.tensor3d([SIGNS.map((s) => [s, -s, 0])]));
  set("attn/qkv/kernel", () => {
    const k = new Float32Array(3 * 9);
    for (let h = 0; h < 3; h++) k[h] = k[3 + h] = a; // row 0: queries and keys of every head
    return tf.tensor2d(k, [3, 9]);
  });
  set("attn/proj/kernel", (v) => tf.zerosLike(v));
  set("mlp/fc2/kernel", (v) => tf.zerosLike(v));
  return model;
}

/** The attention matrix every block has, by hand: row i ∝ 3^(s_i · s_j). */
function attentionByHand(): number[][] {
  return SIGNS.map((si) => {
    const row = SIGNS.map((sj) => 3 ** (si * sj));
    const total = row.reduce((x, y) => x + y, 0);
    return row.map((x) => x / total);
  });
}

function matMul(x: number[][], y: number[][]): number[][] {
  return x.map((row) => y[0].map((_, j) => row.reduce((s, v, k) => s + v * y[k][j], 0)));
}

/**
 * The `[n, side, side]` grids `values` (patches in row order) as the explainers post-process
 * them, `[n, 16·side, 16·side]`.
 */
function postProcessed(values: number[], side = 2): Float32Array {
  const n = values.length / (side * side);
  return tf.tidy(() =>
    normalizeMaps(
      upsampleMaps(tf.relu(tf.tensor3d(values, [n, side, side])), [16 * side, 16 * side]),
    ).dataSync()
  ) as Float32Array;
}

Deno.test("attentionRollout() multiplies (A + I) / 2 through the 12 blocks and reads the patch rows, or the class row", () => {
  const model = handSet();
  warmUp(model);
  const images = tf.randomUniform([2, 32, 32, 3], 0, 1, "float32", 3) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const a = attentionByHand();
  const half = a.map((row, i) => row.map((v, j) => (v + (i === j ? 1 : 0)) / 2));
  let r = half;
  for (let b = 1; b < 12; b++) r = matMul(half, r);
  const patches = [1, 2, 3, 4].map((j) => [1, 2, 3, 4].reduce((s, i) => s + r[i][j], 0) / 4);
  const cls = [1, 2, 3, 4].map((j) => r[0][j]);
  // Patches 0 and 3 share the class token's sign: the class row favours them.
  assert.ok(cls[0] > cls[1] && cls[3] > cls[2]);
  for (const [readout, want] of [["patches", patches], ["class", cls]] as const) {
    const maps = attentionRollout(model, images, { readout });
    const got = maps.dataSync();
    maps.dispose();
    const expected = postProcessed(want);
    // The same map for both images: the attention does not depend on them here.
    assertClose(got.subarray(0, 1024), expected, { rtol: 1e-4, label: `${readout}, image 0` });
    assertClose(got.subarray(1024), expected, { rtol: 1e-4, label: `${readout}, image 1` });
  }
  assert.equal(tf.memory().numTensors, before, "no tensor leaks");
  images.dispose();
  model.dispose();
});

Deno.test("transformerAttribution() gives no relevance to attention that the score does not depend on", () => {
  // Every block's attention output is multiplied by a zero projection: ∇A = 0 everywhere.
  const model = handSet();
  warmUp(model);
  const images = tf.randomUniform([1, 32, 32, 3], 0, 1, "float32", 4) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const maps = transformerAttribution(model, images, { target: 1 });
  assert.ok(maps.dataSync().every((v) => v === 0));
  maps.dispose();
  assert.equal(tf.memory().numTensors, before, "no tensor leaks");
  images.dispose();
  model.dispose();
});

Deno.test({
  name:
    "transformerAttribution() equals Chefer et al.'s relevance from PyTorch's autograd gradients on the same seeded ViT",
  ignore: !hasTorch,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "attention_reference_" });
    const script = fileURLToPath(new URL("./attention_reference.py", import.meta.url));
    const model = createTwoBranchModel({
      backbone: "vit_tiny_patch16_224",
      backboneOptions: { width: 1 / 16, imageSize: 64 } as Record<string, unknown>,
      numClasses: 3,
      inputSize: 64,
    });
    try {
      const out = await new Deno.Command(PYTHON, { args: [script, "--out", dir], stderr: "piped" })
        .output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr).slice(-2000));
      const ref = JSON.parse(await Deno.readTextFile(`${dir}/vit_attr.json`));
      const report = await loadPretrained(model, `${dir}/vit_attr.safetensors`);
      assert.ok(report.loaded.includes("two_branch/classifier/fc/kernel"), "the head loads");
      // The score depends on every attention matrix: the gradients are far from zero.
      assert.ok(ref.maxGradient > 1e-3, `max |∂s/∂A| is ${ref.maxGradient}`);
      const images = tf.tensor4d(ref.input, [2, 64, 64, 3]);
      const before = tf.memory().numTensors;
      for (const readout of ["patches", "class"] as const) {
        const want: number[] = ref.relevance[readout];
        // Not a flat map: the worked example can tell patches apart.
        assert.ok(Math.min(...want) < 0.9 * Math.max(...want), `${readout} varies`);
        const maps = transformerAttribution(model, images, { target: ref.target, readout });
        const got = maps.dataSync();
        maps.dispose();
        // Another target gives another map (checked: off by up to 0.37 for target 0).
        assertClose(got, postProcessed(want, 4), { rtol: 1e-3, atol: 1e-5, label: readout });
      }
      assert.equal(tf.memory().numTensors, before, "no tensor leaks");
      images.dispose();
    } finally {
      model.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the attention explainers refuse a model without a vision transformer, in one line", () => {
  const model = createReferenceNet({ inputSize: 16, width: 0.125 });
  const images = tf.zeros([1, 16, 16, 3]) as tf.Tensor4D;
  for (const explainer of [attentionRollout, transformerAttribution]) {
    assert.throws(() => explainer(model, images), {
      name: "TypeError",
      message:
        /^Explainer "[a-z-]+" needs a vision transformer backbone \(vit_\*, deit_\*\), got model "reference_net"$/,
    });
  }
  const vit = handSet();
  assert.throws(
    () => attentionRollout(vit, tf.zeros([1, 32, 32, 3]), { readout: "cls" as "class" }),
    /Option "readout" must be "patches" or "class", got "cls"/,
  );
  images.dispose();
  model.dispose();
  vit.dispose();
});
