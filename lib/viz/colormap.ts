/**
 * Colour maps from [0, 1] to RGB: jet, turbo, viridis, inferno and grey.
 *
 * Every map is a 256-entry table built once from its definition:
 * - `jet` is piecewise linear by definition (the classic MATLAB formula
 *   `clamp(1.5 − |4v − k|)` with k = 3, 2, 1 for red, green, blue);
 * - `turbo` is Google's published polynomial approximation of Turbo
 *   (Mikhailov, 2019): close to the official table in the middle, but up
 *   to about 0.13 off at the dark ends (its 0 is bluer-grey, not purple);
 * - `viridis` and `inferno` are approximations: linear interpolation in RGB
 *   between the published key colours of the palettes at 9 and 10 evenly
 *   spaced points (`#440154 … #fde725`, `#000004 … #fcffa4`), within a few
 *   hundredths of matplotlib's 256-entry tables;
 * - `grey` maps v to (v, v, v).
 *
 * @module
 */
import { tf } from "../deps.ts";

/** The names of the built-in colour maps. */
export type ColorMapName = "jet" | "turbo" | "viridis" | "inferno" | "grey";

/** Every built-in colour map name. */
export const COLOR_MAPS: readonly ColorMapName[] = ["jet", "turbo", "viridis", "inferno", "grey"];

/** Options of {@linkcode colorMap}. */
export interface ColorMapOptions {
  /** The colour map. @default {"turbo"} */
  name?: ColorMapName;
}

const TABLE_SIZE = 256;

// Key colours of viridis at 0, 1/8, …, 1 and of inferno at 0, 1/9, …, 1.
const VIRIDIS_KEYS = [
  "440154",
  "472d7b",
  "3b528b",
  "2c728e",
  "21908c",
  "27ad81",
  "5dc863",
  "aadc32",
  "fde725",
];
const INFERNO_KEYS = [
  "000004",
  "1b0c42",
  "4b0c6b",
  "781c6d",
  "a52c60",
  "cf4446",
  "ed6925",
  "fb9a06",
  "f7d03c",
  "fcffa4",
];

// Turbo's polynomial approximation: channel = Σ_k c_k v^k, k = 0..5.
const TURBO_COEFFICIENTS = [
  [0.13572138, 4.6153926, -42.66032258, 132.13108234, -152.94239396, 59.28637943],
  [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604],
  [0.1066733, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973],
];

const tables = new Map<ColorMapName, Float32Array>();

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

function hexToRgb(hex: string): [number, number, number] {
  const n = parseInt(hex, 16);
  return [(n >> 16 & 255) / 255, (n >> 8 & 255) / 255, (n & 255) / 255];
}

function fromKeys(keys: readonly string[], v: number): [number, number, number] {
  const rgb = keys.map(hexToRgb);
  const x = v * (rgb.length - 1);
  const i = Math.min(rgb.length - 2, Math.floor(x));
  const t = x - i;
  return [0, 1, 2].map((c) => rgb[i][c] + t * (rgb[i + 1][c] - rgb[i][c])) as [
    number,
    number,
    number,
  ];
}

function evaluate(name: ColorMapName, v: number): [number, number, number] {
  switch (name) {
    case "jet":
      return [3, 2, 1].map((k) => clamp01(1.5 - Math.abs(4 * v - k))) as [number, number, number];
    case "turbo":
      return TURBO_COEFFICIENTS.map((c) =>
        clamp01(c[0] + v * (c[1] + v * (c[2] + v * (c[3] + v * (c[4] + v * c[5])))))
      ) as [number, number, number];
    case "viridis":
      return fromKeys(VIRIDIS_KEYS, v);
    case "inferno":
      return fromKeys(INFERNO_KEYS, v);
    case "grey":
      return [v, v, v];
  }
}

/**
 * The 256 × 3 table of colour map `name`, RGB in [0, 1]: row i is the
 * colour of value i / 255. The table is shared; do not modify it.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { colorMapTable } from "./colormap.ts";
 * const grey = colorMapTable("grey");
 * assert.equal(grey.length, 256 * 3); // 256 RGB triples
 * assert.deepStrictEqual(Array.from(grey.slice(255 * 3)), [1, 1, 1]); // the last is white
 * ```
 */
export function colorMapTable(name: ColorMapName): Float32Array {
  if (!(COLOR_MAPS as readonly string[]).includes(name)) {
    throw new RangeError(
      `Option "name" must be one of ${COLOR_MAPS.join(", ")}, got ${JSON.stringify(name)}`,
    );
  }
  let table = tables.get(name);
  if (!table) {
    table = new Float32Array(TABLE_SIZE * 3);
    for (let i = 0; i < TABLE_SIZE; i++) table.set(evaluate(name, i / (TABLE_SIZE - 1)), i * 3);
    tables.set(name, table);
  }
  return table;
}

/**
 * Colours values with a colour map. Values are clipped to [0, 1] (NaN counts
 * as 0) and looked up in the map's 256-entry table (nearest entry).
 *
 * - A `Float32Array` of n values gives a `Float32Array` of 3n values: the
 *   RGB of each value in turn (so an `h · w` map gives an HWC image).
 * - A tensor of shape `S` gives a new float32 tensor of shape `[...S, 3]`,
 *   which the caller disposes; the input is not disposed.
 *
 * @example Colour a typed array and a tensor
 * ```ts
 * import assert from "node:assert";
 * import { colorMap } from "./colormap.ts";
 * import { tf } from "../deps.ts";
 * const rgb = colorMap(new Float32Array([0, 1]), { name: "viridis" });
 * assert.deepStrictEqual(Array.from(rgb, (v) => Math.round(v * 255)), [68, 1, 84, 253, 231, 37]);
 * const t = colorMap(tf.zeros([2, 2]), { name: "jet" });
 * assert.deepStrictEqual(t.shape, [2, 2, 3]);
 * t.dispose();
 * ```
 */
export function colorMap(values: Float32Array, options?: ColorMapOptions): Float32Array;
export function colorMap<T extends tf.Tensor>(values: T, options?: ColorMapOptions): tf.Tensor;
export function colorMap(
  values: Float32Array | tf.Tensor,
  options: ColorMapOptions = {},
): Float32Array | tf.Tensor {
  const table = colorMapTable(options.name ?? "turbo");
  if (values instanceof Float32Array) {
    const out = new Float32Array(values.length * 3);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      const k = v > 0 ? Math.round((v < 1 ? v : 1) * (TABLE_SIZE - 1)) * 3 : 0;
      out[i * 3] = table[k];
      out[i * 3 + 1] = table[k + 1];
      out[i * 3 + 2] = table[k + 2];
    }
    return out;
  }
  if (!(values instanceof tf.Tensor)) {
    throw new TypeError('Argument "values" must be a Float32Array or a tensor');
  }
  return tf.tidy(() => {
    const lut = tf.tensor2d(table, [TABLE_SIZE, 3]);
    const clean = tf.where(tf.isNaN(values), tf.zerosLike(values), tf.cast(values, "float32"));
    const index = tf.cast(tf.round(tf.mul(tf.clipByValue(clean, 0, 1), TABLE_SIZE - 1)), "int32");
    return tf.reshape(tf.gather(lut, tf.reshape(index, [-1])), [...values.shape, 3]);
  });
}
