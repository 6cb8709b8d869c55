import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { COLOR_MAPS, colorMap, colorMapTable } from "../../lib/viz/colormap.ts";
import type { ColorMapName } from "../../lib/viz/colormap.ts";

function at(name: ColorMapName, v: number): number[] {
  return Array.from(colorMap(new Float32Array([v]), { name }));
}

function hex(h: string): number[] {
  return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16) / 255);
}

function assertNear(actual: number[], expected: number[], tol: number, what: string): void {
  const worst = Math.max(...actual.map((a, i) => Math.abs(a - expected[i])));
  assert.ok(
    worst <= tol,
    `${what}: got [${actual.map((a) => a.toFixed(3))}], expected ` +
      `[${expected.map((e) => e.toFixed(3))}] (off by ${worst.toFixed(3)} > ${tol})`,
  );
}

Deno.test("colorMap() matches published viridis and inferno colours at 0, ¼, ½, ¾ and 1", () => {
  // The palettes' published 5-step key colours (as in R's viridisLite and matplotlib's docs).
  const viridis = ["440154", "3b528b", "21908c", "5dc863", "fde725"];
  const inferno = ["000004", "56106e", "bb3754", "f98c0a", "fcffa4"];
  for (let i = 0; i < 5; i++) {
    assertNear(at("viridis", i / 4), hex(viridis[i]), 2 / 255, `viridis(${i / 4})`);
    // inferno's ¼, ½, ¾ fall between the table's keys: interpolated, so a looser tolerance.
    assertNear(at("inferno", i / 4), hex(inferno[i]), 0.02, `inferno(${i / 4})`);
  }
  // matplotlib's viridis(0.5) is (0.128, 0.567, 0.551).
  assertNear(at("viridis", 0.5), [0.128, 0.567, 0.551], 0.01, "viridis(0.5) vs matplotlib");
});

Deno.test("colorMap() jet follows its piecewise-linear definition", () => {
  assertNear(at("jet", 0), [0, 0, 0.5], 1e-6, "jet(0) dark blue");
  assertNear(at("jet", 1), [0.5, 0, 0], 1e-6, "jet(1) dark red");
  // jet(0.5) = (1.5 − |2 − 3|, 1.5 − 0, 1.5 − |2 − 1|) clipped: green with half red and blue.
  assertNear(at("jet", 0.5), [0.5, 1, 0.5], 0.01, "jet(0.5)");
  // Quarter points: cyan-ish blue (0, 0.5, 1) and yellow-ish red (1, 0.5, 0).
  assertNear(at("jet", 0.25), [0, 0.5, 1], 0.01, "jet(0.25)");
  assertNear(at("jet", 0.75), [1, 0.5, 0], 0.01, "jet(0.75)");
});

Deno.test("colorMap() turbo stays near the official Turbo table at its ends and middle", () => {
  // Official Turbo table entries 0, 128 and 255 (Google, 2019); the polynomial fit is
  // up to 0.13 off at the dark ends and within 0.1 in the middle.
  assertNear(at("turbo", 0), [0.19, 0.072, 0.232], 0.13, "turbo(0) dark purple-blue");
  assertNear(at("turbo", 0.5), [0.64, 0.99, 0.23], 0.1, "turbo(0.5) yellow-green");
  assertNear(at("turbo", 1), [0.48, 0.016, 0.011], 0.1, "turbo(1) dark red");
  // Red rises through the top half: turbo(0.8) is redder than turbo(0.5).
  assert.ok(at("turbo", 0.8)[0] > at("turbo", 0.5)[0]);
});

Deno.test("colorMap() grey maps v to (v, v, v) and clips values outside [0, 1] and NaN", () => {
  const rgb = colorMap(new Float32Array([-3, 0.2, 7, NaN]), { name: "grey" });
  assertNear(Array.from(rgb), [0, 0, 0, 0.2, 0.2, 0.2, 1, 1, 1, 0, 0, 0], 1 / 255, "grey");
});

Deno.test("colorMap() gives the same colours for a tensor as for a typed array, shape [...S, 3]", () => {
  const values = new Float32Array([0, 0.1, 0.37, 0.5, 0.99, 1.2, -1, 0.73]);
  for (const name of COLOR_MAPS) {
    const t = tf.tensor2d(values, [2, 4]);
    const out = colorMap(t, { name });
    assert.deepEqual(out.shape, [2, 4, 3]);
    assert.deepEqual(Array.from(out.dataSync()), Array.from(colorMap(values, { name })), name);
    tf.dispose([t, out]);
  }
});

Deno.test("colorMap() tables have 256 rows in [0, 1] and default to turbo", () => {
  for (const name of COLOR_MAPS) {
    const table = colorMapTable(name);
    assert.equal(table.length, 768);
    assert.ok(table.every((v) => v >= 0 && v <= 1), name);
  }
  assert.deepEqual(at("turbo", 0.3), Array.from(colorMap(new Float32Array([0.3]))));
});

Deno.test("colorMap() rejects an unknown name and a non-array input, naming them", () => {
  assert.throws(
    () => colorMap(new Float32Array(1), { name: "rainbow" as ColorMapName }),
    /Option "name" must be one of jet, turbo, viridis, inferno, grey, got "rainbow"/,
  );
  assert.throws(
    () => colorMap([0.5] as unknown as Float32Array),
    /Argument "values" must be a Float32Array or a tensor/,
  );
});
