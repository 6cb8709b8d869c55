import assert from "node:assert/strict";
import { runTask } from "./_run.ts";
import { loadSharp } from "../../lib/deps.ts";
import { createReferenceNet } from "../../lib/models/reference_net.ts";
import { saveModel } from "../../lib/train/save_load.ts";

const explainTask = (args: string[]) => runTask("tasks/explain.ts", ["--threads=1", ...args]);

// A saved 3-class model with a 16 × 16 input and a 40 × 30 PNG "bird" in a temp folder.
async function fixture(): Promise<{ dir: string; model: string; image: string }> {
  const dir = await Deno.makeTempDir();
  const net = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.125, seed: 3 });
  await saveModel(net, `${dir}/model`);
  net.dispose();
  const sharp = await loadSharp();
  await sharp({ create: { width: 40, height: 30, channels: 3, background: "#3060a0" } })
    .composite([{
      input: { create: { width: 12, height: 10, channels: 3, background: "#f0c020" } },
      left: 20,
      top: 8,
    }])
    .png()
    .toFile(`${dir}/bird.png`);
  return { dir, model: `${dir}/model`, image: `${dir}/bird.png` };
}

Deno.test("deno task explain writes an input | overlay PNG titled with the predicted class", async () => {
  const f = await fixture();
  try {
    const out = `${f.dir}/sub/overlay.png`;
    const r = await explainTask([
      `--model=${f.model}`,
      `--image=${f.image}`,
      "--method=grad-cam",
      "--layer=-1",
      "--cell=64",
      `--out=${out}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /predicted class [0-2] \(p = 0\.\d{3}\); explained class [0-2] with grad-cam/,
    );
    assert.match(r.stdout, new RegExp(`wrote ${out.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    const sharp = await loadSharp();
    const meta = await sharp(await Deno.readFile(out)).metadata();
    assert.equal(meta.format, "png");
    // Two 64-px panels with 4-px padding: 2 · 64 + 3 · 4 wide; a 21-px title band above.
    assert.equal(meta.width, 140);
    assert.equal(meta.height, 21 + 64 + 8);
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("deno task explain prints --help, and names a missing image, model or unknown method", async () => {
  const help = await explainTask(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: deno task explain/);
  assert.match(help.stdout, /--method <value>\s+explainers, comma-separated: .*grad-cam/);

  const f = await fixture();
  try {
    const noImage = await explainTask([`--model=${f.model}`, `--image=${f.dir}/nope.jpg`]);
    assert.equal(noImage.code, 1);
    assert.match(noImage.stderr, new RegExp(`${f.dir}/nope\\.jpg: file not found`));

    const noModel = await explainTask([`--model=${f.dir}/missing`, `--image=${f.image}`]);
    assert.equal(noModel.code, 1);
    assert.match(noModel.stderr, /Cannot load model ".*\/missing": no such folder/);

    const badMethod = await explainTask([
      `--model=${f.model}`,
      `--image=${f.image}`,
      "--method=magic",
    ]);
    assert.equal(badMethod.code, 2);
    assert.match(badMethod.stderr, /Flag --method must be one of .*grad-cam.*; got "magic"/);

    const noFlag = await explainTask([`--image=${f.image}`]);
    assert.equal(noFlag.code, 2);
    assert.match(noFlag.stderr, /Flag --model is required/);

    const badTarget = await explainTask([`--model=${f.model}`, `--image=${f.image}`, "--target=7"]);
    assert.equal(badTarget.code, 2);
    assert.match(badTarget.stderr, /Flag --target must be below the model's 3 classes, got 7/);
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("deno task explain on a folder writes one overlay per image, mirrors subfolders, and names a broken file", async () => {
  const f = await fixture();
  try {
    const input = `${f.dir}/birds`;
    await Deno.mkdir(`${input}/night`, { recursive: true });
    await Deno.copyFile(f.image, `${input}/a.png`);
    await Deno.copyFile(f.image, `${input}/night/b.PNG`);
    await Deno.writeTextFile(`${input}/notes.txt`, "not an image, so not read");
    const out = `${f.dir}/out`;
    const r = await explainTask([
      `--model=${f.model}`,
      `--image=${input},${f.image}`,
      "--method=grad-cam,vanilla-gradient",
      "--cell=32",
      `--out=${out}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /explained 3 image\(s\) with grad-cam, vanilla-gradient/);
    const results = JSON.parse(await Deno.readTextFile(`${out}/results.json`));
    assert.equal(results.run.task, "explain");
    assert.deepEqual(results.methods, ["grad-cam", "vanilla-gradient"]);
    assert.deepEqual(
      results.images.map((x: { png: string }) => x.png.slice(out.length + 1)),
      [
        "birds/a-grad-cam+vanilla-gradient.png",
        "birds/night/b-grad-cam+vanilla-gradient.png",
        "bird-grad-cam+vanilla-gradient.png",
      ],
    );
    // The same picture thrice: the same prediction each time.
    const predicted = results.images.map((x: { predicted: number }) => x.predicted);
    assert.ok(predicted.every((p: number) => p === predicted[0]), `${predicted}`);
    const sharp = await loadSharp();
    for (const item of results.images) {
      const meta = await sharp(await Deno.readFile(item.png)).metadata();
      // Three 32-px panels (input and two methods) with 4-px padding.
      assert.equal(meta.width, 3 * 32 + 4 * 4, item.png);
    }

    // Files whose header reads are explained; one corrupt inside its data is named at the end,
    // the others are still written, and the exit status is 1.
    const sharp0 = await loadSharp();
    const whole = await sharp0({
      create: { width: 40, height: 30, channels: 3, background: "#000" },
    }).png().toBuffer();
    const corrupt = whole.slice();
    corrupt.fill(0, 33, whole.length - 12); // IHDR kept, IDAT zeroed, IEND kept.
    await Deno.writeFile(`${input}/broken.png`, corrupt);
    const bad = await explainTask([`--model=${f.model}`, `--image=${input}`, `--out=${out}/2`]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /1 image\(s\) could not be explained:\n- .*broken\.png: /);
    const partial = JSON.parse(await Deno.readTextFile(`${out}/2/results.json`));
    assert.equal(partial.images.length, 2);
    assert.equal(partial.failed.length, 1);

    // Many images need a folder, and an empty folder is an error.
    const toFile = await explainTask([
      `--model=${f.model}`,
      `--image=${input}`,
      `--out=${out}/x.png`,
    ]);
    assert.equal(toFile.code, 2);
    assert.match(toFile.stderr, /Flag --out: 3 images need an output folder, not the file/);
    await Deno.mkdir(`${f.dir}/empty`);
    const empty = await explainTask([`--model=${f.model}`, `--image=${f.dir}/empty`]);
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /empty: the folder holds no images \(looked for \.jpg/);
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("deno task explain reads every header first: a truncated PNG and an empty file are both named, and nothing is written", async () => {
  const f = await fixture();
  try {
    const input = `${f.dir}/birds`;
    await Deno.mkdir(`${input}/night`, { recursive: true });
    await Deno.copyFile(f.image, `${input}/a.png`);
    const png = await Deno.readFile(f.image);
    await Deno.writeFile(`${input}/night/cut.png`, png.subarray(0, png.length - 30));
    await Deno.writeFile(`${input}/zero.jpg`, new Uint8Array());
    const out = `${f.dir}/out`;
    const r = await explainTask([`--model=${f.model}`, `--image=${input}`, `--out=${out}`]);
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(r.stderr.trim().split("\n"), [
      `${input}/night/cut.png: truncated: the PNG ends before its IEND chunk (the file has ` +
      `${png.length - 30} bytes)`,
      `${input}/zero.jpg: empty file (0 bytes)`,
      `${input}: 2 of the --image files cannot be used (listed above); replace or remove them`,
    ]);
    assert.equal(await Deno.stat(out).catch(() => null), null, "nothing written to --out");

    // One bad file is the error itself, with no stack; a single --image too.
    const one = await explainTask([
      `--model=${f.model}`,
      `--image=${input}/zero.jpg`,
      `--out=${out}/zero.png`,
    ]);
    assert.equal(one.code, 1);
    assert.equal(one.stderr.trim(), `${input}/zero.jpg: empty file (0 bytes)`);
    assert.equal(await Deno.stat(out).catch(() => null), null);

    // A bad flag found once the model is loaded leaves no --out folder either.
    await Deno.remove(`${input}/night`, { recursive: true });
    await Deno.remove(`${input}/zero.jpg`);
    await Deno.copyFile(f.image, `${input}/b.png`);
    const target = await explainTask([
      `--model=${f.model}`,
      `--image=${input}`,
      "--target=7",
      `--out=${out}`,
    ]);
    assert.equal(target.code, 2);
    assert.match(target.stderr, /Flag --target must be below the model's 3 classes, got 7/);
    assert.equal(await Deno.stat(out).catch(() => null), null);

    // AVIF, which the header reader does not know, is still explained.
    const sharp = await loadSharp();
    await sharp(await Deno.readFile(f.image)).avif().toFile(`${input}/c.avif`);
    const avif = await explainTask([`--model=${f.model}`, `--image=${input}`, `--out=${out}`]);
    assert.equal(avif.code, 0, avif.stderr);
    assert.match(avif.stdout, /explained 3 image\(s\)/);
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("deno task explain titles its panels with the class names the model was saved with", async () => {
  const f = await fixture();
  try {
    // The fixture's weights again, saved with class names.
    const net = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.125, seed: 3 });
    await saveModel(net, `${f.dir}/named`, { classNames: ["sparrow", "finch", "wren"] });
    net.dispose();
    const args = [`--image=${f.image}`, "--method=grad-cam", "--cell=192"];
    const plain = await explainTask([...args, `--model=${f.model}`, `--out=${f.dir}/plain.png`]);
    const named = await explainTask([
      ...args,
      `--model=${f.dir}/named`,
      `--out=${f.dir}/named.png`,
    ]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(named.code, 0, named.stderr);
    const k = Number(plain.stdout.match(/predicted class (\d)/)![1]);
    const name = ["sparrow", "finch", "wren"][k];
    assert.match(
      named.stdout,
      new RegExp(`^predicted ${name} \\(p = 0\\.\\d{3}\\); explained ${name} with grad-cam`),
    );
    // Same weights, same image: the panels agree pixel for pixel, the title band does not.
    const sharp = await loadSharp();
    const raw = async (file: string) => (await sharp(await Deno.readFile(file)).raw().toBuffer());
    const [a, b] = [await raw(`${f.dir}/plain.png`), await raw(`${f.dir}/named.png`)];
    assert.equal(a.length, b.length);
    const meta = await sharp(await Deno.readFile(`${f.dir}/named.png`)).metadata();
    // Below a title band: 192-px panels with 4-px padding above and below.
    const band = (meta.height! - 192 - 8) * meta.width! * meta.channels!;
    assert.ok(band > 0);
    assert.ok(!a.subarray(0, band).equals(b.subarray(0, band)), "the titles differ");
    assert.ok(a.subarray(band).equals(b.subarray(band)), "the panels are the same");

    // --target takes a saved name; an unknown one is refused with the names.
    const byName = await explainTask([
      ...args,
      `--model=${f.dir}/named`,
      "--target=wren",
      `--out=${f.dir}/w.png`,
    ]);
    assert.equal(byName.code, 0, byName.stderr);
    assert.match(byName.stdout, /explained wren with grad-cam/);
    const unknown = await explainTask([...args, `--model=${f.dir}/named`, "--target=robin"]);
    assert.equal(unknown.code, 2);
    assert.match(
      unknown.stderr,
      /Flag --target must be predicted, a class index or a class name \(sparrow, finch, wren\); got "robin"/,
    );
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});
