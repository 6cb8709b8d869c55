/**
 * The registry of backbones. Each family file registers its variants at its
 * bottom; import `lib/backbones/mod.ts` to have them all.
 *
 * @module
 */
import type { Backbone, BackboneFactory, BackboneOptions } from "./types.ts";
import { globToRegExp } from "../util/glob.ts";

const backbones = new Map<string, BackboneFactory>();

/**
 * Registers `factory` under `name`; {@linkcode createBackbone} then calls it.
 * Registering a taken name throws.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { createBackbone, listBackbones, registerBackbone } from "./mod.ts";
 * registerBackbone("resnet18_thin", (options) => createBackbone("resnet18", { ...options, width: 0.25 }));
 * assert.deepStrictEqual(listBackbones("resnet18*"), ["resnet18", "resnet18_thin"]);
 * ```
 */
export function registerBackbone(name: string, factory: BackboneFactory): void {
  if (typeof name !== "string" || !/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new TypeError(
      `Cannot register backbone "${name}": a name is letters, digits, "_", "-" and "."`,
    );
  }
  if (backbones.has(name)) {
    throw new TypeError(`Cannot register backbone "${name}": the name is taken; choose another`);
  }
  backbones.set(name, factory);
}

/**
 * The registered backbone names, sorted; with `filter`, only those matching
 * the glob (`*` is any run of characters, `?` one character).
 *
 * @example Usage
 * ```ts
 * import { listBackbones } from "./mod.ts";
 * import assert from "node:assert";
 * assert.deepEqual(listBackbones("resnet*"), ["resnet101", "resnet18", "resnet34", "resnet50"]);
 * ```
 */
export function listBackbones(filter?: string): string[] {
  const names = [...backbones.keys()].sort();
  if (filter === undefined) return names;
  const pattern = globToRegExp(filter);
  return names.filter((name) => pattern.test(name));
}

/**
 * Builds the backbone registered as `name` with seeded weights. An unknown
 * name fails with the registered names. The caller disposes the backbone.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { createBackbone } from "./mod.ts";
 * import { tf } from "../deps.ts";
 * const backbone = createBackbone("resnet18", { width: 0.125, inputChannels: 1 });
 * assert.equal(
 *   backbone.featureInfo.map((s) => `${s.name}:${s.channels}/${s.reduction}`).join(" "),
 *   "stem:8/2 layer1:8/4 layer2:16/8 layer3:32/16 layer4:64/32",
 * );
 * const stages = backbone.forwardStages(tf.zeros([1, 64, 64, 1]) as tf.Tensor4D);
 * assert.deepStrictEqual(stages.at(-1)!.shape, [1, 2, 2, 64]); // 64 / 32 = 2
 * tf.dispose(stages);
 * backbone.dispose();
 * ```
 */
export function createBackbone(name: string, options: BackboneOptions = {}): Backbone {
  const factory = backbones.get(name);
  if (!factory) {
    throw new TypeError(
      `Unknown backbone "${name}": expected one of ${listBackbones().join(", ")}`,
    );
  }
  return factory(options);
}
