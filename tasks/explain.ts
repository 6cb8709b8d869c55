/**
 * `deno task explain`: explains images with a saved model and writes one
 * saliency overlay PNG per image (columns: the model's input | one overlay
 * per method, titled with the method and the explained class). `--image`
 * takes files and folders (comma-separated; folders are searched
 * recursively for images); `--method` takes one or more explainers. For
 * more than one image, `--out` is a folder that mirrors the inputs' folders
 * and also gets `results.json` (each image's prediction and PNG).
 *
 * @module
 */
import { basename, dirname, extname, join, relative, resolve } from "node:path";
import {
  checkImageFiles,
  collectRunInfo,
  COLOR_MAPS,
  type ColorMapName,
  decodeImage,
  explain,
  type ExplainRequest,
  IMAGE_EXTENSIONS,
  initBackend,
  listExplainers,
  type LoadedModel,
  loadModel,
  ProgressBar,
  readFileBytes,
  resizeSample,
  saliencyGrid,
  tf,
  writeJsonAtomic,
} from "../mod.ts";
import {
  backendFlag,
  failOnFileProblems,
  numberFlag,
  parseFlags,
  runMain,
  UsageError,
} from "./_cli.ts";

const SUMMARY =
  "Explain images with a saved model: resize each to the model's input, run one or\n" +
  "more explainers, and write the overlays (input | one overlay per method, with the explained\n" +
  "class) as one PNG per image. --image takes files and folders (searched recursively).";

const FLAGS = {
  model: { type: "string", help: "folder of a model saved with saveModel (required)" },
  image: {
    type: "string",
    help: "image files and/or folders of images, comma-separated: JPEG, PNG, WebP, TIFF, GIF " +
      "or AVIF (required)",
  },
  method: {
    type: "string",
    default: "grad-cam",
    help: `explainers, comma-separated: ${listExplainers().join(", ")}`,
  },
  out: {
    type: "string",
    help: "output PNG for one image, else a folder (default: runs/explain/)",
  },
  layer: {
    type: "string",
    help: "stage to explain, by name or index, for the CAM methods (default: the last)",
  },
  target: {
    type: "string",
    default: "predicted",
    help: "class to explain: a class index, a class name the model was saved with, or predicted",
  },
  alpha: { type: "string", default: "0.5", help: "weight of the heatmap over the image, 0 to 1" },
  colormap: { type: "string", default: "turbo", help: `colour map: ${COLOR_MAPS.join(", ")}` },
  cell: { type: "string", default: "256", help: "size in pixels of each panel of the PNG" },
} as const;

/** An input image and where its overlay goes. */
interface Job {
  input: string;
  output: string;
}

const isImage = (path: string) => IMAGE_EXTENSIONS.includes(extname(path).toLowerCase());

/** Image files under a folder, sorted, recursively. */
async function imagesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) found.push(...await imagesUnder(path));
    else if (entry.isFile && isImage(entry.name)) found.push(path);
  }
  return found.sort();
}

/** Expands --image into jobs: each file, and each image under each folder. */
async function jobsFor(inputs: string[], out: string | null, methods: string[]): Promise<Job[]> {
  const tag = methods.join("+");
  const files: { input: string; rel: string }[] = [];
  for (const input of inputs) {
    const info = await Deno.stat(input).catch(() => null);
    if (info === null) throw new Error(`${input}: file not found`);
    if (info.isDirectory) {
      const found = await imagesUnder(input);
      if (found.length === 0) {
        throw new Error(
          `${input}: the folder holds no images (looked for ${IMAGE_EXTENSIONS.join(", ")})`,
        );
      }
      const base = basename(resolve(input));
      for (const f of found) files.push({ input: f, rel: join(base, relative(input, f)) });
    } else {
      files.push({ input, rel: basename(input) });
    }
  }
  const named = (rel: string) => rel.slice(0, rel.length - extname(rel).length) + `-${tag}.png`;
  if (files.length === 1 && (out === null || out.toLowerCase().endsWith(".png"))) {
    return [{
      input: files[0].input,
      output: out ?? join("runs", "explain", named(basename(files[0].rel))),
    }];
  }
  if (out !== null && out.toLowerCase().endsWith(".png")) {
    throw new UsageError(
      `Flag --out: ${files.length} images need an output folder, not the file "${out}"`,
    );
  }
  const folder = out ?? join("runs", "explain");
  const jobs = files.map((f) => ({ input: f.input, output: join(folder, named(f.rel)) }));
  const seen = new Map<string, string>();
  for (const j of jobs) {
    const other = seen.get(j.output);
    if (other) {
      throw new UsageError(`${other} and ${j.input} would both be written to ${j.output}`);
    }
    seen.set(j.output, j.input);
  }
  return jobs;
}

/** What one image's explanation gave. */
interface Explained {
  image: string;
  png: string;
  predicted: number;
  probability: number;
  explained: number;
}

/** How titles and messages name class `k`: its saved name, else `class k`. */
function className(model: LoadedModel, k: number): string {
  return model.classNames?.[k] ?? `class ${k}`;
}

/** Reads --target against the model: predicted, a class index, or a class name it was saved with. */
function targetFlag(model: LoadedModel, raw: string): number | "predicted" {
  if (raw === "predicted") return "predicted";
  const names = model.classNames ?? [];
  if (names.includes(raw)) return names.indexOf(raw);
  if (!/^\d+$/.test(raw.trim())) {
    throw new UsageError(
      `Flag --target must be predicted, a class index${
        names.length > 0 ? ` or a class name (${names.join(", ")})` : ""
      }; got "${raw}"`,
    );
  }
  const target = Number(raw);
  if (target >= model.numClasses) {
    throw new UsageError(
      `Flag --target must be below the model's ${model.numClasses} classes, got ${target}`,
    );
  }
  return target;
}

/** Explains one image and writes its PNG. */
async function explainOne(
  model: LoadedModel,
  job: Job,
  o: {
    methods: string[];
    target: number | "predicted";
    layer: string | number | undefined;
    cell: number;
    alpha: number;
    colormap: ColorMapName;
  },
): Promise<Explained> {
  const [h, w, c] = model.inputShape;
  const bytes = await readFileBytes(job.input);
  const decoded = await decodeImage(bytes, { channels: c === 1 ? 1 : 3, name: job.input });
  const { image } = resizeSample({ id: job.input, label: 0, image: decoded }, { size: [h, w] });
  const images = tf.tensor4d(image.data, [1, h, w, c]);
  try {
    const softmax = tf.tidy(() => tf.softmax(model.forward(images).logits));
    let probs: Float32Array;
    try {
      probs = await softmax.data() as Float32Array;
    } finally {
      softmax.dispose();
    }
    let predicted = 0;
    for (let k = 1; k < probs.length; k++) if (probs[k] > probs[predicted]) predicted = k;
    const explained = o.target === "predicted" ? predicted : o.target;
    const maps: Record<string, Float32Array> = {};
    const labels: Record<string, string> = { image: `input ${w}×${h}` };
    const percent = (p: number) => `${(100 * p).toFixed(1)}%`;
    for (const method of o.methods) {
      const request = {
        method,
        target: explained,
        ...(o.layer === undefined ? {} : { layer: o.layer }),
      } as ExplainRequest;
      const m = explain(model, images, request);
      try {
        maps[method] = Float32Array.from(await m.data());
      } finally {
        m.dispose();
      }
      labels[method] = o.target === "predicted"
        ? `${method}: ${className(model, predicted)} (${percent(probs[predicted])})`
        : `${method}: ${className(model, explained)} (predicted ${className(model, predicted)})`;
    }
    await Deno.mkdir(dirname(job.output), { recursive: true });
    await saliencyGrid([{ image, maps }], {
      cellSize: o.cell,
      alpha: o.alpha,
      colormap: o.colormap,
      labels,
      path: job.output,
    });
    return {
      image: job.input,
      png: job.output,
      predicted,
      probability: probs[predicted],
      explained,
    };
  } finally {
    images.dispose();
  }
}

async function main(): Promise<void> {
  const flags = parseFlags("explain", SUMMARY, FLAGS, Deno.args);
  for (const name of ["model", "image"]) {
    if (typeof flags[name] !== "string" || flags[name] === "") {
      throw new UsageError(`Flag --${name} is required\nRun with --help to see the flags.`);
    }
  }
  const methods = String(flags.method).split(",").map((m) => m.trim()).filter((m) => m !== "");
  for (const method of methods) {
    if (!listExplainers().includes(method)) {
      throw new UsageError(
        `Flag --method must be one of ${listExplainers().join(", ")}; got "${method}"`,
      );
    }
  }
  if (methods.length === 0) throw new UsageError("Flag --method names no explainer");
  const colormap = String(flags.colormap);
  if (!(COLOR_MAPS as readonly string[]).includes(colormap)) {
    throw new UsageError(
      `Flag --colormap must be one of ${COLOR_MAPS.join(", ")}; got "${colormap}"`,
    );
  }
  const modelDir = String(flags.model);
  const inputs = String(flags.image).split(",").map((p) => p.trim()).filter((p) => p !== "");
  const out = typeof flags.out === "string" && flags.out !== "" ? flags.out : null;
  const alpha = numberFlag(flags, "alpha", { min: 0, max: 1 });
  const cell = numberFlag(flags, "cell", { integer: true, min: 8, max: 4096 });
  const layer = typeof flags.layer === "string"
    ? (/^-?\d+$/.test(flags.layer) ? Number(flags.layer) : flags.layer)
    : undefined;

  const info = await Deno.stat(modelDir).catch(() => null);
  if (!info?.isDirectory) {
    throw new Error(`Cannot load model "${modelDir}": no such folder`);
  }
  const jobs = await jobsFor(inputs, out, methods);
  // Every image's header is read before anything is written; all problems are listed at once.
  // The header reader knows PNG, JPEG, WebP, TIFF and GIF; an AVIF file is left to the decoder.
  const headed = jobs.map((j) => j.input).filter((f) => extname(f).toLowerCase() !== ".avif");
  failOnFileProblems(await checkImageFiles(headed), {
    what: "of the --image files",
    file: inputs.join(","),
  });
  await initBackend({
    backend: backendFlag(flags),
    threads: numberFlag(flags, "threads", { integer: true, min: 1 }),
  });
  const model = await loadModel(modelDir);
  try {
    const target = targetFlag(model, String(flags.target));
    const options = { methods, target, layer, cell, alpha, colormap: colormap as ColorMapName };
    if (jobs.length === 1) {
      const r = await explainOne(model, jobs[0], options);
      console.log(
        `predicted ${className(model, r.predicted)} (p = ${r.probability.toFixed(3)}); ` +
          `explained ${className(model, r.explained)} with ${methods.join(", ")}\n` +
          `wrote ${r.png} (input | ${methods.length > 1 ? "overlays" : "overlay"})`,
      );
      return;
    }
    const folder = out ?? join("runs", "explain");
    const done: Explained[] = [];
    const failed: { image: string; error: string }[] = [];
    const bar = new ProgressBar(jobs.length, { label: "explain" });
    for (const job of jobs) {
      try {
        done.push(await explainOne(model, job, options));
      } catch (error) {
        if (error instanceof UsageError) throw error;
        failed.push({ image: job.input, error: (error as Error).message.split("\n")[0] });
      }
      bar.tick(1, basename(job.input));
    }
    bar.done();
    const run = await collectRunInfo("explain", {
      model: modelDir,
      image: inputs,
      methods,
      target,
      layer: layer ?? null,
      alpha,
      colormap,
      cell,
      out: folder,
    }, 0);
    await writeJsonAtomic(join(folder, "results.json"), {
      title: `explain: ${done.length} image(s) with ${methods.join(", ")}`,
      run,
      model: {
        folder: modelDir,
        name: model.name,
        classes: model.numClasses,
        classNames: model.classNames,
      },
      methods,
      images: done,
      failed,
    });
    console.log(
      `explained ${done.length} image(s) with ${methods.join(", ")}; wrote their overlays and ` +
        `${join(folder, "results.json")} under ${folder}`,
    );
    if (failed.length > 0) {
      console.error(
        `${failed.length} image(s) could not be explained:\n` +
          failed.map((f) => `- ${f.image}: ${f.error}`).join("\n"),
      );
      Deno.exit(1);
    }
  } finally {
    model.dispose();
  }
}

if (import.meta.main) await runMain(main);
