/**
 * The registry of model architectures, so that a saved model's config can
 * be built again.
 *
 * @module
 */
import type { ModelConfig, TwoBranchModel } from "./types.ts";

/** Builds a model from its config's options. */
export type ArchitectureFactory = (config: ModelConfig) => TwoBranchModel;

/**
 * What {@linkcode registerArchitecture} may say of an architecture that is
 * the whole model of one backbone (the reference net): then a model asked
 * for by backbone name ({@linkcode createModelFromParts}) is that
 * architecture, with its own saliency branch.
 */
export interface ArchitectureInfo {
  /** The registered backbone whose whole model this architecture is. */
  backbone: string;
  /** Its saliency branch as a registered saliency head. */
  saliencyHead: string;
}

const architectures = new Map<string, ArchitectureFactory>();
const wholeModels = new Map<string, { architecture: string; saliencyHead: string }>();

/**
 * Registers `factory` under `name`; `createModel({ architecture: name, … })`
 * then calls it. Registering a taken name throws.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { listArchitectures, registerArchitecture } from "./registry.ts";
 * import { createReferenceNet } from "./reference_net.ts";
 * const tiny = () => createReferenceNet({ inputSize: 8, width: 0.125 });
 * registerArchitecture("tiny", tiny);
 * assert.ok(listArchitectures().includes("tiny"));
 * assert.throws(() => registerArchitecture("tiny", tiny), TypeError); // the name is taken
 * ```
 */
export function registerArchitecture(
  name: string,
  factory: ArchitectureFactory,
  info?: ArchitectureInfo,
): void {
  if (architectures.has(name)) {
    throw new TypeError(
      `Cannot register architecture "${name}": the name is taken; choose another`,
    );
  }
  if (info && wholeModels.has(info.backbone)) {
    throw new TypeError(
      `Cannot register architecture "${name}" as the model of backbone "${info.backbone}": ` +
        `architecture "${wholeModels.get(info.backbone)!.architecture}" already is`,
    );
  }
  architectures.set(name, factory);
  if (info) {
    wholeModels.set(info.backbone, { architecture: name, saliencyHead: info.saliencyHead });
  }
}

/**
 * The saliency head of the architecture registered as the whole model of
 * `backbone` (`"reference"` for the backbone `"reference"`), or undefined
 * when the backbone takes any saliency head.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { ownSaliencyHead } from "./registry.ts";
 * import "./mod.ts";
 * assert.equal(ownSaliencyHead("reference"), "reference");
 * assert.equal(ownSaliencyHead("resnet18"), undefined);
 * ```
 */
export function ownSaliencyHead(backbone: string): string | undefined {
  return wholeModels.get(backbone)?.saliencyHead;
}

/** Options of {@linkcode createModelFromParts}. */
export interface ModelPartsOptions {
  /** A registered backbone. */
  backbone: string;
  /** A registered saliency head; a backbone with its own model ignores it. @default {"cam"} */
  saliencyHead?: string;
  /** The backbone's width multiplier. @default {1} */
  width?: number;
  /** Number of classes, at least 2. */
  numClasses: number;
  /** Input height and width. */
  inputSize: number;
  /** Dropout rate in the classifier; a backbone with its own model takes only 0. @default {0} */
  dropout?: number;
  /** Seed of the weights. @default {0} */
  seed?: number;
  /** The input normalisation of a two-branch model (`TwoBranchOptions.inputNorm`). @default {none} */
  inputNorm?: unknown;
  /** The saliency head's options (`{ gate: "multiplicative" }` for the attention head). @default {none} */
  headOptions?: Record<string, unknown>;
}

/**
 * Builds a model from a backbone and a saliency head chosen by name, as the
 * tasks' flags choose them: a two-branch model (the architecture
 * `"two-branch"`), or, for a backbone registered with a whole model of its
 * own ({@linkcode ownSaliencyHead}), that model, whose saliency branch is
 * its own (the backbone `"reference"` gives the reference net, weights as
 * `createReferenceNet` seeds them). The caller disposes the model.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { createModelFromParts } from "./registry.ts";
 * import "./mod.ts";
 * const reference = createModelFromParts({ backbone: "reference", numClasses: 2, inputSize: 16, width: 0.25 });
 * assert.equal(reference.config.architecture, "reference");
 * const plain = createModelFromParts({ backbone: "plain_cnn", saliencyHead: "decoder", numClasses: 2, inputSize: 16, width: 0.25 });
 * assert.equal(plain.config.architecture, "two-branch");
 * assert.equal(plain.config.saliencyHead, "decoder");
 * reference.dispose();
 * plain.dispose();
 * ```
 */
export function createModelFromParts(options: ModelPartsOptions): TwoBranchModel {
  const { backbone, numClasses, inputSize, seed = 0, width = 1, dropout = 0 } = options;
  const whole = wholeModels.get(backbone);
  if (whole) {
    if (
      dropout !== 0 || options.inputNorm !== undefined ||
      Object.keys(options.headOptions ?? {}).length > 0
    ) {
      throw new RangeError(
        `Backbone "${backbone}" builds the whole ${whole.architecture} model, which takes no ${
          dropout !== 0
            ? "dropout"
            : options.inputNorm !== undefined
            ? "input normalisation (pretrained weights)"
            : `head options (${Object.keys(options.headOptions!).join(", ")})`
        }: choose another backbone`,
      );
    }
    return createModel({ architecture: whole.architecture, numClasses, inputSize, width, seed });
  }
  return createModel({
    architecture: "two-branch",
    backbone,
    backboneOptions: { width },
    saliencyHead: options.saliencyHead ?? "cam",
    ...(options.headOptions ? { headOptions: options.headOptions } : {}),
    numClasses,
    inputSize,
    dropout,
    seed,
    ...(options.inputNorm === undefined ? {} : { inputNorm: options.inputNorm }),
  });
}

/**
 * The registered architecture names, sorted.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { listArchitectures } from "./registry.ts";
 * import "./reference_net.ts";
 * const names = listArchitectures();
 * assert.ok(names.includes("reference"));
 * assert.deepStrictEqual(names, [...names].sort());
 * ```
 */
export function listArchitectures(): string[] {
  return [...architectures.keys()].sort();
}

/**
 * Builds the model a config describes. An unknown architecture fails with
 * the registered names. The caller disposes the model.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { createModel } from "./registry.ts";
 * import { createReferenceNet } from "./reference_net.ts";
 * const a = createReferenceNet({ inputSize: 8, width: 0.125, numClasses: 2 });
 * const b = createModel(a.config);
 * assert.equal(b.countParams(), a.countParams());
 * assert.deepStrictEqual(b.config, a.config);
 * assert.throws(() => createModel({ architecture: "no-such-net" }), /expected one of .*reference/);
 * a.dispose();
 * b.dispose();
 * ```
 */
export function createModel(config: ModelConfig): TwoBranchModel {
  const factory = architectures.get(config?.architecture);
  if (!factory) {
    throw new TypeError(
      `Unknown model architecture "${config?.architecture}": expected one of ${
        listArchitectures().join(", ")
      }`,
    );
  }
  return factory(config);
}
