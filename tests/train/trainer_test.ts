import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { DataError } from "../../lib/data/errors.ts";
import { augment } from "../../lib/data/transforms.ts";
import { syntheticDataset } from "../../datasets/synthetic.ts";
import { crossEntropyLoss } from "../../lib/losses/classification.ts";
import { createReferenceNet } from "../../lib/models/reference_net.ts";
import type { TwoBranchModel } from "../../lib/models/types.ts";
import { loadModel } from "../../lib/train/save_load.ts";
import { type EpochRecord, train, type TrainOptions } from "../../lib/train/trainer.ts";
import { defaultLoss, type LossFn, NonFiniteLossError } from "../../lib/train/train_step.ts";
import { assertClose, useEngines } from "../_helpers.ts";

await useEngines();

function net(seed: number, numClasses = 2) {
  return createReferenceNet({ numClasses, inputSize: 16, width: 0.25, seed });
}

function snapshot(model: TwoBranchModel): Map<string, Float32Array> {
  return new Map(
    [...model.variables()].map(([p, v]) => [p, Float32Array.from(v.dataSync())]),
  );
}

async function readLog(dir: string): Promise<Record<string, number | boolean>[]> {
  const text = await Deno.readTextFile(`${dir}/train_log.jsonl`);
  return text.trimEnd().split("\n").filter((l) => l).map((l) => JSON.parse(l));
}

async function readJsonFile(file: string) {
  return JSON.parse(await Deno.readTextFile(file));
}

/** A small run: 48 training samples in 6 batches of 8, 12 validation samples. */
const small = syntheticDataset({ size: 16, count: 60, numClasses: 2, seed: 4, clutter: false });
const smallTrain = Array.from({ length: 48 }, (_, i) => i);
const smallVal = Array.from({ length: 12 }, (_, i) => 48 + i);

function smallOptions(outDir: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    dataset: small,
    trainIndices: smallTrain,
    valIndices: smallVal,
    epochs: 3,
    batchSize: 8,
    seed: 11,
    optimizer: { name: "adam", lr: 3e-3, weightDecay: 0.01 },
    schedule: { schedule: "cosine", warmupSteps: 3 },
    transform: (sample, rng) => augment(sample, rng, { flipProbability: 0.5 }),
    outDir,
    progress: false,
    ...extra,
  };
}

Deno.test("train() raises validation accuracy and logs one line per epoch with every term", async () => {
  const dataset = syntheticDataset({
    size: 16,
    count: 240,
    numClasses: 2,
    seed: 1,
    clutter: false,
  });
  const { train: trainIndices, test: valIndices } = dataset.officialSplit;
  const model = net(1);
  const dir = await Deno.makeTempDir();
  const printed: string[] = [];
  const tensors: number[] = [];
  const result = await train(model, {
    dataset,
    trainIndices,
    valIndices,
    epochs: 6,
    batchSize: 16,
    seed: 1,
    optimizer: { lr: 3e-3 },
    outDir: dir,
    progress: { interactive: false, write: (t) => printed.push(t) },
    onEpoch: () => void tensors.push(tf.memory().numTensors),
  });
  const log = await readLog(dir);
  const perEpoch = Math.floor(trainIndices.length / 16);
  assert.equal(log.length, 6);
  log.forEach((line, i) => {
    assert.deepEqual(Object.keys(line), [
      "epoch",
      "step",
      "lr",
      "train_loss",
      "train_ce",
      "train_mask",
      "val_loss",
      "val_ce",
      "val_mask",
      "val_accuracy",
      "improved",
      "seconds",
    ]);
    assert.equal(line.epoch, i + 1);
    assert.equal(line.step, (i + 1) * perEpoch);
    assert.equal(line.lr, 3e-3);
  });
  const first = log[0], last = log[5];
  assert.ok((last.train_loss as number) < (first.train_loss as number), "training loss falls");
  assert.ok(
    (last.val_accuracy as number) >= (first.val_accuracy as number) + 0.1 &&
      (last.val_accuracy as number) >= 0.7,
    `val accuracy rose from ${first.val_accuracy} to ${last.val_accuracy}`,
  );
  assert.deepEqual(
    result.history.map((h) => h.metrics.val_accuracy),
    log.map((l) => l.val_accuracy),
  );
  // Memory: the same number of tensors after every epoch.
  assert.equal(new Set(tensors).size, 1, `tensors after each epoch: ${tensors}`);
  // The progress bar shows rate, ETA and every term; a summary line follows each epoch.
  const text = printed.join("");
  for (const part of ["it/s", "ETA", "loss", "ce", "mask", "lr 3.00e-3", "epoch 6/6:"]) {
    assert.ok(text.includes(part), `progress output shows "${part}"`);
  }
  // The run record, and the best checkpoint at the best epoch, loadable as a model.
  const run = await readJsonFile(`${dir}/run.json`);
  assert.equal(run.seed, 1);
  assert.deepEqual(run.config.model, model.config);
  const bestEpoch = result.best!.epoch;
  assert.equal((await readJsonFile(`${dir}/checkpoints/best/trainer.json`)).epoch, bestEpoch);
  assert.equal((await readJsonFile(`${dir}/checkpoints/last/trainer.json`)).epoch, 6);
  const best = await loadModel(`${dir}/checkpoints/best`);
  best.dispose();
  model.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a run killed mid-epoch and resumed reaches the weights of an uninterrupted run", async () => {
  const root = await Deno.makeTempDir();
  const tensorsAtStart = tf.memory().numTensors;
  // Uninterrupted: 3 epochs of 6 steps.
  const whole = net(5);
  await train(whole, smallOptions(`${root}/whole`));

  // Killed at step 9, in the middle of epoch 2.
  const killed = net(5);
  const dying: LossFn = (model, batch, context) => {
    if (context.training && context.step === 9) throw new Error("killed");
    return defaultLoss()(model, batch, context);
  };
  await assert.rejects(train(killed, smallOptions(`${root}/resumed`, { loss: dying })), /killed/);
  killed.dispose();
  const state = await readJsonFile(`${root}/resumed/checkpoints/last/trainer.json`);
  assert.equal(state.epoch, 1);
  assert.equal(state.step, 6);
  // As if the process died between the two renames of a checkpoint write.
  await Deno.rename(`${root}/resumed/checkpoints/last`, `${root}/resumed/checkpoints/last.old`);

  // A new process: a freshly made model of the same config, resumed.
  const resumed = net(5);
  const result = await train(resumed, smallOptions(`${root}/resumed`, { resume: true }));
  assert.equal(result.resumedFrom, 1);
  assert.equal(result.epochs, 3);
  assert.equal(result.steps, 18);
  const a = snapshot(whole), b = snapshot(resumed);
  for (const [path, values] of a) {
    assertClose(b.get(path)!, values, { rtol: 1e-5, atol: 1e-6, label: path });
  }
  const strip = (log: Record<string, unknown>[]) => log.map(({ seconds: _, ...rest }) => rest);
  assert.deepEqual(strip(await readLog(`${root}/resumed`)), strip(await readLog(`${root}/whole`)));
  whole.dispose();
  resumed.dispose();
  assert.equal(
    tf.memory().numTensors,
    tensorsAtStart,
    "no tensor outlives the runs, killed or not",
  );
  await Deno.remove(root, { recursive: true });
});

Deno.test("a run stopped after an epoch and resumed matches, with Adam's moments restored", async () => {
  const root = await Deno.makeTempDir();
  const whole = net(6);
  await train(whole, smallOptions(`${root}/whole`, { optimizer: { lr: 3e-3 } }));
  const first = net(6);
  const stop = (record: EpochRecord) => {
    if (record.epoch === 2) throw new Error("stopped by the test");
  };
  await assert.rejects(
    train(first, smallOptions(`${root}/resumed`, { optimizer: { lr: 3e-3 }, onEpoch: stop })),
    /stopped by the test/,
  );
  first.dispose();
  const resumed = net(6);
  await train(resumed, smallOptions(`${root}/resumed`, { optimizer: { lr: 3e-3 }, resume: true }));
  const a = snapshot(whole), b = snapshot(resumed);
  for (const [path, values] of a) {
    assertClose(b.get(path)!, values, { rtol: 1e-5, atol: 1e-6, label: path });
  }
  // The optimiser's state is in the checkpoint: an Adam moment per trained variable, by path.
  const opt = await readJsonFile(`${root}/resumed/checkpoints/last/optimizer.json`);
  const paths = opt.state.entries.map((e: { path: string }) => e.path);
  assert.ok(
    paths.includes("reference_net/fc/kernel#m") && paths.includes("reference_net/fc/kernel#v"),
  );
  assert.equal(opt.steps["reference_net/fc/kernel"], 18);
  whole.dispose();
  resumed.dispose();
  await Deno.remove(root, { recursive: true });
});

Deno.test("a NaN loss term stops training naming the step and term, keeping the last good checkpoint", async () => {
  const dir = await Deno.makeTempDir();
  const tensorsAtStart = tf.memory().numTensors;
  const model = net(7);
  let afterEpoch1 = new Map<string, Float32Array>();
  const poisoned: LossFn = (m, batch, context) => {
    const r = defaultLoss()(m, batch, context);
    const bad = tf.scalar(context.training && context.step === 9 ? NaN : 0);
    return { ...r, total: tf.add(r.total, bad) as tf.Scalar, terms: { ...r.terms, bad } };
  };
  const error = await train(
    model,
    smallOptions(dir, {
      loss: poisoned,
      onEpoch: (r) => {
        if (r.epoch === 1) afterEpoch1 = snapshot(model);
      },
    }),
  ).then(() => assert.fail("training should have stopped"), (e: unknown) => e);
  assert.ok(error instanceof NonFiniteLossError);
  assert.equal(error.step, 9);
  assert.equal(error.epoch, 2);
  assert.equal(error.term, "bad");
  assert.match(error.message, /step 9 \(epoch 2\): loss term "bad" is NaN/);
  assert.match(error.message, /after epoch 1, is kept in .*checkpoints\/last/);
  // The checkpoint still holds epoch 1, and loads as a model with epoch 1's weights.
  assert.equal((await readJsonFile(`${dir}/checkpoints/last/trainer.json`)).epoch, 1);
  const kept = await loadModel(`${dir}/checkpoints/last`);
  for (const [path, values] of afterEpoch1) {
    assertClose(kept.variables().get(path)!.dataSync(), values, { rtol: 0, atol: 0, label: path });
  }
  assert.equal((await readLog(dir)).length, 1);
  kept.dispose();
  model.dispose();
  assert.equal(tf.memory().numTensors, tensorsAtStart, "the stopped run leaves no tensors");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a finite loss with a NaN gradient stops training naming the variable", async () => {
  const model = net(7);
  const bias = model.variables().get("reference_net/fc/bias")!;
  // sqrt(Σ 0·b) is 0, but its gradient is ∞·0 = NaN.
  const root: LossFn = (m, batch, context) => {
    const r = defaultLoss()(m, batch, context);
    const bad = tf.sqrt(tf.sum(tf.mul(bias, 0))) as tf.Scalar;
    return { ...r, total: tf.add(r.total, bad) as tf.Scalar, terms: { ...r.terms, root: bad } };
  };
  const before = snapshot(model);
  await assert.rejects(
    train(model, { ...smallOptions(""), outDir: undefined, loss: root }),
    (e: unknown) =>
      e instanceof NonFiniteLossError && e.step === 1 &&
      e.term === 'gradient of "reference_net/fc/bias"' &&
      /gradient of "reference_net\/fc\/bias" is NaN; no update was applied/.test(e.message),
  );
  // No update was applied (running statistics aside, which the forward pass updates).
  for (const [path, values] of before) {
    if (path.includes("moving_")) continue;
    assertClose(model.variables().get(path)!.dataSync(), values, { rtol: 0, atol: 0, label: path });
  }
  model.dispose();
});

Deno.test("a NaN validation metric stops training before that epoch's checkpoint", async () => {
  const dir = await Deno.makeTempDir();
  const model = net(7);
  const badInValidation: LossFn = (m, batch, context) => {
    const r = defaultLoss()(m, batch, context);
    const bad = tf.scalar(!context.training && context.epoch === 2 ? NaN : 0);
    return { ...r, terms: { ...r.terms, bad } };
  };
  await assert.rejects(
    train(model, smallOptions(dir, { loss: badInValidation })),
    (e: unknown) =>
      e instanceof NonFiniteLossError && e.term === "val_bad" && e.epoch === 2 && e.step === 12 &&
      /validation metric "val_bad" is NaN; the epoch's checkpoint was not written/.test(e.message),
  );
  assert.equal((await readJsonFile(`${dir}/checkpoints/last/trainer.json`)).epoch, 1);
  model.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("early stopping ends the run after `patience` validations without improvement", async () => {
  const dir = await Deno.makeTempDir();
  const model = net(8);
  // No learning and no running-statistic updates: every validation scores the same.
  const frozenStats: LossFn = (m, batch, context) => {
    const out = m.forward(batch.images, { training: context.training, updateStats: false });
    const ce = crossEntropyLoss(out.logits, batch.labels);
    return { total: ce, terms: { ce }, logits: out.logits };
  };
  const options = smallOptions(dir, {
    epochs: 10,
    patience: 2,
    metric: "val_accuracy",
    optimizer: { name: "sgd", lr: 0 },
    loss: frozenStats,
  });
  const result = await train(model, options);
  assert.equal(result.stoppedEarly, true);
  assert.equal(result.epochs, 3);
  assert.deepEqual(result.history.map((h) => h.improved), [true, false, false]);
  assert.deepEqual(result.best, {
    metric: "val_accuracy",
    epoch: 1,
    value: result.history[0].metrics.val_accuracy,
  });
  assert.equal((await readLog(dir)).length, 3);
  // Resuming a run that stopped early does not train further.
  const again = await train(model, { ...options, resume: true });
  assert.equal(again.epochs, 3);
  assert.equal(again.history.length, 0);
  assert.equal(again.stoppedEarly, true);
  model.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train() refuses a used outDir, and a resume with another seed, model or a bad file", async () => {
  const dir = await Deno.makeTempDir();
  const model = net(9);
  await train(model, smallOptions(dir, { epochs: 1 }));
  await assert.rejects(
    train(model, smallOptions(dir, { epochs: 1 })),
    /already holds one .*pass resume: true to continue it, overwrite: true/,
  );
  await assert.rejects(
    train(model, smallOptions(dir, { epochs: 2, seed: 12, resume: true })),
    (e: unknown) =>
      e instanceof DataError && e.file === `${dir}/checkpoints/last/trainer.json` &&
      e.field === "seed" && /made with seed 11, this run has 12/.test(e.message),
  );
  let other = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.25 });
  await assert.rejects(
    train(other, smallOptions(dir, { epochs: 2, resume: true })),
    (e: unknown) =>
      e instanceof DataError && e.field === "config.numClasses" &&
      /the checkpoint's model has numClasses 2, the model to resume has 3/.test(e.message),
  );
  other.dispose();
  // A truncated optimizer state: the error names the file, and the model is left untouched.
  const bin = `${dir}/checkpoints/last/optimizer.bin`;
  const bytes = await Deno.readFile(bin);
  await Deno.writeFile(bin, bytes.slice(0, 64));
  other = net(9);
  const before = snapshot(other);
  await assert.rejects(
    train(other, smallOptions(dir, { epochs: 2, resume: true })),
    (e: unknown) =>
      e instanceof DataError && e.file === bin && /truncated: 64 bytes/.test(e.message),
  );
  for (const [path, values] of before) {
    assertClose(other.variables().get(path)!.dataSync(), values, { rtol: 0, atol: 0, label: path });
  }
  other.dispose();
  const fresh = await train(model, smallOptions(dir, { epochs: 1, overwrite: true }));
  assert.equal(fresh.resumedFrom, null);
  assert.equal((await readLog(dir)).length, 1);
  model.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train() names the bad option", async () => {
  const model = net(1);
  const base = smallOptions("");
  delete base.outDir;
  await assert.rejects(
    train(model, { ...base, patience: 2, valIndices: [] }),
    /"patience" needs validation/,
  );
  await assert.rejects(train(model, { ...base, resume: true }), /"resume" needs "outDir"/);
  await assert.rejects(train(model, { ...base, batchSize: 64 }), /make no full batch of 64/);
  await assert.rejects(train(model, { ...base, epochs: 0 }), /Option "epochs"/);
  await assert.rejects(
    train(model, { ...base, schedule: { schedule: "step" } }),
    /Option "stepSize"/,
  );
  await assert.rejects(
    train(model, {
      ...base,
      loss: (m, b, c) => {
        const r = defaultLoss()(m, b, c);
        return { ...r, terms: { loss: r.total } };
      },
    }),
    /may not be named "loss"/,
  );
  model.dispose();
});

Deno.test("train() with steps stops mid-epoch, and onStep sees each step's ids in the order epochRandom draws", async () => {
  const { Random } = await import("../../lib/util/random.ts");
  const { batches } = await import("../../lib/data/batches.ts");
  const seen: { epoch: number; step: number; ids: string[]; loss: number }[] = [];
  const model = net(2);
  const epochRandom = (epoch: number) => new Random(100 + epoch);
  const result = await train(model, {
    ...smallOptions("", { outDir: undefined }),
    epochs: undefined,
    steps: 8, // One epoch of 6 steps and 2 of the next.
    epochRandom,
    onStep: (r) =>
      void seen.push({ epoch: r.epoch, step: r.step, ids: r.ids, loss: r.losses.loss }),
  });
  model.dispose();
  assert.equal(result.steps, 8);
  assert.equal(result.epochs, 2);
  assert.deepEqual(result.history.map((h) => h.step), [6, 8]);
  assert.deepEqual(seen.map((s) => s.step), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(seen.map((s) => s.epoch), [1, 1, 1, 1, 1, 1, 2, 2]);
  assert.ok(seen.every((s) => Number.isFinite(s.loss)));
  // The batches are those of batches() with epochRandom's stream for each epoch.
  const expected: string[][] = [];
  for (const epoch of [1, 2]) {
    const stream = batches(small, smallTrain, {
      batchSize: 8,
      shuffle: true,
      rng: epochRandom(epoch),
      dropLast: true,
    });
    for await (const b of stream) {
      expected.push(b.ids);
      tf.dispose([b.images, b.labels, b.masks, b.hasMask]);
    }
  }
  assert.deepEqual(seen.map((s) => s.ids), expected.slice(0, 8));
  assert.notDeepEqual(expected[0], expected[6], "each epoch has its own order");
});
