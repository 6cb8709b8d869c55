/**
 * What a run records beside its results so that it can be reproduced, and
 * the check that a resumed run keeps the settings it was started with.
 *
 * @module
 */
import { TFJS_VERSION } from "../deps.ts";
import { backendInfo } from "../backend/init_backend.ts";
import type { BackendInfo } from "../backend/init_backend.ts";
import { VERSION } from "../version.ts";
import { OptionError } from "../util/option_error.ts";
import { writeJsonAtomic } from "../util/atomic.ts";

/** The record written as `run` in every `results.json`. */
export interface RunInfo {
  /** The command-line task or script. */
  task: string;
  /** The full configuration, every option resolved. */
  config: Record<string, unknown>;
  /** The seed everything random was drawn from. */
  seed: number;
  /** The engine in use. */
  backend: BackendInfo | null;
  /** Versions of saliency-lab, tfjs, Deno, V8 and TypeScript. */
  versions: Record<string, string>;
  /** The git commit of the working tree, with `+dirty` when it has changes, or null. */
  gitCommit: string | null;
  /** When the run started, ISO 8601. */
  startedAt: string;
  /** The host's core count and OS. */
  machine: { cores: number; os: string; arch: string };
}

/**
 * Collects the run record: configuration, seed, engine, versions and git
 * commit (null outside a checkout or without `--allow-run`).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { collectRunInfo } from "./run_info.ts";
 * const info = await collectRunInfo("demo", { steps: 10 }, 0);
 * assert.equal(info.versions.tfjs, "4.22.0");
 * assert.equal(info.versions.deno, Deno.version.deno);
 * assert.deepStrictEqual([info.task, info.config, info.seed], ["demo", { steps: 10 }, 0]);
 * ```
 */
export async function collectRunInfo(
  task: string,
  config: Record<string, unknown>,
  seed: number,
): Promise<RunInfo> {
  return {
    task,
    config,
    seed,
    backend: backendInfo(),
    versions: {
      saliencyLab: VERSION,
      tfjs: TFJS_VERSION,
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      typescript: Deno.version.typescript,
    },
    gitCommit: await gitCommit(),
    startedAt: new Date().toISOString(),
    machine: { cores: navigator.hardwareConcurrency, os: Deno.build.os, arch: Deno.build.arch },
  };
}

async function gitCommit(): Promise<string | null> {
  try {
    const run = (args: string[]) =>
      new Deno.Command("git", { args, stdout: "piped", stderr: "null" }).output();
    const head = await run(["rev-parse", "HEAD"]);
    if (!head.success) return null;
    const commit = new TextDecoder().decode(head.stdout).trim();
    const status = await run(["status", "--porcelain", "--untracked-files=no"]);
    const dirty = status.success && new TextDecoder().decode(status.stdout).trim() !== "";
    return dirty ? `${commit}+dirty` : commit;
  } catch {
    return null;
  }
}

/** One setting that differs between a stored run and a call that resumes it. */
export interface SettingChange {
  /** The setting's key, as the caller's settings spell it (a flag's name). */
  setting: string;
  /** Its stored value (undefined where the run had none). */
  old: unknown;
  /** Its value now (undefined where it is gone). */
  new: unknown;
}

/** Options of {@linkcode compareSettings}. */
export interface CompareSettingsOptions {
  /**
   * Keys left out of the comparison: where and how a run runs, not what
   * it computes. @default {["out", "backend", "threads"]}
   */
  ignore?: readonly string[];
}

/**
 * The settings whose values differ between `stored` and `current` (compared
 * as JSON), in the order of `current`'s keys and then any only `stored`
 * has; keys in `options.ignore` are left out.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { compareSettings } from "./run_info.ts";
 * const stored = { lr: 0.003, epochs: 2, out: "runs/a", loss: "ce=1" };
 * const current = { lr: 0.01, epochs: 2, out: "runs/b", loss: "ce=1", flip: 0 };
 * assert.deepStrictEqual(compareSettings(stored, current), [
 *   { setting: "lr", old: 0.003, new: 0.01 },
 *   { setting: "flip", old: undefined, new: 0 },
 * ]);
 * ```
 */
export function compareSettings(
  stored: Record<string, unknown>,
  current: Record<string, unknown>,
  options: CompareSettingsOptions = {},
): SettingChange[] {
  const ignore = new Set(options.ignore ?? ["out", "backend", "threads"]);
  const keys = [...new Set([...Object.keys(current), ...Object.keys(stored)])];
  return keys.filter((k) =>
    !ignore.has(k) && JSON.stringify(stored[k]) !== JSON.stringify(current[k])
  )
    .map((k) => ({ setting: k, old: stored[k], new: current[k] }));
}

/** A change as `--setting: old → new`. */
export function describeChange(change: SettingChange): string {
  const show = (v: unknown) =>
    v === undefined ? "(unset)" : typeof v === "string" && v !== "" ? v : JSON.stringify(v);
  return `--${change.setting}: ${show(change.old)} → ${show(change.new)}`;
}

/** Options of {@linkcode checkResumeSettings}. */
export interface CheckResumeSettingsOptions extends CompareSettingsOptions {
  /**
   * Resume even with changed settings: `run.json` then takes the new ones
   * and records the change under `overrides`. @default {false}
   */
  overrideSettings?: boolean;
}

/**
 * Before a run in `outDir` is resumed: compares the settings its `run.json`
 * stored when it started (`settings`, written by `train()`'s `settings`
 * option) with `settings`, keyed by flag name. A change fails with an
 * {@linkcode OptionError} listing each as `--flag: old → new` (fixed by
 * the option `overrideSettings`, `--override-settings` on a command line)
 * unless `options.overrideSettings` is set; then the new settings replace
 * the stored ones and the change is appended to `run.json`'s `overrides`
 * (with the time). Returns the changes; none where there is no `run.json`
 * or it stored no settings (a fresh start).
 *
 * @example A changed --lr is refused, then taken and recorded
 * ```ts
 * import assert from "node:assert";
 * import { checkResumeSettings } from "./run_info.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/run.json`, JSON.stringify({ settings: { lr: 0.003, out: dir } }));
 * assert.deepStrictEqual(await checkResumeSettings(dir, { lr: 0.003, out: "elsewhere" }), []);
 * await assert.rejects(checkResumeSettings(dir, { lr: 0.01 }), {
 *   message: `Cannot resume the run in "${dir}" with other settings than it started with ` +
 *     "(--lr: 0.003 → 0.01); pass overrideSettings: true to resume with the new ones",
 * });
 * const changes = await checkResumeSettings(dir, { lr: 0.01 }, { overrideSettings: true });
 * assert.deepStrictEqual(changes, [{ setting: "lr", old: 0.003, new: 0.01 }]);
 * const run = JSON.parse(await Deno.readTextFile(`${dir}/run.json`));
 * assert.deepStrictEqual(run.settings, { lr: 0.01 });
 * assert.deepStrictEqual(run.overrides[0].changes, changes);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function checkResumeSettings(
  outDir: string,
  settings: Record<string, unknown>,
  options: CheckResumeSettingsOptions = {},
): Promise<SettingChange[]> {
  const stored = await readStoredRun(outDir);
  if (stored === null) return [];
  const changes = compareSettings(stored.settings, settings, options);
  if (changes.length === 0) return [];
  if (!options.overrideSettings) {
    throw new OptionError(
      `Cannot resume the run in "${outDir}" with other settings than it started with ` +
        `(${changes.map(describeChange).join("; ")})`,
      [{ option: "overrideSettings", value: true, effect: "to resume with the new ones" }],
    );
  }
  const { run } = stored;
  const overrides = Array.isArray(run.overrides) ? run.overrides : [];
  await writeJsonAtomic(stored.path, {
    ...run,
    settings,
    overrides: [...overrides, { at: new Date().toISOString(), changes }],
  });
  return changes;
}

/** One run a study is about to start or resume, with its settings now. */
export interface ResumedRun {
  /** Its folder: where its `run.json` is, if it was started before. */
  outDir: string;
  /** Its settings now, keyed by flag name. */
  settings: Record<string, unknown>;
}

/**
 * Before a study resumes many runs (a sweep's cells), all checked at once
 * as {@linkcode checkResumeSettings} checks one, before any of them trains:
 * a changed setting in any run fails with one {@linkcode OptionError}
 * listing each change with the runs it is in, unless
 * `options.overrideSettings` is set. Nothing is written; each run records
 * its own change when it resumes. Returns the changes by `outDir`, for the
 * runs that have any.
 *
 * @example Two runs started with --lr 0.003, rerun with --lr 0.01
 * ```ts
 * import assert from "node:assert";
 * import { checkResumedRuns } from "./run_info.ts";
 * const dir = await Deno.makeTempDir();
 * for (const cell of ["a", "b"]) {
 *   await Deno.mkdir(`${dir}/${cell}`);
 *   await Deno.writeTextFile(`${dir}/${cell}/run.json`, JSON.stringify({ settings: { lr: 0.003 } }));
 * }
 * const runs = ["a", "b", "c"].map((cell) => ({ outDir: `${dir}/${cell}`, settings: { lr: 0.01 } }));
 * await assert.rejects(checkResumedRuns(runs), {
 *   message: "Cannot resume 2 runs with other settings than they started with " +
 *     `(--lr: 0.003 → 0.01 in ${dir}/a and ${dir}/b); ` +
 *     "pass overrideSettings: true to resume them with the new ones",
 * });
 * const changes = await checkResumedRuns(runs, { overrideSettings: true });
 * assert.deepStrictEqual([...changes.keys()], [`${dir}/a`, `${dir}/b`]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function checkResumedRuns(
  runs: readonly ResumedRun[],
  options: CheckResumeSettingsOptions = {},
): Promise<Map<string, SettingChange[]>> {
  const found = new Map<string, SettingChange[]>();
  for (const r of runs) {
    const stored = await readStoredRun(r.outDir);
    const changes = stored ? compareSettings(stored.settings, r.settings, options) : [];
    if (changes.length > 0) found.set(r.outDir, changes);
  }
  if (found.size === 0 || options.overrideSettings) return found;
  // Each change once, with the runs it is in.
  const where = new Map<string, string[]>();
  for (const [dir, changes] of found) {
    for (const change of changes) {
      const text = describeChange(change);
      where.set(text, [...(where.get(text) ?? []), dir]);
    }
  }
  const list = (dirs: string[]) =>
    dirs.length <= 3
      ? dirs.join(dirs.length === 2 ? " and " : ", ")
      : `${dirs.slice(0, 2).join(", ")} and ${dirs.length - 2} more`;
  throw new OptionError(
    `Cannot resume ${found.size} run${found.size === 1 ? "" : "s"} with other settings than ` +
      `${found.size === 1 ? "it" : "they"} started with (${
        [...where].map(([text, dirs]) => `${text} in ${list(dirs)}`).join("; ")
      })`,
    [{
      option: "overrideSettings",
      value: true,
      effect: `to resume ${found.size === 1 ? "it" : "them"} with the new ones`,
    }],
  );
}

/** A run's `run.json` and the settings it stored; null without either (a fresh start). */
async function readStoredRun(
  outDir: string,
): Promise<
  { path: string; run: Record<string, unknown>; settings: Record<string, unknown> } | null
> {
  const path = `${outDir}/run.json`;
  let run: Record<string, unknown>;
  try {
    run = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw new Error(`${path}: cannot read the run record (${(error as Error).message})`, {
      cause: error,
    });
  }
  const settings = run.settings;
  if (typeof settings !== "object" || settings === null) return null;
  return { path, run, settings: settings as Record<string, unknown> };
}
