import assert from "node:assert/strict";
import { loadSharp } from "../../lib/deps.ts";
import type { Image } from "../../lib/data/types.ts";
import { colorMap } from "../../lib/viz/colormap.ts";
import { saliencyGrid } from "../../lib/viz/grid.ts";

async function decode(png: Uint8Array) {
  const sharp = await loadSharp();
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const at = (x: number, y: number) => {
    const i = (y * info.width + x) * info.channels;
    return [data[i], data[i + 1], data[i + 2]];
  };
  return { info, at };
}

function redImage(w: number, h: number): Image {
  const data = new Float32Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data[i * 3] = 1;
  return { width: w, height: h, channels: 3, data };
}

// A map that is 0 on the left half and 1 on the right half.
function halfMap(w: number, h: number): Float32Array {
  return new Float32Array(w * h).map((_, i) => (i % w) >= w / 2 ? 1 : 0);
}

const to255 = (v: number[]) => v.map((c) => Math.round(c * 255));

Deno.test("saliencyGrid() lays out cells at the stated size with sharp, colour-mapped pixels", async () => {
  const png = await saliencyGrid(
    [{ image: redImage(8, 8), maps: { a: halfMap(8, 8) } }, {
      image: redImage(8, 8),
      maps: { a: new Float32Array(64) },
    }],
    { cellSize: 32, titles: false, alpha: 1, colormap: "viridis" },
  );
  const { info, at } = await decode(png);
  // Two columns (image | a), two rows: 2 · 32 + 3 · 4 wide, 2 · 32 + 3 · 4 high.
  assert.equal(info.format, "raw");
  assert.equal(info.width, 76);
  assert.equal(info.height, 76);
  assert.deepEqual(at(20, 20), [255, 0, 0]); // the image cell
  assert.deepEqual(at(0, 0), [255, 255, 255]); // padding
  // Cell "a" of row 0 starts at x = 40: map columns 0..3 (value 0) cover x 40..55 after the
  // 4× nearest-neighbour enlargement, columns 4..7 (value 1) cover x 56..71; no blur between.
  const zero = to255(Array.from(colorMap(new Float32Array([0]), { name: "viridis" })));
  const one = to255(Array.from(colorMap(new Float32Array([1]), { name: "viridis" })));
  assert.deepEqual(at(55, 10), zero);
  assert.deepEqual(at(56, 10), one);
  assert.deepEqual(at(56, 4 + 36 + 10), zero); // row 1's map is all 0
});

Deno.test("saliencyGrid() adds a ground-truth column with the mask contour and dims outside it", async () => {
  const w = 8, h = 4;
  const image: Image = {
    width: w,
    height: h,
    channels: 3,
    data: new Float32Array(w * h * 3).fill(1),
  };
  const mask = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 4; x < 8; x++) mask[y * w + x] = 1;
  const png = await saliencyGrid([{ image, mask, maps: { m: halfMap(w, h) } }], {
    cellSize: 40,
    titles: false,
  });
  const { info, at } = await decode(png);
  assert.equal(info.width, 3 * 40 + 4 * 4);
  // The 8 × 4 image fits a 40 × 20 area, centred vertically in the cell: rows 14..33.
  assert.equal(info.height, 40 + 2 * 4);
  const left = 4 + 44; // ground-truth cell
  // Outside the mask the white image is dimmed to 0.3; inside, away from the contour, it stays white.
  assert.deepEqual(at(left + 5, 24), [77, 77, 77]);
  assert.deepEqual(at(left + 30, 24), [255, 255, 255]);
  // The contour is white on the mask's left edge (x = 20 in the cell) and the pixel just left of it
  // is dimmed.
  assert.deepEqual(at(left + 20, 24), [255, 255, 255]);
  assert.deepEqual(at(left + 19, 24), [77, 77, 77]);
  // Above and below the image lies the cell's white background.
  assert.deepEqual(at(left + 5, 4 + 5), [255, 255, 255]);
});

Deno.test("saliencyGrid() renders titles from data as escaped SVG text and writes the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/grid.png`;
    const png = await saliencyGrid(
      [{ image: redImage(4, 4), maps: { '<img src=x onerror=alert(1)> & "q"': halfMap(4, 4) } }],
      { cellSize: 96, path },
    );
    assert.deepEqual(await Deno.readFile(path), png);
    const { info, at } = await decode(png);
    // Title band: round(clamp(0.09 · 96, 11, 18)) + 10 = 11 + 10 = 21 pixels.
    assert.equal(info.height, 21 + 96 + 8);
    // Text was drawn over both columns' titles: dark pixels in each half of the band.
    const darkIn = (x0: number, x1: number) => {
      let n = 0;
      for (let y = 0; y < 21; y++) for (let x = x0; x < x1; x++) if (at(x, y)[0] < 128) n++;
      return n;
    };
    assert.ok(darkIn(4, 100) > 10, "the 'image' title is drawn");
    assert.ok(darkIn(104, 200) > 10, "the method title is drawn");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("saliencyGrid() names a missing map, an empty row list and a bad cell size", async () => {
  await assert.rejects(
    () =>
      saliencyGrid([{ image: redImage(2, 2), maps: { a: new Float32Array(4) } }], {
        columns: ["a", "b"],
      }),
    /Argument "rows\[0\].maps" has no map "b"; it has a/,
  );
  await assert.rejects(() => saliencyGrid([]), /"rows" must hold at least one row/);
  await assert.rejects(
    () => saliencyGrid([{ image: redImage(2, 2), maps: {} }], { cellSize: 2.5 }),
    /Option "cellSize" must be a whole number ≥ 8, got 2.5/,
  );
  await assert.rejects(
    () => saliencyGrid([{ image: redImage(2, 2), maps: { a: new Float32Array(3) } }]),
    /Argument "rows\[0\].maps\["a"\]" has 3 values, expected 2 × 2 = 4/,
  );
});
