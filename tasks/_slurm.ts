// Running a study's cells as a Slurm array job: the flags, the sbatch script,
// submission, and reading back which cells finished, failed or never ran.
// Private to tasks/ (sweep and compare-gradcam use it).
//
// A study folder looks like this:
//   <out>/cells/<cellId>.json   one config file per cell (the task's flags)
//   <out>/cells/cells.txt       line i + 1 names the cell of array index i
//   <out>/cells/<cellId>/       the cell's run folder: results.json when done, and cell.log
//   <out>/slurm/array.sbatch    the script; slurm/<job>_<index>.out is Slurm's own output
import { dirname, resolve } from "node:path";
import { pathExists, writeFileAtomic } from "../mod.ts";
import { type FlagSpec, numberFlag, UsageError } from "./_cli.ts";

/** The flags of a study that can run on Slurm. */
export const SLURM_FLAGS: Record<string, FlagSpec> = {
  slurm: {
    type: "boolean",
    default: false,
    help: "run the cells as a Slurm array job (sbatch) instead of one after another here",
  },
  "dry-run": {
    type: "boolean",
    default: false,
    help: "with --slurm: write the cells and print the sbatch script, but submit nothing",
  },
  collect: {
    type: "string",
    help: "gather the finished cells of a Slurm run in this folder into the table and report",
  },
  partition: { type: "string", default: "", help: "Slurm partition (default: the cluster's)" },
  time: { type: "string", default: "01:00:00", help: "Slurm time limit of each cell" },
  mem: { type: "string", default: "4G", help: "Slurm memory of each cell" },
  "cpus-per-task": { type: "string", default: "2", help: "Slurm CPUs of each cell" },
  gpus: { type: "string", default: "0", help: "GPUs of each cell (--gres=gpu:N; 0: none)" },
  "max-parallel": {
    type: "string",
    default: "16",
    help: "cells of the array running at once (--array=…%N)",
  },
  "sbatch-arg": {
    type: "string",
    default: "",
    help: 'extra #SBATCH lines, ;-separated, e.g. "--account=lab;--qos=short"',
  },
};

/** The Slurm settings of a submission. */
export interface SlurmSettings {
  partition: string;
  time: string;
  mem: string;
  cpusPerTask: number;
  gpus: number;
  maxParallel: number;
  extra: string[];
  dryRun: boolean;
}

/** Reads the Slurm flags, failing on a malformed one. */
export function slurmSettings(flags: Record<string, string | boolean>): SlurmSettings {
  const time = String(flags.time);
  if (!/^(\d+-)?\d+(:\d{2}){0,2}$/.test(time)) {
    throw new UsageError(
      `Flag --time must be a Slurm time such as 30, 01:30:00 or 2-00:00:00; got "${time}"`,
    );
  }
  const mem = String(flags.mem);
  if (!/^\d+[KMGT]?$/.test(mem)) {
    throw new UsageError(`Flag --mem must be a Slurm size such as 4000 or 8G; got "${mem}"`);
  }
  const partition = String(flags.partition ?? "");
  if (!/^[\w.,-]*$/.test(partition)) {
    throw new UsageError(`Flag --partition: "${partition}" is not a partition name`);
  }
  const extra = String(flags["sbatch-arg"] ?? "").split(";").map((s) => s.trim())
    .filter((s) => s !== "");
  for (const e of extra) {
    if (!/^--?[\w-]+(=\S+)?$/.test(e)) {
      throw new UsageError(
        `Flag --sbatch-arg: "${e}" is not one sbatch option such as --account=lab`,
      );
    }
  }
  return {
    partition,
    time,
    mem,
    cpusPerTask: numberFlag(flags, "cpus-per-task", { integer: true, min: 1 }),
    gpus: numberFlag(flags, "gpus", { integer: true, min: 0 }),
    maxParallel: numberFlag(flags, "max-parallel", { integer: true, min: 1 }),
    extra,
    dryRun: flags["dry-run"] === true,
  };
}

/** One cell of a study: its id and the config object its task reads with `--config`. */
export interface StudyCell {
  id: string;
  config: Record<string, unknown>;
}

/** Where a study keeps a cell's files. */
export function cellPaths(
  out: string,
  id: string,
): { config: string; dir: string; results: string; log: string } {
  const dir = `${out}/cells/${id}`;
  return {
    config: `${out}/cells/${id}.json`,
    dir,
    results: `${dir}/results.json`,
    log: `${dir}/cell.log`,
  };
}

/**
 * Writes each cell's config file and `cells/cells.txt` (line i + 1 is the
 * cell of array index i), atomically; a config already there is rewritten
 * only if it differs.
 */
export async function writeCells(out: string, cells: readonly StudyCell[]): Promise<void> {
  await Deno.mkdir(`${out}/cells`, { recursive: true });
  for (const cell of cells) {
    const path = cellPaths(out, cell.id).config;
    const text = JSON.stringify(cell.config, null, 2) + "\n";
    const old = await Deno.readTextFile(path).catch(() => null);
    if (old !== text) await writeFileAtomic(path, text);
  }
  await writeFileAtomic(`${out}/cells/cells.txt`, cells.map((c) => c.id).join("\n") + "\n");
}

/** Single-quotes a string for bash. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'"'"'`)}'`;
}

/** The array indices as Slurm's --array list, runs collapsed: [0,1,2,5] → "0-2,5". */
export function arrayList(indices: readonly number[]): string {
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/** What {@linkcode sbatchScript} writes. */
export interface ArrayJob {
  /** The study's folder. */
  out: string;
  /** Slurm's job name. */
  name: string;
  /** The deno task each cell runs with `--config <cell>.json`, e.g. "train". */
  task: string;
  /** Extra arguments after the config, e.g. ["--skip-complete"]. */
  taskArgs: string[];
  /** The array indices to run (those not complete). */
  indices: number[];
  settings: SlurmSettings;
  /** The repository root, where `deno task` finds deno.json. */
  root: string;
  /** The Deno executable the nodes run (default: this one). */
  deno: string;
  /** A shared DENO_DIR with the npm cache warmed on the login node, or null. */
  denoDir: string | null;
}

/** The sbatch array script of a study: one array task per cell, each into its own folder and log. */
export function sbatchScript(job: ArrayJob): string {
  const s = job.settings;
  const out = resolve(job.out);
  const q = shellQuote;
  const directives = [
    `--job-name=${job.name}`,
    `--array=${arrayList(job.indices)}%${s.maxParallel}`,
    ...(s.partition ? [`--partition=${s.partition}`] : []),
    `--time=${s.time}`,
    `--mem=${s.mem}`,
    `--cpus-per-task=${s.cpusPerTask}`,
    ...(s.gpus > 0 ? [`--gres=gpu:${s.gpus}`] : []),
    `--chdir=${resolve(job.root)}`,
    `--output=${out}/slurm/%A_%a.out`,
    ...s.extra,
  ];
  return [
    "#!/bin/bash",
    `# saliency-lab: ${job.indices.length} cell(s) of ${out}, one array task each.`,
    `# Each runs: deno task ${job.task} --config cells/<cell>.json ${job.taskArgs.join(" ")}`,
    "# Resubmitting runs only the cells without results.json.",
    ...directives.map((d) => `#SBATCH ${d}`),
    "set -uo pipefail",
    `CELLS=${q(`${out}/cells`)}`,
    `DENO=\${SALIENCY_LAB_DENO:-${q(job.deno)}}`,
    ...(job.denoDir ? [`export DENO_DIR=${q(job.denoDir)}`] : []),
    "export DENO_NO_UPDATE_CHECK=1 NO_COLOR=1",
    'id=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" "$CELLS/cells.txt")',
    'if [ -z "$id" ]; then',
    '  echo "saliency-lab: no cell at array index $SLURM_ARRAY_TASK_ID in $CELLS/cells.txt" >&2',
    "  exit 2",
    "fi",
    'mkdir -p "$CELLS/$id"',
    'log="$CELLS/$id/cell.log"',
    'if [ -e "$CELLS/$id/results.json" ]; then',
    '  echo "saliency-lab: cell $id is already complete; nothing to do" >> "$log"',
    "  exit 0",
    "fi",
    'echo "saliency-lab: start cell $id, job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} on $(hostname) at $(date -u +%FT%TZ)" >> "$log"',
    `"$DENO" task ${job.task} --config "$CELLS/$id.json" --threads "\${SLURM_CPUS_PER_TASK:-1}"` +
    `${job.taskArgs.map((a) => ` ${q(a)}`).join("")} >> "$log" 2>&1`,
    "status=$?",
    'echo "saliency-lab: exit status $status" >> "$log"',
    "exit $status",
    "",
  ].join("\n");
}

/** The path of `sbatch`, or a clear error when Slurm's client is not installed. */
export async function findSbatch(): Promise<string> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && await pathExists(`${dir}/sbatch`)) return `${dir}/sbatch`;
  }
  throw new UsageError(
    "Flag --slurm: sbatch is not on PATH. Run this on a Slurm login node (or load the Slurm " +
      "module), or add --dry-run to write the cells and print the script without submitting it.",
  );
}

/** Writes the script to `<out>/slurm/array.sbatch`; returns its path. */
export async function writeScript(out: string, script: string): Promise<string> {
  const path = `${out}/slurm/array.sbatch`;
  await Deno.mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, script);
  await Deno.chmod(path, 0o755);
  return path;
}

/** Submits a script with `sbatch --parsable`; returns the job id. */
export async function submit(script: string): Promise<string> {
  const sbatch = await findSbatch();
  const r = await new Deno.Command(sbatch, {
    args: ["--parsable", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (r.code !== 0) {
    throw new Error(`sbatch ${script} failed (exit ${r.code}): ${dec.decode(r.stderr).trim()}`);
  }
  const id = dec.decode(r.stdout).trim().split(";")[0];
  if (!/^\d+$/.test(id)) throw new Error(`sbatch ${script} printed no job id: "${id}"`);
  return id;
}

/** What {@linkcode submitArray} submits. */
export interface ArraySubmission {
  /** The study's folder. */
  out: string;
  /** The study's name in the messages and Slurm's job name, e.g. "sweep". */
  study: string;
  /** Every cell, in array-index order. */
  cells: readonly StudyCell[];
  /** Whether a cell is complete (its results are there and belong to this study). */
  isComplete: (cell: StudyCell) => Promise<boolean>;
  /** The deno task each cell runs with `--config <cell>.json`. */
  task: string;
  /** Extra arguments after the config. */
  taskArgs: string[];
  /** The task's flags, for the Slurm settings. */
  flags: Record<string, string | boolean>;
}

/**
 * Writes the cells' config files and the array script for those not
 * complete; prints the script (`--dry-run`) or submits it and prints the job
 * id, how to watch it and how to collect it.
 */
export async function submitArray(s: ArraySubmission): Promise<void> {
  const settings = slurmSettings(s.flags);
  await writeCells(s.out, s.cells);
  const indices: number[] = [];
  for (const [i, cell] of s.cells.entries()) {
    if (!(await s.isComplete(cell))) indices.push(i);
  }
  const complete = s.cells.length - indices.length;
  const collect = `deno task ${s.study} --collect ${s.out}`;
  if (indices.length === 0) {
    console.log(
      `all ${s.cells.length} cells of ${s.out} are complete; nothing to submit. ` +
        `Gather them with: ${collect}`,
    );
    return;
  }
  const script = sbatchScript({
    out: s.out,
    name: `${s.study}-${s.out.split("/").filter((x) => x).at(-1)}`,
    task: s.task,
    taskArgs: s.taskArgs,
    indices,
    settings,
    root: Deno.cwd(),
    deno: Deno.execPath(),
    denoDir: Deno.env.get("DENO_DIR") ?? null,
  });
  const path = await writeScript(s.out, script);
  if (settings.dryRun) {
    console.log(script);
    console.log(
      `# dry run: wrote ${s.cells.length} cell configs under ${s.out}/cells and ${path}; ` +
        `${indices.length} cell(s) to run, ${complete} complete. Submit with: sbatch ${path}`,
    );
    return;
  }
  const job = await submit(path);
  console.log(
    `submitted job ${job}: ${indices.length} cell(s) of ${s.cells.length} ` +
      `(${complete} already complete), at most ${settings.maxParallel} at once; ${path}\n` +
      `watch it with: squeue -j ${job}\n` +
      `when it is done: ${collect}`,
  );
}

/** Where a cell stands. */
export type CellState = "complete" | "failed" | "unfinished" | "missing";

/** A cell's state, with the tail of its log when it did not finish. */
export interface CellStatus {
  id: string;
  state: CellState;
  /** Why, in words. */
  reason: string;
  /** The last lines of the cell's log (empty when it has none). */
  logTail: string[];
}

/** Reads where each cell stands from its folder and log. */
export async function cellStatus(out: string, id: string, tailLines = 12): Promise<CellStatus> {
  const p = cellPaths(out, id);
  if (await pathExists(p.results)) return { id, state: "complete", reason: "done", logTail: [] };
  const log = await Deno.readTextFile(p.log).catch(() => null);
  if (log === null) {
    return { id, state: "missing", reason: "never started (no cell.log)", logTail: [] };
  }
  const lines = log.split("\n").filter((l) => l !== "");
  const tail = lines.slice(-tailLines);
  const marks = lines.filter((l) => l.startsWith("saliency-lab: "));
  const last = marks.at(-1) ?? "";
  const exit = last.match(/^saliency-lab: exit status (\d+)/);
  if (exit) {
    return { id, state: "failed", reason: `exited with status ${exit[1]}`, logTail: tail };
  }
  return {
    id,
    state: "unfinished",
    reason: "started but did not finish: still running, or stopped by Slurm " +
      "(time or memory limit, cancelled; see slurm/*.out)",
    logTail: tail,
  };
}

/** A report of the cells that are not complete, with their log tails. */
export function describeIncomplete(out: string, statuses: readonly CellStatus[]): string {
  const bad = statuses.filter((s) => s.state !== "complete");
  if (bad.length === 0) return "";
  const lines = [`${bad.length} of ${statuses.length} cell(s) have no results:`];
  for (const s of bad) {
    lines.push(`- ${s.id}: ${s.state}, ${s.reason}`);
    if (s.logTail.length > 0) {
      lines.push(`  last lines of ${cellPaths(out, s.id).log}:`);
      lines.push(...s.logTail.map((l) => `    ${l}`));
    }
  }
  lines.push(`Resubmit the same command with --slurm to run only these cells again.`);
  return lines.join("\n");
}
