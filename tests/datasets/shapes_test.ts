import assert from "node:assert/strict";
import { generateShapes, SHAPE_CLASSES, tf } from "../../mod.ts";
import { useEngines } from "../_helpers.ts";

await useEngines();

Deno.test("generateShapes() is balanced, seeded, and its masks cover the drawn shape", () => {
  const a = generateShapes(30, { size: 32, seed: 9 });
  const b = generateShapes(30, { size: 32, seed: 9 });
  const labels = Array.from(a.labels.dataSync());
  for (let k = 0; k < SHAPE_CLASSES.length; k++) {
    assert.equal(labels.filter((l) => l === k).length, 10);
  }
  assert.deepEqual(Array.from(b.images.dataSync()), Array.from(a.images.dataSync()));
  tf.tidy(() => {
    const area = a.masks.mean([1, 2]).dataSync();
    assert.ok(area.every((v) => v > 0.02 && v < 0.5), "every mask holds a shape");
    // Inside the mask the image is brighter than outside: foreground colours are drawn brighter.
    const m = a.masks.expandDims(3);
    const inside = a.images.mul(m).sum().div(m.sum().mul(3)).dataSync()[0];
    const outside = a.images.mul(tf.sub(1, m)).sum().div(tf.sub(1, m).sum().mul(3)).dataSync()[0];
    assert.ok(inside > outside + 0.3, `inside ${inside} vs outside ${outside}`);
  });
  tf.dispose([a.images, a.labels, a.masks, b.images, b.labels, b.masks]);
});

Deno.test("generateShapes() names the bad argument", () => {
  assert.throws(() => generateShapes(0), /count must be a positive integer, got 0/);
  assert.throws(() => generateShapes(2, { size: 4 }), /Option "size".*got 4/);
});
