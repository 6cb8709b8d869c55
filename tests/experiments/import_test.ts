import assert from "node:assert/strict";
import * as busi from "../../experiments/busi_mask_supervised.ts";
import * as cars from "../../experiments/cars_box_supervised.ts";
import * as cub from "../../experiments/cub_two_branch.ts";
import * as decoy from "../../experiments/decoy_benchmark.ts";
import * as quick from "../../experiments/mask_supervision_quick.ts";
import * as shortcut from "../../experiments/shortcut_study.ts";
import * as transfer from "../../experiments/transfer_to_small.ts";
import * as twoArms from "../../experiments/_two_arms.ts";
import { tf } from "../../lib/deps.ts";

// Static imports, so that `deno test` type-checks every experiment; importing
// them must not run them (their work sits under `if (import.meta.main)`).
const MODULES: Record<string, object> = {
  "busi_mask_supervised.ts": busi,
  "cars_box_supervised.ts": cars,
  "cub_two_branch.ts": cub,
  "decoy_benchmark.ts": decoy,
  "mask_supervision_quick.ts": quick,
  "shortcut_study.ts": shortcut,
  "transfer_to_small.ts": transfer,
};

/** Private helpers that experiments share: imported by them, never run. */
const HELPERS: Record<string, object> = { "_two_arms.ts": twoArms };

Deno.test("every experiment is imported here, runs only as main, and imports only mod.ts and its helpers", async () => {
  const dir = new URL("../../experiments/", import.meta.url);
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name.endsWith(".ts")) files.push(entry.name);
  }
  assert.deepEqual(
    files.sort(),
    [...Object.keys(MODULES), ...Object.keys(HELPERS)].sort(),
    "an experiment is missing here",
  );
  for (const name of files) {
    const source = await Deno.readTextFile(new URL(name, dir));
    const helper = name in HELPERS;
    assert.equal(
      /^if \(import\.meta\.main\) \{$/m.test(source),
      !helper,
      helper ? `${name} runs something` : `${name} runs its study on import`,
    );
    const specifiers = [...source.matchAll(/^import [^;]*? from "([^"]+)";$/gm)].map((m) => m[1]);
    assert.ok(specifiers.includes("../mod.ts"), `${name} does not import ../mod.ts`);
    for (const s of specifiers) {
      const allowed = ["../mod.ts", "node:util", ...Object.keys(HELPERS).map((h) => `./${h}`)];
      assert.ok(allowed.includes(s), `${name} imports ${s}, not only ../mod.ts`);
    }
  }
  // Had a module run on import, its training would have left a backend with tensors behind.
  assert.equal(tf.memory().numTensors, 0);
});
