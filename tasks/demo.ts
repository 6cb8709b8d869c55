/**
 * `deno task demo`: trains the reference two-branch network on generated
 * shapes with mask supervision, prints progress, and writes its saliency
 * maps and results under `runs/demo/`.
 *
 * @module
 */
import {
  collectRunInfo,
  createReferenceNet,
  createTrainStep,
  generateShapes,
  initBackend,
  ProgressBar,
  Random,
  tf,
  writeJsonAtomic,
  writePng,
} from "../mod.ts";
import { backendFlag, numberFlag, parseFlags, runMain } from "./_cli.ts";

const SUMMARY =
  "Train the reference two-branch network (classifier + saliency branch) on generated shapes,\n" +
  "supervising the saliency branch with the shapes' masks, then write its maps to --out.";

const FLAGS = {
  steps: { type: "string", default: "150", help: "training steps" },
  batch: { type: "string", default: "16", help: "batch size" },
  size: { type: "string", default: "48", help: "image size in pixels (a multiple of 4)" },
  width: { type: "string", default: "0.5", help: "width multiplier of the network" },
  train: { type: "string", default: "480", help: "training images" },
  test: { type: "string", default: "96", help: "test images" },
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
    size: numberFlag(flags, "size", { integer: true, min: 8 }),
    width: numberFlag(flags, "width", { min: 0.01 }),
    train: numberFlag(flags, "train", { integer: true, min: 1 }),
    test: numberFlag(flags, "test", { integer: true, min: 1 }),
    lr: numberFlag(flags, "lr", { min: 0 }),
    maskWeight: numberFlag(flags, "mask-weight", { min: 0 }),
    out: String(flags.out),
  };
  const engine = await initBackend({ backend: config.backend, threads: config.threads });
  await Deno.mkdir(config.out, { recursive: true });
  const run = await collectRunInfo("demo", config, config.seed);

  const train = generateShapes(config.train, { size: config.size, seed: config.seed });
  const test = generateShapes(config.test, { size: config.size, seed: config.seed + 1 });
  const model = createReferenceNet({
    numClasses: train.classNames.length,
    inputSize: config.size,
    width: config.width,
    seed: config.seed,
  });
  console.error(
    `model: reference_net, ${model.countParams().toLocaleString("en")} parameters; ` +
      `data: ${config.train} training and ${config.test} test images of ${config.size}×${config.size}`,
  );
  const step = createTrainStep(model, tf.train.adam(config.lr), { maskWeight: config.maskWeight });
  const rng = new Random(config.seed);
  let order: number[] = [];
  const history: { step: number; loss: number; ce: number; mask: number }[] = [];
  const bar = new ProgressBar(config.steps, { label: "train" });
  const started = performance.now();
  for (let s = 1; s <= config.steps; s++) {
    if (order.length < config.batch) {
      order = order.concat(rng.shuffle(Array.from({ length: config.train }, (_, i) => i)));
    }
    const ids = tf.tensor1d(order.splice(0, config.batch), "int32");
    const batch = tf.tidy(() => ({
      images: tf.gather(train.images, ids),
      labels: tf.gather(train.labels, ids),
      masks: tf.gather(train.masks, ids),
    }));
    const losses = step(batch);
    tf.dispose([ids, batch.images, batch.labels, batch.masks]);
    history.push({ step: s, ...losses });
    bar.tick(
      1,
      `loss ${losses.loss.toFixed(3)} (ce ${losses.ce.toFixed(3)}, mask ${losses.mask.toFixed(3)})`,
    );
  }
  bar.done();
  const trainSeconds = (performance.now() - started) / 1000;

  const evaluation = tf.tidy(() => {
    const out = model.forward(test.images);
    const correct = tf.equal(tf.argMax(out.logits, 1), test.labels);
    const accuracy = tf.mean(tf.cast(correct, "float32"));
    // Share of the saliency map's mass that lies on the object (energy-based pointing).
    const onObject = tf.div(
      tf.sum(tf.mul(out.saliency, test.masks), [1, 2]),
      tf.add(tf.sum(out.saliency, [1, 2]), 1e-8),
    );
    return {
      accuracy: accuracy.dataSync()[0],
      saliencyOnObject: tf.mean(onObject).dataSync()[0],
      objectArea: tf.mean(test.masks).dataSync()[0],
    };
  });

  const shown = Math.min(8, config.test);
  const grid = tf.tidy(() => {
    const images = test.images.slice(0, shown);
    const masks = tf.expandDims(test.masks.slice(0, shown), 3);
    const maps = tf.expandDims(model.forward(images).saliency, 3);
    const grey = (m: tf.Tensor) => tf.tile(m, [1, 1, 1, 3]);
    const red = tf.reshape(tf.tensor1d([1, 0.1, 0]), [1, 1, 1, 3]);
    const overlay = tf.add(
      tf.mul(images, tf.sub(1, tf.mul(maps, 0.7))),
      tf.mul(red, tf.mul(maps, 0.7)),
    );
    // Columns: image | ground-truth mask | saliency branch | overlay; one row per image.
    const rows = tf.concat([images, grey(masks), grey(maps), overlay], 2);
    const framed = tf.pad(rows, [[0, 0], [1, 1], [1, 1], [0, 0]], 1);
    const [, h, w, c] = framed.shape;
    const sheet = tf.reshape(framed, [1, shown * h, w, c]) as tf.Tensor4D;
    // Enlarge with nearest-neighbour sampling, so pixels stay sharp.
    const scale = Math.max(1, Math.round(160 / config.size));
    return tf.squeeze(
      tf.image.resizeNearestNeighbor(sheet, [shown * h * scale, w * scale]),
      [0],
    ) as tf.Tensor3D;
  });
  const gridPath = `${config.out}/saliency.png`;
  await writePng(gridPath, grid);
  grid.dispose();

  const results = {
    run,
    engine,
    parameters: model.countParams(),
    trainSeconds,
    secondsPerStep: trainSeconds / config.steps,
    history,
    test: evaluation,
    files: { saliency: "saliency.png" },
  };
  await writeJsonAtomic(`${config.out}/results.json`, results);
  console.log(
    `\ntest accuracy ${(100 * evaluation.accuracy).toFixed(1)}% ` +
      `(chance ${(100 / train.classNames.length).toFixed(1)}%); ` +
      `saliency mass on the object ${(100 * evaluation.saliencyOnObject).toFixed(1)}% ` +
      `(objects cover ${(100 * evaluation.objectArea).toFixed(1)}% of the image)\n` +
      `${(1000 * trainSeconds / config.steps).toFixed(0)} ms per step on ${engine}\n` +
      `wrote ${gridPath} (columns: image | mask | saliency branch | overlay) and ${config.out}/results.json`,
  );
  tf.dispose([train.images, train.labels, train.masks, test.images, test.labels, test.masks]);
  model.dispose();
}

if (import.meta.main) await runMain(main);
