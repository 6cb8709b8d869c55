import assert from "node:assert/strict";
import * as busi from "../../experiments/busi_mask_supervised.ts";
import * as cars from "../../experiments/cars_box_supervised.ts";
import * as cub from "../../experiments/cub_two_branch.ts";
import * as quick from "../../experiments/mask_supervision_quick.ts";
import * as shortcut from "../../experiments/shortcut_study.ts";
import * as transfer from "../../experiments/transfer_to_small.ts";
import { tf } from "../../lib/deps.ts";

// Static imports, so that `deno test` type-checks every experiment; importing
// them must not run them (their work sits under `if (import.meta.main)`).
const MODULES: Record<string, object> = {
  "busi_mask_supervised.ts": busi,
  "cars_box_supervised.ts": cars,
  "cub_two_branch.ts": cub,
  "mask_supervision_quick.ts": quick,
  "shortcut_study.ts": shortcut,
  "transfer_to_small.ts": transfer,
};

Deno.test("every experiment is imported here, runs only as main, and imports only mod.ts", async () => {
  const dir = new URL("../../experiments/", import.meta.url);
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name.endsWith(".ts")) files.push(entry.name);
  }
  assert.deepEqual(files.sort(), Object.keys(MODULES).sort(), "an experiment is missing here");
  for (const name of files) {
    const source = await Deno.readTextFile(new URL(name, dir));
    assert.match(source, /^if \(import\.meta\.main\) \{$/m, `${name} runs its study on import`);
    const specifiers = [...source.matchAll(/^import [^;]*? from "([^"]+)";$/gm)].map((m) => m[1]);
    assert.ok(specifiers.includes("../mod.ts"), `${name} does not import ../mod.ts`);
    for (const s of specifiers) {
      assert.ok(["../mod.ts", "node:util"].includes(s), `${name} imports ${s}, not only ../mod.ts`);
    }
  }
  // Had a module run on import, its training would have left a backend with tensors behind.
  assert.equal(tf.memory().numTensors, 0);
});
