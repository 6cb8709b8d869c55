import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  createReferenceNet,
  encodeSafetensors,
  loadPretrained,
  type PretrainedKeyMapFn,
  type PretrainedKeyTarget,
  Random,
  readPth,
  tf,
  type TwoBranchModel,
} from "../../mod.ts";
import { pathExists } from "../../lib/util/fs.ts";
import { requirePython, runPython } from "../_python.ts";
import { rejectsData } from "../_helpers.ts";

await tf.setBackend("cpu");
const TORCH = await requirePython("torch", "loading a state dict torch.save wrote");

const NUM_CLASSES = 3;

function referenceNet(seed = 0): TwoBranchModel {
  return createReferenceNet({ numClasses: NUM_CLASSES, inputSize: 16, width: 0.25, seed });
}

/** `data` of `shape` transposed so that output dimension k is input dimension perm[k]. */
function permute(data: Float32Array, shape: readonly number[], perm: readonly number[]) {
  const outShape = perm.map((p) => shape[p]);
  const inStrides = shape.map((_, k) => shape.slice(k + 1).reduce((a, b) => a * b, 1));
  const out = new Float32Array(data.length);
  const index = new Array(outShape.length).fill(0);
  for (let i = 0; i < out.length; i++) {
    let at = 0;
    for (let k = 0; k < perm.length; k++) at += index[k] * inStrides[perm[k]];
    out[i] = data[at];
    for (let k = outShape.length - 1; k >= 0; k--) {
      if (++index[k] < outShape[k]) break;
      index[k] = 0;
    }
  }
  return out;
}

/** A PyTorch-style key of the reference net, its shape there, and how to get ours from it. */
interface TorchKey {
  key: string;
  path: string;
  torchShape: number[];
  /** Our dimension k is the file's dimension perm[k]. */
  perm: number[];
}

/**
 * The reference net's backbone and classifier under PyTorch's names and
 * layouts (`stem.conv.weight` OIHW, `stem.bn.running_mean`, `fc.weight`
 * `[out, in]`); the saliency head is left out, as an ImageNet checkpoint has none.
 */
function torchKeys(model: TwoBranchModel): TorchKey[] {
  const names: Record<string, string> = {
    kernel: "weight",
    gamma: "weight",
    beta: "bias",
    moving_mean: "running_mean",
    moving_variance: "running_var",
    bias: "bias",
  };
  const keys: TorchKey[] = [];
  for (const [path, variable] of model.variables()) {
    const parts = path.split("/").slice(1);
    if (parts[0].startsWith("sal_")) continue;
    const key = [...parts.slice(0, -1), names[parts.at(-1)!]].join(".");
    const shape = variable.shape;
    // Ours: HWIO, depthwise [h, w, c, 1], dense [in, out]. PyTorch: OIHW, [c, 1, h, w], [out, in].
    const perm = shape.length === 4
      ? (path.includes("_dw/") ? [2, 3, 0, 1] : [2, 3, 1, 0])
      : shape.length === 2
      ? [1, 0]
      : [0];
    const inverse = perm.map((_, k) => perm.indexOf(k));
    keys.push({ key, path, torchShape: inverse.map((k) => shape[k]), perm });
  }
  return keys;
}

/**
 * A key map for the reference net in PyTorch's names (for either naming;
 * timm's are the same here), with each key's shape in the file unless
 * `sourceShapes` is false.
 */
function referenceKeyMap(keys: TorchKey[], { sourceShapes = true } = {}): PretrainedKeyMapFn {
  return (model) => ({
    entries: new Map(
      keys.map(({ key, path, perm, torchShape }): [string, PretrainedKeyTarget] => [key, {
        path,
        shape: model.variables().get(path)!.shape,
        ...(sourceShapes ? { sourceShape: torchShape } : {}),
        convert: (data, shape) => permute(data, shape, perm),
        classifier: key.startsWith("fc."),
      }]),
    ),
    ignorable: new Map([["stem.bn.num_batches_tracked", "counts steps; nothing to load"]]),
  });
}

/** A state dict in PyTorch's layout with seeded values, as safetensors bytes. */
function stateDictBytes(
  keys: TorchKey[],
  edit: (tensors: Map<string, { shape: number[]; data: Float32Array }>) => void = () => {},
): Uint8Array {
  const random = new Random(7);
  const tensors = new Map(keys.map(({ key, torchShape }) => {
    const size = torchShape.reduce((a, b) => a * b, 1);
    return [key, { shape: torchShape, data: random.normalArray(size, 0, 1) }];
  }));
  edit(tensors);
  return encodeSafetensors(tensors);
}

/** Every variable's values, by path. */
function snapshot(model: TwoBranchModel): Map<string, Float32Array> {
  return new Map([...model.variables()].map(([p, v]) => [p, v.dataSync() as Float32Array]));
}

Deno.test({
  name:
    "loadPretrained() loads a torch.save state dict into the reference net, every layout converted, no tensor left behind",
  ignore: !TORCH,
  async fn() {
    const dir = await Deno.makeTempDir();
    const model = referenceNet();
    try {
      const keys = torchKeys(model);
      await Deno.writeTextFile(
        `${dir}/spec.json`,
        JSON.stringify(keys.map(({ key, torchShape, perm }) => ({ key, torchShape, perm }))),
      );
      // PyTorch writes the state dict, with a float16 convolution, a bfloat16
      // batch-norm weight, a transposed (non-contiguous) classifier and a step
      // counter, and the values each variable must end with, in our layout.
      const script = `
import collections, hashlib, json, sys
import torch
spec = json.load(open(sys.argv[1] + "/spec.json"))
torch.manual_seed(0)
sd, expected = collections.OrderedDict(), {}
for s in spec:
    t = torch.randn(*s["torchShape"])
    if s["key"] == "stem.conv.weight": t = t.half()
    if s["key"] == "stem.bn.weight": t = t.bfloat16()
    if s["key"] == "fc.weight": t = torch.randn(*reversed(s["torchShape"])).t()
    sd[s["key"]] = t
    expected[s["key"]] = t.float().permute(*s["perm"]).reshape(-1).tolist()
sd["stem.bn.num_batches_tracked"] = torch.tensor(12)
sd["block1_conv1.bn.num_batches_tracked"] = torch.tensor(12)
torch.save(sd, sys.argv[1] + "/ref.pth")
print(json.dumps({"sha256": hashlib.sha256(open(sys.argv[1] + "/ref.pth", "rb").read()).hexdigest(),
                  "expected": expected}))
`;
      const { sha256, expected } = JSON.parse(await runPython(script, [dir]));
      const before = tf.memory().numTensors;
      const report = await loadPretrained(model, `${dir}/ref.pth`, {
        keyMap: referenceKeyMap(keys),
      });
      assert.equal(tf.memory().numTensors, before);
      assert.equal(report.format, "pth");
      assert.equal(report.sha256, sha256);
      assert.equal(report.naming, "torchvision");
      assert.equal(report.downloaded, false);
      assert.deepEqual(report.loaded, keys.map((k) => k.path));
      assert.ok(report.missing.length > 0);
      assert.ok(report.missing.every((p) => p.includes("/sal_")), report.missing.join());
      assert.deepEqual(report.skipped, [
        { key: "stem.bn.num_batches_tracked", reason: "counts steps; nothing to load" },
        {
          key: "block1_conv1.bn.num_batches_tracked",
          reason: "a batch-norm step counter, not used",
        },
      ]);
      const variables = model.variables();
      for (const { key, path } of keys) {
        assert.deepEqual(
          [...variables.get(path)!.dataSync()],
          (expected[key] as number[]).map(Math.fround),
          key,
        );
      }
      // The same file through readPth, to be sure the check above saw the file's values.
      assert.equal(
        (await readPth(`${dir}/ref.pth`)).tensors.get("stem.conv.weight")?.dtype,
        "float16",
      );
    } finally {
      model.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("loadPretrained() keeps the classifier fresh when the file has 1000 classes, and says so", async () => {
  const dir = await Deno.makeTempDir();
  const model = referenceNet();
  try {
    const keys = torchKeys(model);
    const fc = snapshot(model);
    const path = `${dir}/imagenet.safetensors`;
    await Deno.writeFile(
      path,
      stateDictBytes(keys, (tensors) => {
        const inputs = tensors.get("fc.weight")!.shape[1];
        tensors.set("fc.weight", { shape: [1000, inputs], data: new Float32Array(1000 * inputs) });
        tensors.set("fc.bias", { shape: [1000], data: new Float32Array(1000) });
        tensors.set("head.extra", { shape: [2], data: new Float32Array(2) });
      }),
    );
    const before = tf.memory().numTensors;
    const report = await loadPretrained(model, path, { keyMap: referenceKeyMap(keys) });
    assert.equal(tf.memory().numTensors, before);
    assert.equal(report.format, "safetensors");
    const fcPaths = ["reference_net/fc/kernel", "reference_net/fc/bias"];
    assert.ok(fcPaths.every((p) => report.missing.includes(p) && !report.loaded.includes(p)));
    assert.equal(report.loaded.length, keys.length - 2);
    for (const p of fcPaths) assert.deepEqual(model.variables().get(p)!.dataSync(), fc.get(p));
    assert.deepEqual(report.skipped, [
      {
        key: "fc.weight",
        reason: `classifier: shape [1000,${
          keys.find((k) => k.key === "fc.weight")!.torchShape[1]
        }] in the file, [${
          model.variables().get("reference_net/fc/kernel")!.shape
        }] in the model; it keeps its fresh initialisation`,
      },
      {
        key: "fc.bias",
        reason:
          "classifier: shape [1000] in the file, [3] in the model; it keeps its fresh initialisation",
      },
      {
        key: "head.extra",
        reason: "no variable of the model takes it under the torchvision naming",
      },
    ]);
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadPretrained() fails on a missing key, a misfit, a truncated file or an unknown dtype, naming them, and changes nothing", async () => {
  const dir = await Deno.makeTempDir();
  const model = referenceNet();
  try {
    const keys = torchKeys(model);
    const keyMap = referenceKeyMap(keys);
    const initial = snapshot(model);
    const before = tf.memory().numTensors;
    const write = async (name: string, bytes: Uint8Array) => {
      await Deno.writeFile(`${dir}/${name}`, bytes);
      return `${dir}/${name}`;
    };
    const missing = await write(
      "missing.safetensors",
      stateDictBytes(keys, (t) => t.delete("block2_pw1.bn.running_var")),
    );
    await rejectsData(
      loadPretrained(model, missing, { keyMap }),
      /the file has no tensor "block2_pw1\.bn\.running_var" for the model's "reference_net\/block2_pw1\/bn\/moving_variance".*Nothing was loaded/,
      missing,
    );
    const misfit = await write(
      "misfit.safetensors",
      stateDictBytes(
        keys,
        (t) => t.set("block1_conv1.bn.bias", { shape: [17], data: new Float32Array(17) }),
      ),
    );
    await rejectsData(
      loadPretrained(model, misfit, { keyMap }),
      /tensor "block1_conv1\.bn\.bias" has shape \[17\], but the model's "reference_net\/block1_conv1\/bn\/beta" is \[16\].*Nothing was loaded/,
      misfit,
    );
    const good = stateDictBytes(keys);
    const truncated = await write("truncated.safetensors", good.subarray(0, good.length - 100));
    await rejectsData(
      loadPretrained(model, truncated, { keyMap }),
      /truncated.*tensor "/,
      truncated,
    );
    // Rewrite one dtype in the header: F32 -> F8 (same length in JSON would be "F8_E"; pad with a space).
    const header = new TextDecoder().decode(
      good.subarray(8, 8 + Number(new DataView(good.buffer).getBigUint64(0, true))),
    );
    const renamed = header.replace('"dtype":"F32"', '"dtype":"F8" ');
    const unknown = await write(
      "unknown.safetensors",
      new Uint8Array([
        ...good.subarray(0, 8),
        ...new TextEncoder().encode(renamed),
        ...good.subarray(8 + header.length),
      ]),
    );
    await rejectsData(
      loadPretrained(model, unknown, { keyMap }),
      /tensor "stem\.conv\.weight" has dtype "F8"/,
      unknown,
    );
    await assert.rejects(
      loadPretrained(model, `${dir}/nowhere.pth`, { keyMap }),
      /Cannot find weights ".*nowhere\.pth": no such file/,
    );
    assert.deepEqual(snapshot(model), initial);
    assert.equal(tf.memory().numTensors, before);
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadPretrained() picks the naming whose key map finds the file's keys", async () => {
  const dir = await Deno.makeTempDir();
  const model = referenceNet();
  try {
    const keys = torchKeys(model);
    // Without the file's shapes, so that the loader compares sizes in any order.
    const torchvision = referenceKeyMap(keys, { sourceShapes: false });
    // Under "timm" the same keys carry a prefix, as timm's names differ for some families.
    const keyMap: PretrainedKeyMapFn = (m, naming) => {
      const { entries } = torchvision(m, naming);
      if (naming === "torchvision") return { entries };
      return { entries: new Map([...entries].map(([k, v]) => [`timm.${k}`, v])) };
    };
    const path = `${dir}/timm.safetensors`;
    await Deno.writeFile(path, stateDictBytes(keys.map((k) => ({ ...k, key: `timm.${k.key}` }))));
    const report = await loadPretrained(model, path, { keyMap });
    assert.equal(report.naming, "timm");
    assert.equal(report.loaded.length, keys.length);
    const other = `${dir}/other.safetensors`;
    await Deno.writeFile(
      other,
      encodeSafetensors({ "x.weight": { shape: [1], data: new Float32Array(1) } }),
    );
    await rejectsData(
      loadPretrained(model, other, { keyMap }),
      /no key of the file \(such as "x\.weight"\) is one the model expects \(torchvision: 0 of \d+ keys, such as "stem\.conv\.weight"; timm: 0 of/,
      other,
    );
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

/** A file the local server hands out, with its headers. */
interface Route {
  body: Uint8Array;
  headers?: Record<string, string>;
}

/**
 * A local HTTP server standing in for download.pytorch.org and the Hub: GET
 * with an optional `Range: bytes=0-0` probe (as @huggingface/hub sends),
 * 404 with the Hub's `X-Error-Code: EntryNotFound` for anything else.
 */
function serve(routes: Map<string, Route>) {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    seen.push(path);
    const route = routes.get(path);
    if (!route) {
      return new Response("not found", {
        status: 404,
        headers: { "X-Error-Code": "EntryNotFound" },
      });
    }
    if (request.headers.get("range") === "bytes=0-0") {
      return new Response(route.body.slice(0, 1), {
        status: 206,
        headers: { ...route.headers, "Content-Range": `bytes 0-0/${route.body.length}` },
      });
    }
    return new Response(route.body.slice(), { headers: route.headers });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, seen, close: () => server.shutdown() };
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  if (!(await pathExists(dir))) return out;
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) {
      out.push(...(await listFiles(`${dir}/${entry.name}`)).map((f) => `${entry.name}/${f}`));
    } else out.push(entry.name);
  }
  return out.sort();
}

Deno.test("loadPretrained() downloads torchvision: and URL sources once, checks the hash in the name, then works offline", async () => {
  const cacheDir = await Deno.makeTempDir();
  const model = referenceNet();
  const keys = torchKeys(model);
  const keyMap = referenceKeyMap(keys);
  const weights = stateDictBytes(keys);
  const name = `tiny-${sha256(weights).slice(0, 10)}.safetensors`;
  const server = serve(
    new Map([
      [`/models/${name}`, { body: weights }],
      ["/models/tiny-0123abcd.safetensors", { body: weights }],
      ["/models/resnet18-f37072fd.pth", { body: weights }],
    ]),
  );
  try {
    const before = tf.memory().numTensors;
    const url = `${server.url}/models/${name}`;
    const first = await loadPretrained(model, url, { keyMap, cacheDir, quiet: true });
    assert.equal(first.downloaded, true);
    assert.equal(first.file, `${cacheDir}/checkpoints/${name}`);
    assert.equal(first.sha256, sha256(weights));
    assert.equal(first.loaded.length, keys.length);
    await server.close();
    const again = await loadPretrained(model, url, { keyMap, cacheDir, quiet: true });
    assert.equal(again.downloaded, false);
    assert.deepEqual(server.seen, [`/models/${name}`]);
    assert.equal(tf.memory().numTensors, before);
  } finally {
    await server.close();
  }
  const other = serve(
    new Map([
      ["/models/tiny-0123abcd.safetensors", { body: weights }],
      ["/models/resnet18-f37072fd.pth", { body: weights }],
    ]),
  );
  try {
    await assert.rejects(
      loadPretrained(model, `${other.url}/models/tiny-0123abcd.safetensors`, {
        keyMap,
        cacheDir,
        quiet: true,
      }),
      new RegExp(
        `Cannot download .*tiny-0123abcd\\.safetensors: its SHA-256 is ${
          sha256(weights)
        }, but its file ` +
          "name says it starts with 0123abcd; the download is damaged or not the file meant, and was not kept",
      ),
    );
    await assert.rejects(
      loadPretrained(model, "torchvision:resnet18", {
        keyMap,
        cacheDir,
        torchvisionUrl: `${other.url}/models`,
        quiet: true,
      }),
      /Cannot download http:\/\/127\.0\.0\.1:\d+\/models\/resnet18-f37072fd\.pth: its SHA-256 is [0-9a-f]{64}, but its file name says it starts with f37072fd/,
    );
    assert.deepEqual(other.seen, [
      "/models/tiny-0123abcd.safetensors",
      "/models/resnet18-f37072fd.pth",
    ]);
    // Only the good download is in the cache: nothing partial, nothing unchecked.
    assert.deepEqual(await listFiles(cacheDir), [`checkpoints/${name}`]);
    await assert.rejects(
      loadPretrained(model, "torchvision:resnet19", { keyMap, cacheDir }),
      /Unknown weights source "torchvision:resnet19": torchvision architectures are resnet18, resnet34, resnet50, resnet101, mobilenet_v2, vgg11_bn/,
    );
  } finally {
    await other.close();
    model.dispose();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("loadPretrained() reads hf: sources through the Hub's API, with timm's preprocessing, once", async () => {
  const cacheDir = await Deno.makeTempDir();
  const model = referenceNet();
  const keys = torchKeys(model);
  const keyMap = referenceKeyMap(keys);
  const weights = stateDictBytes(keys);
  const config = new TextEncoder().encode(JSON.stringify({
    architecture: "resnet50",
    pretrained_cfg: {
      input_size: [3, 224, 224],
      interpolation: "bicubic",
      crop_pct: 0.95,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    },
  }));
  const lfs = (body: Uint8Array, etag: string): Route => ({
    body,
    headers: { "X-Linked-Etag": `"${etag}"`, ETag: `"${etag}"`, "X-Linked-Size": `${body.length}` },
  });
  const hub = serve(
    new Map([
      ["/org/tiny/resolve/main/model.safetensors", lfs(weights, sha256(weights))],
      ["/org/tiny/resolve/main/config.json", { body: config, headers: { ETag: '"0123abc"' } }],
      ["/org/bad/resolve/v1/model.safetensors", lfs(weights, "ab".repeat(32))],
    ]),
  );
  const previous = Deno.env.get("HF_ENDPOINT");
  try {
    const before = tf.memory().numTensors;
    Deno.env.set("HF_ENDPOINT", hub.url);
    const first = await loadPretrained(model, "hf:org/tiny", { keyMap, cacheDir, quiet: true });
    assert.equal(first.downloaded, true);
    assert.equal(first.naming, "timm");
    assert.equal(first.sha256, sha256(weights));
    assert.equal(first.loaded.length, keys.length);
    assert.deepEqual(first.preprocessing, {
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      inputSize: [224, 224],
      cropPct: 0.95,
      interpolation: "bicubic",
    });
    const requests = hub.seen.length;
    assert.ok(requests >= 2 && hub.seen.every((p) => p.startsWith("/org/tiny/resolve/main/")));
    Deno.env.set("HF_ENDPOINT", "http://127.0.0.1:9"); // Nothing listens there.
    const again = await loadPretrained(model, "hf:org/tiny", { keyMap, cacheDir, quiet: true });
    assert.equal(again.downloaded, false);
    assert.deepEqual(again.preprocessing, first.preprocessing);
    assert.equal(hub.seen.length, requests);
    assert.equal(tf.memory().numTensors, before);
    await assert.rejects(
      loadPretrained(model, "hf:org/bad@v1", { keyMap, cacheDir, hubUrl: hub.url, quiet: true }),
      /Cannot download hf:org\/bad@v1 \(model\.safetensors\): its SHA-256 is [0-9a-f]{64}, but the Hub says abab/,
    );
    await assert.rejects(
      loadPretrained(model, "hf:org/absent", { keyMap, cacheDir, hubUrl: hub.url, quiet: true }),
      /Cannot download hf:org\/absent: the repository has neither model\.safetensors nor pytorch_model\.bin at revision main/,
    );
    assert.deepEqual(await listFiles(`${cacheDir}/hf`), [
      "org--tiny/main/config.json",
      "org--tiny/main/model.safetensors",
      "org--tiny/main/saliency-lab-files.json",
    ]);
  } finally {
    if (previous === undefined) Deno.env.delete("HF_ENDPOINT");
    else Deno.env.set("HF_ENDPOINT", previous);
    await hub.close();
    model.dispose();
    await Deno.remove(cacheDir, { recursive: true });
  }
});
