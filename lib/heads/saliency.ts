/**
 * Saliency heads: `cam`, `decoder` and `attention`. Each takes every stage
 * output of the backbone and the model's input size, and returns saliency
 * logits `[n, h, w]` at that size; the map in [0, 1] is their sigmoid.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { Conv2d } from "../layers/convolutional.ts";
import type { ApplyOptions } from "../layers/module.ts";
import { Module } from "../layers/module.ts";
import { BatchNorm } from "../layers/normalization.ts";
import type { StageInfo } from "../backbones/types.ts";
import { Random } from "../util/random.ts";
import { registerSaliencyHead } from "./registry.ts";
import type { GateMode, SaliencyHead, SaliencyHeadOptions, SaliencyHeadOutput } from "./types.ts";
import { ConvBn, upsampleMap } from "./_util.ts";

/**
 * Gates `features` (`[n, h, w, c]`) with `map` (`[n, h, w, 1]`, in [0, 1]):
 * `"residual"` gives `features · (1 + map)` (ABN), `"multiplicative"`
 * gives `features · map`. The caller owns the result.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { attentionGate } from "./saliency.ts";
 * import { tf } from "../deps.ts";
 * const f = tf.fill([1, 1, 2, 2], 3) as tf.Tensor4D;
 * const m = tf.tensor4d([0, 0.5], [1, 1, 2, 1]);
 * assert.deepStrictEqual(Array.from(attentionGate(f, m, "residual").dataSync()), [3, 3, 4.5, 4.5]);
 * assert.deepStrictEqual(Array.from(attentionGate(f, m, "multiplicative").dataSync()), [0, 0, 1.5, 1.5]);
 * ```
 */
export function attentionGate(
  features: tf.Tensor4D,
  map: tf.Tensor4D,
  mode: GateMode,
): tf.Tensor4D {
  const [n, h, w] = features.shape;
  if (
    map.rank !== 4 || map.shape[0] !== n || map.shape[1] !== h || map.shape[2] !== w ||
    map.shape[3] !== 1
  ) {
    throw new RangeError(
      `attentionGate needs a map of shape [${n}, ${h}, ${w}, 1] for features of shape [${
        features.shape.join(", ")
      }], got [${map.shape.join(", ")}]`,
    );
  }
  switch (mode) {
    case "residual":
      return tf.tidy(() => tf.mul(features, tf.add(map, 1)));
    case "multiplicative":
      return tf.mul(features, map);
    default:
      throw new RangeError(
        `Option "gate" must be "residual" or "multiplicative", got ${JSON.stringify(mode)}`,
      );
  }
}

/** What every head checks and shares. */
abstract class BaseHead extends Module implements SaliencyHead {
  readonly kind: string;
  readonly options: Readonly<Record<string, unknown>>;
  readonly gates: boolean = false;
  protected readonly featureInfo: readonly StageInfo[];

  constructor(kind: string, featureInfo: readonly StageInfo[], options: Record<string, unknown>) {
    super("saliency");
    this.kind = kind;
    this.featureInfo = featureInfo;
    this.options = Object.freeze({ ...options });
  }

  /** Saliency logits at `size` from checked stages. */
  protected abstract logits(
    stages: readonly tf.Tensor4D[],
    size: readonly [number, number],
    options: ApplyOptions,
  ): tf.Tensor3D;

  apply(
    stages: readonly tf.Tensor4D[],
    inputSize: readonly [number, number],
    options: ApplyOptions = {},
  ): tf.Tensor3D {
    this.check(stages, inputSize);
    return tf.tidy(() => this.logits(stages, inputSize, options));
  }

  gate(_features: tf.Tensor4D, _options: ApplyOptions = {}): tf.Tensor4D | null {
    return null;
  }

  applyAndGate(
    stages: readonly tf.Tensor4D[],
    inputSize: readonly [number, number],
    options: ApplyOptions = {},
  ): SaliencyHeadOutput {
    return { saliencyLogits: this.apply(stages, inputSize, options), gated: null };
  }

  protected check(stages: readonly tf.Tensor4D[], inputSize: readonly [number, number]): void {
    const info = this.featureInfo;
    if (stages.length !== info.length) {
      throw new RangeError(
        `Saliency head ${this.kind} needs all ${info.length} stage outputs (${
          info.map((s) => s.name).join(", ")
        }), got ${stages.length}`,
      );
    }
    stages.forEach((s, i) => {
      if (s.rank !== 4 || s.shape[3] !== info[i].channels) {
        throw new RangeError(
          `Saliency head ${this.kind} needs stage ${i} (${info[i].name}) as [n, h, w, ${
            info[i].channels
          }], got [${s.shape.join(", ")}]`,
        );
      }
    });
    if (
      !Array.isArray(inputSize) || inputSize.length !== 2 ||
      !inputSize.every((v) => Number.isInteger(v) && v > 0)
    ) {
      throw new RangeError(
        `Saliency head ${this.kind} needs the input size as [height, width] of positive integers, got ${
          JSON.stringify(inputSize)
        }`,
      );
    }
  }
}

/**
 * `cam`: a 1×1 conv (with bias) from the last stage to one channel,
 * upsampled bilinearly to the input size. Departure from CAM (Zhou et al.
 * 2016): the map is class-agnostic and the 1×1 conv is its own, learned
 * with the saliency loss, rather than the classifier's weights of one class.
 */
class CamHead extends BaseHead {
  readonly #conv: Conv2d;

  constructor(info: readonly StageInfo[], seed: number) {
    super("cam", info, {});
    this.#conv = this.addChild(
      new Conv2d("conv", {
        inChannels: info[info.length - 1].channels,
        filters: 1,
        kernelSize: 1,
        useBias: true,
        linear: true,
        seed,
      }),
    );
  }

  protected logits(stages: readonly tf.Tensor4D[], size: readonly [number, number]): tf.Tensor3D {
    return upsampleMap(this.#conv.apply(stages[stages.length - 1]), size);
  }
}

/**
 * `decoder`: a light U-Net-like decoder. The last stage goes through a 1×1
 * conv + BN + ReLU to `channels`; then, for each of the `skips` stages
 * before it (from the deepest), the running map is upsampled bilinearly to
 * that stage's size (when it differs), concatenated with the stage's own
 * 1×1 conv + BN + ReLU projection to `channels`, and fused by a 3×3 conv +
 * BN + ReLU. A 1×1 conv to one channel and bilinear upsampling give the
 * logits. Departures from U-Net (Ronneberger et al. 2015): one fusing conv
 * per level instead of two, a fixed width at every level, bilinear
 * upsampling instead of transposed convs, and projected skips.
 */
class DecoderHead extends BaseHead {
  readonly #reduce: ConvBn;
  readonly #laterals: ConvBn[] = [];
  readonly #fuses: ConvBn[] = [];
  readonly #out: Conv2d;
  readonly #skipStages: number[];

  constructor(info: readonly StageInfo[], channels: number, skips: number, seed: number) {
    super("decoder", info, { channels, skips });
    const rng = new Random(seed);
    const last = info.length - 1;
    this.#reduce = this.addChild(
      new ConvBn("reduce", {
        inChannels: info[last].channels,
        filters: channels,
        kernelSize: 1,
        seed: rng.seed(),
      }),
    );
    this.#skipStages = [];
    for (let j = last - 1; j >= last - skips; j--) {
      this.#skipStages.push(j);
      this.#laterals.push(this.addChild(
        new ConvBn(`lateral_${info[j].name}`, {
          inChannels: info[j].channels,
          filters: channels,
          kernelSize: 1,
          seed: rng.seed(),
        }),
      ));
      this.#fuses.push(this.addChild(
        new ConvBn(`fuse_${info[j].name}`, {
          inChannels: 2 * channels,
          filters: channels,
          kernelSize: 3,
          seed: rng.seed(),
        }),
      ));
    }
    this.#out = this.addChild(
      new Conv2d("out", {
        inChannels: channels,
        filters: 1,
        kernelSize: 1,
        useBias: true,
        linear: true,
        seed: rng.seed(),
      }),
    );
  }

  protected logits(
    stages: readonly tf.Tensor4D[],
    size: readonly [number, number],
    options: ApplyOptions,
  ): tf.Tensor3D {
    let d = this.#reduce.apply(stages[stages.length - 1], options);
    this.#skipStages.forEach((j, k) => {
      const skip = stages[j];
      const [, h, w] = skip.shape;
      const up = d.shape[1] === h && d.shape[2] === w
        ? d
        : tf.image.resizeBilinear(d, [h, w], false, true);
      const lateral = this.#laterals[k].apply(skip, options);
      d = this.#fuses[k].apply(tf.concat([up, lateral], 3), options);
    });
    return upsampleMap(this.#out.apply(d), size);
  }
}

/**
 * `attention`: the attention branch of ABN (Fukui et al. 2019). On the last
 * stage's output: a 3×3 conv + BN + ReLU to `channels` (ABN's K class-wise
 * maps), then a 1×1 conv + BN to one channel, the map's logits at the last
 * stage's resolution. Their sigmoid gates the classifier's features
 * (`gate`: `"residual"`, ABN's `f · (1 + m)`, or `"multiplicative"`,
 * `f · m`); the logits upsampled bilinearly to the input size are the
 * saliency logits.
 *
 * Departures from ABN: the branch is one 3×3 conv rather than a copy of the
 * backbone's last residual stage; it gates the last stage's output, and the
 * "perception branch" is the classification head (pooling and dense) rather
 * than further conv stages; and there is no attention-branch classification
 * loss (the map is learned through the gate and, where the data has them,
 * from masks or boxes). In a pilot on a decoy-shortcut task, only the
 * multiplicative gate stopped a classifier from using a cue outside the
 * annotated region.
 */
class AttentionHead extends BaseHead {
  override readonly gates = true;
  readonly #branch: ConvBn;
  readonly #map: Conv2d;
  readonly #mapBn: BatchNorm;
  readonly #mode: GateMode;

  constructor(info: readonly StageInfo[], channels: number, mode: GateMode, seed: number) {
    super("attention", info, { channels, gate: mode });
    const rng = new Random(seed);
    this.#mode = mode;
    this.#branch = this.addChild(
      new ConvBn("branch", {
        inChannels: info[info.length - 1].channels,
        filters: channels,
        kernelSize: 3,
        seed: rng.seed(),
      }),
    );
    this.#map = this.addChild(
      new Conv2d("map", {
        inChannels: channels,
        filters: 1,
        kernelSize: 1,
        linear: true,
        seed: rng.seed(),
      }),
    );
    this.#mapBn = this.addChild(new BatchNorm("map_bn", { channels: 1 }));
  }

  /** The map's logits `[n, h, w, 1]` at the features' resolution. The caller owns them. */
  mapLogits(features: tf.Tensor4D, options: ApplyOptions = {}): tf.Tensor4D {
    const channels = this.featureInfo[this.featureInfo.length - 1].channels;
    if (features.rank !== 4 || features.shape[3] !== channels) {
      throw new RangeError(
        `Saliency head attention needs the last stage's output as [n, h, w, ${channels}], got [${
          features.shape.join(", ")
        }]`,
      );
    }
    return tf.tidy(() =>
      this.#mapBn.apply(this.#map.apply(this.#branch.apply(features, options)), options)
    );
  }

  protected logits(
    stages: readonly tf.Tensor4D[],
    size: readonly [number, number],
    options: ApplyOptions,
  ): tf.Tensor3D {
    return upsampleMap(this.mapLogits(stages[stages.length - 1], options), size);
  }

  override gate(features: tf.Tensor4D, options: ApplyOptions = {}): tf.Tensor4D {
    return tf.tidy(() =>
      attentionGate(features, tf.sigmoid(this.mapLogits(features, options)), this.#mode)
    );
  }

  override applyAndGate(
    stages: readonly tf.Tensor4D[],
    inputSize: readonly [number, number],
    options: ApplyOptions = {},
  ): SaliencyHeadOutput {
    this.check(stages, inputSize);
    return tf.tidy(() => {
      const last = stages[stages.length - 1];
      const m = this.mapLogits(last, options);
      return {
        saliencyLogits: upsampleMap(m, inputSize),
        gated: attentionGate(last, tf.sigmoid(m), this.#mode),
      };
    });
  }
}

/** Checks the options common to every head and those `kind` takes; returns the common ones. */
function common(kind: string, options: SaliencyHeadOptions, own: string[]) {
  const allowed = ["featureInfo", "numClasses", "seed", ...own];
  for (const key of Object.keys(options ?? {})) {
    if (!allowed.includes(key)) {
      const takes = own.length ? own.join(", ") : "no options of its own";
      throw new TypeError(
        `Option "${key}" does not apply to saliency head ${kind}: it takes ${takes}`,
      );
    }
  }
  const info = options?.featureInfo;
  if (
    !Array.isArray(info) || info.length === 0 ||
    !info.every((s) => Number.isInteger(s?.channels) && s.channels > 0)
  ) {
    throw new TypeError(
      `Option "featureInfo" of saliency head ${kind} must list at least one stage with its channels`,
    );
  }
  const numClasses = options.numClasses ?? 2, seed = options.seed ?? 0;
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new RangeError(
      `Option "numClasses" of saliency head ${kind} must be a positive integer, got ${numClasses}`,
    );
  }
  if (!Number.isInteger(seed)) {
    throw new RangeError(`Option "seed" of saliency head ${kind} must be an integer, got ${seed}`);
  }
  return { info: info as readonly StageInfo[], numClasses, seed };
}

function positiveInteger(kind: string, field: string, value: unknown, max = Infinity): number {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > max) {
    const range = max === Infinity ? "a positive integer" : `an integer from 1 to ${max}`;
    throw new RangeError(
      `Option "${field}" of saliency head ${kind} must be ${range}, got ${value}`,
    );
  }
  return value as number;
}

/**
 * Creates the `cam` head: a 1×1 conv on the last stage, upsampled (see the
 * module docs for the departure from CAM). Takes no options of its own. The
 * caller disposes the head.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { createCamHead } from "./saliency.ts";
 * import { tf } from "../deps.ts";
 * const head = createCamHead({ featureInfo: [{ name: "s", channels: 4, reduction: 4 }] });
 * const stage = tf.zeros([2, 2, 2, 4]) as tf.Tensor4D;
 * const logits = head.apply([stage], [8, 8]);
 * assert.deepStrictEqual(logits.shape, [2, 8, 8]);
 * assert.equal(head.countParams(), 5); // a 1 × 1 convolution: 4 weights and a bias
 * tf.dispose([stage, logits]);
 * head.dispose();
 * ```
 */
export function createCamHead(options: SaliencyHeadOptions): SaliencyHead {
  const { info, seed } = common("cam", options, []);
  return new CamHead(info, seed);
}

/**
 * Creates the `decoder` head: upsampling with skip connections from earlier
 * stages, U-Net-like and light. Options `channels` (default 32) and `skips`
 * (default every stage before the last). The caller disposes the head.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { createDecoderHead } from "./saliency.ts";
 * import { tf } from "../deps.ts";
 * const featureInfo = [
 *   { name: "a", channels: 4, reduction: 1 },
 *   { name: "b", channels: 8, reduction: 2 },
 *   { name: "c", channels: 16, reduction: 4 },
 * ];
 * const head = createDecoderHead({ featureInfo, channels: 8, skips: 1 });
 * assert.deepStrictEqual(head.options, { channels: 8, skips: 1 });
 * const stages = [tf.zeros([1, 8, 8, 4]), tf.zeros([1, 4, 4, 8]), tf.zeros([1, 2, 2, 16])];
 * const logits = head.apply(stages as tf.Tensor4D[], [8, 8]);
 * assert.deepStrictEqual(logits.shape, [1, 8, 8]);
 * tf.dispose([...stages, logits]);
 * head.dispose();
 * ```
 */
export function createDecoderHead(options: SaliencyHeadOptions): SaliencyHead {
  const { info, seed } = common("decoder", options, ["channels", "skips"]);
  const channels = positiveInteger("decoder", "channels", options.channels ?? 32);
  const skips = options.skips === undefined
    ? info.length - 1
    : info.length === 1 && options.skips === 0
    ? 0
    : positiveInteger("decoder", "skips", options.skips, info.length - 1);
  return new DecoderHead(info, channels, skips, seed);
}

/**
 * Creates the `attention` head, ABN's attention branch (see the module docs
 * for the departures from the paper). Options `channels` (default
 * `numClasses`) and `gate` (default `"residual"`, as in ABN). Its `gate()`
 * gives the features the classifier sees. The caller disposes the head.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { createAttentionHead } from "./saliency.ts";
 * import { tf } from "../deps.ts";
 * const featureInfo = [{ name: "s", channels: 4, reduction: 4 }];
 * const head = createAttentionHead({ featureInfo, numClasses: 3, gate: "multiplicative" });
 * const features = tf.ones([1, 2, 2, 4]) as tf.Tensor4D;
 * const gated = head.gate(features)!;
 * assert.deepStrictEqual(head.options, { channels: 3, gate: "multiplicative" });
 * assert.deepStrictEqual(gated.shape, [1, 2, 2, 4]);
 * tf.dispose([features, gated]);
 * head.dispose();
 * ```
 */
export function createAttentionHead(options: SaliencyHeadOptions): SaliencyHead {
  const { info, numClasses, seed } = common("attention", options, ["channels", "gate"]);
  const channels = positiveInteger("attention", "channels", options.channels ?? numClasses);
  const gate = options.gate ?? "residual";
  if (gate !== "residual" && gate !== "multiplicative") {
    throw new RangeError(
      `Option "gate" of saliency head attention must be "residual" or "multiplicative", got ${
        JSON.stringify(gate)
      }`,
    );
  }
  return new AttentionHead(info, channels, gate, seed);
}

registerSaliencyHead("cam", createCamHead);
registerSaliencyHead("decoder", createDecoderHead);
registerSaliencyHead("attention", createAttentionHead);
