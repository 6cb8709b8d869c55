/**
 * Vision transformers (Dosovitskiy et al. 2021) and DeiT (Touvron et al.
 * 2021) at patch 16, as timm and torchvision build them, with their token
 * grids as stages.
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { ApplyOptions } from "../layers/module.ts";
import { Module } from "../layers/module.ts";
import { checkpointActive, checkpointed } from "../layers/checkpoint.ts";
import { type AttentionProbe, LayerNorm, TransformerBlock } from "../layers/transformer.ts";
import { Random } from "../util/random.ts";
import { registerBackbone } from "./registry.ts";
import type {
  Backbone,
  BackboneOptions,
  ResolvedBackboneOptions,
  StageInfo,
  StageOptions,
} from "./types.ts";
import { resolveOptions } from "./_util.ts";

/** Options of the vision transformers: every backbone's, plus `imageSize`. */
export interface VitOptions extends BackboneOptions {
  /**
   * The image side the position embeddings are made for (`imageSize / 16`
   * tokens a side, as timm's `img_size` and torchvision's `image_size`).
   * Other input sizes resample them ({@linkcode resamplePositions}).
   *
   * @default {224}
   */
  imageSize?: number;
}

/** The options a vision transformer was built with, defaults filled in. */
export interface ResolvedVitOptions extends ResolvedBackboneOptions {
  /** The image side the position embeddings are made for. */
  imageSize: number;
}

/** Patch side, the reduction of every stage. */
const PATCH = 16;

/** Depth, heads and head channels (at width 1) of each size. */
const SIZES = {
  tiny: { depth: 12, heads: 3 },
  small: { depth: 12, heads: 6 },
  base: { depth: 12, heads: 12 },
} as const;

/**
 * The `[out, in]` matrix that resamples a line of `size` values to `out`
 * values with PyTorch's antialiased bicubic interpolation
 * (`F.interpolate(mode="bicubic", antialias=True, align_corners=False)`,
 * Pillow's filter: the cubic kernel with `a = −0.5`, widened by the scale
 * when shrinking, weights renormalised at the edges).
 */
function bicubicMatrix(size: number, out: number): Float32Array {
  const m = new Float32Array(out * size);
  const scale = size / out, support = 2 * Math.max(scale, 1), stretch = Math.max(scale, 1);
  const cubic = (x: number) => {
    const a = -0.5, t = Math.abs(x);
    if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
    if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
    return 0;
  };
  for (let i = 0; i < out; i++) {
    const center = (i + 0.5) * scale;
    const lo = Math.max(Math.floor(center - support + 0.5), 0);
    const hi = Math.min(Math.floor(center + support + 0.5), size);
    let total = 0;
    for (let j = lo; j < hi; j++) total += cubic((j - center + 0.5) / stretch);
    for (let j = lo; j < hi; j++) {
      m[i * size + j] = total === 0 ? 0 : cubic((j - center + 0.5) / stretch) / total;
    }
  }
  return m;
}

/**
 * Resamples a grid of position embeddings `[gh, gw, c]` to `[h, w, c]` as
 * timm's `resample_abs_pos_embed` does: bicubic, antialiased, corners not
 * aligned (PyTorch's `F.interpolate(mode="bicubic", antialias=True)`).
 * Differentiable (two matrix products). The caller owns the result.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { resamplePositions } from "./vit.ts";
 * import { tf } from "../deps.ts";
 * const grid = tf.ones([14, 14, 4]) as tf.Tensor3D;
 * const small = resamplePositions(grid, [2, 3]);
 * assert.deepStrictEqual(small.shape, [2, 3, 4]);
 * // The weights of every output sum to 1, so a constant stays constant.
 * assert.ok(small.dataSync().every((v) => Math.abs(v - 1) < 1e-5));
 * tf.dispose([grid, small]);
 * ```
 */
export function resamplePositions(
  grid: tf.Tensor3D,
  size: readonly [number, number],
): tf.Tensor3D {
  return tf.tidy(() => {
    const [gh, gw, c] = grid.shape, [h, w] = size;
    if (gh === h && gw === w) return tf.clone(grid);
    const rows = tf.matMul(
      tf.tensor2d(bicubicMatrix(gh, h), [h, gh]),
      tf.reshape(grid, [gh, gw * c]),
    );
    const byCol = tf.reshape(tf.transpose(tf.reshape(rows, [h, gw, c]), [1, 0, 2]), [gw, h * c]);
    const cols = tf.matMul(tf.tensor2d(bicubicMatrix(gw, w), [w, gw]), byCol);
    return tf.transpose(tf.reshape(cols, [w, h, c]), [1, 0, 2]) as tf.Tensor3D;
  });
}

/**
 * Stage 0: the patch embedding (a 16×16 stride-16 convolution, run as one
 * matrix product over the flattened patches) plus the patches' position
 * embeddings. Its variables: `proj/kernel` `[16, 16, in, c]`, `proj/bias`
 * and `pos_embed` `[1, 1 + tokens, c]` (the class token's first, as in
 * timm and torchvision).
 */
class PatchEmbed extends Module {
  readonly kernel: tf.Variable;
  readonly bias: tf.Variable;
  readonly posEmbed: tf.Variable;
  readonly #grid: number;

  constructor(inChannels: number, channels: number, grid: number, rng: Random) {
    super("patch_embed");
    const proj = this.addChild(new PatchProjection(inChannels, channels, rng));
    this.kernel = proj.kernel;
    this.bias = proj.bias;
    const tokens = 1 + grid * grid;
    this.posEmbed = this.addWeight(
      "pos_embed",
      tf.tensor(rng.normalArray(tokens * channels, 0, 0.02), [1, tokens, channels]),
    );
    this.#grid = grid;
  }

  /** The position embeddings of a `[h, w]` grid of patches, `[h, w, c]`. */
  patchPositions(h: number, w: number): tf.Tensor3D {
    return tf.tidy(() => {
      const c = this.posEmbed.shape[2] as number, g = this.#grid;
      const grid = tf.reshape(tf.slice(this.posEmbed, [0, 1, 0], [1, g * g, c]), [g, g, c]);
      return resamplePositions(grid as tf.Tensor3D, [h, w]);
    });
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [n, hh, ww, ci] = x.shape, h = hh / PATCH, w = ww / PATCH;
      const c = this.kernel.shape[3] as number;
      // [n·h, 16, w, 16·ci] → [n·h, w, 16, 16·ci]: each patch in (row, column, channel) order.
      const patches = tf.transpose(tf.reshape(x, [n * h, PATCH, w, PATCH * ci]), [0, 2, 1, 3]);
      const flat = tf.reshape(patches, [n * h * w, PATCH * PATCH * ci]);
      const y = tf.add(tf.matMul(flat, tf.reshape(this.kernel, [-1, c]) as tf.Tensor2D), this.bias);
      return tf.add(tf.reshape(y, [n, h, w, c]), this.patchPositions(h, w)) as tf.Tensor4D;
    });
  }
}

/** The patch embedding's weights: `kernel` `[16, 16, in, c]` and `bias` `[c]`. */
class PatchProjection extends Module {
  readonly kernel: tf.Variable;
  readonly bias: tf.Variable;

  constructor(inChannels: number, channels: number, rng: Random) {
    super("proj");
    const fanIn = PATCH * PATCH * inChannels;
    const limit = Math.sqrt(1 / fanIn); // PyTorch's conv default: uniform(±1/√fanIn)
    this.kernel = this.addWeight(
      "kernel",
      tf.tensor(rng.uniformArray(fanIn * channels, -limit, limit), [
        PATCH,
        PATCH,
        inChannels,
        channels,
      ]),
    );
    this.bias = this.addWeight("bias", tf.zeros([channels]));
  }
}

/**
 * Stage 1: the class token (with its position embedding) before the patch
 * tokens, every encoder block, the final layer norm, and the class token
 * removed again. Variables `cls_token` `[1, 1, c]`, `block<i>/…` and
 * `norm/gamma|beta`.
 */
class Encoder extends Module {
  readonly clsToken: tf.Variable;
  readonly blocks: readonly TransformerBlock[];
  readonly norm: LayerNorm;
  readonly #patchEmbed: PatchEmbed;

  constructor(patchEmbed: PatchEmbed, channels: number, depth: number, heads: number, rng: Random) {
    super("encoder");
    this.#patchEmbed = patchEmbed;
    this.clsToken = this.addWeight(
      "cls_token",
      tf.tensor(rng.normalArray(channels, 0, 1e-6), [1, 1, channels]),
    );
    this.blocks = Array.from(
      { length: depth },
      (_, i) =>
        this.addChild(new TransformerBlock(`block${i}`, { channels, heads, seed: rng.seed() })),
    );
    this.norm = this.addChild(new LayerNorm("norm", { channels }));
  }

  /** The tokens after the final norm, `[n, 1 + h·w, c]` (class token first). */
  tokens(x: tf.Tensor4D, options: ApplyOptions, probe: AttentionProbe | null): tf.Tensor3D {
    return tf.tidy(() => {
      const [n, h, w, c] = x.shape;
      const cls = tf.add(this.clsToken, tf.slice(this.#patchEmbed.posEmbed, [0, 0, 0], [1, 1, c]));
      let t = tf.concat([tf.tile(cls, [n, 1, 1]), tf.reshape(x, [n, h * w, c])], 1) as tf.Tensor3D;
      const checkpoint = !probe && checkpointActive(options.checkpoint);
      this.blocks.forEach((block, i) => {
        t = checkpoint
          ? checkpointed((u) => block.apply(u), t, [...block.variables().values()])
          : block.apply(t, probe ?? undefined, i);
      });
      return this.norm.apply(t);
    });
  }

  apply(x: tf.Tensor4D, options: ApplyOptions, probe: AttentionProbe | null): tf.Tensor4D {
    return tf.tidy(() => {
      const [n, h, w, c] = x.shape;
      const t = this.tokens(x, options, probe);
      return tf.reshape(tf.slice(t, [0, 1, 0], [n, h * w, c]), [n, h, w, c]) as tf.Tensor4D;
    });
  }
}

/**
 * A vision transformer with its token grids as stages. Stage 0,
 * `patch_embed`, is the patch embedding plus position embeddings,
 * `[n, h/16, w/16, c]`; stage 1, `encoder`, prepends the class token, runs
 * every block and the final layer norm and drops the class token again,
 * `[n, h/16, w/16, c]`. Both have reduction 16. The class token never
 * crosses a stage boundary: where it joins, it is still the learned token
 * plus its position embedding, so running the stages one by one computes
 * what one pass computes, and every CAM explainer, saliency head and gate
 * works on the grids as on a CNN's. A classifier on the last stage reads
 * the mean of the patch tokens (timm's `global_pool="avg"`);
 * {@linkcode VisionTransformer.forwardFeatures} gives the class token, for
 * the class-token head of timm and torchvision.
 */
export class VisionTransformer extends Module implements Backbone {
  readonly options: Readonly<ResolvedVitOptions>;
  readonly featureInfo: readonly StageInfo[];
  /** The patch embedding (stage 0). */
  readonly patchEmbed: PatchEmbed;
  /** The encoder (stage 1). */
  readonly encoder: Encoder;
  /** Attention heads of every block. */
  readonly heads: number;
  #probe: AttentionProbe | null = null;

  constructor(name: string, options: ResolvedVitOptions, size: keyof typeof SIZES) {
    super(name);
    this.options = Object.freeze({ ...options });
    const { depth, heads } = SIZES[size];
    const channels = heads * Math.max(1, Math.round(64 * options.width));
    const rng = new Random(options.seed);
    this.heads = heads;
    this.patchEmbed = this.addChild(
      new PatchEmbed(options.inputChannels, channels, options.imageSize / PATCH, rng),
    );
    this.encoder = this.addChild(new Encoder(this.patchEmbed, channels, depth, heads, rng));
    this.featureInfo = Object.freeze(
      ["patch_embed", "encoder"].map((stage) =>
        Object.freeze({ name: stage, channels, reduction: PATCH })
      ),
    );
  }

  forwardStages(x: tf.Tensor4D, options: StageOptions = {}): tf.Tensor4D[] {
    const from = options.from ?? 0, to = options.to ?? 1;
    if (!([0, 1].includes(from) && [0, 1].includes(to) && from <= to)) {
      throw new RangeError(
        `Cannot run stages ${from} to ${to} of backbone ${this.name}: it has stages 0 to 1`,
      );
    }
    const channels = from === 0 ? this.options.inputChannels : this.featureInfo[0].channels;
    const [, h, w] = x.shape;
    if (
      x.rank !== 4 || x.shape[3] !== channels || (from === 0 && (h % PATCH || w % PATCH))
    ) {
      throw new RangeError(
        `Backbone ${this.name} expects the input of stage ${from} to be [n, h, w, ${channels}]${
          from === 0 ? " with h and w multiples of 16" : ""
        }, got [${x.shape.join(", ")}]`,
      );
    }
    const outputs: tf.Tensor4D[] = [];
    let t = x;
    if (from === 0) {
      t = this.patchEmbed.apply(x);
      outputs.push(t);
    }
    if (to === 1) outputs.push(this.encoder.apply(t, options, this.#probe));
    return outputs;
  }

  /**
   * Every token after the final norm, `[n, 1 + (h/16)·(w/16), c]`, the
   * class token first (timm's `forward_features`): the class token is what
   * timm's and torchvision's heads read. `images` is `[n, h, w, channels]`,
   * as normalised for the weights. The caller owns the result.
   */
  forwardFeatures(images: tf.Tensor4D, options: ApplyOptions = {}): tf.Tensor3D {
    return tf.tidy(() => {
      const grid = this.forwardStages(images, { ...options, to: 0 })[0];
      return this.encoder.tokens(grid, options, this.#probe);
    });
  }

  /**
   * Runs `fn` with `probe` watching every block's attention (block `i` of
   * the encoder is reported as `i`), and returns what `fn` returns. Outside
   * `fn` no probe runs; checkpointing is off while one does.
   */
  withAttentionProbe<T>(probe: AttentionProbe, fn: () => T): T {
    if (this.#probe) {
      throw new TypeError(`Backbone ${this.name} already has an attention probe: nest none`);
    }
    this.#probe = probe;
    try {
      return fn();
    } finally {
      this.#probe = null;
    }
  }

  stageVariables(index: number, prefix = ""): Map<string, tf.Variable> {
    const stage = [this.patchEmbed, this.encoder][index];
    if (!Number.isInteger(index) || stage === undefined) {
      throw new RangeError(`Backbone ${this.name} has no stage ${index}: it has stages 0 to 1`);
    }
    return stage.variables(prefix ? `${prefix}/${this.name}` : this.name);
  }
}

function createVit(name: string, size: keyof typeof SIZES, options: VitOptions): Backbone {
  const { imageSize = 224, ...rest } = options ?? {};
  const resolved = { ...resolveOptions(name, rest), imageSize };
  if (!(Number.isInteger(imageSize) && imageSize >= PATCH && imageSize % PATCH === 0)) {
    throw new RangeError(
      `Option "imageSize" of backbone ${name} must be a positive multiple of 16, got ${imageSize}`,
    );
  }
  return new VisionTransformer(name, resolved, size);
}

/**
 * Creates a vision transformer at patch 16: `"tiny"` (192 channels, 3
 * heads), `"small"` (384, 6) or `"base"` (768, 12), 12 blocks each, MLP
 * ratio 4, layer-norm epsilon 1e-6, queries, keys and values with biases.
 * `width` scales the channels per head (64 at width 1). It is registered
 * as timm's `vit_tiny_patch16_224`, `vit_small_patch16_224`,
 * `vit_base_patch16_224`, `deit_tiny_patch16_224`,
 * `deit_small_patch16_224` and `deit_base_patch16_224` (DeiT without
 * distillation is the same network, trained otherwise) and as
 * torchvision's `vit_b_16`; see {@linkcode VisionTransformer} for its
 * stages. Input sides must be multiples of 16; position embeddings are made
 * for `imageSize` (default 224) and resampled for other sizes. The caller
 * disposes the backbone.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { createVisionTransformer } from "./vit.ts";
 * import { tf } from "../deps.ts";
 * const vit = createVisionTransformer("small", { width: 0.125 });
 * assert.deepEqual(vit.featureInfo, [
 *   { name: "patch_embed", channels: 48, reduction: 16 },
 *   { name: "encoder", channels: 48, reduction: 16 },
 * ]);
 * const stages = vit.forwardStages(tf.zeros([1, 32, 48, 3]) as tf.Tensor4D);
 * assert.deepStrictEqual(stages[1].shape, [1, 2, 3, 48]);
 * tf.dispose(stages);
 * vit.dispose();
 * ```
 */
export function createVisionTransformer(
  size: "tiny" | "small" | "base",
  options: VitOptions = {},
  name = `vit_${size}_patch16_224`,
): Backbone {
  if (!(size in SIZES)) {
    throw new RangeError(`Unknown vision transformer size "${size}": expected tiny, small or base`);
  }
  return createVit(name, size, options);
}

for (const size of ["tiny", "small", "base"] as const) {
  for (const family of ["vit", "deit"]) {
    const name = `${family}_${size}_patch16_224`;
    registerBackbone(name, (options) => createVisionTransformer(size, options, name));
  }
}
registerBackbone("vit_b_16", (options) => createVisionTransformer("base", options, "vit_b_16"));
