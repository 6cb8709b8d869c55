/**
 * The one module through which `lib/` and `datasets/` reach npm packages.
 *
 * Every specifier is a full, pinned `npm:` specifier so that `mod.ts` can be
 * imported by URL, where the import map in `deno.json` does not apply. The
 * tfjs packages share one exact version: two copies would mean two engines.
 *
 * Only `@tensorflow/tfjs` is imported eagerly: its Node build is the one that
 * registers the gradient functions (`@tensorflow/tfjs-core`'s Node build
 * alone has none). It brings the `cpu` engine with it. Other engines and adapters
 * (sharp) are loaded on first use, so a user who only trains on one engine
 * never loads the others, and the core never loads the image codecs.
 *
 * @module
 */

import * as tf from "npm:@tensorflow/tfjs@4.22.0";

export { tf };

/** The exact tfjs version that every tfjs package is pinned to. */
export const TFJS_VERSION = "4.22.0";

/** The exact sharp version used for image decoding and encoding. */
export const SHARP_VERSION = "0.35.5";

/**
 * npm specifiers of the native TensorFlow engines. They are imported by a
 * computed specifier, so they stay out of the module graph and the lock file
 * of every user who does not have them installed.
 */
export const TFJS_NODE_SPECIFIERS = {
  "tfjs-node-gpu": `npm:@tensorflow/tfjs-node-gpu@${TFJS_VERSION}`,
  "tfjs-node": `npm:@tensorflow/tfjs-node@${TFJS_VERSION}`,
} as const;

/**
 * Loads the tfjs `cpu` engine, which registers itself on import.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { loadCpuBackend, tf } from "./deps.ts";
 * await loadCpuBackend();
 * assert.ok(tf.findBackendFactory("cpu") !== null);
 * ```
 */
export async function loadCpuBackend(): Promise<void> {
  await import("npm:@tensorflow/tfjs-backend-cpu@4.22.0");
}

/**
 * Loads the tfjs `wasm` engine module, which registers its kernels on import.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { loadWasmBackend, tf } from "./deps.ts";
 * const wasm = await loadWasmBackend();
 * assert.equal(typeof wasm.setThreadsCount, "function");
 * assert.ok(tf.findBackendFactory("wasm") !== null); // registered on import
 * ```
 */
export async function loadWasmBackend(): Promise<
  typeof import("npm:@tensorflow/tfjs-backend-wasm@4.22.0")
> {
  return await import("npm:@tensorflow/tfjs-backend-wasm@4.22.0");
}

/**
 * Loads the tfjs `webgpu` engine module, which registers itself on import.
 *
 * @example Usage
 * ```ts ignore
 * import { loadWebGpuBackend } from "./deps.ts";
 * await loadWebGpuBackend();
 * ```
 */
export async function loadWebGpuBackend(): Promise<void> {
  await import("npm:@tensorflow/tfjs-backend-webgpu@4.22.0");
}

/** The sharp module's default export (the `sharp()` factory). */
export type Sharp = typeof import("npm:sharp@0.35.5").default;

/**
 * Loads sharp, the image codec. Only `lib/io/` calls this.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { loadSharp } from "./deps.ts";
 * const sharp = await loadSharp();
 * const background = { r: 255, g: 0, b: 0 };
 * const png = await sharp({ create: { width: 2, height: 1, channels: 3, background } })
 *   .png().toBuffer();
 * const { width, height, format } = await sharp(png).metadata();
 * assert.deepStrictEqual([width, height, format], [2, 1, "png"]);
 * ```
 */
export async function loadSharp(): Promise<Sharp> {
  const mod = await import("npm:sharp@0.35.5");
  return mod.default;
}

/** The exact plotly.js-dist version inlined into HTML reports. */
export const PLOTLY_VERSION = "3.7.0";

/**
 * Loads the source text of Plotly's browser bundle (plotly.js-dist), for
 * inlining into a self-contained HTML report. It is imported as text, never
 * run by Deno, and needs no read permission. Only `lib/viz/` calls this.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { loadPlotlySource } from "./deps.ts";
 * const source = await loadPlotlySource();
 * assert.ok(source.length > 1_000_000);
 * assert.match(source, /plotly\.js v3\.7\.0/);
 * ```
 */
export async function loadPlotlySource(): Promise<string> {
  const mod = await import("npm:plotly.js-dist@3.7.0", { with: { type: "text" } });
  return mod.default;
}

/** The fflate module (zip and deflate, pure JavaScript). */
export type Fflate = typeof import("npm:fflate@0.8.3");

/**
 * Loads fflate, for the deflated entries of zip archives (PyTorch
 * checkpoints). Only `lib/io/` calls this.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadFflate } from "./deps.ts";
 * const fflate = await loadFflate();
 * const text = new TextEncoder().encode("weights");
 * assert.deepEqual(fflate.inflateSync(fflate.deflateSync(text)), text);
 * ```
 */
export async function loadFflate(): Promise<Fflate> {
  return await import("npm:fflate@0.8.3");
}

/** The @huggingface/hub module (Hub downloads). */
export type HuggingFaceHub = typeof import("npm:@huggingface/hub@2.17.5");

/**
 * Loads @huggingface/hub, for `hf:` weight sources. Only the pretrained
 * weights loader calls this.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadHuggingFaceHub } from "./deps.ts";
 * const hub = await loadHuggingFaceHub();
 * assert.equal(typeof hub.downloadFile, "function");
 * ```
 */
export async function loadHuggingFaceHub(): Promise<HuggingFaceHub> {
  return await import("npm:@huggingface/hub@2.17.5");
}
