import assert from "node:assert/strict";
import * as path from "node:path";
import { BUSI_CLASSES, duplicateGroups, findDuplicates, loadBusi } from "../../datasets/busi.ts";
import { loadSharp } from "../../lib/deps.ts";
import {
  inRect,
  pixels,
  type Rect,
  rejectsWith,
  truncateFile,
  withTempDir,
  writeImage,
  writeMask,
  writeRectImage,
} from "./_loader_fixtures.ts";

const W = 12, H = 10;
const A: Rect = { x: 1, y: 1, w: 4, h: 3 };
const B: Rect = { x: 6, y: 5, w: 5, h: 4 };
const C: Rect = { x: 3, y: 2, w: 6, h: 6 };

/**
 * Writes BUSI's layout. benign: (1) with one mask, (2) with _mask and
 * _mask_1 (disjoint rects), (10) to test natural order, and (3) whose
 * _mask_1 is soft and overlaps (the max wins). malignant: (1) with an RGB
 * mask (red only) and the same pixels as benign (2), (2) with a grey+alpha
 * mask, and (3), the same pixels as
 * benign (1) re-encoded as greyscale PNG; plus "copy.png", a byte copy of
 * benign (2) under another name. normal: (1) with a blank mask, (2) with none.
 */
async function writeBusi(root: string): Promise<void> {
  const sharp = await loadSharp();
  const b = path.join(root, "benign"),
    m = path.join(root, "malignant"),
    n = path.join(root, "normal");
  await writeRectImage(path.join(b, "benign (1).png"), W, H, A);
  await writeMask(path.join(b, "benign (1)_mask.png"), W, H, [A]);
  await writeRectImage(path.join(b, "benign (2).png"), W, H, B);
  await writeMask(path.join(b, "benign (2)_mask.png"), W, H, [A]);
  await writeMask(path.join(b, "benign (2)_mask_1.png"), W, H, [B]);
  await writeRectImage(path.join(b, "benign (10).png"), W, H, C);
  await writeMask(path.join(b, "benign (10)_mask.png"), W, H, [C]);
  await writeRectImage(path.join(b, "benign (3).png"), W, H, C);
  await writeMask(path.join(b, "benign (3)_mask.png"), W, H, [A], 255);
  await writeMask(path.join(b, "benign (3)_mask_1.png"), W, H, [{ x: 0, y: 0, w: 3, h: 2 }], 100);

  await writeRectImage(path.join(m, "malignant (1).png"), W, H, B);
  const rgb = pixels(W, H, { channels: 3, background: [0, 0, 0], rects: [B], value: [255, 0, 0] });
  await writeImage(path.join(m, "malignant (1)_mask.png"), rgb, W, H, 3);
  const dim = pixels(W, H, { background: 40, rects: [C] }); // unlike benign (3), darker around
  await writeImage(path.join(m, "malignant (2).png"), dim, W, H, 3);
  const ga = pixels(W, H, { channels: 2, background: [255, 0], rects: [C], value: [255, 255] });
  await writeImage(path.join(m, "malignant (2)_mask.png"), ga, W, H, 2);
  // The pixels of benign (1), stored as a 1-channel PNG at a different compression.
  const grey = pixels(W, H, { channels: 1, rects: [A] });
  await Deno.writeFile(
    path.join(m, "malignant (3).png"),
    await sharp(grey, { raw: { width: W, height: H, channels: 1 } }).png({ compressionLevel: 0 })
      .toBuffer(),
  );
  await writeMask(path.join(m, "malignant (3)_mask.png"), W, H, [A]);
  await Deno.copyFile(path.join(b, "benign (2).png"), path.join(m, "copy.png"));
  await writeMask(path.join(m, "copy_mask.png"), W, H, [B]);

  await writeRectImage(path.join(n, "normal (1).png"), W, H, { x: 0, y: 0, w: 0, h: 0 });
  await writeMask(path.join(n, "normal (1)_mask.png"), W, H, []);
  await writeImage(path.join(n, "normal (2).png"), pixels(W, H, { background: 90 }), W, H, 3);
}

const IDS = [
  "benign/benign (1)",
  "benign/benign (2)",
  "benign/benign (3)",
  "benign/benign (10)",
  "malignant/copy",
  "malignant/malignant (1)",
  "malignant/malignant (2)",
  "malignant/malignant (3)",
  "normal/normal (1)",
  "normal/normal (2)",
];

function rectMask(rects: Rect[]): number[] {
  return Array.from(
    { length: W * H },
    (_, p) => (rects.some((r) => inRect(r, Math.floor(p / W), p % W)) ? 1 : 0),
  );
}

Deno.test("loadBusi() labels the three folders in order and lists images naturally", async () => {
  await withTempDir(async (root) => {
    await writeBusi(root);
    const busi = await loadBusi(root);
    assert.deepEqual(busi.classNames, BUSI_CLASSES);
    assert.deepEqual(busi.classNames, ["benign", "malignant", "normal"]);
    assert.deepEqual(busi.records.map((r) => r.id), IDS);
    assert.deepEqual(busi.records.map((r) => r.label), [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]);
    assert.ok(busi.records.every((r) => r.hasMask && !r.hasBoxes));
    assert.equal(busi.officialSplit, undefined);
    assert.deepEqual(busi.skipped, []);
    assert.equal(busi.records[3].source, "benign/benign (10).png");
  });
});

Deno.test("loadBusi() ORs name_mask.png with name_mask_1.png and aligns masks with the lesion", async () => {
  await withTempDir(async (root) => {
    await writeBusi(root);
    const busi = await loadBusi(root);
    const one = await busi.load(0);
    assert.deepEqual(Array.from(one.mask!), rectMask([A]));
    // The bright object in the image sits under the mask.
    for (let p = 0; p < W * H; p++) assert.equal(one.image.data[p * 3] > 0.5, one.mask![p] > 0.5);
    assert.deepEqual(Array.from((await busi.load(1)).mask!), rectMask([A, B]));
    // Overlapping soft mask: the maximum, not the sum.
    const three = (await busi.load(2)).mask!;
    const expected = rectMask([A]).map((v, p) =>
      v === 1 ? 1 : inRect({ x: 0, y: 0, w: 3, h: 2 }, Math.floor(p / W), p % W) ? 100 / 255 : 0
    );
    assert.ok(three.every((v, p) => Math.abs(v - expected[p]) < 1e-6));
  });
});

Deno.test("loadBusi() reads RGB and alpha masks and gives normal images empty masks", async () => {
  await withTempDir(async (root) => {
    await writeBusi(root);
    const busi = await loadBusi(root, { channels: 1 });
    assert.deepEqual(Array.from((await busi.load(5)).mask!), rectMask([B]));
    assert.deepEqual(Array.from((await busi.load(6)).mask!), rectMask([C]));
    for (const i of [8, 9]) {
      const s = await busi.load(i);
      assert.equal(s.label, 2);
      assert.equal(s.image.channels, 1);
      assert.equal(s.mask!.length, W * H);
      assert.ok(s.mask!.every((v) => v === 0));
    }
  });
});

Deno.test("findDuplicates() groups identical pixels whatever the name or encoding", async () => {
  await withTempDir(async (root) => {
    await writeBusi(root);
    const busi = await loadBusi(root);
    const at = (id: string) => IDS.indexOf(id);
    // benign (1) = malignant (3) (grey re-encode); benign (2) = copy (byte copy)
    // = malignant (1) (drawn the same); benign (3) = benign (10); the rest differ.
    const groups = await findDuplicates(busi, { concurrency: 3 });
    assert.deepEqual(groups, [
      [at("benign/benign (1)"), at("malignant/malignant (3)")],
      [at("benign/benign (2)"), at("malignant/copy"), at("malignant/malignant (1)")],
      [at("benign/benign (3)"), at("benign/benign (10)")],
    ]);
    assert.deepEqual(await duplicateGroups(busi), [0, 1, 2, 2, 1, 1, 6, 0, 8, 9]);
    assert.deepEqual(await findDuplicates(await loadBusi(root, { channels: 1 })), groups);
  });
});

Deno.test("loadBusi() names a lesion image without a mask and a mask without an image", async () => {
  await withTempDir(async (root) => {
    await writeBusi(root);
    await Deno.remove(path.join(root, "malignant", "malignant (1)_mask.png"));
    await rejectsWith(
      () => loadBusi(root),
      /malignant\/malignant \(1\)\.png: malignant image has no mask: expected "malignant \(1\)_mask\.png"/,
    );
    await Deno.remove(path.join(root, "malignant", "malignant (1).png"));
    await writeMask(path.join(root, "benign", "benign (7)_mask_2.png"), W, H, [A]);
    await rejectsWith(
      () => loadBusi(root),
      /benign\/benign \(7\)_mask_2\.png: mask has no image: expected "benign \(7\)\.png"/,
    );
  });
});

Deno.test("loadBusi() names both files when a mask's size differs from its image's", async () => {
  await withTempDir(async (root) => {
    await writeBusi(root);
    await writeMask(path.join(root, "benign", "benign (2)_mask_1.png"), H, W, [B]);
    const busi = await loadBusi(root);
    await rejectsWith(
      () => busi.load(1),
      /benign \(2\)_mask_1\.png: mask is 10×12 but its image ".*benign \(2\)\.png" is 12×10/,
    );
  });
});

Deno.test("loadBusi() names a corrupt image, a missing image and a missing or empty class folder", async () => {
  await withTempDir(async (root) => {
    await writeBusi(root);
    await truncateFile(path.join(root, "normal", "normal (2).png"), 50);
    const busi = await loadBusi(root);
    await rejectsWith(() => busi.load(9), /normal \(2\)\.png: cannot decode image/);
    await Deno.remove(path.join(root, "normal", "normal (2).png"));
    await rejectsWith(() => busi.load(9), /normal \(2\)\.png: file not found/);

    for (const f of ["normal (1).png", "normal (1)_mask.png"]) {
      await Deno.remove(path.join(root, "normal", f));
    }
    await rejectsWith(() => loadBusi(root), /normal: class folder "normal" has no images/);
    await Deno.remove(path.join(root, "normal"));
    await rejectsWith(() => loadBusi(root), /normal: class folder "normal" not found/);
  });
});

Deno.test('loadBusi() with onError "skip" records each fault; other files are listed, not read', async () => {
  await withTempDir(async (root) => {
    await writeBusi(root);
    await Deno.remove(path.join(root, "benign", "benign (1)_mask.png"));
    await writeMask(path.join(root, "normal", "ghost_mask.png"), W, H, []);
    await Deno.writeTextFile(path.join(root, "benign", "Thumbs.db"), "x");
    const busi = await loadBusi(root, { onError: "skip" });
    assert.equal(busi.size, IDS.length - 1);
    assert.ok(!busi.records.some((r) => r.id === "benign/benign (1)"));
    const reasons = busi.skipped.map((s) => `${path.basename(s.file)}|${s.id ?? ""}|${s.reason}`);
    assert.deepEqual(reasons, [
      "Thumbs.db||not a PNG image or mask: not read",
      'benign (1).png|benign/benign (1)|benign image has no mask: expected "benign (1)_mask.png" beside it',
      'ghost_mask.png|normal/ghost|mask has no image: expected "ghost.png" beside it',
    ]);
    assert.equal((await busi.load(0)).id, "benign/benign (2)");
  });
});
