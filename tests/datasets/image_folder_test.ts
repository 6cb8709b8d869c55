import assert from "node:assert/strict";
import * as path from "node:path";
import { loadImageFolder } from "../../datasets/image_folder.ts";
import {
  inRect,
  type Rect,
  rejectsWith,
  truncateFile,
  withTempDir,
  writeMask,
  writeRectImage,
} from "./_loader_fixtures.ts";

const W = 10, H = 8;
const A: Rect = { x: 2, y: 1, w: 5, h: 4 };
const B: Rect = { x: 0, y: 3, w: 3, h: 5 };

/**
 * Writes `dir/images/<class>/…` with a sibling `dir/masks/<class>/…`:
 * bird: b1.png (masked), b2.jpg; cat: c10.png, c2.png (masked),
 * sub/c3.png (masked); dog: d1.png, readme.md, x.bmp; and images/notes.txt.
 */
async function writeFolder(dir: string): Promise<string> {
  const root = path.join(dir, "images");
  const masks = path.join(dir, "masks");
  await writeRectImage(path.join(root, "bird", "b1.png"), W, H, A);
  await writeMask(path.join(masks, "bird", "b1.png"), W, H, [A]);
  await writeRectImage(path.join(root, "bird", "b2.jpg"), W, H, B);
  await writeRectImage(path.join(root, "cat", "c10.png"), W, H, A);
  await writeRectImage(path.join(root, "cat", "c2.png"), W, H, B);
  await writeMask(path.join(masks, "cat", "c2.png"), W, H, [B]);
  await writeRectImage(path.join(root, "cat", "sub", "c3.png"), W, H, A);
  await writeMask(path.join(masks, "cat", "sub", "c3.png"), W, H, [A], 200);
  await writeRectImage(path.join(root, "dog", "d1.png"), W, H, B);
  await Deno.writeTextFile(path.join(root, "dog", "readme.md"), "# dogs");
  await Deno.writeFile(path.join(root, "dog", "x.bmp"), new Uint8Array([0x42, 0x4d]));
  await Deno.writeTextFile(path.join(root, "notes.txt"), "notes");
  return root;
}

const IDS = [
  "bird/b1.png",
  "bird/b2.jpg",
  "cat/c2.png",
  "cat/c10.png",
  "cat/sub/c3.png",
  "dog/d1.png",
];

Deno.test("loadImageFolder() labels sorted class folders and finds a sibling masks folder", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFolder(dir);
    const data = await loadImageFolder(root);
    assert.deepEqual(data.classNames, ["bird", "cat", "dog"]);
    assert.deepEqual(data.records.map((r) => r.id), IDS);
    assert.deepEqual(data.records.map((r) => r.label), [0, 0, 1, 1, 1, 2]);
    assert.deepEqual(data.records.map((r) => r.hasMask), [true, false, true, false, true, false]);
    assert.equal(path.resolve(data.masksDir!), path.resolve(dir, "masks"));
    assert.equal(data.records[4].source, "cat/sub/c3.png");
    assert.equal(data.officialSplit, undefined);
  });
});

Deno.test("loadImageFolder() counts files it does not read, with the reason", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFolder(dir);
    const data = await loadImageFolder(root);
    const skipped = data.skipped.map((s) => `${path.relative(root, s.file)}: ${s.reason}`);
    assert.equal(skipped.length, 3);
    assert.equal(skipped[0], "notes.txt: file outside any class folder: not read");
    assert.match(skipped[1], /^dog\/readme\.md: extension "\.md" is not an image type read here/);
    assert.match(skipped[2], /^dog\/x\.bmp: extension "\.bmp" is not an image type/);
    const pngOnly = await loadImageFolder(root, { extensions: ["PNG"] });
    assert.deepEqual(pngOnly.records.map((r) => r.id), IDS.filter((id) => id !== "bird/b2.jpg"));
    assert.ok(pngOnly.skipped.some((s) => s.file.endsWith("b2.jpg")));
  });
});

Deno.test("loadImageFolder() aligns each mask with its image", async () => {
  await withTempDir(async (dir) => {
    const data = await loadImageFolder(await writeFolder(dir), { channels: 1 });
    for (const [i, rect, value] of [[0, A, 1], [2, B, 1], [4, A, 200 / 255]] as const) {
      const s = await data.load(i);
      assert.equal(s.image.channels, 1);
      for (let p = 0; p < W * H; p++) {
        const inside = inRect(rect, Math.floor(p / W), p % W);
        assert.equal(s.image.data[p] > 0.5, inside, `image ${i} pixel ${p}`);
        assert.ok(Math.abs(s.mask![p] - (inside ? value : 0)) < 1e-6, `mask ${i} pixel ${p}`);
      }
    }
    const unmasked = await data.load(1);
    assert.equal(unmasked.mask, undefined);
    assert.equal(unmasked.label, 0);
  });
});

Deno.test("loadImageFolder() reads <root>/masks as masks, not a class, and masksDir null turns masks off", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFolder(dir);
    await Deno.rename(path.join(dir, "masks"), path.join(root, "masks"));
    const inside = await loadImageFolder(root);
    assert.deepEqual(inside.classNames, ["bird", "cat", "dog"]);
    assert.equal(inside.masksDir, path.join(root, "masks"));
    assert.deepEqual(inside.records.map((r) => r.hasMask), [true, false, true, false, true, false]);
    const none = await loadImageFolder(root, { masksDir: null });
    assert.equal(none.masksDir, undefined);
    assert.deepEqual(none.classNames, ["bird", "cat", "dog", "masks"]);
    await rejectsWith(
      () => loadImageFolder(root, { masksDir: path.join(dir, "nowhere") }),
      /nowhere \(field "masksDir"\): masks folder not found/,
    );
  });
});

Deno.test("loadImageFolder() follows options.classes and names an unknown or missing class", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFolder(dir);
    const ordered = await loadImageFolder(root, { classes: ["dog", "cat", "bird"] });
    // Samples come in label order: dog's first.
    assert.deepEqual(ordered.records.map((r) => r.id), [
      IDS[5],
      ...IDS.slice(2, 5),
      ...IDS.slice(0, 2),
    ]);
    assert.deepEqual(ordered.records.map((r) => r.label), [0, 1, 1, 1, 2, 2]);
    await rejectsWith(
      () => loadImageFolder(root, { classes: ["cat", "dog"] }),
      /images\/bird \(field "classes"\): unknown class "bird": not in options\.classes \(cat, dog\)/,
    );
    await rejectsWith(
      () => loadImageFolder(root, { classes: ["bird", "cat", "dog", "fish"] }),
      /images\/fish \(field "classes"\): class folder for "fish" not found/,
    );
    const skipped = await loadImageFolder(root, { classes: ["cat", "dog"], onError: "skip" });
    assert.deepEqual(skipped.records.map((r) => r.id), IDS.slice(2));
    assert.deepEqual(skipped.records.map((r) => r.label), [0, 0, 0, 1]);
    assert.ok(skipped.skipped.some((s) => /unknown class "bird"/.test(s.reason)));
  });
});

Deno.test("loadImageFolder() names an empty class folder, or records it under onError skip", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFolder(dir);
    await Deno.mkdir(path.join(root, "fish"));
    await rejectsWith(
      () => loadImageFolder(root),
      /images\/fish: class folder "fish" has no images/,
    );
    await Deno.writeTextFile(path.join(root, "fish", "todo.txt"), "photograph fish");
    await rejectsWith(
      () => loadImageFolder(root),
      /images\/fish: class folder "fish" has no images/,
    );
    const data = await loadImageFolder(root, { onError: "skip" });
    assert.deepEqual(data.classNames, ["bird", "cat", "dog", "fish"]);
    assert.equal(data.size, IDS.length);
    const fish = data.skipped.filter((s) => s.file.includes("fish"));
    assert.deepEqual(fish.map((s) => s.reason.replace(/ \(.*/, "")), [
      'extension ".txt" is not an image type read here',
      'class folder "fish" has no images',
    ]);
  });
});

Deno.test("loadImageFolder() names a missing or corrupt image and a mask of the wrong size", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFolder(dir);
    const data = await loadImageFolder(root);
    await truncateFile(path.join(root, "cat", "c10.png"), 40);
    await rejectsWith(() => data.load(3), /cat\/c10\.png: cannot decode image/);
    await Deno.remove(path.join(root, "dog", "d1.png"));
    await rejectsWith(() => data.load(5), /dog\/d1\.png: file not found/);
    await writeMask(path.join(dir, "masks", "cat", "c2.png"), W + 1, H, [B]);
    await rejectsWith(
      () => data.load(2),
      /masks\/cat\/c2\.png: mask is 11×8 but its image ".*images\/cat\/c2\.png" is 10×8/,
    );
    await assert.rejects(() => data.load(6), /RangeError|expected an integer in \[0, 6\)/);
  });
});
