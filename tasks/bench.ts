/**
 * `deno task bench`: times the reference two-branch network on the active
 * engine (training step, forward pass, Grad-CAM at a middle and the last
 * stage, and the images per second of Grad-CAM, vanilla gradients, Score-CAM
 * and RISE through `explain()`) and, where Debian's PyTorch is installed, the
 * same network and the same computations in PyTorch on the same machine, with
 * the ratio of each figure.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import {
  backendInfo,
  BENCH_FIGURE_LABELS,
  type BenchFigures,
  collectRunInfo,
  convTable,
  createReferenceNet,
  createTrainStep,
  explainerRecord,
  explainerTable,
  figureTable,
  gradCam,
  initBackend,
  listBackbones,
  median,
  ProgressBar,
  Random,
  REFERENCE_BACKBONE,
  runTorchTwin,
  shutdownBackend,
  tf,
  writeJsonAtomic,
} from "../mod.ts";
import type { TwoBranchModel } from "../mod.ts";
import { numberFlag, parseFlags, runMain, UsageError } from "./_cli.ts";
import { engineFlags, TASK_PERMISSIONS } from "./_shared_flags.ts";
import type { BenchDataResult } from "./bench_data.ts";
import { benchBackbone } from "./bench_backbone.ts";
import { parseMicroBatch } from "./_model.ts";
import { benchConvs, referenceConvLayers } from "./bench_convs.ts";
import {
  benchExplainers,
  DEFAULT_EXPLAINER_BENCH,
  type ExplainerTiming,
} from "./bench_explainers.ts";

/** Images in the explainers' batch (fewer when --batch is smaller). */
const EXPLAINER_IMAGES = 8;

const SUMMARY =
  "Time the reference two-branch network: a training step (Adam) and a forward pass at --batch,\n" +
  "and Grad-CAM for one image at a middle stage and at the last stage. Medians after warm-up.\n" +
  "Then (--explainers on) the images per second of Grad-CAM, vanilla gradients, Score-CAM and\n" +
  `RISE, each with its default options, on a batch of min(${EXPLAINER_IMAGES}, --batch) images ` +
  "at --size,\nwith at most one warm-up run each (a RISE run is 1000 masked copies per image).\n" +
  "Where /usr/bin/python3 has torch, runs its PyTorch twin (tasks/bench_torch.py) beside it.";

const FLAGS = {
  batch: {
    type: "string",
    default: "32",
    help: "batch size of the training step and forward pass",
  },
  size: { type: "string", default: "64", help: "image size in pixels" },
  "faithfulness-images": {
    type: "string",
    default: "0",
    help: "with --backbone: also time evaluate()'s faithfulness curves on this many images and " +
      "project a CUB-sized test split (5,794 images, 256 with the curves)",
  },
  "micro-batch": {
    type: "string",
    default: "auto",
    help: "with --backbone: samples per micro-batch of the training step, or auto (planned)",
  },
  backbone: {
    type: "string",
    default: REFERENCE_BACKBONE,
    help: "reference (the small reference net), or a registered backbone such as resnet18: " +
      "then a two-branch model with the CAM head and 200 classes beside torchvision's same " +
      "architecture (use with --size 224)",
  },
  warmup: { type: "string", default: "2", help: "untimed runs before timing" },
  repeats: { type: "string", default: "5", help: "timed runs (the median is reported)" },
  torch: { type: "string", default: "auto", help: "run the PyTorch twin: auto, on, off" },
  explainers: {
    type: "string",
    default: "on",
    help: "also time the explainers (Grad-CAM, vanilla gradient, Score-CAM, RISE): on, off",
  },
  convs: {
    type: "string",
    default: "off",
    help: "also time the seven convolutions one by one in the forward pass's shapes " +
      "(median of 21 after 5 warm-up runs), beside PyTorch's F.conv2d: on, off",
  },
  python: { type: "string", default: "/usr/bin/python3", help: "the Python that has torch" },
  "torch-device": {
    type: "string",
    default: "cpu",
    help: "where the PyTorch twin runs: cpu (at our thread count and every core), or cuda " +
      "(one run on the GPU, to set beside --backend webgpu or tensorflow)",
  },
  out: { type: "string", default: "runs/bench", help: "output folder for results.json" },
  data: {
    type: "string",
    default: "0",
    help: "also stream this many generated 224×224 samples through the data pipeline " +
      "(decode, resize, batches) and report peak RSS; 12000 is CUB-sized",
  },
} as const;

/** Grad-CAM of the library for one image at stage `layer`, read back to JavaScript. */
async function gradCamOnce(
  model: TwoBranchModel,
  image: tf.Tensor4D,
  layer: number,
): Promise<void> {
  const map = gradCam(model, image, { layer });
  try {
    await map.data();
  } finally {
    map.dispose();
  }
}

async function main(): Promise<void> {
  const flags = parseFlags("bench", SUMMARY, FLAGS, Deno.args);
  const config = {
    ...engineFlags(flags),
    batch: numberFlag(flags, "batch", { integer: true, min: 1 }),
    size: numberFlag(flags, "size", { integer: true, min: 8 }),
    warmup: numberFlag(flags, "warmup", { integer: true, min: 0 }),
    repeats: numberFlag(flags, "repeats", { integer: true, min: 1 }),
    torch: String(flags.torch),
    explainers: String(flags.explainers),
    convs: String(flags.convs),
    python: String(flags.python),
    torchDevice: String(flags["torch-device"]),
    out: String(flags.out),
    data: numberFlag(flags, "data", { integer: true, min: 0 }),
    backbone: String(flags.backbone),
    microBatch: parseMicroBatch(flags),
    faithfulnessImages: numberFlag(flags, "faithfulness-images", { integer: true, min: 0 }),
  };
  if (!listBackbones().includes(config.backbone)) {
    throw new UsageError(
      `Flag --backbone must be one of ${listBackbones().join(", ")}; got "${config.backbone}"`,
    );
  }
  if (!["auto", "on", "off"].includes(config.torch)) {
    throw new UsageError(`Flag --torch must be one of auto, on, off; got "${config.torch}"`);
  }
  if (!["cpu", "cuda"].includes(config.torchDevice)) {
    throw new UsageError(
      `Flag --torch-device must be cpu or cuda; got "${config.torchDevice}"`,
    );
  }
  if (!["on", "off"].includes(config.convs)) {
    throw new UsageError(`Flag --convs must be on or off; got "${config.convs}"`);
  }
  if (config.convs === "on" && config.size % 4) {
    throw new UsageError(`Flag --convs needs a --size that is a multiple of 4; got ${config.size}`);
  }
  if (!["on", "off"].includes(config.explainers)) {
    throw new UsageError(`Flag --explainers must be on or off; got "${config.explainers}"`);
  }
  // The explainers' batch and warm-up: one RISE run is 1000 masked copies of
  // every image, so more than one warm-up run adds minutes and no accuracy.
  const explainerImages = config.explainers === "on" ? Math.min(EXPLAINER_IMAGES, config.batch) : 0;
  const explainerWarmup = Math.min(config.warmup, 1);
  const engine = await initBackend({ backend: config.backend, threads: config.threads });
  // The reference net has a PyTorch twin (bench_torch.py); other backbones are set beside torchvision.
  if (config.backbone !== REFERENCE_BACKBONE) {
    const result = await benchBackbone(config, (line) => console.log(line));
    const run = await collectRunInfo("bench", config, config.seed);
    await Deno.mkdir(config.out, { recursive: true });
    await writeJsonAtomic(`${config.out}/results.json`, { run, backbone: result });
    return;
  }
  const threads = engineThreads();
  const run = await collectRunInfo("bench", config, config.seed);
  const { batch, size } = config;
  const model = createReferenceNet({ numClasses: 10, inputSize: size, seed: config.seed });
  const rng = new Random(config.seed);
  const images = tf.tensor4d(rng.uniformArray(batch * size * size * 3), [batch, size, size, 3]);
  const labels = tf.tensor1d(Array.from({ length: batch }, () => rng.int(10)), "int32");
  const masks = tf.tensor3d(
    rng.uniformArray(batch * size * size).map((v) => (v > 0.5 ? 1 : 0)),
    [batch, size, size],
  );
  const one = tf.tidy(() => images.slice(0, 1));
  const step = createTrainStep(model, tf.train.adam(1e-3));

  let peakRss = Deno.memoryUsage().rss;
  const sample = () => {
    peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
  };
  // Every case ends with an asynchronous read of its results, which waits for
  // the engine to finish (a GPU queues work) and works on WebGPU under Deno.
  const cases: [keyof BenchFigures, () => Promise<void>][] = [
    ["train_step_ms", async () => void await step({ images, labels, masks })],
    ["forward_ms", async () => {
      const out = model.forward(images);
      try {
        await Promise.all([out.logits.data(), out.saliency.data()]);
      } finally {
        tf.dispose([out.logits, out.saliency, out.saliencyLogits]);
      }
    }],
    ["gradcam_middle_ms", () => gradCamOnce(model, one, 1)],
    ["gradcam_last_ms", () => gradCamOnce(model, one, model.featureInfo.length - 1)],
  ];
  const ours = {} as BenchFigures;
  const explainerRuns = explainerImages > 0
    ? DEFAULT_EXPLAINER_BENCH.length * (explainerWarmup + config.repeats)
    : 0;
  const bar = new ProgressBar(
    cases.length * (config.warmup + config.repeats) + explainerRuns,
    { label: engine },
  );
  for (const [key, fn] of cases) {
    const times: number[] = [];
    for (let i = 0; i < config.warmup + config.repeats; i++) {
      const t = performance.now();
      await fn();
      const ms = performance.now() - t;
      sample();
      if (i >= config.warmup) times.push(ms);
      bar.tick(1, BENCH_FIGURE_LABELS[key]);
    }
    ours[key] = median(times);
  }
  // The engine's own count of the most tensor bytes alive at once during a step.
  const peakBytes = (await tf.profile(async () => void await step({ images, labels, masks })))
    .peakBytes;
  sample();
  // The explainers come after the last RSS sample, so that peak RSS covers the
  // same work as PyTorch's figure (which it reads before its explainers).
  let explainerTimings: ExplainerTiming[] = [];
  if (explainerImages > 0) {
    const batchOf = tf.tidy(() => images.slice(0, explainerImages));
    try {
      explainerTimings = await benchExplainers(model, batchOf, {
        warmup: explainerWarmup,
        repeats: config.repeats,
        onProgress: (method, run, runs) => bar.tick(1, `${method} ${run}/${runs}`),
      });
    } finally {
      batchOf.dispose();
    }
  }
  bar.done();
  const convs = config.convs === "on" ? await benchConvs(referenceConvLayers(batch, size)) : null;
  tf.dispose([images, labels, masks, one]);
  model.dispose();
  // Idle wasm worker threads spin: stop them, or they take a core from the PyTorch twin.
  await shutdownBackend();

  const torchRuns = config.torch === "off"
    ? []
    : await runTorchTwin(fileURLToPath(new URL("./bench_torch.py", import.meta.url)), {
      python: config.python,
      torch: config.torch,
      device: config.torchDevice,
      // On the GPU one run; on the CPU at our thread count and at every core.
      threads: config.torchDevice === "cuda"
        ? [navigator.hardwareConcurrency]
        : [...new Set([threads, navigator.hardwareConcurrency])],
      flags: {
        batch: config.batch,
        size: config.size,
        warmup: config.warmup,
        repeats: config.repeats,
        seed: config.seed,
        explainers: explainerImages,
        "explainer-warmup": explainerWarmup,
        convs: config.convs === "on",
      },
    });
  const label = engine === "wasm" ? `${engine}, ${threads} thread(s)` : engine;
  console.log(figureTable(label, ours, torchRuns));
  console.log(
    `\npeak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB; peak tensor memory in a training step ${
      (peakBytes / 2 ** 20).toFixed(0)
    } MiB; ${
      model.countParams().toLocaleString("en")
    } parameters; batch ${batch}, ${size}×${size}×3`,
  );
  let explainers = null;
  if (explainerImages > 0) {
    console.log();
    console.log(explainerTable(label, explainerTimings, torchRuns));
    console.log(
      `explainers: a batch of ${explainerImages} image(s) at ${size}×${size}×3, each method's ` +
        `default options, median of ${config.repeats} after ${explainerWarmup} warm-up`,
    );
    explainers = explainerRecord(
      { images: explainerImages, size, warmup: explainerWarmup, repeats: config.repeats },
      explainerTimings,
      torchRuns,
    );
  }
  if (convs) {
    console.log();
    console.log(convTable(label, convs, torchRuns));
  }
  let data = null;
  if (config.data > 0) {
    // In a fresh process: wasm memory never shrinks, so after the training
    // figures this process's RSS would say nothing about the data pipeline.
    data = await runDataBench(config.data, config.seed, threads);
    console.log(
      `data pipeline (own process): ${data.samples} samples at 224×224 in ` +
        `${data.seconds.toFixed(1)} s (${(data.samples / data.seconds).toFixed(0)} samples/s); ` +
        `RSS ${data.startRssMiB.toFixed(0)} MiB at start, peak ${data.peakRssMiB.toFixed(0)} MiB`,
    );
  }
  await Deno.mkdir(config.out, { recursive: true });
  await writeJsonAtomic(`${config.out}/results.json`, {
    data,
    run,
    engine,
    threads,
    ours,
    peakRssMiB: peakRss / 2 ** 20,
    peakTensorMiB: peakBytes / 2 ** 20,
    torch: torchRuns,
    explainers,
    convs,
  });
  console.log(`wrote ${config.out}/results.json`);
}

async function runDataBench(
  count: number,
  seed: number,
  threads: number,
): Promise<BenchDataResult> {
  const script = fileURLToPath(new URL("./bench_data.ts", import.meta.url));
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...TASK_PERMISSIONS,
      script,
      `--count=${count}`,
      `--seed=${seed}`,
      `--threads=${threads}`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  if (!out.success) throw new Error(`tasks/bench_data.ts failed:\n${lines.join("\n")}`);
  return JSON.parse(lines[lines.length - 1]) as BenchDataResult;
}

function engineThreads(): number {
  return backendInfo()?.threads ?? navigator.hardwareConcurrency;
}

if (import.meta.main) await runMain(main);
