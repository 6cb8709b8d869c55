// Runs a task script as a subprocess from the repository root. Shared by the task tests.
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The permissions of the deno.json task lines. */
export const TASK_PERMS = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-ffi",
  "--allow-sys",
  "--allow-run",
];

/** What a task run printed and returned. */
export interface TaskRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno run <perms> [extraPerms] <script> <args>` in the repository root. */
export async function runTask(
  script: string,
  args: string[],
  extraPerms: string[] = [],
): Promise<TaskRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...TASK_PERMS, ...extraPerms, script, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** transfer's tiny preset: synthetic 16 px source (40 images) and target (30), one epoch each. */
export const TINY_TRANSFER: readonly string[] = [
  "--size=16",
  "--width=0.25",
  "--source-count=40",
  "--source-classes=3",
  "--target-count=30",
  "--target-classes=2",
  "--source-epochs=1",
  "--target-epochs=1",
  "--batch=8",
  "--threads=1",
  "--resamples=50",
];

/** compare-gradcam's tiny preset: 24 images of 16 px, 2 classes, 4 steps of batch 4. */
export const TINY_COMPARE: readonly string[] = [
  "--steps=4",
  "--size=16",
  "--count=24",
  "--classes=2",
  "--width=0.25",
  "--batch=4",
];

/** sweep's tiny grid, 2 × 1 × 1 × 1 × 2: 4 cells of 40 synthetic 16 px images, 4 steps each. */
export const TINY_SWEEP: readonly string[] = [
  "--size=16",
  "--width=0.25",
  "--count=40",
  "--classes=2",
  "--batch=8",
  "--epochs=1",
  "--threads=1",
  "--resamples=50",
  "--backbones=reference,plain_cnn",
  "--heads=cam",
  "--losses=bce",
  "--weights=1",
  "--seeds=0,1",
];

/** The cells of {@linkcode TINY_SWEEP}, in array-index order. */
export const TINY_SWEEP_CELLS: readonly string[] = [
  "reference-reference-bce-w1-s0",
  "reference-reference-bce-w1-s1",
  "plain_cnn-cam-bce-w1-s0",
  "plain_cnn-cam-bce-w1-s1",
];
