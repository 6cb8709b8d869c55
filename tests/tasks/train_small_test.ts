import assert from "node:assert/strict";
import { assertMatchesSchema } from "./_schema.ts";
import { writeBusiFixture } from "./_busi.ts";
import { runTask } from "./_run.ts";
import { truncateFile } from "../datasets/_loader_fixtures.ts";

Deno.test("train on 8 training images with the default --batch 16 trains in batches of 8, says so, records each part's ids and keeps the class names", async () => {
  const root = await Deno.makeTempDir();
  try {
    const twins = await writeBusiFixture(root, { twin: true });
    const out = `${root}/run`;
    const r = await runTask("tasks/train.ts", [
      "--dataset=busi",
      `--root=${root}`,
      "--size=16",
      "--width=0.25",
      "--epochs=2",
      "--threads=1",
      `--out=${out}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const results = JSON.parse(await Deno.readTextFile(`${out}/results.json`));
    assertMatchesSchema(results, "train");
    // 11 images, 80% for training, of which none is held out for validation at --val 0.1.
    assert.equal(results.dataset.train, 8);
    assert.equal(results.config.batch, 16);
    assert.equal(results.training.batchSize, 8);
    assert.equal(results.training.steps, 2);
    assert.match(
      r.stderr,
      /^note: --batch 16 is more than the 8 training images; training in batches of 8$/m,
    );
    // The ids of each part: disjoint, all of them, and the twins on one side.
    const { trainIds, valIds, testIds } = results.dataset;
    assert.equal(trainIds.length, 8);
    const all = [...trainIds, ...valIds, ...testIds];
    assert.equal(new Set(all).size, 11);
    assert.equal(trainIds.includes(twins[0]), trainIds.includes(twins[1]));
    assert.equal(testIds.includes(twins[0]), testIds.includes(twins[1]));
    // The saved model and its checkpoints keep the dataset's class names.
    for (const dir of ["model", "checkpoints/last"]) {
      const json = JSON.parse(await Deno.readTextFile(`${out}/${dir}/model.json`));
      assert.deepEqual(json.classNames, ["benign", "malignant", "normal"], dir);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a train run that fails before its first checkpoint leaves no --out folder, and names --lr", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await runTask("tasks/train.ts", [
      "--size=16",
      "--width=0.25",
      "--count=40",
      "--classes=2",
      "--batch=8",
      "--threads=1",
      "--lr=1e30",
      `--out=${dir}/new/run`,
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^Training stopped at step \d+ .* is NaN; .*A lower --lr may/m);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "neither run/ nor the new/ it made is left");

    // A folder that was there before stays, with what the run wrote in it.
    await Deno.mkdir(`${dir}/had`);
    const again = await runTask("tasks/train.ts", [
      "--size=16",
      "--width=0.25",
      "--count=40",
      "--classes=2",
      "--batch=8",
      "--threads=1",
      "--lr=1e30",
      `--out=${dir}/had`,
    ]);
    assert.equal(again.code, 1);
    assert.ok((await Deno.stat(`${dir}/had/run.json`)).isFile);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train on a dataset with a truncated image and a zero-byte mask lists both before training and writes no --out", async () => {
  const root = await Deno.makeTempDir();
  try {
    await writeBusiFixture(root);
    await truncateFile(`${root}/benign/benign (2).png`, 60);
    await Deno.writeFile(`${root}/malignant/malignant (3)_mask.png`, new Uint8Array());
    const out = `${root}/run`;
    const r = await runTask("tasks/train.ts", [
      "--dataset=busi",
      `--root=${root}`,
      "--size=16",
      "--threads=1",
      `--out=${out}`,
    ]);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.split("\n").filter((l) => l.trim() !== "" && !/XDG_RUNTIME_DIR/.test(l));
    assert.deepEqual(lines, [
      `${root}/benign/benign (2).png: truncated: the PNG ends before its IEND chunk (the file has 60 bytes)`,
      `${root}/malignant/malignant (3)_mask.png: empty file (0 bytes)`,
      `${root}: 2 files of --dataset busi cannot be used (listed above); replace or remove them`,
    ]);
    assert.doesNotMatch(r.stderr, /epoch|model:/, "it stops before the model is built");
    assert.equal(await Deno.stat(out).catch(() => null), null, "no --out folder is made");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
