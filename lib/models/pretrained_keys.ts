/**
 * Where each array of a torchvision or timm state dict goes in a two-branch
 * model, and how its layout becomes ours: the names a loader of pretrained
 * weights needs, without reading any file.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { resamplePositions } from "../backbones/vit.ts";
import type { TwoBranchNet } from "./two_branch.ts";

/** Whose parameter names a state dict uses. */
export type PretrainedNaming = "torchvision" | "timm";

/** One array of an external state dict and the model variable it fills. */
export interface PretrainedKeyEntry {
  /** The variable's path, a key of `model.variables()`. */
  path: string;
  /** The variable's shape (ours: conv kernels `[kh, kw, in, out]`, dense `[in, out]`). */
  shape: number[];
  /**
   * The external array's shape this model expects (PyTorch's layout: conv
   * weights `[out, in, kh, kw]`, depthwise `[channels, 1, kh, kw]`, linear
   * `[out, in]`). A file whose array has another shape is for another
   * width, stem, input channels or number of classes.
   */
  sourceShape: number[];
  /**
   * Whether the array belongs to the classifier, the part a loader skips
   * when the number of classes (or the classifier's shape) differs.
   */
  classifier: boolean;
  /**
   * The external array's values (row-major, of shape `shape`) in our layout
   * (row-major, of shape {@linkcode PretrainedKeyEntry.shape}), in `out`
   * when given (of the same size: a loader reuses one buffer) or a new
   * array; the input is left as it is. Throws a RangeError naming the key
   * when `shape` is not {@linkcode PretrainedKeyEntry.sourceShape} or the
   * data does not have its size.
   */
  convert(data: Float32Array, shape: readonly number[], out?: Float32Array): Float32Array;
  /**
   * Present on a vision transformer's position embeddings only: whether an
   * external array of `shape`, made for another image size (`[1, 1 + g·g,
   * c]`, the class token's first, then a square grid), can be resampled to
   * this variable's grid; `convert` then resamples it as timm's
   * `resample_abs_pos_embed` does (class token kept, grid bicubic and
   * antialiased, see `resamplePositions` of `lib/backbones/vit.ts`).
   */
  resamples?(shape: readonly number[]): boolean;
}

/** What {@linkcode pretrainedKeyMap} returns. */
export interface PretrainedKeyMap {
  /** External key (`"layer1.0.conv1.weight"`) to the variable it fills, one per variable. */
  entries: Map<string, PretrainedKeyEntry>;
  /**
   * External keys that fill no variable and may be dropped, with the
   * reason: every batch norm's `num_batches_tracked`, and the classifier's
   * arrays when the model's classifier has another number of dense layers.
   */
  ignorable: Map<string, string>;
}

/**
 * PyTorch's layout of a weight as ours, for an array of PyTorch shape
 * `shape`: a conv weight `[out, in, kh, kw]` becomes `[kh, kw, in, out]`; a
 * depthwise weight `[channels, 1, kh, kw]` thereby becomes
 * `[kh, kw, 1, channels]`, the same values in the same order as our
 * `[kh, kw, channels, 1]`; a linear weight `[out, in]` becomes `[in, out]`;
 * rank 1 (biases, batch-norm vectors) is copied. Viewing a linear layer's
 * `[out, c · h · w]` weight as `[out, c, h, w]` gives the `[h · w · c, out]`
 * kernel of a dense layer on NHWC features flattened in (h, w, c) order.
 * Returns a new array.
 *
 * @example Usage
 * ```ts
 * import { convertTensor } from "./pretrained_keys.ts";
 * import assert from "node:assert";
 * // A linear weight [out 2, in 3] becomes the kernel [in 3, out 2].
 * const w = new Float32Array([1, 2, 3, 4, 5, 6]);
 * assert.deepEqual([...convertTensor(w, [2, 3])], [1, 4, 2, 5, 3, 6]);
 * // A 1×1 conv weight [out 2, in 3, 1, 1] becomes [1, 1, in 3, out 2]: the same values.
 * assert.deepEqual([...convertTensor(w, [2, 3, 1, 1])], [1, 4, 2, 5, 3, 6]);
 * ```
 */
export function convertTensor(
  data: Float32Array,
  shape: readonly number[],
  out?: Float32Array,
): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  if (
    data.length !== size || !(shape.length === 1 || shape.length === 2 || shape.length === 4) ||
    (out !== undefined && out.length !== size)
  ) {
    throw new RangeError(
      `convertTensor needs a rank 1, 2 or 4 array whose length is its shape's size: got ${data.length} values for shape [${
        shape.join(", ")
      }]`,
    );
  }
  const target = out ?? new Float32Array(size);
  if (shape.length === 1) {
    target.set(data);
    return target;
  }
  const [o, i, kh, kw] = shape.length === 2 ? [shape[0], shape[1], 1, 1] : shape;
  const spatial = kh * kw;
  for (let a = 0; a < o; a++) {
    for (let b = 0; b < i; b++) {
      const src = (a * i + b) * spatial;
      for (let s = 0; s < spatial; s++) target[(s * i + b) * o + a] = data[src + s];
    }
  }
  return target;
}

/** How an external array maps onto a variable: its layout and, for the VGG flatten, the view. */
type Layout =
  | { kind: "conv" | "depthwise" | "dense" | "vector" | "positions" }
  | { kind: "dense4d" }
  | { kind: "flatten"; channels: number; grid: number; rank: 2 | 4 };

/** One variable's external key and layout, before shapes are attached. */
interface Target {
  key: string;
  layout: Layout;
  classifier: boolean;
}

const BN_NAMES: Record<string, string> = {
  gamma: "weight",
  beta: "bias",
  moving_mean: "running_mean",
  moving_variance: "running_var",
};

/** The vision transformers, all with timm's and torchvision's ViT naming. */
const VITS = ["tiny", "small", "base"].flatMap((size) =>
  ["vit", "deit"].map((family) => `${family}_${size}_patch16_224`)
).concat("vit_b_16");

/** The backbones with torchvision (and timm) counterparts. */
const SUPPORTED = [
  "resnet18",
  "resnet34",
  "resnet50",
  "resnet101",
  "mobilenet_v2",
  "vgg11_bn",
  ...VITS,
];

/** MobileNetV2's inverted-residual settings: repeats of each (timm's `blocks.<i>`). */
const MOBILENET_V2_REPEATS = [1, 2, 3, 4, 3, 3, 1];

/** torchvision's VGG-11 `features`: channels of each conv, `"M"` for a max pool. */
const VGG11_CFG: readonly (number | "M")[] = [
  64,
  "M",
  128,
  "M",
  256,
  256,
  "M",
  512,
  512,
  "M",
  512,
  512,
  "M",
];

/**
 * For every array of a torchvision or timm state dict of the model's
 * backbone family, the variable it fills and how to convert it, plus the
 * keys that may be dropped. The supported backbones are `resnet18`,
 * `resnet34`, `resnet50`, `resnet101`, `mobilenet_v2`, `vgg11_bn` and the
 * vision transformers (`vit_*`, `deit_*`, `vit_b_16`); at
 * width 1 with `stem: "imagenet"` and 3 input channels, every shape then
 * matches torchvision's `resnet18()` etc. (other options give other
 * {@linkcode PretrainedKeyEntry.sourceShape}s, which a loader reports as a
 * mismatch). The saliency head has no external counterpart and is not in
 * the map. Batch-norm `weight`, `bias`, `running_mean` and `running_var`
 * fill `gamma`, `beta`, `moving_mean` and `moving_variance`.
 *
 * Names, by family (timm's ResNets use torchvision's):
 * - ResNet: `conv1`/`bn1` → `stem`; `layer<i>.<b>.conv<j>`/`bn<j>` and
 *   `downsample.0`/`.1` → `layer<i>/block<b>/conv<j>` and `shortcut`; `fc`
 *   → `classifier/fc`.
 * - MobileNetV2, torchvision: `features.0` → `stage1/stem`;
 *   `features.<k+1>.conv.*` → `block<k>` (`expand`, `depthwise`,
 *   `project`); `features.18` → `stage5/head`; `classifier.1` → `fc`.
 *   timm: `conv_stem`/`bn1`, `blocks.<i>.<j>.conv_pw`/`bn1`,
 *   `conv_dw`/`bn2`, `conv_pwl`/`bn3` (the first block:
 *   `conv_dw`/`bn1`, `conv_pw`/`bn2`), `conv_head`/`bn2`, `classifier`.
 * - VGG-11 with batch norm: `features.<n>` (conv, then its batch norm at
 *   `n + 1`) → `block<i>/conv<j>`; torchvision's `classifier.0`, `.3` and
 *   `.6` → `classifier/hidden1`, `hidden2` and `fc` (the first permuted
 *   from PyTorch's (c, h, w) flatten to our (h, w, c)); timm's
 *   `pre_logits.fc1` (a 7×7 conv), `pre_logits.fc2` (a 1×1 conv) and
 *   `head.fc` likewise. timm's VGG applies `fc1` as a convolution and
 *   averages after it, which is torchvision's function when the features
 *   are 7×7 (224×224 input). The classifier maps only when the model has
 *   `classifierOptions: { hidden: [4096, 4096], pooledSize: 7 }` (two
 *   hidden layers); otherwise its keys are ignorable.
 * - Vision transformers: timm's `patch_embed.proj`, `pos_embed`,
 *   `cls_token`, `blocks.<i>.norm1|attn.qkv|attn.proj|norm2|mlp.fc1|mlp.fc2`,
 *   `norm` and `head`, or torchvision's `conv_proj`, `encoder.pos_embedding`,
 *   `class_token`, `encoder.layers.encoder_layer_<i>.ln_1|
 *   self_attention.in_proj_weight|in_proj_bias|self_attention.out_proj|ln_2|
 *   mlp.0|mlp.3`, `encoder.ln` and `heads.head`. The fused query-key-value
 *   projection is one variable, `attn/qkv`. The head fills `classifier/fc`,
 *   which the two-branch model applies to the mean of the patch tokens (the
 *   class-token head is `backbone.forwardFeatures(x)[:, 0]` through it).
 *   Position embeddings made for another image size (another square grid)
 *   are resampled to the model's `imageSize`
 *   ({@linkcode PretrainedKeyEntry.resamples}).
 *
 * Throws a TypeError for another backbone or naming.
 *
 * @example Usage
 * ```ts
 * import { pretrainedKeyMap } from "./pretrained_keys.ts";
 * import { createTwoBranchModel } from "./two_branch.ts";
 * import assert from "node:assert";
 * const model = createTwoBranchModel({ backbone: "resnet18", numClasses: 10, inputSize: 224 });
 * const { entries, ignorable } = pretrainedKeyMap(model, "torchvision");
 * const conv = entries.get("layer1.0.conv1.weight")!;
 * assert.equal(conv.path, "two_branch/resnet18/layer1/block0/conv1/conv/kernel");
 * assert.deepEqual(conv.shape, [3, 3, 64, 64]);
 * assert.deepEqual(conv.sourceShape, [64, 64, 3, 3]);
 * assert.equal(entries.get("bn1.running_var")!.path, "two_branch/resnet18/stem/bn/moving_variance");
 * assert.deepEqual(entries.get("fc.weight")!.sourceShape, [10, 512]);
 * assert.equal(entries.get("fc.weight")!.classifier, true);
 * assert.ok(ignorable.has("layer4.1.bn2.num_batches_tracked"));
 * model.dispose();
 * ```
 */
export function pretrainedKeyMap(model: TwoBranchNet, naming: PretrainedNaming): PretrainedKeyMap {
  if (naming !== "torchvision" && naming !== "timm") {
    throw new TypeError(
      `Cannot map pretrained weights named ${
        JSON.stringify(naming)
      }: expected "torchvision" or "timm"`,
    );
  }
  const family = model.backbone.name;
  if (!SUPPORTED.includes(family)) {
    throw new TypeError(
      `Backbone ${family} has no ${naming} counterpart: pretrained weights map onto ${
        SUPPORTED.join(", ")
      }`,
    );
  }
  const variables = model.variables();
  const prefix = `${model.name}/${family}/`;
  const head = `${model.name}/${model.classifier.name}/`;
  const hidden = model.classifier.hiddenLayers.length;
  const wanted = family === "vgg11_bn" ? 2 : 0;
  const classifierFits = hidden === wanted;
  const lastChannels = model.featureInfo[model.featureInfo.length - 1].channels;
  const expanding = new Set(
    [...variables.keys()].map((p) => /\/(block\d+)\/expand\//.exec(p)?.[1]).filter(Boolean),
  );
  const names = namingOf(family, naming, {
    hasExpand: (block) => expanding.has(block),
    channels: lastChannels,
    grid: model.classifier.pooledSize,
  });
  const map: PretrainedKeyMap = { entries: new Map(), ignorable: new Map() };
  for (const [path, variable] of variables) {
    let target: Target | null = null;
    if (path.startsWith(prefix)) {
      target = names.backbone(path.slice(prefix.length).split("/"));
    } else if (path.startsWith(head)) {
      if (!classifierFits) continue;
      target = names.classifier(path.slice(head.length).split("/"));
    } else {
      continue;
    }
    if (!target) {
      throw new TypeError(`Cannot name variable "${path}" in ${naming}'s ${family}`);
    }
    const shape = [...variable.shape];
    map.entries.set(target.key, entry(target, path, shape));
    const bn = /^(.*)\.(weight|bias|running_mean|running_var)$/.exec(target.key);
    if (bn && path.endsWith("/bn/moving_mean")) {
      map.ignorable.set(`${bn[1]}.num_batches_tracked`, "a batch-norm step counter (unused)");
    }
  }
  if (!classifierFits) {
    const fix = family === "vgg11_bn"
      ? "classifierOptions { hidden: [4096, 4096], pooledSize: 7 }"
      : "no classifierOptions.hidden";
    for (const key of names.classifierKeys) {
      map.ignorable.set(
        key,
        `the model's classifier has ${hidden} hidden layers, not ${wanted} (use ${fix} to load it)`,
      );
    }
  }
  return map;
}

function entry(target: Target, path: string, shape: number[]): PretrainedKeyEntry {
  const layout = target.layout;
  let sourceShape: number[], view: number[] | null = null;
  switch (layout.kind) {
    case "conv":
      sourceShape = [shape[3], shape[2], shape[0], shape[1]];
      break;
    case "depthwise":
      sourceShape = [shape[2], 1, shape[0], shape[1]];
      break;
    case "dense":
      sourceShape = [shape[1], shape[0]];
      break;
    case "dense4d":
      sourceShape = [shape[1], shape[0], 1, 1];
      break;
    case "flatten": {
      const { channels: c, grid: g } = layout;
      view = [shape[1], c, g, g];
      sourceShape = layout.rank === 4 ? view : [shape[1], c * g * g];
      break;
    }
    default:
      sourceShape = [...shape];
  }
  const key = target.key;
  const resamples = (given: readonly number[]) =>
    layout.kind === "positions" && given.join() !== sourceShape.join() &&
    squareSide(given, shape[2]) > 0 && squareSide(shape, shape[2]) > 0;
  return {
    path,
    shape,
    sourceShape,
    classifier: target.classifier,
    ...(layout.kind === "positions" ? { resamples } : {}),
    convert(data: Float32Array, given: readonly number[], out?: Float32Array): Float32Array {
      const size = sourceShape.reduce((a, b) => a * b, 1);
      if (resamples(given) && data.length === given[1] * given[2]) {
        return resampleTokens(data, squareSide(given, shape[2]), squareSide(shape, shape[2]), out);
      }
      if (given.join() !== sourceShape.join() || data.length !== size) {
        throw new RangeError(
          `Cannot convert "${key}" for ${path}: expected shape [${
            sourceShape.join(", ")
          }] (${size} values), got [${given.join(", ")}] (${data.length} values)`,
        );
      }
      // Vectors of any rank (a ViT's `[1, tokens, c]` position embeddings) are copied.
      const flat = layout.kind === "vector" || layout.kind === "positions";
      return convertTensor(data, view ?? (flat ? [size] : sourceShape), out);
    },
  };
}

/**
 * The side `g` of the square grid of position embeddings `[1, 1 + g·g, c]`
 * (the class token's first) with `channels` channels; 0 for any other shape.
 */
function squareSide(shape: readonly number[], channels: number): number {
  if (shape.length !== 3 || shape[0] !== 1 || shape[2] !== channels) return 0;
  const g = Math.round(Math.sqrt(shape[1] - 1));
  return g > 0 && g * g === shape[1] - 1 ? g : 0;
}

/**
 * Position embeddings `[1, 1 + from², c]` (`data`) as `[1, 1 + to², c]`: the
 * class token's copied, the grid resampled by `resamplePositions`, into
 * `out` when given.
 */
function resampleTokens(
  data: Float32Array,
  from: number,
  to: number,
  out?: Float32Array,
): Float32Array {
  const c = data.length / (1 + from * from);
  const target = out ?? new Float32Array((1 + to * to) * c);
  target.set(data.subarray(0, c));
  const grid = tf.tensor3d(data.subarray(c), [from, from, c]);
  const resampled = resamplePositions(grid, [to, to]);
  target.set(resampled.dataSync(), c);
  tf.dispose([grid, resampled]);
  return target;
}

/** A family's naming: backbone and classifier path parts to targets, and the classifier's keys. */
interface Naming {
  backbone(parts: string[]): Target | null;
  classifier(parts: string[]): Target | null;
  classifierKeys: string[];
}

/** `<conv|bn>/<variable>` under a ConvBnAct, as `<convKey>.weight|bias` or `<bnKey>.<bn name>`. */
function convBn(
  rest: string[],
  convKey: string,
  bnKey: string,
  conv: "conv" | "depthwise" = "conv",
): Target | null {
  const [part, name] = rest;
  if (rest.length !== 2) return null;
  if (part === "conv" && name === "kernel") {
    return { key: `${convKey}.weight`, layout: { kind: conv }, classifier: false };
  }
  if (part === "conv" && name === "bias") {
    return { key: `${convKey}.bias`, layout: { kind: "vector" }, classifier: false };
  }
  if (part === "bn" && name in BN_NAMES) {
    return { key: `${bnKey}.${BN_NAMES[name]}`, layout: { kind: "vector" }, classifier: false };
  }
  return null;
}

/** `<layer>/kernel|bias` of a dense layer as `<key>.weight|bias`. */
function dense(parts: string[], layers: Record<string, [string, Layout]>): Target | null {
  const [layer, name] = parts;
  const found = layers[layer];
  if (parts.length !== 2 || !found) return null;
  const [key, layout] = found;
  if (name === "kernel") return { key: `${key}.weight`, layout, classifier: true };
  if (name === "bias") return { key: `${key}.bias`, layout: { kind: "vector" }, classifier: true };
  return null;
}

/** `<norm>/gamma|beta` of a layer norm as `<key>.weight|bias`. */
const NORM_NAMES: Record<string, string> = { gamma: "weight", beta: "bias" };

/**
 * A vision transformer's names: timm's (`patch_embed.proj`, `pos_embed`,
 * `cls_token`, `blocks.<i>.norm1|attn.qkv|attn.proj|norm2|mlp.fc1|mlp.fc2`,
 * `norm`, `head`) or torchvision's (`conv_proj`, `encoder.pos_embedding`,
 * `class_token`, `encoder.layers.encoder_layer_<i>.ln_1|self_attention.
 * in_proj_*|self_attention.out_proj|ln_2|mlp.0|mlp.3`, `encoder.ln`,
 * `heads.head`).
 */
function vitNaming(naming: PretrainedNaming): Naming {
  const timm = naming === "timm";
  const head = timm ? "head" : "heads.head";
  const vector = (key: string): Target => ({ key, layout: { kind: "vector" }, classifier: false });
  const param = (base: string, layer: "dense" | "conv" | "norm", name: string): Target | null => {
    if (layer === "norm") return name in NORM_NAMES ? vector(`${base}.${NORM_NAMES[name]}`) : null;
    if (name === "bias") return vector(`${base}.bias`);
    return name === "kernel"
      ? { key: `${base}.weight`, layout: { kind: layer }, classifier: false }
      : null;
  };
  const block: Record<string, [string, string, "dense" | "norm"]> = {
    "norm1": ["norm1", "ln_1", "norm"],
    "attn/proj": ["attn.proj", "self_attention.out_proj", "dense"],
    "norm2": ["norm2", "ln_2", "norm"],
    "mlp/fc1": ["mlp.fc1", "mlp.0", "dense"],
    "mlp/fc2": ["mlp.fc2", "mlp.3", "dense"],
  };
  return {
    backbone(parts) {
      const path = parts.join("/");
      if (path === "patch_embed/pos_embed") {
        return {
          key: timm ? "pos_embed" : "encoder.pos_embedding",
          layout: { kind: "positions" },
          classifier: false,
        };
      }
      if (path === "encoder/cls_token") return vector(timm ? "cls_token" : "class_token");
      if (parts[0] === "patch_embed" && parts[1] === "proj" && parts.length === 3) {
        return param(timm ? "patch_embed.proj" : "conv_proj", "conv", parts[2]);
      }
      if (parts[0] === "encoder" && parts[1] === "norm" && parts.length === 3) {
        return param(timm ? "norm" : "encoder.ln", "norm", parts[2]);
      }
      const b = /^block(\d+)$/.exec(parts[1] ?? "");
      if (parts[0] !== "encoder" || !b) return null;
      const base = timm ? `blocks.${b[1]}` : `encoder.layers.encoder_layer_${b[1]}`;
      const layer = parts.slice(2, -1).join("/"), name = parts[parts.length - 1];
      if (layer === "attn/qkv") {
        if (timm) return param(`${base}.attn.qkv`, "dense", name);
        const key = `${base}.self_attention.in_proj_${name === "kernel" ? "weight" : "bias"}`;
        return name === "kernel"
          ? { key, layout: { kind: "dense" }, classifier: false }
          : name === "bias"
          ? vector(key)
          : null;
      }
      const found = block[layer];
      return found ? param(`${base}.${timm ? found[0] : found[1]}`, found[2], name) : null;
    },
    classifier: (parts) => dense(parts, { fc: [head, { kind: "dense" }] }),
    classifierKeys: [`${head}.weight`, `${head}.bias`],
  };
}

function namingOf(
  family: string,
  naming: PretrainedNaming,
  info: { hasExpand: (block: string) => boolean; channels: number; grid: number },
): Naming {
  const keysOf = (layers: string[]) => layers.flatMap((k) => [`${k}.weight`, `${k}.bias`]);
  if (VITS.includes(family)) return vitNaming(naming);
  if (family.startsWith("resnet")) {
    return {
      backbone(parts) {
        if (parts[0] === "stem") return convBn(parts.slice(1), "conv1", "bn1");
        const stage = /^layer([1-4])$/.exec(parts[0]), block = /^block(\d+)$/.exec(parts[1] ?? "");
        if (!stage || !block) return null;
        const base = `layer${stage[1]}.${block[1]}`;
        const conv = /^conv([1-3])$/.exec(parts[2]);
        if (conv) return convBn(parts.slice(3), `${base}.conv${conv[1]}`, `${base}.bn${conv[1]}`);
        if (parts[2] === "shortcut") {
          return convBn(parts.slice(3), `${base}.downsample.0`, `${base}.downsample.1`);
        }
        return null;
      },
      classifier: (parts) => dense(parts, { fc: ["fc", { kind: "dense" }] }),
      classifierKeys: keysOf(["fc"]),
    };
  }
  if (family === "mobilenet_v2") {
    const timm = naming === "timm";
    const blocks = MOBILENET_V2_REPEATS.flatMap((n, i) =>
      Array.from({ length: n }, (_, j) => [i, j])
    );
    const fc = timm ? "classifier" : "classifier.1";
    return {
      backbone(parts) {
        if (parts[0] === "stage1" && parts[1] === "stem") {
          return timm
            ? convBn(parts.slice(2), "conv_stem", "bn1")
            : convBn(parts.slice(2), "features.0.0", "features.0.1");
        }
        if (parts[0] === "stage5" && parts[1] === "head") {
          return timm ? convBn(parts.slice(2), "conv_head", "bn2") : convBn(
            parts.slice(2),
            `features.${blocks.length + 1}.0`,
            `features.${blocks.length + 1}.1`,
          );
        }
        const block = /^block(\d+)$/.exec(parts[1] ?? "");
        if (!block || !blocks[Number(block[1])]) return null;
        const k = Number(block[1]), part = parts[2], rest = parts.slice(3);
        const expand = info.hasExpand(parts[1]);
        const conv = part === "depthwise" ? "depthwise" : "conv";
        if (timm) {
          const base = `blocks.${blocks[k][0]}.${blocks[k][1]}`;
          const names: Record<string, [string, string]> = expand
            ? {
              expand: ["conv_pw", "bn1"],
              depthwise: ["conv_dw", "bn2"],
              project: ["conv_pwl", "bn3"],
            }
            : { depthwise: ["conv_dw", "bn1"], project: ["conv_pw", "bn2"] };
          const found = names[part];
          return found ? convBn(rest, `${base}.${found[0]}`, `${base}.${found[1]}`, conv) : null;
        }
        const base = `features.${k + 1}.conv`;
        const order = expand ? ["expand", "depthwise", "project"] : ["depthwise", "project"];
        const i = order.indexOf(part);
        if (i < 0) return null;
        // The projection is a bare conv and a bare batch norm; the others are conv–BN–ReLU6 blocks.
        return part === "project"
          ? convBn(rest, `${base}.${i}`, `${base}.${i + 1}`)
          : convBn(rest, `${base}.${i}.0`, `${base}.${i}.1`, conv);
      },
      classifier: (parts) => dense(parts, { fc: [fc, { kind: "dense" }] }),
      classifierKeys: keysOf([fc]),
    };
  }
  // vgg11_bn: the n-th conv's index in `features`.
  const convIndex: number[] = [];
  let index = 0;
  for (const v of VGG11_CFG) {
    if (v !== "M") convIndex.push(index);
    index += v === "M" ? 1 : 3;
  }
  const perBlock = [1, 1, 2, 2, 2];
  const timm = naming === "timm";
  const layers: Record<string, [string, Layout]> = timm
    ? {
      hidden1: [
        "pre_logits.fc1",
        { kind: "flatten", channels: info.channels, grid: info.grid, rank: 4 },
      ],
      hidden2: ["pre_logits.fc2", { kind: "dense4d" }],
      fc: ["head.fc", { kind: "dense" }],
    }
    : {
      hidden1: [
        "classifier.0",
        { kind: "flatten", channels: info.channels, grid: info.grid, rank: 2 },
      ],
      hidden2: ["classifier.3", { kind: "dense" }],
      fc: ["classifier.6", { kind: "dense" }],
    };
  return {
    backbone(parts) {
      const block = /^block([1-5])$/.exec(parts[0]), conv = /^conv([12])$/.exec(parts[1] ?? "");
      if (!block || !conv) return null;
      const b = Number(block[1]) - 1, j = Number(conv[1]) - 1;
      if (j >= perBlock[b]) return null;
      const n = perBlock.slice(0, b).reduce((a, c) => a + c, 0) + j;
      const at = convIndex[n];
      return convBn(parts.slice(2), `features.${at}`, `features.${at + 1}`);
    },
    classifier: (parts) => dense(parts, layers),
    classifierKeys: keysOf(Object.values(layers).map(([key]) => key)),
  };
}
