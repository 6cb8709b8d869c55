/**
 * What a run records beside its results so that it can be reproduced.
 *
 * @module
 */
import { TFJS_VERSION } from "../deps.ts";
import { backendInfo } from "../backend/init_backend.ts";
import type { BackendInfo } from "../backend/init_backend.ts";
import { VERSION } from "../version.ts";

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
