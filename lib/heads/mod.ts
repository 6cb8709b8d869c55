/**
 * Heads: the classification head and the saliency heads (`cam`, `decoder`,
 * `attention`), which all take the same inputs: every backbone stage output
 * and the model's input size.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { createSaliencyHead, listSaliencyHeads } from "./mod.ts";
 * assert.deepStrictEqual(listSaliencyHeads(), ["attention", "cam", "decoder"]);
 * const head = createSaliencyHead("cam", { featureInfo: [{ name: "s", channels: 8, reduction: 8 }] });
 * assert.equal(head.kind, "cam");
 * assert.equal(head.gates, false); // only the attention head gates the features
 * head.dispose();
 * ```
 *
 * @module
 */
export * from "./types.ts";
export * from "./registry.ts";
export * from "./classification.ts";
export * from "./saliency.ts";
