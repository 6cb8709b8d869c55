// Our torchvision-shaped backbones against torchvision itself, on the same weights: a Python
// script (torchvision_reference.py, run with the Python that has torch) writes seeded state
// dicts, inputs, logits and stage outputs; each test loads a state dict through
// pretrainedKeyMap() and compares.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { tf } from "../../lib/deps.ts";
import {
  createTwoBranchModel,
  loadPretrained,
  pretrainedKeyMap,
  type PretrainedNaming,
  type TwoBranchNet,
  type TwoBranchOptions,
} from "../../lib/models/mod.ts";
import { assertClose, useEngines } from "../_helpers.ts";

await useEngines();

const PYTHON = Deno.env.get("SALIENCY_LAB_TORCH_PYTHON") ?? "/usr/bin/python3";
const SCRIPT = fileURLToPath(new URL("./torchvision_reference.py", import.meta.url));

/** Why the comparison cannot run here, or null when it can. */
const missing = await new Deno.Command(PYTHON, {
  args: ["-c", "import torch, torchvision"],
  stdout: "null",
  stderr: "null",
}).output().then(
  (o) => (o.success ? null : `${PYTHON} cannot import torch and torchvision`),
  () => `${PYTHON} does not run`,
);
if (missing) {
  console.warn(
    `torchvision_match_test: skipped, ${missing} (on Debian: apt-get install python3-torchvision, ` +
      `or set SALIENCY_LAB_TORCH_PYTHON)`,
  );
}

interface Stored {
  key: string;
  shape: number[];
  dtype: "float32" | "int64";
  offset?: number;
}

interface Reference {
  size: number;
  batch: number;
  tensors: Stored[];
  timm: Stored[];
  input: Stored;
  logits: Stored;
  stages: Stored[];
}

/** Model options that give torchvision's function for each architecture. */
const OPTIONS: Record<string, Partial<TwoBranchOptions>> = {
  resnet18: {},
  resnet34: {},
  resnet50: {},
  resnet101: {},
  mobilenet_v2: { dropout: 0.2 },
  // torchvision's VGG classifier, but 64 wide instead of 4096 (the script's too).
  vgg11_bn: { classifierOptions: { hidden: [64, 64], pooledSize: 7 }, dropout: 0.5 },
};

interface References {
  index: Record<string, Reference>;
  bytes: Uint8Array;
  /** The folder with `<name>.pth` and `<name>.safetensors`, removed when the tests end. */
  dir: string;
}

let reference: Promise<References> | null = null;

/** Runs the Python script once, into a temporary folder removed when the process ends. */
function loadReference(): Promise<References> {
  reference ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "torchvision_match_" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    {
      const out = await new Deno.Command(PYTHON, {
        args: [SCRIPT, "--out", dir],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!out.success) {
        throw new Error(
          `${SCRIPT} failed: ${new TextDecoder().decode(out.stderr).slice(-2000)}`,
        );
      }
      const json = JSON.parse(await Deno.readTextFile(`${dir}/index.json`));
      return { index: json.models, bytes: await Deno.readFile(`${dir}/data.bin`), dir };
    }
  })();
  return reference;
}

function values(bytes: Uint8Array, stored: Stored): Float32Array {
  const n = stored.shape.reduce((a, b) => a * b, 1);
  return new Float32Array(bytes.buffer, bytes.byteOffset + stored.offset!, n);
}

/**
 * Fills `model` from a state dict through pretrainedKeyMap(): every array fills its variable or
 * is ignorable, and every mapped key is in the file.
 */
function assign(
  model: TwoBranchNet,
  naming: PretrainedNaming,
  tensors: Stored[],
  bytes: Uint8Array,
): void {
  const { entries, ignorable } = pretrainedKeyMap(model, naming);
  const variables = model.variables();
  const seen = new Set<string>();
  for (const stored of tensors) {
    const entry = entries.get(stored.key);
    if (!entry) {
      assert.ok(ignorable.has(stored.key), `${naming} key ${stored.key} is mapped or ignorable`);
      continue;
    }
    seen.add(stored.key);
    assert.deepEqual(stored.shape, entry.sourceShape, stored.key);
    const data = entry.convert(values(bytes, stored), stored.shape);
    tf.tidy(() => variables.get(entry.path)!.assign(tf.tensor(data, entry.shape)));
  }
  const unfilled = [...entries.keys()].filter((k) => !seen.has(k));
  assert.deepEqual(unfilled, [], `every mapped ${naming} key is in the state dict`);
  const filled = new Set([...entries.values()].map((e) => e.path));
  const left = [...variables.keys()].filter((p) =>
    !filled.has(p) && !p.startsWith(`${model.name}/saliency/`)
  );
  assert.deepEqual(left, [], "every backbone and classifier variable is filled");
}

function build(name: string, ref: Reference): TwoBranchNet {
  return createTwoBranchModel({
    backbone: name,
    numClasses: 1000,
    inputSize: ref.size,
    inputNorm: "imagenet",
    saliencyHead: "cam",
    ...OPTIONS[name],
  });
}

/** max |a − b| / max |b|. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

function argmax(row: ArrayLike<number>, start: number, n: number): number {
  let best = start;
  for (let i = start; i < start + n; i++) if (row[i] > row[best]) best = i;
  return best - start;
}

for (const name of Object.keys(OPTIONS)) {
  Deno.test({
    name: `${name} at width 1 computes torchvision's ${name} on its weights: stages and logits`,
    ignore: missing !== null,
    async fn() {
      const { index, bytes, dir } = await loadReference();
      const ref = index[name];
      const model = build(name, ref);
      try {
        assign(model, "torchvision", ref.tensors, bytes);
        const [n, , h, w] = ref.input.shape;
        const errors: string[] = [];
        tf.tidy(() => {
          // Images in [0, 1], NCHW in the file; the model normalises them itself.
          const x = tf.transpose(tf.tensor4d(values(bytes, ref.input), [n, 3, h, w]), [0, 2, 3, 1]);
          const stages = model.forwardStages(x as tf.Tensor4D);
          assert.equal(stages.length, ref.stages.length);
          stages.forEach((s, i) => {
            const want = values(bytes, ref.stages[i]);
            const got = tf.transpose(s, [0, 3, 1, 2]).dataSync();
            assert.deepEqual([...tf.transpose(s, [0, 3, 1, 2]).shape], ref.stages[i].shape);
            const label = `${name} stage ${model.featureInfo[i].name}`;
            errors.push(
              `${model.featureInfo[i].name} ${relativeError(got, want).toExponential(1)}`,
            );
            assertClose(got, want, { rtol: 1e-3, atol: 0, label });
          });
          const logits = model.forwardHead(stages[stages.length - 1]).dataSync();
          const want = values(bytes, ref.logits);
          errors.push(`logits ${relativeError(logits, want).toExponential(1)}`);
          assertClose(logits, want, { rtol: 1e-3, atol: 0, label: `${name} logits` });
          for (let b = 0; b < n; b++) {
            assert.equal(argmax(logits, b * 1000, 1000), argmax(want, b * 1000, 1000), "arg-max");
          }
        });
        console.log(`${name} ${n}×${h}×${w}: relative max error ${errors.join(", ")}`);
        // loadPretrained() from torch.save's file and from safetensors fills every variable with
        // the same values, so the model computes the logits checked above from either file.
        const want = model.variables();
        for (const format of ["pth", "safetensors"]) {
          const loaded = build(name, ref);
          try {
            const file = `${dir}/${name}.${format}`;
            const report = await loadPretrained(loaded, file, { quiet: true });
            assert.equal(report.naming, "torchvision", file);
            assert.ok(report.missing.every((p) => p.includes("/saliency/")), report.missing.join());
            for (const [path, v] of loaded.variables()) {
              if (path.includes("/saliency/")) continue;
              assert.deepEqual(v.dataSync(), want.get(path)!.dataSync(), `${format}: ${path}`);
            }
          } finally {
            loaded.dispose();
          }
        }
      } finally {
        model.dispose();
      }
    },
  });
}

Deno.test({
  name: "a state dict named as timm names it loads the same weights through the timm map",
  ignore: missing !== null,
  async fn() {
    const { index, bytes } = await loadReference();
    for (const name of ["resnet18", "mobilenet_v2", "vgg11_bn"]) {
      const ref = index[name];
      assert.ok(
        ref.timm.some((t, i) => t.key !== ref.tensors[i].key) || name.startsWith("resnet"),
        `${name}: the timm names differ from torchvision's`,
      );
      const a = build(name, ref), b = build(name, ref);
      try {
        assign(a, "torchvision", ref.tensors, bytes);
        assign(b, "timm", ref.timm, bytes);
        const vb = b.variables();
        for (const [path, v] of a.variables()) {
          assert.deepEqual(vb.get(path)!.dataSync(), v.dataSync(), `${name} ${path}`);
        }
      } finally {
        a.dispose();
        b.dispose();
      }
    }
  },
});
