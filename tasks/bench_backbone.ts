/**
 * `deno task bench --backbone NAME`: a registered backbone at the size
 * users run (224 px), two-branch with the CAM head and 200 classes, beside
 * torchvision's same architecture on the same threads.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import {
  backendInfo,
  createOptimizer,
  createTrainStep,
  createTwoBranchModel,
  defaultLoss,
  evaluate,
  explain,
  planStep,
  Random,
  shutdownBackend,
  syntheticDataset,
  tf,
  type TwoBranchOptions,
  withMemoryHint,
} from "../mod.ts";

/** Settings of {@linkcode benchBackbone}. */
export interface BackboneBenchConfig {
  backbone: string;
  batch: number;
  size: number;
  warmup: number;
  repeats: number;
  seed: number;
  torch: string;
  python: string;
  /** Images that also get the faithfulness curves, to project a CUB-sized evaluation; 0 skips. */
  faithfulnessImages: number;
  /** Samples per micro-batch of the training step, or "auto" to plan it. @default {"auto"} */
  microBatch?: number | "auto";
}

const CLASSES = 200;
const EXPLAIN_IMAGES = 8;
const EVALUATE_IMAGES = 16;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function timed(warmup: number, repeats: number, fn: () => Promise<void>): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

async function read(t: tf.Tensor): Promise<void> {
  try {
    await t.data();
  } finally {
    t.dispose();
  }
}

/**
 * Times a training step (Adam, cross-entropy + mask BCE, its memory plan
 * chosen as in `train()`) and a forward pass at `batch`, Grad-CAM of one
 * image, Grad-CAM and the vanilla gradient on 8 images, and `evaluate()`'s
 * images per second (its default explainers, without faithfulness), then
 * runs `tasks/bench_torchvision.py` on the same threads. Returns the
 * record for `results.json`, and prints a table.
 */
export async function benchBackbone(
  config: BackboneBenchConfig,
  say: (line: string) => void,
): Promise<Record<string, unknown>> {
  const { batch, size, warmup, repeats } = config;
  const threads = backendInfo()?.threads ?? navigator.hardwareConcurrency;
  const model = createTwoBranchModel({
    backbone: config.backbone,
    saliencyHead: "cam",
    numClasses: CLASSES,
    inputSize: size,
    seed: config.seed,
  });
  const rng = new Random(config.seed);
  const images = tf.tensor4d(rng.uniformArray(batch * size * size * 3), [batch, size, size, 3]);
  const labels = tf.tensor1d(Array.from({ length: batch }, () => rng.int(CLASSES)), "int32");
  const masks = tf.tensor3d(
    rng.uniformArray(batch * size * size).map((v) => (v > 0.5 ? 1 : 0)),
    [batch, size, size],
  );
  const few = tf.tidy(() => images.slice(0, Math.min(EXPLAIN_IMAGES, batch)));
  const one = tf.tidy(() => images.slice(0, 1));
  let peakRss = 0;
  const sample = () => (peakRss = Math.max(peakRss, Deno.memoryUsage().rss));
  const ours: Record<string, number> = {};
  const batchData = { images, labels, masks };
  const plan = await planStep(model, batchData, {
    loss: defaultLoss(),
    microBatch: config.microBatch ?? "auto",
  });
  const optimizer = createOptimizer({ name: "adam", lr: 1e-3 });
  try {
    const step = createTrainStep(model, optimizer, {
      microBatch: plan.microBatch,
      checkpoint: plan.checkpoint,
    });
    say(
      `${config.backbone} at ${size}×${size}, batch ${batch}: micro-batch ${plan.microBatch}, checkpointing ${
        plan.checkpoint ? "on" : "off"
      }`,
    );
    ours.train_step_ms = await withMemoryHint(
      `in a training step of ${config.backbone} at batch ${batch} (micro-batch ${plan.microBatch})`,
      "pass a smaller --micro-batch or --batch",
      () =>
        timed(warmup, repeats, async () => {
          await step(batchData);
          sample();
        }),
    );
    ours.forward_ms = await timed(warmup, repeats, async () => {
      const out = model.forward(images);
      tf.dispose([out.saliencyLogits, out.saliency]);
      await read(out.logits);
      sample();
    });
    ours.gradcam_one_ms = await timed(
      warmup,
      repeats,
      () => read(explain(model, one, { method: "grad-cam" })),
    );
    ours.gradcam_batch_ms = await timed(
      1,
      repeats,
      () => read(explain(model, few, { method: "grad-cam" })),
    );
    ours.vanilla_batch_ms = await timed(
      1,
      repeats,
      () => read(explain(model, few, { method: "vanilla-gradient" })),
    );
    sample();
    // The same network with the synthetic set's 4 classes (the classifier is a small part).
    const dataset = syntheticDataset({ size, count: EVALUATE_IMAGES, numClasses: 4, seed: 1 });
    const scored = createTwoBranchModel({
      ...(model.config as unknown as TwoBranchOptions),
      numClasses: 4,
    });
    try {
      const t0 = performance.now();
      // Every image, not only the synthetic set's test split.
      const indices = dataset.records.map((_, i) => i);
      await evaluate(scored, dataset, {
        indices,
        faithfulness: false,
        progress: false,
        resamples: 200,
      });
      ours.evaluate_images_per_s = EVALUATE_IMAGES / ((performance.now() - t0) / 1000);
      if (config.faithfulnessImages > 0) {
        const some = indices.slice(0, Math.min(config.faithfulnessImages, indices.length));
        const t1 = performance.now();
        await evaluate(scored, dataset, {
          indices: some,
          faithfulnessImages: Infinity,
          progress: false,
          resamples: 200,
        });
        const perImage = (performance.now() - t1) / 1000 / some.length;
        ours.faithfulness_s_per_image = perImage - 1 / ours.evaluate_images_per_s;
        // CUB-200-2011's test split, with evaluate()'s default 256-image faithfulness subset.
        ours.cub_test_minutes = (5794 / ours.evaluate_images_per_s +
          256 * ours.faithfulness_s_per_image) / 60;
      }
    } finally {
      scored.dispose();
    }
    sample();
  } finally {
    optimizer.dispose();
    tf.dispose([images, labels, masks, few, one]);
    model.dispose();
  }
  // The wasm engine's idle workers spin: stop them before PyTorch runs.
  await shutdownBackend();
  const torch = config.torch === "off" ? null : await runTwin(config, threads);
  const ratio = (k: string) => torch?.[k] ? ours[k] / torch[k] : null;
  const rows: [string, string, string][] = [
    ["training step", "train_step_ms", "ms"],
    ["forward", "forward_ms", "ms"],
    ["Grad-CAM, 1 image", "gradcam_one_ms", "ms"],
    [`Grad-CAM, ${EXPLAIN_IMAGES} images`, "gradcam_batch_ms", "ms"],
    [`vanilla gradient, ${EXPLAIN_IMAGES} images`, "vanilla_batch_ms", "ms"],
  ];
  say(`| figure | ours | torchvision (${threads} threads) | ratio |`);
  say(`|---|---|---|---|`);
  for (const [label, key] of rows) {
    const r = ratio(key);
    say(
      `| ${label} | ${ours[key].toFixed(1)} ms | ${torch?.[key]?.toFixed(1) ?? "–"} ms | ${
        r === null ? "–" : `${r.toFixed(2)}×`
      } |`,
    );
  }
  const perImage = plan.bytesPerSample;
  say(
    `evaluate(): ${ours.evaluate_images_per_s.toFixed(2)} images/s without faithfulness; ` +
      (ours.cub_test_minutes === undefined
        ? ""
        : `${
          ours.faithfulness_s_per_image.toFixed(1)
        } s per image more with it (so a CUB-sized test split of 5,794 images, 256 of them with the curves, ${
          ours.cub_test_minutes.toFixed(0)
        } min); `) +
      `peak RSS ${(peakRss / 2 ** 30).toFixed(2)} GiB; peak tensor memory per image in a step ` +
      Object.entries(perImage).map(([k, v]) => `${k} ${(v! / 1e6).toFixed(0)} MB`).join(", "),
  );
  return {
    backbone: config.backbone,
    size,
    batch,
    threads,
    plan,
    ours,
    torch,
    ratios: Object.fromEntries(rows.map(([, k]) => [k, ratio(k)])),
    peak_rss_bytes: peakRss,
  };
}

async function runTwin(
  config: BackboneBenchConfig,
  threads: number,
): Promise<Record<string, number> | null> {
  const script = fileURLToPath(new URL("./bench_torchvision.py", import.meta.url));
  const settings = {
    backbone: config.backbone,
    batch: config.batch,
    size: config.size,
    classes: CLASSES,
    warmup: config.warmup,
    repeats: config.repeats,
    seed: config.seed,
    threads,
    explain: Math.min(EXPLAIN_IMAGES, config.batch),
  };
  try {
    const out = await new Deno.Command(config.python, {
      args: [script, JSON.stringify(settings)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      if (config.torch === "on") {
        throw new Error(`The torchvision twin failed: ${new TextDecoder().decode(out.stderr)}`);
      }
      return null;
    }
    return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
  } catch (error) {
    if (config.torch === "on") throw error;
    return null;
  }
}
