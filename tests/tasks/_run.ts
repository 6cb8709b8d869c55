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
