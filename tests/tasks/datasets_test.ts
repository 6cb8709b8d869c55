import assert from "node:assert/strict";
import { stratifiedSplit } from "../../mod.ts";
import { holdOut, openDataset } from "../../tasks/_datasets.ts";
import { writeBusiFixture } from "./_busi.ts";

Deno.test("openDataset() and holdOut() keep a BUSI image filed as benign and as malignant on one side, over 20 seeds", async () => {
  const root = await Deno.makeTempDir();
  try {
    const twins = await writeBusiFixture(root, { perClass: 4, twin: true });
    let straddledWithoutGroups = 0;
    for (let seed = 0; seed < 20; seed++) {
      const opened = await openDataset({
        dataset: "busi",
        root,
        size: 16,
        count: 0,
        classes: 0,
        seed,
      });
      const ids = opened.dataset.records.map((r) => r.id);
      const [a, b] = twins.map((id) => ids.indexOf(id));
      assert.ok(a >= 0 && b >= 0);
      assert.equal(opened.groups?.[a], opened.groups?.[b], "the twins share a group");
      assert.equal(opened.train.includes(a), opened.train.includes(b), `seed ${seed}: train/test`);
      assert.equal(opened.train.length + opened.test.length, ids.length);
      // The validation split of the training part keeps them together too.
      const { train, val } = holdOut(opened, opened.train, 0.5, seed);
      assert.equal(train.includes(a), train.includes(b), `seed ${seed}: train/val`);
      assert.equal(val.includes(a), val.includes(b), `seed ${seed}: train/val`);
      // What the groups prevent: the same split without them parts the twins now and then.
      const plain = stratifiedSplit(opened.dataset.records.map((r) => r.label), {
        train: 0.8,
        val: 0,
        test: 0.2,
        seed,
      });
      if (plain.train.includes(a) !== plain.train.includes(b)) straddledWithoutGroups++;
    }
    assert.ok(straddledWithoutGroups > 0, "without groups some seed splits the twins");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
