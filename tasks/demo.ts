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
  initBackend,
  ProgressBar,
  syntheticDataset,
  syntheticTensors,
  tf,
  writeJsonAtomic,
  writePng,
} from "../mod.ts";
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

  let correct = 0, onObject = 0, objectArea = 0;
  for await (const batch of batches(data, testIdx, { batchSize: 64 })) {
    const scores = tf.tidy(() => {
      const out = model.forward(batch.images);
      const hits = tf.sum(tf.cast(tf.equal(tf.argMax(out.logits, 1), batch.labels), "float32"));
      // Share of each saliency map's mass that lies on the object (energy-based pointing).
      const mass = tf.sum(
        tf.div(
          tf.sum(tf.mul(out.saliency, batch.masks), [1, 2]),
          tf.add(tf.sum(out.saliency, [1, 2]), 1e-8),
        ),
      );
      return tf.stack([hits, mass, tf.sum(tf.mean(batch.masks, [1, 2]))]);
    });
    const [h, m, a] = scores.dataSync();
    correct += h;
    onObject += m;
    objectArea += a;
    tf.dispose([scores, batch.images, batch.labels, batch.masks, batch.hasMask]);
  }
  const evaluation = {
    samples: testIdx.length,
    accuracy: correct / testIdx.length,
    saliencyOnObject: onObject / testIdx.length,
    objectArea: objectArea / testIdx.length,
  };

  const shown = Math.min(8, testIdx.length);
  const gallery = syntheticTensors(data, testIdx.slice(0, shown));
  const grid = tf.tidy(() => {
    const images = gallery.images;
    const masks = tf.expandDims(gallery.masks, 3);
    const maps = tf.expandDims(model.forward(images).saliency, 3);
    const grey = (m: tf.Tensor) => tf.tile(m, [1, 1, 1, 3]);
    const red = tf.reshape(tf.tensor1d([1, 0.1, 0]), [1, 1, 1, 3]);
    const overlay = tf.add(
      tf.mul(images, tf.sub(1, tf.mul(maps, 0.7))),
      tf.mul(red, tf.mul(maps, 0.7)),
    );
    // Columns: image | ground-truth mask | saliency branch | overlay; one row per image,
    // each panel in a 1-px white frame.
    const frame = (t: tf.Tensor4D) => tf.pad(t, [[0, 0], [1, 1], [1, 1], [0, 0]], 1);
    const framed = tf.concat(
      [images, grey(masks), grey(maps), overlay].map((t) => frame(t as tf.Tensor4D)),
      2,
    );
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
  tf.dispose([grid, gallery.images, gallery.labels, gallery.masks]);

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
      `(chance ${(100 / data.classNames.length).toFixed(1)}%); ` +
      `saliency mass on the object ${(100 * evaluation.saliencyOnObject).toFixed(1)}% ` +
      `(objects cover ${(100 * evaluation.objectArea).toFixed(1)}% of the image)\n` +
      `${(1000 * trainSeconds / config.steps).toFixed(0)} ms per step on ${engine}\n` +
      `wrote ${gridPath} (columns: image | mask | saliency branch | overlay) and ${config.out}/results.json`,
  );
  model.dispose();
}

if (import.meta.main) await runMain(main);
