/**
 * `deno task explain`: explains one image with a saved model and writes the
 * saliency overlay as PNG (columns: the model's input | the overlay, titled
 * with the method and the predicted class).
 *
 * @module
 */
import { basename, dirname, extname, join } from "node:path";
import {
  COLOR_MAPS,
  type ColorMapName,
  decodeImage,
  explain,
  type ExplainRequest,
  initBackend,
  listExplainers,
  loadModel,
  readFileBytes,
  resizeSample,
  saliencyGrid,
  tf,
} from "../mod.ts";
import { backendFlag, numberFlag, parseFlags, runMain, UsageError } from "./_cli.ts";

const SUMMARY = "Explain one image with a saved model: resize it to the model's input, run an\n" +
  "explainer, and write the saliency overlay (input | overlay, with the predicted class) as PNG.";

const FLAGS = {
  model: { type: "string", help: "folder of a model saved with saveModel (required)" },
  image: { type: "string", help: "the image file: JPEG, PNG, WebP, TIFF or GIF (required)" },
  method: {
    type: "string",
    default: "grad-cam",
    help: `explainer: ${listExplainers().join(", ")}`,
  },
  out: {
    type: "string",
    help: "output PNG (default: runs/explain/<image name>-<method>.png)",
  },
  layer: {
    type: "string",
    help: "stage to explain, by name or index, for the CAM methods (default: the last)",
  },
  target: {
    type: "string",
    default: "predicted",
    help: "class to explain: a class index, or predicted",
  },
  alpha: { type: "string", default: "0.5", help: "weight of the heatmap over the image, 0 to 1" },
  colormap: { type: "string", default: "turbo", help: `colour map: ${COLOR_MAPS.join(", ")}` },
  cell: { type: "string", default: "256", help: "size in pixels of each panel of the PNG" },
} as const;

async function main(): Promise<void> {
  const flags = parseFlags("explain", SUMMARY, FLAGS, Deno.args);
  for (const name of ["model", "image"]) {
    if (typeof flags[name] !== "string" || flags[name] === "") {
      throw new UsageError(`Flag --${name} is required\nRun with --help to see the flags.`);
    }
  }
  const method = String(flags.method);
  if (!listExplainers().includes(method)) {
    throw new UsageError(
      `Flag --method must be one of ${listExplainers().join(", ")}; got "${method}"`,
    );
  }
  const colormap = String(flags.colormap);
  if (!(COLOR_MAPS as readonly string[]).includes(colormap)) {
    throw new UsageError(
      `Flag --colormap must be one of ${COLOR_MAPS.join(", ")}; got "${colormap}"`,
    );
  }
  const modelDir = String(flags.model), imagePath = String(flags.image);
  const out = typeof flags.out === "string"
    ? flags.out
    : join("runs", "explain", `${basename(imagePath, extname(imagePath))}-${method}.png`);
  const alpha = numberFlag(flags, "alpha", { min: 0, max: 1 });
  const cell = numberFlag(flags, "cell", { integer: true, min: 8, max: 4096 });
  const target = flags.target === "predicted"
    ? "predicted"
    : numberFlag(flags, "target", { integer: true, min: 0 });
  const layer = typeof flags.layer === "string"
    ? (/^-?\d+$/.test(flags.layer) ? Number(flags.layer) : flags.layer)
    : undefined;

  const info = await Deno.stat(modelDir).catch(() => null);
  if (!info?.isDirectory) {
    throw new Error(`Cannot load model "${modelDir}": no such folder`);
  }
  const bytes = await readFileBytes(imagePath);
  await initBackend({
    backend: backendFlag(flags),
    threads: numberFlag(flags, "threads", { integer: true, min: 1 }),
  });
  const model = await loadModel(modelDir);
  try {
    const [h, w, c] = model.inputShape;
    if (typeof target === "number" && target >= model.numClasses) {
      throw new UsageError(
        `Flag --target must be below the model's ${model.numClasses} classes, got ${target}`,
      );
    }
    const decoded = await decodeImage(bytes, { channels: c === 1 ? 1 : 3, name: imagePath });
    const { image } = resizeSample({ id: imagePath, label: 0, image: decoded }, { size: [h, w] });
    const images = tf.tensor4d(image.data, [1, h, w, c]);
    const softmax = tf.tidy(() => tf.softmax(model.forward(images).logits));
    const probs = softmax.dataSync();
    softmax.dispose();
    let predicted = 0;
    for (let k = 1; k < probs.length; k++) if (probs[k] > probs[predicted]) predicted = k;
    const explained = target === "predicted" ? predicted : target;
    const request = {
      method,
      target: explained,
      ...(layer === undefined ? {} : { layer }),
    } as ExplainRequest;
    const maps = explain(model, images, request);
    const map = Float32Array.from(maps.dataSync());
    tf.dispose([images, maps]);

    const percent = (p: number) => `${(100 * p).toFixed(1)}%`;
    const title = target === "predicted"
      ? `${method}: class ${predicted} (${percent(probs[predicted])})`
      : `${method}: class ${explained} (predicted ${predicted})`;
    await Deno.mkdir(dirname(out), { recursive: true });
    await saliencyGrid([{ image, maps: { [method]: map } }], {
      cellSize: cell,
      alpha,
      colormap: colormap as ColorMapName,
      labels: { image: `input ${w}×${h}`, [method]: title },
      path: out,
    });
    console.log(
      `predicted class ${predicted} (p = ${probs[predicted].toFixed(3)}); ` +
        `explained class ${explained} with ${method}\nwrote ${out} (input | overlay)`,
    );
  } finally {
    model.dispose();
  }
}

if (import.meta.main) await runMain(main);
