/**
 * The contract every two-branch model meets.
 *
 * @module
 */
import type { tf } from "../deps.ts";
import type { ApplyOptions } from "../layers/module.ts";

import type { StageInfo } from "../backbones/types.ts";
export type { StageInfo };

/** The outputs of a two-branch forward pass. The caller owns every tensor. */
export interface TwoBranchOutput {
  /** Class scores before softmax, `[n, numClasses]`. */
  logits: tf.Tensor2D;
  /** Saliency before the sigmoid, `[n, h, w]` at input resolution. */
  saliencyLogits: tf.Tensor3D;
  /** Saliency in [0, 1], `[n, h, w]` at input resolution. */
  saliency: tf.Tensor3D;
  /**
   * Class evidence per location of the features the classifier pools,
   * `[n, h, w, numClasses]` (the class activation maps of Zhou et al.
   * 2016): its spatial mean plus the classifier's bias is `logits`. Present
   * only when {@linkcode ForwardOptions.classEvidence} asked for it.
   */
  evidence?: tf.Tensor4D;
}

/** Options of {@linkcode TwoBranchModel.forward}. */
export interface ForwardOptions extends ApplyOptions {
  /**
   * Also return the class evidence (`evidence`). Only a classifier that is
   * global average pooling and one linear layer has it; others throw.
   *
   * @default {false}
   */
  classEvidence?: boolean;
}

/**
 * A model's architecture as plain JSON: enough, with the weights, to build
 * it again ({@linkcode createModel}). `architecture` names the factory.
 */
export interface ModelConfig {
  /** The registered architecture (`"reference"`, `"two-branch"`). */
  architecture: string;
  /** The factory's options, every default filled in. */
  [option: string]: unknown;
}

/**
 * A classifier with a saliency branch on a shared backbone. Its stages can
 * be run separately (input to stage k, stage k to output), so explainers
 * take gradients at any stage without hooks.
 */
export interface TwoBranchModel {
  /** The model's name. */
  readonly name: string;
  /** The architecture as JSON, for saving and rebuilding the model. */
  readonly config: ModelConfig;
  /** Input `[height, width, channels]`. */
  readonly inputShape: readonly [number, number, number];
  /** Number of classes. */
  readonly numClasses: number;
  /** The backbone stages, in order. */
  readonly featureInfo: readonly StageInfo[];
  /**
   * Runs stages `from` to `to` (inclusive). `x` is the input of stage
   * `from`: the images when `from` is 0, else stage `from - 1`'s output.
   * Returns every stage output from `from` to `to`; the caller owns them.
   */
  forwardStages(
    x: tf.Tensor4D,
    options?: ApplyOptions & { from?: number; to?: number },
  ): tf.Tensor4D[];
  /** The classification head on the last stage's output: logits `[n, numClasses]`. */
  forwardHead(features: tf.Tensor4D, options?: ApplyOptions): tf.Tensor2D;
  /** The saliency head on all stage outputs: saliency logits `[n, h, w]`. */
  forwardSaliency(stages: tf.Tensor4D[], options?: ApplyOptions): tf.Tensor3D;
  /** The whole forward pass. */
  forward(images: tf.Tensor4D, options?: ForwardOptions): TwoBranchOutput;
  /** Every variable, by path. */
  variables(): Map<string, tf.Variable>;
  /** The trainable variables. */
  trainableVariables(): tf.Variable[];
  /** The number of trainable parameters. */
  countParams(): number;
  /** Frees every variable. */
  dispose(): void;
}
