/**
 * The registry of saliency heads. `saliency.ts` registers the built-in
 * heads at its bottom; import `lib/heads/mod.ts` to have them.
 *
 * @module
 */
import type { SaliencyHead, SaliencyHeadFactory, SaliencyHeadOptions } from "./types.ts";
import { globToRegExp } from "../util/glob.ts";

const heads = new Map<string, SaliencyHeadFactory>();

/**
 * Registers `factory` under `name`; {@linkcode createSaliencyHead} then
 * calls it. Registering a taken name throws.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { createSaliencyHead, listSaliencyHeads, registerSaliencyHead } from "./mod.ts";
 * registerSaliencyHead("wide_decoder", (options) => createSaliencyHead("decoder", { ...options, channels: 64 }));
 * assert.deepStrictEqual(listSaliencyHeads("*decoder"), ["decoder", "wide_decoder"]);
 * const cam = () => createSaliencyHead("cam", { featureInfo: [] });
 * assert.throws(() => registerSaliencyHead("wide_decoder", cam), TypeError); // the name is taken
 * ```
 */
export function registerSaliencyHead(name: string, factory: SaliencyHeadFactory): void {
  if (typeof name !== "string" || !/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new TypeError(
      `Cannot register saliency head "${name}": a name is letters, digits, "_", "-" and "."`,
    );
  }
  if (heads.has(name)) {
    throw new TypeError(
      `Cannot register saliency head "${name}": the name is taken; choose another`,
    );
  }
  heads.set(name, factory);
}

/**
 * The registered saliency head names, sorted; with `filter`, only those
 * matching the glob (`*` is any run of characters, `?` one character).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { listSaliencyHeads } from "./mod.ts";
 * assert.deepStrictEqual(listSaliencyHeads(), ["attention", "cam", "decoder"]);
 * assert.deepStrictEqual(listSaliencyHeads("?am"), ["cam"]);
 * ```
 */
export function listSaliencyHeads(filter?: string): string[] {
  const names = [...heads.keys()].sort();
  if (filter === undefined) return names;
  const pattern = globToRegExp(filter);
  return names.filter((name) => pattern.test(name));
}

/**
 * Builds the saliency head registered as `name` for a backbone with
 * `options.featureInfo`. An unknown name fails with the registered names.
 * The caller disposes the head.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { createSaliencyHead } from "./mod.ts";
 * import { tf } from "../deps.ts";
 * const featureInfo = [
 *   { name: "a", channels: 4, reduction: 2 },
 *   { name: "b", channels: 8, reduction: 4 },
 * ];
 * const head = createSaliencyHead("decoder", { featureInfo, channels: 8 });
 * const stages = [tf.zeros([1, 8, 8, 4]), tf.zeros([1, 4, 4, 8])] as tf.Tensor4D[];
 * const logits = head.apply(stages, [16, 16]);
 * assert.deepStrictEqual(logits.shape, [1, 16, 16]);
 * assert.throws(() => createSaliencyHead("no-such-head", { featureInfo }), /decoder/); // lists the names
 * tf.dispose([...stages, logits]);
 * head.dispose();
 * ```
 */
export function createSaliencyHead(name: string, options: SaliencyHeadOptions): SaliencyHead {
  const factory = heads.get(name);
  if (!factory) {
    throw new TypeError(
      `Unknown saliency head "${name}": expected one of ${listSaliencyHeads().join(", ")}`,
    );
  }
  return factory(options);
}
