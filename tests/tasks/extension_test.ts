import assert from "node:assert/strict";
import { ROOT } from "./_run.ts";

// One script: two files that each register one thing, then `deno task train` by name.
const script = `
import "${new URL("../fixtures/extension/total_variation_loss.ts", import.meta.url).href}";
import "${new URL("../fixtures/extension/stripes_dataset.ts", import.meta.url).href}";
import { trainMain } from "${new URL("../../tasks/train.ts", import.meta.url).href}";
import { runMain } from "${new URL("../../tasks/_cli.ts", import.meta.url).href}";
await runMain(() => trainMain(Deno.args));
`;

Deno.test("a loss and a dataset, one file each with one registry line, train through deno task train by name", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const main = `${dir}/train_with_extensions.ts`;
    await Deno.writeTextFile(main, script);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        main,
        "--dataset=stripes",
        "--count=16",
        "--size=16",
        "--width=0.25",
        "--batch=4",
        "--epochs=1",
        "--threads=1",
        "--explainers=",
        "--loss=ce=1,total-variation=0.5",
        `--out=${dir}/run`,
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const results = JSON.parse(await Deno.readTextFile(`${dir}/run/results.json`));
    assert.equal(results.dataset.name, "stripes");
    assert.deepEqual(results.dataset.classNames, ["horizontal", "vertical"]);
    assert.deepEqual(results.lossWeights, { ce: 1, totalVariation: 0.5 });
    const epoch = results.training.history[0].metrics;
    assert.ok(Number.isFinite(epoch.train_totalVariation) && epoch.train_totalVariation > 0);
    // The help of the same entry point lists both by name.
    const help = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, "--help"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(help.stdout) + new TextDecoder().decode(help.stderr);
    assert.match(text, /stripes/);
    assert.match(text, /total-variation/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
