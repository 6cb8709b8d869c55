/**
 * The tables of `deno task bench`: our medians beside each PyTorch twin
 * run's, with their ratios, as Markdown-style text.
 *
 * @module
 */

/** The reference net's timed figures, in milliseconds. */
export interface BenchFigures {
  train_step_ms: number;
  forward_ms: number;
  gradcam_middle_ms: number;
  gradcam_last_ms: number;
}

/** How the table names each figure, in table order. */
export const BENCH_FIGURE_LABELS: Readonly<Record<keyof BenchFigures, string>> = {
  train_step_ms: "training step",
  forward_ms: "forward",
  gradcam_middle_ms: "Grad-CAM, middle stage",
  gradcam_last_ms: "Grad-CAM, last stage",
};

/** One run of the PyTorch twin (tasks/bench_torch.py --json). */
export interface TorchRun extends BenchFigures {
  threads: number;
  /** "cpu", or the GPU's name. */
  device: string;
  torch_version: string;
  params: number;
  peak_rss_mib: number;
  /** Images in the explainers' batch (0: not timed). */
  explainer_images?: number;
  /** Images per second of each explainer, by method name, or null. */
  explainers?: Record<string, number> | null;
  /** Median milliseconds of each convolution (with --convs), by layer name, or null. */
  convs?: Record<string, number> | null;
}

/** One explainer's speed, ours. */
export interface ExplainerSpeed {
  method: string;
  imagesPerSecond: number;
}

/**
 * The median of `values` (the mean of the middle two for an even count).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { median } from "./bench.ts";
 * assert.equal(median([5, 1, 3]), 3);
 * assert.equal(median([4, 1, 3, 2]), 2.5);
 * ```
 */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * A text table: a header row, a rule, and the rows, each column padded to
 * its widest cell.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { textTable } from "./bench.ts";
 * assert.equal(textTable(["a", "bb"], [["ccc", "d"]]), "| a   | bb |\n|-----|----|\n| ccc | d  |");
 * ```
 */
export function textTable(header: readonly string[], rows: readonly string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)]
    .join("\n");
}

/** Images per second with three significant figures, or more before the point. */
function rate(imagesPerSecond: number): string {
  const digits = imagesPerSecond >= 100 ? 0 : imagesPerSecond >= 10 ? 1 : 2;
  return imagesPerSecond.toFixed(digits);
}

/**
 * How a PyTorch run is named in a column: "2 thread(s)" on the CPU, the
 * GPU's name on one (older twins report no device).
 */
export function torchLabel(t: Pick<TorchRun, "device" | "threads">): string {
  return !t.device || t.device === "cpu" ? `${t.threads} thread(s)` : t.device;
}

/**
 * The figures' table: each of ours beside each PyTorch run's, and the
 * ratio ours / PyTorch (below 1: we are faster), with that note when
 * there is a PyTorch run.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { figureTable } from "./bench.ts";
 * const ours = { train_step_ms: 20, forward_ms: 5, gradcam_middle_ms: 2, gradcam_last_ms: 2 };
 * const torch = { ...ours, train_step_ms: 10, threads: 2, device: "cpu", torch_version: "1.13", params: 1, peak_rss_mib: 1 };
 * const table = figureTable("wasm", ours, [torch]);
 * assert.match(table, /\| training step +\| 20\.0 ms +\| 10\.0 ms +\| 2\.00× +\|/);
 * assert.match(table, /ratio = ours \/ PyTorch/);
 * ```
 */
export function figureTable(label: string, ours: BenchFigures, torch: readonly TorchRun[]): string {
  const header = [`figure (median)`, label];
  for (const t of torch) header.push(`PyTorch ${t.torch_version}, ${torchLabel(t)}`, "ratio");
  const rows = (Object.keys(BENCH_FIGURE_LABELS) as (keyof BenchFigures)[]).map((key) => {
    const row = [BENCH_FIGURE_LABELS[key], `${ours[key].toFixed(1)} ms`];
    for (const t of torch) {
      row.push(`${t[key].toFixed(1)} ms`, `${(ours[key] / t[key]).toFixed(2)}×`);
    }
    return row;
  });
  return textTable(header, rows) +
    (torch.length ? "\nratio = ours / PyTorch (below 1 means we are faster)" : "");
}

/**
 * The explainers' images per second, ours beside each PyTorch run's; ratio
 * = ours / PyTorch time per image (PyTorch's images/s over ours), as the
 * figures' table: below 1 means we are faster.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { explainerTable } from "./bench.ts";
 * const torch = { threads: 2, device: "cpu", explainers: { "grad-cam": 40 } };
 * const table = explainerTable("wasm", [{ method: "grad-cam", imagesPerSecond: 20 }, { method: "rise", imagesPerSecond: 0.5 }], [torch]);
 * assert.match(table, /\| grad-cam +\| 20\.0 +\| 40\.0 +\| 2\.00× \|/);
 * assert.match(table, /\| rise +\| 0\.50 +\| – +\| – +\|/);
 * ```
 */
export function explainerTable(
  label: string,
  ours: readonly ExplainerSpeed[],
  torch: readonly Pick<TorchRun, "threads" | "device" | "explainers">[],
): string {
  const header = ["explainer", `ours images/s (${label})`];
  for (const t of torch) header.push(`PyTorch images/s (${torchLabel(t)})`, "ratio");
  const rows = ours.map((e) => {
    const row = [e.method, rate(e.imagesPerSecond)];
    for (const t of torch) {
      const theirs = t.explainers?.[e.method];
      row.push(
        theirs === undefined ? "–" : rate(theirs),
        theirs === undefined ? "–" : `${(theirs / e.imagesPerSecond).toFixed(2)}×`,
      );
    }
    return row;
  });
  return textTable(header, rows) +
    (torch.length ? "\nratio = ours / PyTorch time per image (below 1 means we are faster)" : "");
}

/**
 * Each convolution's median, ours beside each PyTorch run's, and the sum
 * of all seven.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { convTable } from "./bench.ts";
 * const table = convTable("wasm", { stem: 1, head: 3 }, [{ threads: 1, device: "cpu", convs: { stem: 2, head: 2 } }]);
 * assert.match(table, /\| all seven +\| 4\.00 ms +\| 4\.00 ms +\| 1\.00× +\|/);
 * ```
 */
export function convTable(
  label: string,
  convs: Readonly<Record<string, number>>,
  torch: readonly Pick<TorchRun, "threads" | "device" | "convs">[],
): string {
  const header = ["convolution (median)", label];
  for (const t of torch) header.push(`PyTorch F.conv2d, ${torchLabel(t)}`, "ratio");
  const names = [...Object.keys(convs), "all seven"];
  const sum = (r: Readonly<Record<string, number>>) => Object.values(r).reduce((a, b) => a + b, 0);
  const rows = names.map((name) => {
    const ours = name === "all seven" ? sum(convs) : convs[name];
    const row = [name, `${ours.toFixed(2)} ms`];
    for (const t of torch) {
      const theirs = !t.convs ? undefined : name === "all seven" ? sum(t.convs) : t.convs[name];
      row.push(
        theirs === undefined ? "–" : `${theirs.toFixed(2)} ms`,
        theirs === undefined ? "–" : `${(ours / theirs).toFixed(2)}×`,
      );
    }
    return row;
  });
  return textTable(header, rows);
}

/**
 * The explainers' part of results.json: ours, and each PyTorch run's
 * images per second with the ratio ours / PyTorch time per image.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { explainerRecord } from "./bench.ts";
 * const r = explainerRecord(
 *   { images: 2, size: 16, warmup: 0, repeats: 1 },
 *   [{ method: "grad-cam", imagesPerSecond: 10 }],
 *   [{ threads: 1, device: "cpu", explainers: { "grad-cam": 30, rise: 1 } }],
 * );
 * assert.deepStrictEqual(r.torch[0].ratio, { "grad-cam": 3 });
 * ```
 */
export function explainerRecord<E extends ExplainerSpeed>(
  settings: { images: number; size: number; warmup: number; repeats: number },
  ours: readonly E[],
  torch: readonly Pick<TorchRun, "threads" | "device" | "explainers">[],
): {
  images: number;
  size: number;
  warmup: number;
  repeats: number;
  ours: readonly E[];
  torch: {
    threads: number;
    device: string;
    imagesPerSecond: Record<string, number> | null | undefined;
    ratio: Record<string, number>;
  }[];
} {
  return {
    ...settings,
    ours,
    torch: torch.map((t) => ({
      threads: t.threads,
      device: t.device,
      imagesPerSecond: t.explainers,
      // Ours / PyTorch time per image: below 1 means we are faster.
      ratio: Object.fromEntries(
        ours.flatMap((e) => {
          const theirs = t.explainers?.[e.method];
          return theirs === undefined ? [] : [[e.method, theirs / e.imagesPerSecond]];
        }),
      ),
    })),
  };
}

/** Options of {@linkcode runTorchTwin}. */
export interface TorchTwinOptions {
  /** The Python that has torch. */
  python: string;
  /** `"on"`: fail when that Python cannot import torch; else say so and return no run. */
  torch: string;
  /** Where the twin runs: `"cpu"` (once per thread count) or `"cuda"` (once). */
  device: string;
  /** Thread counts of the CPU runs. */
  threads: readonly number[];
  /**
   * The twin's other flags, `--<name> <value>` each (`true`: the bare flag;
   * `false`: left out).
   */
  flags: Readonly<Record<string, string | number | boolean>>;
  /**
   * Told each status line: that the comparison is skipped, or which run
   * starts.
   *
   * @default {the skip on standard output, the runs on standard error}
   */
  onStatus?: (line: string) => void;
}

/**
 * Runs the PyTorch twin `script` (tasks/bench_torch.py) with `--json` on
 * the CPU at each thread count, or once on CUDA, and reads each run's last
 * line of output. Returns no run where the Python cannot import torch,
 * unless `torch` is `"on"`.
 */
export async function runTorchTwin(script: string, o: TorchTwinOptions): Promise<TorchRun[]> {
  const say = o.onStatus ??
    ((line: string) => line.startsWith("running") ? console.error(line) : console.log(line));
  let has = false;
  try {
    const probe = new Deno.Command(o.python, {
      args: ["-c", "import torch"],
      stdout: "null",
      stderr: "null",
    });
    has = (await probe.output()).success;
  } catch {
    // No such Python: the comparison is skipped as without torch.
  }
  if (!has) {
    const msg = `PyTorch comparison skipped: ${o.python} cannot import torch ` +
      `(on Debian: apt-get install python3-torch)`;
    if (o.torch === "on") throw new Error(msg);
    say(msg);
    return [];
  }
  const flags = Object.entries(o.flags).flatMap(([name, value]) =>
    value === false ? [] : value === true ? [`--${name}`] : [`--${name}`, String(value)]
  );
  const runs: TorchRun[] = [];
  for (const t of o.device === "cuda" ? [o.threads[0]] : o.threads) {
    say(`running the PyTorch twin ${o.device === "cuda" ? "on cuda" : `with ${t} thread(s)`}…`);
    const out = await new Deno.Command(o.python, {
      args: [script, "--json", "--threads", String(t), "--device", o.device, ...flags],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`${script} failed:\n${new TextDecoder().decode(out.stderr)}`);
    }
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
    runs.push(JSON.parse(lines[lines.length - 1]) as TorchRun);
  }
  return runs;
}
