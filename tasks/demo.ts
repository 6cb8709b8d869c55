/**
 * `deno task demo`: trains the reference two-branch network on the built-in
 * synthetic set with mask supervision, prints progress, and writes its
 * saliency maps and results under `runs/demo/`.
 *
 * @module
 */
import {
  augment,
  batches,
  collectRunInfo,
  createReferenceNet,
  createTrainStep,
  evaluate,
  explain,
  initBackend,
  ProgressBar,
  Random,
  saliencyGrid,
  syntheticDataset,
  tf,
  writeJsonAtomic,
  writeReport,
} from "../mod.ts";
import type { ExplainerName, GridRow } from "../mod.ts";
import { galleryPictures } from "./_gallery.ts";
import { backendFlag, numberFlag, parseFlags, runMain } from "./_cli.ts";

const SUMMARY =
  "Train the reference two-branch network (classifier + saliency branch) on the built-in synthetic\n" +
  "set, supervising the saliency branch with its masks, then write its maps to --out.";

const FLAGS = {
  steps: { type: "string", default: "600", help: "training steps" },
  batch: { type: "string", default: "16", help: "batch size" },
  size: { type: "string", default: "48", help: "image size in pixels (a multiple of 4)" },
  width: { type: "string", default: "0.5", help: "width multiplier of the network" },
  count: {
    type: "string",
    default: "1200",
    help: "images in the synthetic set (80% train, 20% test)",
  },
  classes: { type: "string", default: "4", help: "classes in the synthetic set (2 to 6)" },
  lr: { type: "string", default: "0.003", help: "Adam learning rate" },
  "mask-weight": {
    type: "string",
    default: "1",
    help: "weight of the mask loss (0: no supervision)",
  },
  out: { type: "string", default: "runs/demo", help: "output folder" },
} as const;

async function main(): Promise<void> {
  const flags = parseFlags("demo", SUMMARY, FLAGS, Deno.args);
  const config = {
    backend: backendFlag(flags),
    threads: numberFlag(flags, "threads", { integer: true, min: 1 }),
    seed: numberFlag(flags, "seed", { integer: true }),
    steps: numberFlag(flags, "steps", { integer: true, min: 1 }),
    batch: numberFlag(flags, "batch", { integer: true, min: 1 }),
    size: numberFlag(flags, "size", { integer: true, min: 16 }),
    width: numberFlag(flags, "width", { min: 0.01 }),
    count: numberFlag(flags, "count", { integer: true, min: 10 }),
    classes: numberFlag(flags, "classes", { integer: true, min: 2, max: 6 }),
    lr: numberFlag(flags, "lr", { min: 0 }),
    maskWeight: numberFlag(flags, "mask-weight", { min: 0 }),
    out: String(flags.out),
  };
  const engine = await initBackend({ backend: config.backend, threads: config.threads });
  await Deno.mkdir(config.out, { recursive: true });
  const run = await collectRunInfo("demo", config, config.seed);

  const data = syntheticDataset({
    size: config.size,
    numClasses: config.classes,
    count: config.count,
    seed: config.seed,
  });
  const { train: trainIdx, test: testIdx } = data.officialSplit;
  const model = createReferenceNet({
    numClasses: data.classNames.length,
    inputSize: config.size,
    width: config.width,
    seed: config.seed,
  });
  console.error(
    `model: reference_net, ${model.countParams().toLocaleString("en")} parameters; data: ` +
      `synthetic (${data.classNames.join(", ")}), ${trainIdx.length} training and ` +
      `${testIdx.length} test images of ${config.size}×${config.size}`,
  );
  const step = createTrainStep(model, tf.train.adam(config.lr), { maskWeight: config.maskWeight });
  const history: { step: number; loss: number; ce: number; mask: number }[] = [];
  const bar = new ProgressBar(config.steps, { label: "train" });
  const started = performance.now();
  for (let epoch = 0; history.length < config.steps; epoch++) {
    const epochBatches = batches(data, trainIdx, {
      batchSize: config.batch,
      shuffle: true,
      seed: config.seed + epoch,
      dropLast: true,
      transform: (sample, rng) => augment(sample, rng, { flipProbability: 0.5 }),
    });
    for await (const batch of epochBatches) {
      if (history.length >= config.steps) {
        tf.dispose([batch.images, batch.labels, batch.masks, batch.hasMask]);
        break;
      }
      const losses = step(batch);
      tf.dispose([batch.images, batch.labels, batch.masks, batch.hasMask]);
      history.push({ step: history.length + 1, ...losses });
      bar.tick(
        1,
        `epoch ${epoch + 1}  loss ${losses.loss.toFixed(3)} (ce ${losses.ce.toFixed(3)}, mask ${
          losses.mask.toFixed(3)
        })`,
      );
    }
  }
  bar.done();
  const trainSeconds = (performance.now() - started) / 1000;

  // Every metric of the trained model on the test split, for the classifier and three explainers.
  const explainers: ExplainerName[] = ["grad-cam", "vanilla-gradient", "branch"];
  const evaluation = await evaluate(model, data, {
    indices: testIdx,
    explainers,
    batchSize: 32,
    faithfulnessSteps: 8,
    seed: config.seed,
  });

  // The gallery: best and worst test images by the branch map's share of energy on the object,
  // and a few at random; each with the image, its mask and every explainer's overlay.
  const byEnergy = evaluation.perImage
    .filter((r) => r.scores.branch.energyPointingGame !== null)
    .sort((x, y) => y.scores.branch.energyPointingGame! - x.scores.branch.energyPointingGame!);
  const rng = new Random(config.seed);
  const sections = [
    { title: "Best (branch map most on the object)", records: byEnergy.slice(0, 4) },
    { title: "Worst", records: byEnergy.slice(-4).reverse() },
    { title: "Random", records: rng.shuffle([...evaluation.perImage]).slice(0, 4) },
  ];
  const images: Record<string, Uint8Array> = {};
  const gridRows: GridRow[] = [];
  const gallery = [];
  for (const section of sections) {
    const items = [];
    for (const record of section.records) {
      const sample = await data.load(record.index);
      const x = tf.tensor4d(sample.image.data, [1, config.size, config.size, 3]);
      const maps: Record<string, Float32Array> = {};
      for (const method of explainers) {
        const m = explain(model, x, { method });
        maps[method] = m.dataSync() as Float32Array;
        m.dispose();
      }
      x.dispose();
      if (gridRows.length < 8) gridRows.push({ image: sample.image, mask: sample.mask, maps });
      const pictures = await galleryPictures(sample, maps, images);
      items.push({
        id: record.id,
        label: data.classNames[record.label],
        predicted: data.classNames[record.predicted],
        confidence: record.confidence,
        images: pictures,
        scores: record.scores,
      });
    }
    gallery.push({ title: section.title, items });
  }

  const gridPath = `${config.out}/saliency.png`;
  await saliencyGrid(gridRows, { columns: explainers, path: gridPath });

  // One epoch record per pass over the training split: means of each loss term.
  const epochs = new Map<number, { loss: number[]; ce: number[]; mask: number[] }>();
  const perEpoch = Math.floor(trainIdx.length / config.batch);
  for (const h of history) {
    const e = Math.floor((h.step - 1) / perEpoch) + 1;
    const acc = epochs.get(e) ?? { loss: [], ce: [], mask: [] };
    acc.loss.push(h.loss);
    acc.ce.push(h.ce);
    acc.mask.push(h.mask);
    epochs.set(e, acc);
  }
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const pick = [
    "pointingGame",
    "energyPointingGame",
    "maskAuc",
    "bestIou",
    "deletionAuc",
    "insertionAuc",
  ];
  const results = {
    title: "saliency-lab demo: reference two-branch network on the synthetic set",
    subtitle:
      `${trainIdx.length} training and ${testIdx.length} test images, ${config.steps} steps on ${engine}`,
    run,
    engine,
    parameters: model.countParams(),
    trainSeconds,
    secondsPerStep: trainSeconds / config.steps,
    trainLog: [...epochs].map(([epoch, v]) => ({
      epoch,
      metrics: { train_loss: mean(v.loss), train_ce: mean(v.ce), train_mask: mean(v.mask) },
    })),
    comparisons: [{
      title: "Explainers on the test split",
      groups: explainers.map((name) => ({
        name,
        metrics: Object.fromEntries(pick.map((m) => [m, evaluation.explainers[name].metrics[m]])),
      })),
    }],
    classification: { classNames: data.classNames, ...evaluation.classification },
    gallery,
    evaluation,
    history,
  };
  await writeJsonAtomic(`${config.out}/results.json`, results);
  await writeReport(`${config.out}/report.html`, results, { images });
  const onObject = evaluation.explainers.branch.metrics.energyPointingGame;
  const objectArea = mean(
    await Promise.all(
      testIdx.map(async (i) => mean(Array.from((await data.load(i)).mask!))),
    ),
  );
  console.log(
    `\ntest accuracy ${(100 * evaluation.classification.accuracy.mean).toFixed(1)}% ` +
      `(chance ${(100 / data.classNames.length).toFixed(1)}%); ` +
      `saliency mass on the object ${(100 * onObject.mean).toFixed(1)}% ` +
      `[${(100 * onObject.ci[0]).toFixed(1)}, ${(100 * onObject.ci[1]).toFixed(1)}] ` +
      `(objects cover ${(100 * objectArea).toFixed(1)}% of the image)\n` +
      `${(1000 * trainSeconds / config.steps).toFixed(0)} ms per step on ${engine}\n` +
      `wrote ${gridPath} (image | ground truth | ${explainers.join(" | ")}), ` +
      `${config.out}/report.html and ${config.out}/results.json`,
  );
  model.dispose();
}

if (import.meta.main) await runMain(main);
