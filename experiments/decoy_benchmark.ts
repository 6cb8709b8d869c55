/**
 * Experiment: which location supervision keeps a classifier off a decoy?
 * Every candidate design of compare-gradcam's arm (b) — a loss, a saliency
 * head and a gate — trains on a benchmark whose training images carry a
 * class-coded patch outside the object (`injectShortcut`; random in the
 * test images), over several seeds, beside the same network's clean-data
 * ceiling (cross-entropy on the images without the patch). It prints and
 * writes decoy-test accuracy, its share of the ceiling, and where Grad-CAM
 * puts its energy (on the object, on the decoy), each with a 95% interval
 * over seeds.
 *
 * The benchmarks: `fashion-canvas` (real Fashion-MNIST garments on a
 * canvas, masks by thresholding) and the built-in `synthetic` set. Settings
 * follow compare-gradcam's defaults (48 px, 600 steps of 16, Adam 3e-3).
 *
 * Run: `deno task decoy-benchmark [--benchmarks fashion-canvas,synthetic] [--seeds 3] [--candidates ref-ce,ref-cam] [--steps 600] [--out runs/decoy-benchmark]`
 * (results.jsonl is appended one run at a time; a rerun skips what is there).
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as lab from "../mod.ts";

/** A design of arm (b), or a baseline. */
interface Candidate {
  /** The network: the reference net, or a backbone with a saliency head. */
  net: "reference" | "plain-attention";
  /** Loss weights for `mixedLoss`. */
  loss: Record<string, number>;
  /** Trained on clean images: the network's ceiling. */
  clean?: boolean;
}

const CANDIDATES: Record<string, Candidate> = {
  "ref-ce": { net: "reference", loss: { ce: 1 } },
  "ref-clean": { net: "reference", loss: { ce: 1 }, clean: true },
  "ref-bce": { net: "reference", loss: { ce: 1, bce: 1 } },
  "ref-cam": { net: "reference", loss: { ce: 1, cam: 1 } },
  "ref-cam3": { net: "reference", loss: { ce: 1, cam: 3 } },
  "ref-bce-cam": { net: "reference", loss: { ce: 1, bce: 1, cam: 1 } },
  "ref-rrr1": { net: "reference", loss: { ce: 1, rrr: 1 } },
  "ref-rrr10": { net: "reference", loss: { ce: 1, rrr: 10 } },
  "ref-gain0.1": { net: "reference", loss: { ce: 1, gain: 0.1 } },
  "ref-gain1": { net: "reference", loss: { ce: 1, gain: 1 } },
  "ref-swap": { net: "reference", loss: { ce: 1, backgroundSwap: 1 } },
  "ref-cam-swap": { net: "reference", loss: { ce: 1, cam: 1, backgroundSwap: 1 } },
  "ref-bce-swap": { net: "reference", loss: { ce: 1, bce: 1, backgroundSwap: 1 } },
  "ref-bce-cam-swap": { net: "reference", loss: { ce: 1, bce: 1, cam: 1, backgroundSwap: 1 } },
  "gate-ce": { net: "plain-attention", loss: { ce: 1 } },
  "gate-bce-swap": { net: "plain-attention", loss: { ce: 1, bce: 1, backgroundSwap: 1 } },
  "gate-clean": { net: "plain-attention", loss: { ce: 1 }, clean: true },
  "gate-bce": { net: "plain-attention", loss: { ce: 1, bce: 1 } },
  "gate-cam": { net: "plain-attention", loss: { ce: 1, cam: 1 } },
  "gate-bce-cam": { net: "plain-attention", loss: { ce: 1, bce: 1, cam: 1 } },
};

/** One trained candidate on one benchmark and seed. */
interface RunRecord {
  benchmark: string;
  candidate: string;
  seed: number;
  accuracy: number;
  gradCamOnObject: number;
  gradCamOnDecoy: number;
  seconds: number;
}

function buildNet(c: Candidate, numClasses: number, size: number, seed: number) {
  if (c.net === "reference") {
    return lab.createReferenceNet({ numClasses, inputSize: size, width: 0.5, seed });
  }
  return lab.createTwoBranchModel({
    backbone: "plain_cnn",
    backboneOptions: { width: 0.5 },
    saliencyHead: "attention",
    headOptions: { gate: "multiplicative" },
    numClasses,
    inputSize: size,
    seed,
  });
}

async function runOne(
  benchmark: string,
  name: string,
  seed: number,
  settings: { size: number; count: number; steps: number; classes: number },
): Promise<RunRecord> {
  const c = CANDIDATES[name];
  const opener = lab.getDataset(benchmark);
  if (!opener) throw new RangeError(`Unknown benchmark "${benchmark}"`);
  const data = await opener.open({
    root: null,
    count: settings.count,
    classes: settings.classes,
    size: settings.size,
    seed: 0,
  });
  const split = lab.stratifiedSplit(data.records.map((r) => r.label), {
    train: 0.8,
    test: 0.2,
    seed,
  });
  const patch = Math.max(2, Math.round(settings.size / 8));
  const decoy = lab.injectShortcut(data, { split: split.train, seed, patch });
  const trainOn = c.clean ? lab.injectShortcut(data, { split: [], seed, patch }) : decoy;
  const model = buildNet(c, data.classNames.length, settings.size, seed);
  const started = performance.now();
  try {
    const perEpoch = Math.floor(split.train.length / 16);
    await lab.train(model, {
      dataset: trainOn,
      trainIndices: split.train,
      epochs: Math.ceil(settings.steps / perEpoch),
      batchSize: 16,
      seed,
      loss: lab.mixedLoss(c.loss),
      optimizer: { name: "adam", lr: 3e-3 },
      transform: (sample, rng) => lab.augment(sample, rng, { flipProbability: 0.5 }),
      progress: { label: `${benchmark} ${name} seed ${seed}` },
    });
    const seconds = (performance.now() - started) / 1000;
    const opts = {
      indices: split.test,
      explainers: ["grad-cam"],
      faithfulness: false,
      progress: false,
    };
    const energy = (r: lab.EvaluationResult) =>
      r.explainers["grad-cam"].metrics.energyPointingGame.mean;
    const test = await lab.evaluate(model, decoy, opts);
    const onCue = {
      ...decoy,
      load: (i: number) => decoy.load(i).then((s) => ({ ...s, mask: s.ignoreMask })),
    };
    const onDecoy = energy(await lab.evaluate(model, onCue, opts));
    return {
      benchmark,
      candidate: name,
      seed,
      accuracy: test.classification.accuracy.mean,
      gradCamOnObject: energy(test),
      gradCamOnDecoy: onDecoy,
      seconds,
    };
  } finally {
    model.dispose();
  }
}

/** Mean and a 95% t interval over seeds (`aggregateSeeds`), in percent. */
function overSeeds(values: number[]): string {
  const pct = (v: number) => (100 * v).toFixed(1);
  if (values.length < 2) return pct(values[0]);
  const g = lab.aggregateSeeds(values);
  return `${pct(g.mean)} [${pct(g.low)}, ${pct(g.high)}]`;
}

/** The Markdown table of every candidate on every benchmark. */
export function benchmarkTable(all: readonly RunRecord[]): string {
  // One record per (benchmark, candidate, seed): the first, should a run have been repeated.
  const seen = new Set<string>();
  const records = all.filter((r) => {
    const key = `${r.benchmark}|${r.candidate}|${r.seed}`;
    return !seen.has(key) && seen.add(key) !== undefined;
  });
  const lines: string[] = [];
  for (const benchmark of [...new Set(records.map((r) => r.benchmark))]) {
    const of = (name: string) =>
      records.filter((r) => r.benchmark === benchmark && r.candidate === name);
    lines.push(
      `### ${benchmark} + decoy`,
      "",
      "| candidate | seeds | decoy-test accuracy % | of ceiling % | Grad-CAM on object % | Grad-CAM on decoy % | s/run |",
      "|---|---|---|---|---|---|---|",
    );
    for (const name of Object.keys(CANDIDATES)) {
      const runs = of(name);
      if (runs.length === 0) continue;
      const c = CANDIDATES[name];
      const ceiling = of(c.net === "reference" ? "ref-clean" : "gate-clean");
      const ceil = ceiling.length
        ? ceiling.reduce((a, r) => a + r.accuracy, 0) / ceiling.length
        : NaN;
      const share = runs.map((r) => r.accuracy / ceil);
      lines.push(
        `| ${name} | ${runs.length} | ${overSeeds(runs.map((r) => r.accuracy))} | ${
          Number.isFinite(ceil) ? overSeeds(share) : "n/a"
        } | ${overSeeds(runs.map((r) => r.gradCamOnObject))} | ${
          overSeeds(runs.map((r) => r.gradCamOnDecoy))
        } | ${(runs.reduce((a, r) => a + r.seconds, 0) / runs.length).toFixed(0)} |`,
      );
    }
    lines.push("");
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values: f } = parseArgs({
    options: {
      benchmarks: { type: "string", default: "fashion-canvas,synthetic" },
      candidates: { type: "string", default: Object.keys(CANDIDATES).join(",") },
      seeds: { type: "string", default: "3" },
      steps: { type: "string", default: "600" },
      size: { type: "string", default: "48" },
      count: { type: "string", default: "1200" },
      classes: { type: "string", default: "4" },
      out: { type: "string", default: "runs/decoy-benchmark" },
    },
  });
  const names = f.candidates!.split(",");
  for (const n of names) {
    if (!CANDIDATES[n]) {
      throw new RangeError(
        `--candidates: unknown "${n}"; choices: ${Object.keys(CANDIDATES).join(", ")}`,
      );
    }
  }
  await lab.initBackend({ threads: navigator.hardwareConcurrency });
  await Deno.mkdir(f.out!, { recursive: true });
  const file = `${f.out}/results.jsonl`;
  const done: RunRecord[] = await Deno.readTextFile(file).then(
    (t) => t.split("\n").filter(Boolean).map((l) => JSON.parse(l)),
    () => [],
  );
  const settings = {
    size: Number(f.size),
    count: Number(f.count),
    steps: Number(f.steps),
    classes: Number(f.classes),
  };
  for (let seed = 0; seed < Number(f.seeds); seed++) {
    for (const benchmark of f.benchmarks!.split(",")) {
      for (const name of names) {
        if (
          done.some((r) => r.benchmark === benchmark && r.candidate === name && r.seed === seed)
        ) {
          continue;
        }
        const record = await runOne(benchmark, name, seed, settings);
        console.log(JSON.stringify(record));
        done.push(record);
        await Deno.writeTextFile(file, JSON.stringify(record) + "\n", { append: true });
      }
    }
  }
  const table = benchmarkTable(done);
  console.log(table);
  await lab.writeFileAtomic(`${f.out}/table.md`, table);
  await lab.shutdownBackend();
}
