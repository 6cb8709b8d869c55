/**
 * The contract every backbone meets.
 *
 * @module
 */
import type { tf } from "../deps.ts";
import type { ApplyOptions, Module } from "../layers/module.ts";

/** One backbone stage, as in timm's `feature_info`. */
export interface StageInfo {
  /** The stage's name (`"block1"`), usable as an explainer's `layer`. */
  name: string;
  /** Output channels. */
  channels: number;
  /** How many input pixels one output pixel spans along each axis. */
  reduction: number;
}

/** Options of a forward pass over some of a backbone's stages. */
export interface StageOptions extends ApplyOptions {
  /** The first stage to run; `x` is its input. @default {0} */
  from?: number;
  /** The last stage to run (inclusive). @default {the last stage} */
  to?: number;
}

/**
 * Options of {@linkcode createBackbone}. Every family takes `inputChannels`,
 * `width` and `seed`; `stem` applies to the families that downsample early
 * (`resnet*`, `mobilenet_v2`), and passing it to another family is an
 * error.
 */
export interface BackboneOptions {
  /** Input channels: 1 (grey) or 3 (RGB). @default {3} */
  inputChannels?: 1 | 3;
  /**
   * Width multiplier on every stage's channels (each rounded, at least 1;
   * MobileNetV2 rounds to a multiple of 8). Tests use 0.125 to 0.25.
   *
   * @default {1}
   */
  width?: number;
  /** Seed of the weight initialisation. @default {0} */
  seed?: number;
  /**
   * The stem of `resnet*` and `mobilenet_v2`. `"imagenet"` is the papers'
   * stem, which reduces the input 4× (ResNet: 7×7 stride-2 conv and 3×3
   * stride-2 max pool) or 2× (MobileNetV2) before the first stage of blocks,
   * for a total reduction of 32. `"small"` is the CIFAR variant: a 3×3
   * stride-1 stem, no max pool (MobileNetV2: its first two strides are 1),
   * for a total reduction of 8, so that 32–64 pixel inputs keep spatial
   * detail.
   *
   * @default {"imagenet"}
   */
  stem?: "imagenet" | "small";
}

/** The options a backbone was built with, every default filled in (plain JSON). */
export interface ResolvedBackboneOptions {
  /** Input channels. */
  inputChannels: 1 | 3;
  /** Width multiplier. */
  width: number;
  /** Seed of the weight initialisation. */
  seed: number;
  /** The stem, for the families that have the option. */
  stem?: "imagenet" | "small";
}

/**
 * A feature extractor made of stages, as in timm: every stage's output has
 * the channels and reduction its {@linkcode StageInfo} says, when the input
 * height and width are multiples of the last stage's reduction. Stages can
 * be run separately, so explainers take gradients at any stage without
 * hooks. Variables are named `<backbone>/<stage name>/…`, so
 * {@linkcode Backbone.stageVariables} can freeze or transfer one stage.
 */
export interface Backbone extends Module {
  /**
   * The family's name (`"resnet18"`; a variant registered under another name
   * keeps its family's), also the first part of every variable path.
   */
  readonly name: string;
  /** The options it was built with, defaults filled in. */
  readonly options: Readonly<ResolvedBackboneOptions>;
  /** The stages, in order. */
  readonly featureInfo: readonly StageInfo[];
  /**
   * Runs stages `from` to `to` (inclusive) on `x`, `[n, h, w, c]`: the
   * images when `from` is 0, else stage `from - 1`'s output. Returns every
   * stage output from `from` to `to`; the caller owns them.
   */
  forwardStages(x: tf.Tensor4D, options?: StageOptions): tf.Tensor4D[];
  /** The variables of stage `index`, by path (prefixed by `prefix/` when given). */
  stageVariables(index: number, prefix?: string): Map<string, tf.Variable>;
}

/** Builds a backbone from its options. */
export type BackboneFactory = (options: BackboneOptions) => Backbone;
