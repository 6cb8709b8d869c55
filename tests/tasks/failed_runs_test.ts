// A task that fails after it made its --out folder (bad data found only when the pixels are
// decoded, a --lr that makes the loss NaN) removes that folder again: nothing is left behind.
import assert from "node:assert/strict";
import { runTask, TINY_COMPARE, TINY_TRANSFER } from "./_run.ts";
import { writeBusiFixture } from "./_busi.ts";
import { createReferenceNet } from "../../lib/models/reference_net.ts";
import { saveModel } from "../../lib/train/save_load.ts";

/** Zeroes a PNG's pixel data in place, keeping its header and IEND: whole by header, not decodable. */
async function corruptPixels(file: string): Promise<void> {
  const png = await Deno.readFile(file);
  png.fill(0, 33, png.length - 12); // Signature and IHDR are the first 33 bytes; IEND the last 12.
  await Deno.writeFile(file, png);
}

/** The entries of `dir`, by name. */
const entries = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("evaluate on images whose headers read but whose pixels do not fails and leaves no --out folder", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const root = `${dir}/busi`;
    await writeBusiFixture(root, { perClass: 4 });
    // As a plain folder of classes (BUSI's loader decodes every image to find duplicates).
    for (const c of ["benign", "malignant", "normal"]) {
      for (let i = 1; i <= 4; i++) {
        await Deno.remove(`${root}/${c}/${c} (${i})_mask.png`);
        await corruptPixels(`${root}/${c}/${c} (${i}).png`);
      }
    }
    const net = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.125, seed: 1 });
    await saveModel(net, `${dir}/model`);
    net.dispose();
    const r = await runTask("tasks/evaluate.ts", [
      `--model=${dir}/model`,
      "--dataset=folder",
      `--root=${root}`,
      "--explainers=grad-cam",
      "--no-faithfulness",
      "--threads=1",
      "--resamples=50",
      `--out=${dir}/new/eval`,
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /busi\/\w+\/\w+ \(\d\)\.png/, "names the file");
    assert.deepEqual(entries(dir), ["busi", "model"], "neither eval/ nor the new/ it made is left");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("transfer with a --lr that makes the loss NaN fails naming --lr and leaves no --out folder", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await runTask("tasks/transfer.ts", [
      ...TINY_TRANSFER,
      "--lr=1e30",
      `--out=${dir}/new/transfer`,
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /is NaN; .*A lower --lr may keep the loss finite/);
    assert.deepEqual(entries(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compare-gradcam with a --lr that makes the loss NaN fails naming --lr and leaves no --out folder", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await runTask("tasks/compare_gradcam.ts", [
      ...TINY_COMPARE,
      "--threads=1",
      "--lr=1e30",
      `--out=${dir}/new/compare`,
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /is NaN; .*A lower --lr may keep the loss finite/);
    assert.deepEqual(entries(dir), []);

    // A folder that was there before stays.
    await Deno.mkdir(`${dir}/had`);
    const again = await runTask("tasks/compare_gradcam.ts", [
      ...TINY_COMPARE,
      "--threads=1",
      "--lr=1e30",
      `--out=${dir}/had`,
    ]);
    assert.equal(again.code, 1);
    assert.ok((await Deno.stat(`${dir}/had`)).isDirectory);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
