// Helpers shared by the backbone families. Private to lib/backbones/.
import { tf } from "../deps.ts";
import type { ApplyOptions } from "../layers/module.ts";
import { Module } from "../layers/module.ts";
import {
  Conv2d,
  convBnAct,
  DepthwiseConv2d,
  type Padding,
  tfjsPad,
} from "../layers/convolutional.ts";
import { BatchNorm } from "../layers/normalization.ts";
import { checkpointActive, checkpointed } from "../layers/checkpoint.ts";
import type { StageInfo } from "./types.ts";
import type { Backbone, BackboneOptions, ResolvedBackboneOptions, StageOptions } from "./types.ts";

/** A module with a forward pass, the unit stages are made of. */
export abstract class Layer extends Module {
  /** Applies the layer. The caller owns the result. */
  abstract apply(x: tf.Tensor4D, options: ApplyOptions): tf.Tensor4D;
}

/** The activation after a convolution. */
export type Activation = "relu" | "relu6" | "none";

/** Arguments of {@linkcode ConvBnAct}. */
export interface ConvBnActArgs {
  inChannels: number;
  filters: number;
  kernelSize?: number;
  strides?: number;
  activation?: Activation;
  /** A depthwise convolution (then `filters` must equal `inChannels`). */
  depthwise?: boolean;
  /** The convolution's padding. @default {"same"} */
  padding?: Padding;
  /** A bias on the convolution, before the batch norm (torchvision's VGG has one). */
  useBias?: boolean;
  seed: number;
}

/** Convolution (no bias), batch norm, activation. */
export class ConvBnAct extends Layer {
  readonly conv: Conv2d | DepthwiseConv2d;
  readonly bn: BatchNorm;
  readonly #activation: Activation;

  constructor(name: string, args: ConvBnActArgs) {
    super(name);
    const kernelSize = args.kernelSize ?? 3, strides = args.strides ?? 1, seed = args.seed;
    const padding = args.padding ?? "same";
    this.conv = this.addChild(
      args.depthwise
        ? new DepthwiseConv2d("conv", {
          channels: args.inChannels,
          kernelSize,
          strides,
          padding,
          seed,
        })
        : new Conv2d("conv", {
          inChannels: args.inChannels,
          filters: args.filters,
          kernelSize,
          strides,
          padding,
          useBias: args.useBias,
          seed,
          linear: args.activation === "none",
        }),
    );
    this.bn = this.addChild(new BatchNorm("bn", { channels: args.filters }));
    this.#activation = args.activation ?? "relu";
  }

  apply(x: tf.Tensor4D, options: ApplyOptions): tf.Tensor4D {
    return convBnAct(this.conv, this.bn, x, options, this.#activation);
  }
}

/**
 * A max pool (no variables), `same` padding unless told; padded pixels
 * never win.
 */
export class MaxPool extends Layer {
  readonly #size: number;
  readonly #strides: number;
  readonly #pad: "same" | "valid" | number;

  constructor(name: string, size: number, strides: number, padding: Padding = "same") {
    super(name);
    this.#size = size;
    this.#strides = strides;
    this.#pad = tfjsPad(padding, size);
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.maxPool(x, this.#size, this.#strides, this.#pad);
  }
}

/** Layers applied in order. */
export class Sequence extends Layer {
  readonly #layers: Layer[];

  constructor(name: string, layers: Layer[]) {
    super(name);
    this.#layers = layers.map((layer) => this.addChild(layer));
  }

  apply(x: tf.Tensor4D, options: ApplyOptions): tf.Tensor4D {
    return this.applyFrom(x, options, true);
  }

  /**
   * Applies the layers, each checkpointed when `options.checkpoint` is on
   * under a single gradient tape; `inputGradient: false` spares the first
   * one the gradient of `x` (the images).
   */
  applyFrom(x: tf.Tensor4D, options: ApplyOptions, inputGradient: boolean): tf.Tensor4D {
    if (!checkpointActive(options.checkpoint)) {
      return tf.tidy(() => this.#layers.reduce((h, layer) => layer.apply(h, options), x));
    }
    return tf.tidy(() =>
      this.#layers.reduce(
        (h, layer, i) => checkpointLayer(layer, h, options, inputGradient || i > 0),
        x,
      )
    );
  }
}

/**
 * `layer.apply(x, options)` as one checkpointed op: batch norm updates its
 * statistics in the forward pass only, never in the recomputation.
 */
function checkpointLayer(
  layer: Layer,
  x: tf.Tensor4D,
  options: ApplyOptions,
  inputGradient: boolean,
): tf.Tensor4D {
  const plain = { ...options, checkpoint: false };
  const again = { ...plain, updateStats: false };
  return checkpointed(
    (t: tf.Tensor4D, recompute: boolean) => layer.apply(t, recompute ? again : plain),
    x,
    [...layer.variables().values()],
    { inputGradient },
  );
}

/** One stage of a backbone: its layer, channels and cumulative reduction. */
export interface StageSpec {
  layer: Layer;
  channels: number;
  reduction: number;
}

/**
 * A backbone made of named stages, run one after the other. Each stage is a
 * child module named after its {@linkcode StageInfo}, so variable paths are
 * `<backbone>/<stage>/…`.
 */
export class StagedBackbone extends Module implements Backbone {
  readonly options: Readonly<ResolvedBackboneOptions>;
  readonly featureInfo: readonly StageInfo[];
  readonly #stages: Layer[];

  constructor(name: string, options: ResolvedBackboneOptions, stages: StageSpec[]) {
    super(name);
    this.options = Object.freeze({ ...options });
    this.featureInfo = Object.freeze(
      stages.map((s) =>
        Object.freeze({ name: s.layer.name, channels: s.channels, reduction: s.reduction })
      ),
    );
    this.#stages = stages.map((s) => this.addChild(s.layer));
  }

  forwardStages(x: tf.Tensor4D, options: StageOptions = {}): tf.Tensor4D[] {
    const last = this.featureInfo.length - 1;
    const from = options.from ?? 0, to = options.to ?? last;
    if (
      !(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from <= to && to <= last)
    ) {
      throw new RangeError(
        `Cannot run stages ${from} to ${to} of backbone ${this.name}: it has stages 0 to ${last}`,
      );
    }
    const channels = from === 0 ? this.options.inputChannels : this.featureInfo[from - 1].channels;
    if (x.rank !== 4 || x.shape[3] !== channels) {
      const what = from === 0
        ? "the images"
        : `stage ${from - 1} (${this.featureInfo[from - 1].name})`;
      throw new RangeError(
        `Backbone ${this.name} expects the input of stage ${from} to be [n, h, w, ${channels}] (${what}), got [${
          x.shape.join(", ")
        }]`,
      );
    }
    const outputs: tf.Tensor4D[] = [];
    let h = x;
    const checkpoint = checkpointActive(options.checkpoint);
    for (let i = from; i <= to; i++) {
      const stage = this.#stages[i];
      // A training step needs no gradient of the images; an input-gradient explainer does.
      const inputGradient = i > 0 || options.checkpoint === "input";
      h = !checkpoint
        ? stage.apply(h, options)
        : stage instanceof Sequence
        ? stage.applyFrom(h, options, inputGradient)
        : checkpointLayer(stage, h, options, inputGradient);
      outputs.push(h);
    }
    return outputs;
  }

  stageVariables(index: number, prefix = ""): Map<string, tf.Variable> {
    const stage = this.#stages[index];
    if (!Number.isInteger(index) || stage === undefined) {
      throw new RangeError(
        `Backbone ${this.name} has no stage ${index}: it has stages 0 to ${
          this.featureInfo.length - 1
        }`,
      );
    }
    return stage.variables(prefix ? `${prefix}/${this.name}` : this.name);
  }
}

/** The options every family takes, with defaults filled in and checked. */
export function resolveOptions(
  family: string,
  options: BackboneOptions,
  { stem = false }: { stem?: boolean } = {},
): ResolvedBackboneOptions {
  const allowed = ["inputChannels", "width", "seed", ...(stem ? ["stem"] : [])];
  for (const key of Object.keys(options ?? {})) {
    if (!allowed.includes(key)) {
      throw new TypeError(
        `Option "${key}" does not apply to backbone ${family}: it takes ${allowed.join(", ")}`,
      );
    }
  }
  const resolved: ResolvedBackboneOptions = {
    inputChannels: options.inputChannels ?? 3,
    width: options.width ?? 1,
    seed: options.seed ?? 0,
  };
  if (resolved.inputChannels !== 1 && resolved.inputChannels !== 3) {
    throw new RangeError(
      `Option "inputChannels" of backbone ${family} must be 1 or 3, got ${resolved.inputChannels}`,
    );
  }
  if (!(typeof resolved.width === "number" && resolved.width > 0 && resolved.width <= 16)) {
    throw new RangeError(
      `Option "width" of backbone ${family} must be a number in (0, 16], got ${resolved.width}`,
    );
  }
  if (!Number.isInteger(resolved.seed)) {
    throw new RangeError(
      `Option "seed" of backbone ${family} must be an integer, got ${resolved.seed}`,
    );
  }
  if (stem) {
    resolved.stem = options.stem ?? "imagenet";
    if (resolved.stem !== "imagenet" && resolved.stem !== "small") {
      throw new RangeError(
        `Option "stem" of backbone ${family} must be "imagenet" or "small", got ${
          JSON.stringify(resolved.stem)
        }`,
      );
    }
  }
  return resolved;
}

/** `base · width`, rounded, at least 1. */
export function scaled(base: number, width: number): number {
  return Math.max(1, Math.round(base * width));
}
