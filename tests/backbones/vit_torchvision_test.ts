// Our vision transformers against torchvision's VisionTransformer on the same seeded weights
// (vit_reference.py, run with the Python that has torch): vit_b_16 at 32 px loaded through
// loadPretrained() with torchvision's names, a narrow ViT at 224 px with timm's names, and the
// position-embedding resampling against F.interpolate(mode="bicubic", antialias=True).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { tf } from "../../lib/deps.ts";
import {
  createTwoBranchModel,
  loadPretrained,
  type PretrainedReport,
  type TwoBranchNet,
} from "../../lib/models/mod.ts";
import { resamplePositions, VisionTransformer } from "../../lib/backbones/vit.ts";
import { assertClose, useEngines } from "../_helpers.ts";
import { requirePython } from "../_python.ts";

await useEngines();

const PYTHON = "/usr/bin/python3";
const SCRIPT = fileURLToPath(new URL("./vit_reference.py", import.meta.url));
const ok = await requirePython("torchvision", "vit_torchvision_test");

let reference: Promise<string> | null = null;

/** Runs the Python script once, into a temporary folder removed when the process ends. */
function referenceDir(): Promise<string> {
  reference ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "vit_reference_" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    const out = await new Deno.Command(PYTHON, { args: [SCRIPT, "--out", dir], stderr: "piped" })
      .output();
    if (!out.success) {
      throw new Error(`${SCRIPT} failed: ${new TextDecoder().decode(out.stderr).slice(-2000)}`);
    }
    return dir;
  })();
  return reference;
}

interface Case {
  size: number;
  batch: number;
  input: number[];
  logits: number[];
  tokens: number[];
  tokenValues: number[];
}

/** max |a − b| / max |b|. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return tf.tidy(() => {
    const want = tf.tensor1d(Array.from(b));
    const diff = tf.max(tf.abs(tf.sub(tf.tensor1d(Array.from(a)), want)));
    return tf.div(diff, tf.max(tf.abs(want))).dataSync()[0];
  });
}

/**
 * Loads `file` into `model` and compares its tokens after the final norm (class token first)
 * and the class-token logits (the classifier's dense layer, which holds torchvision's head, on
 * the class token) with torchvision's; returns the relative errors.
 */
async function compare(
  model: TwoBranchNet,
  file: string,
  ref: Case,
  naming: string,
): Promise<{ tokens: number; logits: number; report: PretrainedReport }> {
  const report = await loadPretrained(model, file);
  assert.equal(report.naming, naming);
  assert.deepEqual(report.missing.filter((p) => !p.includes("/saliency/")), []);
  const vit = model.backbone as VisionTransformer;
  const { tokens, logits } = tf.tidy(() => {
    const x = tf.tensor4d(ref.input, [ref.batch, ref.size, ref.size, 3]);
    const mean = tf.tensor1d([0.485, 0.456, 0.406]), std = tf.tensor1d([0.229, 0.224, 0.225]);
    const t = vit.forwardFeatures(tf.div(tf.sub(x, mean), std) as tf.Tensor4D);
    const [n, , c] = t.shape;
    const cls = tf.reshape(tf.slice(t, [0, 0, 0], [n, 1, c]), [n, c]) as tf.Tensor2D;
    return { tokens: t.dataSync(), logits: model.classifier.fc.apply(cls).dataSync() };
  });
  assertClose(tokens, ref.tokenValues, { rtol: 1e-3, atol: 0, label: "tokens" });
  assertClose(logits, ref.logits, { rtol: 1e-3, atol: 0, label: "logits" });
  // The last stage is the patch tokens of the same pass, as a grid.
  const grid = tf.tidy(() =>
    model.forwardStages(tf.tensor4d(ref.input, [ref.batch, ref.size, ref.size, 3]))[1].dataSync()
  );
  const [n, t, c] = ref.tokens;
  const patches = Array.from(
    { length: n },
    (_, b) => ref.tokenValues.slice((b * t + 1) * c, (b + 1) * t * c),
  ).flat();
  assertClose(grid, patches, { rtol: 1e-3, atol: 0, label: "encoder stage" });
  return {
    tokens: relativeError(tokens, ref.tokenValues),
    logits: relativeError(logits, ref.logits),
    report,
  };
}

Deno.test({
  name: "vit_b_16 computes torchvision's vit_b_16 logits on its weights (torchvision names, 32 px)",
  ignore: !ok,
  async fn() {
    const dir = await referenceDir();
    const ref: Case = JSON.parse(await Deno.readTextFile(`${dir}/vit_b_16.json`));
    const model = createTwoBranchModel({
      backbone: "vit_b_16",
      backboneOptions: { imageSize: 32 } as Record<string, unknown>,
      numClasses: 1000,
      inputSize: 32,
      inputNorm: "imagenet",
    });
    try {
      const errors = await compare(model, `${dir}/vit_b_16.safetensors`, ref, "torchvision");
      assert.deepEqual(errors.report.resampled, []);
      console.log(`vit_b_16 32×32: relative max error ${errors.tokens}, ${errors.logits}`);
    } finally {
      model.dispose();
    }
  },
});

Deno.test({
  name:
    "vit_tiny_patch16_224 at width 0.25 computes torchvision's network of that width at 224 px from timm's names",
  ignore: !ok,
  async fn() {
    const dir = await referenceDir();
    const ref: Case = JSON.parse(await Deno.readTextFile(`${dir}/vit_tiny_w025.json`));
    const model = createTwoBranchModel({
      backbone: "vit_tiny_patch16_224",
      backboneOptions: { width: 0.25 },
      numClasses: 1000,
      inputSize: 224,
      inputNorm: "imagenet",
    });
    try {
      const errors = await compare(model, `${dir}/vit_tiny_w025.timm.safetensors`, ref, "timm");
      console.log(`vit_tiny w0.25 224×224: relative max error ${errors.tokens}, ${errors.logits}`);
    } finally {
      model.dispose();
    }
  },
});

Deno.test({
  name:
    "loadPretrained() resamples 224-px position embeddings for a 64-px ViT as timm does, and computes torchvision's network at 64 px",
  ignore: !ok,
  async fn() {
    const dir = await referenceDir();
    const ref: Case & { posEmbed: number[] } = JSON.parse(
      await Deno.readTextFile(`${dir}/vit_tiny_w025_64.json`),
    );
    const model = createTwoBranchModel({
      backbone: "vit_tiny_patch16_224",
      backboneOptions: { width: 0.25, imageSize: 64 } as Record<string, unknown>,
      numClasses: 1000,
      inputSize: 64,
      inputNorm: "imagenet",
    });
    try {
      const { report, ...errors } = await compare(
        model,
        `${dir}/vit_tiny_w025.timm.safetensors`,
        ref,
        "timm",
      );
      assert.deepEqual(report.resampled, [{
        key: "pos_embed",
        path: "two_branch/vit_tiny_patch16_224/patch_embed/pos_embed",
        from: [1, 197, 48],
        to: [1, 17, 48],
      }]);
      const posEmbed = model.variables().get(report.resampled[0].path)!;
      assertClose(posEmbed.dataSync(), ref.posEmbed, {
        rtol: 1e-5,
        atol: 1e-6,
        label: "pos_embed",
      });
      console.log(
        `vit_tiny w0.25 224 → 64 px: relative max error ${errors.tokens}, ${errors.logits}`,
      );
    } finally {
      model.dispose();
    }
  },
});

Deno.test({
  name:
    "resamplePositions() equals PyTorch's antialiased bicubic F.interpolate, shrinking and growing",
  ignore: !ok,
  async fn() {
    const dir = await referenceDir();
    const ref = JSON.parse(await Deno.readTextFile(`${dir}/resample.json`));
    const grid = tf.tensor3d(ref.grid, [14, 14, 4]);
    for (const [size, want] of Object.entries(ref.sizes as Record<string, number[]>)) {
      const [h, w] = size.split("x").map(Number);
      const got = tf.tidy(() => resamplePositions(grid, [h, w]).dataSync());
      assertClose(got, want, { rtol: 1e-5, atol: 1e-6, label: size });
    }
    grid.dispose();
  },
});
