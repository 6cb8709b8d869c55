// sweep with vision transformers: the default grid gains one vit_small_patch16_224 configuration
// when --pretrained is given, and that cell trains at 32 px from the file.
import assert from "node:assert/strict";
import { createTwoBranchModel, pretrainedKeyMap, SWEEP_VIT } from "../../mod.ts";
import { writeSafetensors } from "../../lib/io/safetensors.ts";
import { Random } from "../../lib/util/random.ts";
import { runTask, TINY_SWEEP } from "./_run.ts";

const runSweep = (args: string[]) => runTask("tasks/sweep.ts", args);

/** sweep's tiny preset with the default backbones, at 32 px, width 0.125 and one seed. */
const TINY_DEFAULT_GRID: readonly string[] = [
  ...TINY_SWEEP.filter((flag) => !/^--(backbones|seeds|size|width)=/.test(flag)),
  "--size=32",
  "--width=0.125",
  "--seeds=0",
];

/**
 * A state dict with timm's names for vit_small_patch16_224 at width 0.125, seeded values, its
 * position embeddings made for 224 px and a 1000-class head (which does not fit 2 classes).
 */
async function writeVitSmall(path: string): Promise<void> {
  const model = createTwoBranchModel({
    backbone: SWEEP_VIT,
    backboneOptions: { width: 0.125 },
    numClasses: 1000,
    inputSize: 32,
  });
  const rng = new Random(7);
  const tensors = new Map(
    [...pretrainedKeyMap(model, "timm").entries].map(([key, entry]) => {
      const size = entry.sourceShape.reduce((a, b) => a * b, 1);
      return [key, { shape: entry.sourceShape, data: rng.normalArray(size, 0, 0.02) }];
    }),
  );
  model.dispose();
  await writeSafetensors(path, tensors);
}

Deno.test("sweep: with --pretrained the default grid adds one vit_small_patch16_224 cell from it, the others from scratch", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const weights = `${dir}/vit_small.safetensors`;
    await writeVitSmall(weights);
    const out = `${dir}/sweep`;
    const r = await runSweep([...TINY_DEFAULT_GRID, `--pretrained=${weights}`, `--out=${out}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ran 3 cell\(s\)/);
    const results = JSON.parse(await Deno.readTextFile(`${out}/results.json`));
    assert.deepEqual(results.config.backbones, ["reference", "plain_cnn"]);
    assert.deepEqual(results.config.extra, [
      { backbone: SWEEP_VIT, head: "cam", loss: "bce", weight: 1, pretrained: weights },
    ]);
    const vitId = `${SWEEP_VIT}-cam-bce-w1-s0`;
    const sources: Record<string, string> = {};
    for (const id of ["reference-reference-bce-w1-s0", "plain_cnn-cam-bce-w1-s0", vitId]) {
      sources[id] = JSON.parse(await Deno.readTextFile(`${out}/cells/${id}.json`)).pretrained;
    }
    assert.deepEqual(sources, {
      "reference-reference-bce-w1-s0": "",
      "plain_cnn-cam-bce-w1-s0": "",
      [vitId]: weights,
    });
    const vit = JSON.parse(await Deno.readTextFile(`${out}/cells/${vitId}/results.json`));
    assert.equal(vit.config.backbone, SWEEP_VIT);
    assert.equal(vit.config.size, 32);
    assert.equal(vit.pretrained.source, weights);
    assert.ok(vit.pretrained.loaded > 100, `${vit.pretrained.loaded} tensors loaded`);
    assert.equal(vit.training.steps, 4, "32 training images in batches of 8");
    assert.ok(Number.isFinite(vit.training.history[0].metrics.train_loss), "the ViT cell trained");
    assert.ok(
      results.ranking.some((c: { config: string }) => c.config === `${SWEEP_VIT}-cam-bce-w1`),
      "the ViT configuration is ranked",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sweep: without --pretrained the default grid has no vision transformer", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // --seeds=0 --epochs=1 on the tiny grid; the listing of cells is all this checks.
    const r = await runSweep([...TINY_DEFAULT_GRID, "--slurm", "--dry-run", `--out=${dir}/s`]);
    const cells = [...Deno.readDirSync(`${dir}/s/cells`)].map((e) => e.name)
      .filter((name) => name.endsWith(".json")).sort();
    assert.deepEqual(cells, ["plain_cnn-cam-bce-w1-s0.json", "reference-reference-bce-w1-s0.json"]);
    assert.equal(r.code, 0, r.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
