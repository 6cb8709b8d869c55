/**
 * Transformer layers, as timm's and torchvision's vision transformers build
 * them: layer normalisation, GELU, multi-head self-attention, the MLP and the
 * pre-norm encoder block. Tokens are `[n, tokens, channels]`.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { Dense } from "./core.ts";
import { Module } from "./module.ts";

/** Arguments of {@linkcode LayerNorm}. */
export interface LayerNormArgs {
  /** Channels (the last axis). */
  channels: number;
  /** Added to the variance. timm's and torchvision's ViTs use 1e-6. @default {1e-6} */
  epsilon?: number;
}

/**
 * Layer normalisation over the last axis, with a learned scale `gamma`
 * (ones) and shift `beta` (zeros), as PyTorch's `LayerNorm` (biased
 * variance). The same function in training and inference.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { LayerNorm } from "./transformer.ts";
 * import { tf } from "../deps.ts";
 * const norm = new LayerNorm("norm", { channels: 2 });
 * const y = norm.apply(tf.tensor2d([[1, 3]]));
 * // Mean 2, variance 1: [-1, 1] (up to the epsilon).
 * assert.ok(Math.abs(y.dataSync()[0] + 1) < 1e-5 && Math.abs(y.dataSync()[1] - 1) < 1e-5);
 * tf.dispose(y);
 * norm.dispose();
 * ```
 */
export class LayerNorm extends Module {
  /** The scale, `[channels]`. */
  readonly gamma: tf.Variable;
  /** The shift, `[channels]`. */
  readonly beta: tf.Variable;
  readonly #epsilon: number;

  /** Creates the layer with unit scale and zero shift. */
  constructor(name: string, args: LayerNormArgs) {
    super(name);
    this.gamma = this.addWeight("gamma", tf.ones([args.channels]));
    this.beta = this.addWeight("beta", tf.zeros([args.channels]));
    this.#epsilon = args.epsilon ?? 1e-6;
  }

  /** Normalises `x` over its last axis. The caller owns the result. */
  apply<T extends tf.Tensor>(x: T): T {
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, -1, true);
      const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.#epsilon)));
      return tf.add(tf.mul(normed, this.gamma), this.beta) as T;
    });
  }
}

/**
 * The exact GELU, `x · Φ(x) = x · (1 + erf(x / √2)) / 2` (PyTorch's default,
 * not the tanh approximation). The caller owns the result.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { gelu } from "./transformer.ts";
 * import { tf } from "../deps.ts";
 * const y = gelu(tf.tensor1d([0, 1]));
 * assert.ok(Math.abs(y.dataSync()[1] - 0.8413447) < 1e-5); // Φ(1)
 * assert.equal(y.dataSync()[0], 0);
 * tf.dispose(y);
 * ```
 */
export function gelu<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))) as T);
}

/** `dense` on every token of `x`, `[n, t, in]` to `[n, t, units]`. */
function denseTokens(dense: Dense, x: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const [n, t, c] = x.shape;
    const y = dense.apply(tf.reshape(x, [n * t, c]));
    return tf.reshape(y, [n, t, y.shape[1]]);
  });
}

/**
 * Watches (and may replace) each attention matrix, `[n, heads, tokens,
 * tokens]` (rows attend to columns, each row sums to 1): it gets the block's
 * index and the matrix and returns what the block then uses. Attention
 * explainers record the matrices and add zeros whose gradient is the
 * matrix's.
 */
export type AttentionProbe = (block: number, attention: tf.Tensor4D) => tf.Tensor4D;

/** Arguments of {@linkcode MultiHeadAttention}. */
export interface MultiHeadAttentionArgs {
  /** Channels of the tokens, a multiple of `heads`. */
  channels: number;
  /** Attention heads. */
  heads: number;
  /** Seed of the Glorot-uniform initialisation. @default {0} */
  seed?: number;
}

/**
 * Multi-head self-attention with one fused query-key-value projection
 * (`qkv`, kernel `[c, 3c]`: queries, keys then values, each head's
 * `c / heads` channels together, as timm's `qkv` and torchvision's
 * `in_proj_weight`), scaled dot products, softmax over keys, and the output
 * projection `proj`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { MultiHeadAttention } from "./transformer.ts";
 * import { tf } from "../deps.ts";
 * const attn = new MultiHeadAttention("attn", { channels: 8, heads: 2 });
 * const seen: number[][] = [];
 * const y = attn.apply(tf.randomNormal([3, 5, 8]), (_block, a) => {
 *   seen.push(a.shape);
 *   return a;
 * });
 * assert.deepStrictEqual(y.shape, [3, 5, 8]);
 * assert.deepStrictEqual(seen, [[3, 2, 5, 5]]);
 * tf.dispose(y);
 * attn.dispose();
 * ```
 */
export class MultiHeadAttention extends Module {
  /** The fused query-key-value projection. */
  readonly qkv: Dense;
  /** The output projection. */
  readonly proj: Dense;
  /** Attention heads. */
  readonly heads: number;

  /** Creates the layer with seeded weights. */
  constructor(name: string, args: MultiHeadAttentionArgs) {
    super(name);
    const { channels: c, heads } = args;
    if (!(Number.isInteger(heads) && heads > 0 && c % heads === 0)) {
      throw new RangeError(`Attention of ${c} channels cannot have ${heads} heads`);
    }
    const seed = args.seed ?? 0;
    this.qkv = this.addChild(new Dense("qkv", { inFeatures: c, units: 3 * c, seed }));
    this.proj = this.addChild(new Dense("proj", { inFeatures: c, units: c, seed: seed + 1 }));
    this.heads = heads;
  }

  /**
   * Attends `x` `[n, t, c]` to itself; `probe` sees (and may replace) the
   * attention matrix, reported as block `block`. The caller owns the result.
   */
  apply(x: tf.Tensor3D, probe?: AttentionProbe, block = 0): tf.Tensor3D {
    return tf.tidy(() => {
      const [n, t, c] = x.shape;
      const h = this.heads, d = c / h;
      const qkv = tf.transpose(
        tf.reshape(denseTokens(this.qkv, x), [n, t, 3, h, d]),
        [2, 0, 3, 1, 4],
      );
      const [q, k, v] = tf.unstack(qkv) as tf.Tensor4D[];
      let attention = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(d)));
      if (probe) attention = probe(block, attention as tf.Tensor4D);
      const out = tf.reshape(tf.transpose(tf.matMul(attention, v), [0, 2, 1, 3]), [n, t, c]);
      return denseTokens(this.proj, out as tf.Tensor3D);
    });
  }
}

/** Arguments of {@linkcode TransformerBlock}. */
export interface TransformerBlockArgs {
  /** Channels of the tokens, a multiple of `heads`. */
  channels: number;
  /** Attention heads. */
  heads: number;
  /** Hidden channels of the MLP over the channels. @default {4} */
  mlpRatio?: number;
  /** Seed of the initialisation. @default {0} */
  seed?: number;
}

/**
 * The pre-norm encoder block of ViT: `x + attn(norm1(x))`, then `x +
 * mlp(norm2(x))`, where the MLP is `fc2(gelu(fc1(x)))` with
 * `mlpRatio · channels` hidden channels. Variables `norm1`, `attn/qkv`,
 * `attn/proj`, `norm2`, `mlp/fc1`, `mlp/fc2`, as timm names them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { TransformerBlock } from "./transformer.ts";
 * import { tf } from "../deps.ts";
 * const block = new TransformerBlock("block0", { channels: 8, heads: 2 });
 * const y = block.apply(tf.randomNormal([1, 5, 8]));
 * assert.deepStrictEqual(y.shape, [1, 5, 8]);
 * assert.deepStrictEqual(block.variables().get("block0/mlp/fc1/kernel")!.shape, [8, 32]);
 * tf.dispose(y);
 * block.dispose();
 * ```
 */
export class TransformerBlock extends Module {
  readonly #norm1: LayerNorm;
  readonly #attn: MultiHeadAttention;
  readonly #norm2: LayerNorm;
  readonly #mlp: Mlp;

  /** Creates the block with seeded weights. */
  constructor(name: string, args: TransformerBlockArgs) {
    super(name);
    const c = args.channels, hidden = Math.round(c * (args.mlpRatio ?? 4)), seed = args.seed ?? 0;
    this.#norm1 = this.addChild(new LayerNorm("norm1", { channels: c }));
    this.#attn = this.addChild(
      new MultiHeadAttention("attn", { channels: c, heads: args.heads, seed }),
    );
    this.#norm2 = this.addChild(new LayerNorm("norm2", { channels: c }));
    this.#mlp = this.addChild(new Mlp("mlp", c, hidden, seed + 2));
  }

  /**
   * Applies the block to `x` `[n, t, c]`; `probe` sees its attention as
   * block `index`. The caller owns the result.
   */
  apply(x: tf.Tensor3D, probe?: AttentionProbe, index = 0): tf.Tensor3D {
    return tf.tidy(() => {
      const h = tf.add(x, this.#attn.apply(this.#norm1.apply(x), probe, index)) as tf.Tensor3D;
      return tf.add(h, this.#mlp.apply(this.#norm2.apply(h))) as tf.Tensor3D;
    });
  }
}

/** `fc2(gelu(fc1(x)))` on every token. */
class Mlp extends Module {
  readonly #fc1: Dense;
  readonly #fc2: Dense;

  constructor(name: string, channels: number, hidden: number, seed: number) {
    super(name);
    this.#fc1 = this.addChild(new Dense("fc1", { inFeatures: channels, units: hidden, seed }));
    this.#fc2 = this.addChild(
      new Dense("fc2", { inFeatures: hidden, units: channels, seed: seed + 1 }),
    );
  }

  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => denseTokens(this.#fc2, gelu(denseTokens(this.#fc1, x))));
  }
}
