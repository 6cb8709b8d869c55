import assert from "node:assert/strict";
import * as path from "node:path";
import { loadCub } from "../../datasets/cub.ts";
import { loadSharp } from "../../lib/deps.ts";
import {
  inRect,
  pixels,
  type Rect,
  rejectsWith,
  tightBox,
  truncateFile,
  withTempDir,
  writeImage,
  writeMask,
  writeRectImage,
} from "./_loader_fixtures.ts";

const W = 16, H = 12;

/** The fixture's images: id, path under images/, class id (1-based), is_train, object rect. */
const IMAGES: { id: number; rel: string; classId: number; train: 0 | 1; rect: Rect }[] = [
  { id: 1, rel: "001.Alpha/alpha_1.png", classId: 1, train: 1, rect: { x: 2, y: 3, w: 5, h: 4 } },
  { id: 2, rel: "002.Beta/beta_1.png", classId: 2, train: 1, rect: { x: 8, y: 1, w: 6, h: 7 } },
  { id: 3, rel: "003.Gamma/gamma_1.png", classId: 3, train: 0, rect: { x: 0, y: 6, w: 4, h: 6 } },
  // Touches the right and bottom edges exactly: inside, no clipping.
  { id: 4, rel: "002.Beta/beta_2.png", classId: 2, train: 0, rect: { x: 10, y: 5, w: 6, h: 7 } },
];

/**
 * Writes CUB's official layout under `dir/CUB_200_2011`, with the
 * segmentations beside it in `dir/segmentations` (where segmentations.tgz
 * unpacks). Per-image annotation files list the ids in a shuffled order, and
 * classes.txt too, so a loader that joins by position fails. Masks: id 1
 * hard, id 2 soft (128), id 3 white with alpha 128, id 4 hard.
 */
async function writeCub(dir: string): Promise<string> {
  const root = path.join(dir, "CUB_200_2011");
  const seg = path.join(dir, "segmentations");
  const sharp = await loadSharp();
  for (const im of IMAGES) {
    await writeRectImage(path.join(root, "images", im.rel), W, H, im.rect);
    const maskFile = path.join(seg, im.rel);
    if (im.id === 2) await writeMask(maskFile, W, H, [im.rect], 128);
    else if (im.id === 3) {
      const rgba = pixels(W, H, {
        channels: 4,
        background: [0, 0, 0, 0],
        rects: [im.rect],
        value: [255, 255, 255, 128],
      });
      await Deno.mkdir(path.dirname(maskFile), { recursive: true });
      await sharp(rgba, { raw: { width: W, height: H, channels: 4 } }).png().toFile(maskFile);
    } else await writeMask(maskFile, W, H, [im.rect]);
  }
  const order = [3, 1, 4, 2];
  const byId = (id: number) => IMAGES.find((im) => im.id === id)!;
  await Deno.writeTextFile(
    path.join(root, "classes.txt"),
    "2 002.Beta\n1 001.Alpha\n3 003.Gamma\n",
  );
  await Deno.writeTextFile(
    path.join(root, "images.txt"),
    IMAGES.map((im) => `${im.id} ${im.rel}\n`).join(""),
  );
  await Deno.writeTextFile(
    path.join(root, "image_class_labels.txt"),
    order.map((id) => `${id} ${byId(id).classId}\n`).join(""),
  );
  await Deno.writeTextFile(
    path.join(root, "train_test_split.txt"),
    order.map((id) => `${id} ${byId(id).train}\n`).join(""),
  );
  await Deno.writeTextFile(
    path.join(root, "bounding_boxes.txt"),
    order.map((id) => {
      const r = byId(id).rect;
      return `${id} ${r.x}.0 ${r.y}.0 ${r.w}.0 ${r.h}.0\n`;
    }).join(""),
  );
  return root;
}

/** Replaces line `line` (1-based) of an annotation file. */
async function setLine(file: string, line: number, text: string): Promise<void> {
  const lines = (await Deno.readTextFile(file)).split("\n");
  lines[line - 1] = text;
  await Deno.writeTextFile(file, lines.join("\n"));
}

Deno.test("loadCub() maps 1-based class ids to 0-based labels and reads the official split", async () => {
  await withTempDir(async (dir) => {
    const root = await writeCub(dir);
    const cub = await loadCub(root);
    assert.equal(cub.name, "cub");
    assert.equal(cub.size, 4);
    assert.deepEqual(cub.classNames, ["001.Alpha", "002.Beta", "003.Gamma"]);
    assert.deepEqual(cub.records.map((r) => r.id), ["1", "2", "3", "4"]);
    assert.deepEqual(cub.records.map((r) => r.label), [0, 1, 2, 1]);
    assert.deepEqual(cub.officialSplit, { train: [0, 1], test: [2, 3] });
    assert.deepEqual(cub.skipped, []);
    assert.ok(cub.records.every((r) => r.hasMask && r.hasBoxes));
    assert.equal(cub.records[2].source, "images/003.Gamma/gamma_1.png");
    for (let i = 0; i < cub.size; i++) {
      assert.equal((await cub.load(i)).label, cub.records[i].label);
    }
  });
});

Deno.test("loadCub() turns x y width height into a box that lines up with the object and its mask", async () => {
  await withTempDir(async (dir) => {
    const cub = await loadCub(await writeCub(dir));
    for (let i = 0; i < cub.size; i++) {
      const { rect } = IMAGES[i];
      const s = await cub.load(i);
      assert.deepEqual(s.boxes, [[rect.x, rect.y, rect.x + rect.w, rect.y + rect.h]]);
      assert.equal(s.image.width, W);
      assert.equal(s.image.height, H);
      assert.equal(s.image.channels, 3);
      // The bright object fills the box exactly; the mask covers the same pixels.
      const red = s.image.data.filter((_, k) => k % 3 === 0);
      assert.deepEqual(tightBox(red, W), s.boxes![0], `image ${i}`);
      assert.deepEqual(tightBox(s.mask!, W, 0.25), s.boxes![0], `mask ${i}`);
      for (let p = 0; p < W * H; p++) {
        const inside = inRect(rect, Math.floor(p / W), p % W);
        assert.equal(s.image.data[p * 3] > 0.5, inside);
        assert.equal(s.mask![p] > 0.25, inside);
      }
    }
  });
});

Deno.test("loadCub() keeps soft mask values and multiplies in alpha", async () => {
  await withTempDir(async (dir) => {
    const cub = await loadCub(await writeCub(dir));
    const at = (m: Float32Array, r: Rect) => m[(r.y + 1) * W + r.x + 1];
    const hard = await cub.load(0), soft = await cub.load(1), alpha = await cub.load(2);
    assert.equal(at(hard.mask!, IMAGES[0].rect), 1);
    assert.ok(Math.abs(at(soft.mask!, IMAGES[1].rect) - 128 / 255) < 1e-6);
    assert.ok(Math.abs(at(alpha.mask!, IMAGES[2].rect) - 128 / 255) < 1e-6);
    assert.equal(alpha.mask![0], 0);
    assert.ok(alpha.mask!.every((v) => v >= 0 && v <= 1));
  });
});

Deno.test("loadCub() finds segmentations inside the root, can go without them, and reads 1 channel", async () => {
  await withTempDir(async (dir) => {
    const root = await writeCub(dir);
    const bare = await loadCub(root, { masks: false, channels: 1 });
    assert.ok(bare.records.every((r) => !r.hasMask && r.hasBoxes));
    const s = await bare.load(0);
    assert.equal(s.mask, undefined);
    assert.equal(s.image.channels, 1);
    assert.equal(s.image.data.length, W * H);
    await Deno.rename(path.join(dir, "segmentations"), path.join(root, "segmentations"));
    assert.ok((await loadCub(root)).records.every((r) => r.hasMask));
    await Deno.remove(path.join(root, "segmentations"), { recursive: true });
    assert.ok((await loadCub(root)).records.every((r) => !r.hasMask));
    await rejectsWith(
      () => loadCub(root, { masks: true }),
      /field "masks".*no segmentations folder/,
    );
  });
});

Deno.test("loadCub() names a missing image file and its images.txt line", async () => {
  await withTempDir(async (dir) => {
    const root = await writeCub(dir);
    await Deno.remove(path.join(root, "images", IMAGES[2].rel));
    const e = await rejectsWith(() => loadCub(root), /gamma_1\.png: image file not found/);
    assert.match(e.message, /line 3 of .*images\.txt/);
  });
});

Deno.test("loadCub() names a corrupt or truncated image when it is loaded", async () => {
  await withTempDir(async (dir) => {
    const root = await writeCub(dir);
    await truncateFile(path.join(root, "images", IMAGES[1].rel), 60);
    await Deno.writeFile(
      path.join(root, "images", IMAGES[3].rel),
      new TextEncoder().encode("junk"),
    );
    const cub = await loadCub(root);
    await rejectsWith(() => cub.load(1), /beta_1\.png: cannot decode image/);
    await rejectsWith(() => cub.load(3), /beta_2\.png: cannot decode image/);
    assert.equal((await cub.load(0)).id, "1");
  });
});

Deno.test("loadCub() names both files when a mask's size differs from its image's", async () => {
  await withTempDir(async (dir) => {
    const root = await writeCub(dir);
    await writeMask(path.join(dir, "segmentations", IMAGES[0].rel), 10, 8, []);
    const cub = await loadCub(root);
    await rejectsWith(
      () => cub.load(0),
      /segmentations\/001\.Alpha\/alpha_1\.png: mask is 10×8 but its image ".*images\/001\.Alpha\/alpha_1\.png" is 16×12/,
    );
  });
});

Deno.test("loadCub() clips a box that leaves the image with a warning, or rejects it by option", async () => {
  await withTempDir(async (dir) => {
    const root = await writeCub(dir);
    // Line 2 of bounding_boxes.txt is image 1: reaches 4 pixels past the right edge.
    await setLine(path.join(root, "bounding_boxes.txt"), 2, "1 12 3 8 4");
    const warnings: string[] = [];
    const cub = await loadCub(root, { onWarning: (m) => warnings.push(m) });
    assert.deepEqual((await cub.load(0)).boxes, [[12, 3, 16, 7]]);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0],
      /bounding_boxes\.txt:2: box 0 \[12, 3, 20, 7\] extends outside the 16×12 image; clipped to \[12, 3, 16, 7\]/,
    );
    assert.deepEqual((await cub.load(3)).boxes, [[10, 5, 16, 12]], "edge-touching box is kept");
    assert.equal(warnings.length, 1);

    const strict = await loadCub(root, { boxOutside: "reject" });
    await rejectsWith(
      () => strict.load(0),
      /bounding_boxes\.txt:2: box 0 \[12, 3, 20, 7\] extends outside the 16×12 image/,
    );
    // A negative corner is clipped too, or, under "reject", found before any pixel is read.
    await setLine(path.join(root, "bounding_boxes.txt"), 2, "1 -3 3 8 4");
    warnings.length = 0;
    const negative = await loadCub(root, { onWarning: (m) => warnings.push(m) });
    assert.deepEqual((await negative.load(0)).boxes, [[0, 3, 5, 7]]);
    assert.match(warnings[0], /bounding_boxes\.txt:2: .* clipped to \[0, 3, 5, 7\]/);
    await rejectsWith(
      () => loadCub(root, { boxOutside: "reject" }),
      /bounding_boxes\.txt:2 \(field "x"\): box \[-3, 3, 5, 7\] extends outside the image/,
    );
    await setLine(path.join(root, "bounding_boxes.txt"), 2, "1 40 3 8 4");
    warnings.length = 0;
    const far = await loadCub(root, { onWarning: (m) => warnings.push(m) });
    assert.deepEqual((await far.load(0)).boxes, [], "a box wholly outside is dropped");
    assert.match(
      warnings[0],
      /bounding_boxes\.txt:2: box 0 \[40, 3, 48, 7\] lies wholly outside the 16×12 image; dropped/,
    );
  });
});

Deno.test("loadCub() names the file, line and field of a non-numeric or short annotation line", async () => {
  await withTempDir(async (dir) => {
    const root = await writeCub(dir);
    const labels = path.join(root, "image_class_labels.txt");
    await setLine(labels, 2, "1 one");
    await rejectsWith(
      () => loadCub(root),
      /image_class_labels\.txt:2 \(field "class_id"\): expected an integer, got "one"/,
    );
    await setLine(labels, 2, "1 1");
    await setLine(path.join(root, "bounding_boxes.txt"), 3, "4 10.0 5.0 6.0");
    await rejectsWith(
      () => loadCub(root),
      /bounding_boxes\.txt:3: short line: expected 5 fields \(image_id x y width height\), got 4/,
    );
    await setLine(path.join(root, "bounding_boxes.txt"), 3, "4 10.0 5.0 wide 7");
    await rejectsWith(
      () => loadCub(root),
      /bounding_boxes\.txt:3 \(field "width"\): expected a number, got "wide"/,
    );
  });
});

Deno.test("loadCub() rejects a duplicate id, naming both lines", async () => {
  await withTempDir(async (dir) => {
    const root = await writeCub(dir);
    await Deno.writeTextFile(path.join(root, "images.txt"), "2 002.Beta/beta_2.png\n", {
      append: true,
    });
    await rejectsWith(
      () => loadCub(root),
      /images\.txt:5 \(field "image_id"\): duplicate image_id 2 \(first on line 2\)/,
    );
  });
});

Deno.test("loadCub() rejects an image path that escapes the dataset root", async () => {
  await withTempDir(async (dir) => {
    const root = await writeCub(dir);
    const images = path.join(root, "images.txt");
    await setLine(images, 3, "3 ../../etc/passwd");
    await rejectsWith(
      () => loadCub(root),
      /images\.txt:3 \(field "path"\): path "\.\.\/\.\.\/etc\/passwd" escapes the dataset root/,
    );
    await setLine(images, 3, "3 /etc/passwd");
    await rejectsWith(
      () => loadCub(root),
      /images\.txt:3 \(field "path"\): path "\/etc\/passwd" is absolute/,
    );
    await setLine(images, 3, "3 003.Gamma/../../../outside.png");
    await rejectsWith(() => loadCub(root), /images\.txt:3 \(field "path"\): .* escapes/);
  });
});

Deno.test("loadCub() rejects an unknown class and an unknown image id", async () => {
  await withTempDir(async (dir) => {
    const root = await writeCub(dir);
    const labels = path.join(root, "image_class_labels.txt");
    await setLine(labels, 3, "4 9");
    await rejectsWith(
      () => loadCub(root),
      /image_class_labels\.txt:3 \(field "class_id"\): unknown class 9: not in classes\.txt \(which defines 1\.\.3\)/,
    );
    await setLine(labels, 3, "44 2");
    await rejectsWith(
      () => loadCub(root),
      /image_class_labels\.txt:3 \(field "image_id"\): unknown image id 44/,
    );
  });
});

Deno.test('loadCub() with onError "skip" records each fault and keeps the rest aligned', async () => {
  await withTempDir(async (dir) => {
    const root = await writeCub(dir);
    await setLine(path.join(root, "image_class_labels.txt"), 1, "3 9"); // unknown class for image 3
    await Deno.remove(path.join(root, "images", IMAGES[0].rel)); // missing image 1
    const cub = await loadCub(root, { onError: "skip" });
    assert.equal(cub.size, 2);
    assert.deepEqual(cub.records.map((r) => r.id), ["2", "4"]);
    assert.deepEqual(cub.records.map((r) => r.label), [1, 1]);
    assert.deepEqual(cub.officialSplit, { train: [0], test: [1] });
    assert.equal(cub.skipped.length, 2);
    const [bad, missing] = cub.skipped;
    assert.equal(bad.id, "3");
    assert.equal(bad.line, 1);
    assert.match(bad.file, /image_class_labels\.txt$/);
    assert.match(bad.reason, /field "class_id": unknown class 9/);
    assert.equal(missing.id, "1");
    assert.match(missing.file, /alpha_1\.png$/);
    assert.match(missing.reason, /image file not found/);
    const s = await cub.load(1);
    assert.equal(s.id, "4");
    assert.deepEqual(s.boxes, [[10, 5, 16, 12]]);
  });
});

Deno.test("loadCub() reads a greyscale JPEG as 3 equal channels and finds its <stem>.png mask", async () => {
  await withTempDir(async (dir) => {
    const root = await writeCub(dir);
    const rel = "001.Alpha/alpha_1.jpg";
    await writeImage(path.join(root, "images", rel), pixels(W, H, { channels: 1 }), W, H, 1);
    await setLine(path.join(root, "images.txt"), 1, `1 ${rel}`);
    const cub = await loadCub(root);
    const { image, mask } = await cub.load(0);
    assert.equal(mask!.length, W * H, "the .jpg image's mask is <stem>.png");
    assert.equal(image.channels, 3);
    for (let p = 0; p < W * H; p++) {
      assert.equal(image.data[p * 3], image.data[p * 3 + 1]);
      assert.equal(image.data[p * 3], image.data[p * 3 + 2]);
    }
    assert.equal(cub.records[0].source, `images/${rel}`);
  });
});
