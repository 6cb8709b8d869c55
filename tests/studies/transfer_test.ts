import assert from "node:assert/strict";
import { syntheticDataset } from "../../datasets/synthetic.ts";
import {
  createModelFromParts,
  type EvaluationResult,
  loadModel,
  runTransferArm,
  TRANSFER_ARMS,
  type TransferArmResult,
  transferPairedTests,
} from "../../mod.ts";
import { useEngines } from "../_helpers.ts";

await useEngines();

/** An arm whose branch and Grad-CAM energies on the object are `energies`. */
function arm(key: string, energies: (number | null)[]): TransferArmResult {
  const evaluation = {
    perImage: energies.map((e) => ({
      scores: { branch: { energyPointingGame: e }, "grad-cam": { energyPointingGame: e } },
    })),
  } as unknown as EvaluationResult;
  return { key, name: key, transferred: 0, trainSeconds: 0, evaluation };
}

Deno.test("transferPairedTests() reports (1) minus the other arm, found by key whatever the order", () => {
  const arms = [
    arm("none", [0.2, 0.1, 0.3, null]),
    arm("masks", [0.9, 0.8, 0.7, 0.6]),
    arm("labels-only", [0.5, 0.4, 0.3, 0.2]),
  ];
  const tests = transferPairedTests(arms, { seed: 0, resamples: 200 });
  assert.deepEqual(
    tests.map((t) => `${t.comparison} ${t.explainer}`),
    ["(1) vs (2) branch", "(1) vs (3) branch", "(1) vs (2) grad-cam", "(1) vs (3) grad-cam"],
  );
  const [vsTwo, vsThree] = tests;
  assert.ok(Math.abs(vsTwo.difference.estimate - 0.4) < 1e-12, "masks − labels-only");
  assert.equal(vsThree.n, 3, "the image without a score in (3) is left out");
  // (0.9 − 0.2 + 0.8 − 0.1 + 0.7 − 0.3) / 3
  assert.ok(Math.abs(vsThree.difference.estimate - 0.6) < 1e-12, "masks − none");
  assert.throws(
    () => transferPairedTests(arms.slice(1), { seed: 0, resamples: 200 }),
    /no arm "none"/,
  );
});

Deno.test("runTransferArm() saves the source model with the source's class names and moves its weights over", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const source = syntheticDataset({ count: 16, size: 16, numClasses: 3, seed: 1 });
    const target = syntheticDataset({ count: 12, size: 16, numClasses: 2, seed: 2 });
    const indices = (n: number) => Array.from({ length: n }, (_, i) => i);
    const result = await runTransferArm(
      TRANSFER_ARMS.find((a) => a.key === "labels-only")!,
      {
        source: { dataset: source, train: indices(16) },
        fineTune: target,
        fineTuneIndices: indices(8),
        annotated: false,
        test: { dataset: target, indices: [8, 9, 10, 11] },
      },
      {
        build: (numClasses) =>
          Promise.resolve(
            createModelFromParts({
              backbone: "plain_cnn",
              width: 0.125,
              numClasses,
              inputSize: 16,
            }),
          ),
        dir,
        seed: 0,
        sourceEpochs: 1,
        targetEpochs: 1,
        maskWeight: 1,
        batch: 8,
        microBatch: "auto",
        backboneLr: 1,
        lr: 0.003,
        resamples: 20,
      },
    );
    const saved = await loadModel(`${dir}/source-labels-only`);
    assert.deepEqual(saved.classNames, [...source.classNames]);
    saved.dispose();
    assert.ok(result.transferred > 0, "the backbone's weights moved over");
    assert.equal(result.evaluation.perImage.length, 4);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
