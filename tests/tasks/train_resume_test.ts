import assert from "node:assert/strict";
import { runTask } from "./_run.ts";

/** The tiny preset of the train tests: 40 synthetic images of 16 px, 2 classes, batches of 8. */
const TINY = ["--size=16", "--width=0.25", "--count=40", "--classes=2", "--batch=8"];

async function readJson(path: string) {
  return JSON.parse(await Deno.readTextFile(path));
}

async function logLines(out: string): Promise<number> {
  return (await Deno.readTextFile(`${out}/train_log.jsonl`)).trim().split("\n").length;
}

Deno.test("train --resume refuses changed settings, listing each, and --override-settings takes them and records it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/run`;
    const first = await runTask("tasks/train.ts", [
      ...TINY,
      "--threads=1",
      "--epochs=1",
      `--out=${out}`,
    ]);
    assert.equal(first.code, 0, first.stderr);
    const started = await readJson(`${out}/run.json`);
    assert.equal(started.settings.lr, 0.003);
    assert.equal(started.settings.epochs, 1);

    // Where and how it runs may change: another --threads resumes.
    const same = await runTask("tasks/train.ts", [
      ...TINY,
      "--threads=2",
      "--epochs=1",
      `--out=${out}`,
      "--resume",
    ]);
    assert.equal(same.code, 0, same.stderr);

    const changed = [...TINY, "--threads=1", "--epochs=2", "--lr=0.01", `--out=${out}`, "--resume"];
    const refused = await runTask("tasks/train.ts", changed);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(
      refused.stderr,
      new RegExp(
        `^Cannot resume the run in "${out}" with other settings than it started with ` +
          `\\(--epochs: 1 → 2; --lr: 0\\.003 → 0\\.01\\); pass --override-settings to resume ` +
          `with the new ones$`,
        "m",
      ),
    );
    assert.equal(await logLines(out), 1, "nothing more was trained");
    assert.deepEqual((await readJson(`${out}/run.json`)).settings, started.settings);

    const taken = await runTask("tasks/train.ts", [...changed, "--override-settings"]);
    assert.equal(taken.code, 0, taken.stderr);
    assert.match(
      taken.stderr,
      /^note: resuming with changed settings \(--epochs: 1 → 2; --lr: 0\.003 → 0\.01\)/m,
    );
    assert.equal(await logLines(out), 2);
    const run = await readJson(`${out}/run.json`);
    assert.equal(run.settings.lr, 0.01);
    assert.equal(run.overrides.length, 1);
    assert.deepEqual(run.overrides[0].changes, [
      { setting: "epochs", old: 1, new: 2 },
      { setting: "lr", old: 0.003, new: 0.01 },
    ]);
    const results = await readJson(`${out}/results.json`);
    assert.equal(results.config.lr, 0.01);
    assert.equal(results.training.epochs, 2);
    // The new settings are now the run's: resuming with them again needs no override.
    const again = await runTask("tasks/train.ts", changed);
    assert.equal(again.code, 0, again.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
