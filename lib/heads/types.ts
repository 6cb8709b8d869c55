/**
 * The contract every saliency head meets.
 *
 * @module
 */
import type { tf } from "../deps.ts";
import type { ApplyOptions, Module } from "../layers/module.ts";
import type { StageInfo } from "../backbones/types.ts";

/**
 * How the attention map gates the classifier's features: `"residual"` is
 * `features · (1 + map)`, as in the Attention Branch Network;
 * `"multiplicative"` is `features · map`.
 */
export type GateMode = "residual" | "multiplicative";

/**
 * Options of {@linkcode createSaliencyHead}. `featureInfo`, `numClasses` and
 * `seed` describe the model the head joins; the rest are the heads' own
 * options, and passing one to a head that does not take it is an error.
 */
export interface SaliencyHeadOptions {
  /** The backbone's stages, in order (required). */
  featureInfo: readonly StageInfo[];
  /** Number of classes; `attention` makes that many channels by default. @default {2} */
  numClasses?: number;
  /** Seed of the weight initialisation. @default {0} */
  seed?: number;
  /**
   * `decoder`: channels of every decoder level (default 32). `attention`:
   * channels of the class-wise map before the 1×1 conv to one map, the K of
   * ABN (default `numClasses`).
   */
  channels?: number;
  /**
   * `decoder`: how many earlier stages, counting back from the last, feed
   * skip connections.
   *
   * @default {every stage before the last}
   */
  skips?: number;
  /** `attention`: how the map gates the classifier's features. @default {"residual"} */
  gate?: GateMode;
}

/** A saliency head and the gated features, from one pass. The caller owns both. */
export interface SaliencyHeadOutput {
  /** Saliency logits `[n, h, w]` at the requested size. */
  saliencyLogits: tf.Tensor3D;
  /** The features the classifier should see, or null when the head does not gate. */
  gated: tf.Tensor4D | null;
}

/**
 * A saliency head: it takes every backbone stage output (stage 0 to the
 * last) and the model's input size, and returns saliency logits
 * `[n, h, w]` at that size; the sigmoid of them is the map in [0, 1]. A
 * head may also gate the classifier's features (`attention`).
 */
export interface SaliencyHead extends Module {
  /** The registered name (`"cam"`, `"decoder"`, `"attention"`). */
  readonly kind: string;
  /** The head's own options, defaults filled in (plain JSON). */
  readonly options: Readonly<Record<string, unknown>>;
  /** Whether {@linkcode SaliencyHead.gate} changes the classifier's features. */
  readonly gates: boolean;
  /**
   * Saliency logits `[n, h, w]` at `inputSize` (`[h, w]`) from the stage
   * outputs. The caller owns the result.
   */
  apply(
    stages: readonly tf.Tensor4D[],
    inputSize: readonly [number, number],
    options?: ApplyOptions,
  ): tf.Tensor3D;
  /**
   * The features the classifier should see, given the last stage's output;
   * null when the head does not gate. The caller owns the result.
   */
  gate(features: tf.Tensor4D, options?: ApplyOptions): tf.Tensor4D | null;
  /**
   * {@linkcode SaliencyHead.apply} and {@linkcode SaliencyHead.gate} in one
   * pass, computing what they share once (so batch norm in training mode
   * updates its statistics once). The caller owns the results.
   */
  applyAndGate(
    stages: readonly tf.Tensor4D[],
    inputSize: readonly [number, number],
    options?: ApplyOptions,
  ): SaliencyHeadOutput;
}

/** Builds a saliency head from its options. */
export type SaliencyHeadFactory = (options: SaliencyHeadOptions) => SaliencyHead;
