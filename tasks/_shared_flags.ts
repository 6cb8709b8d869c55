// Flags that several tasks read alike: comma lists, the study's own flags,
// the engine flags, and the permissions a task runs with.
import type { EngineName } from "../mod.ts";
import { backendFlag, type FlagSpec, numberFlag, UsageError } from "./_cli.ts";

/**
 * A comma-list flag: at least one value, none twice, each one of `choices`
 * when given.
 */
export function listFlag(
  values: Record<string, string | boolean>,
  name: string,
  { choices }: { choices?: readonly string[] } = {},
): string[] {
  const items = String(values[name] ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (items.length === 0) throw new UsageError(`Flag --${name} needs at least one value`);
  const seen = new Set<string>();
  for (const item of items) {
    if (seen.has(item)) throw new UsageError(`Flag --${name} lists "${item}" twice`);
    seen.add(item);
    if (choices && !choices.includes(item)) {
      throw new UsageError(
        `Flag --${name}: unknown value "${item}" (choices: ${choices.join(", ")})`,
      );
    }
  }
  return items;
}

/** A comma-list flag of numbers, each passing `check` (else it is not `what`). */
export function numberListFlag(
  values: Record<string, string | boolean>,
  name: string,
  check: (n: number) => boolean,
  what: string,
): number[] {
  return listFlag(values, name).map((item) => {
    const n = Number(item);
    if (!Number.isFinite(n) || !check(n)) {
      throw new UsageError(`Flag --${name}: "${item}" is not ${what}`);
    }
    return n;
  });
}

/** The permissions a task runs with when a task starts another in its own process. */
export const TASK_PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-ffi",
  "--allow-sys",
];

/**
 * The flags that define a study, as given (saved for --collect): those of
 * `specs` but `out` and those of `except` (how it is run), then --seed.
 */
export function studyFlags(
  values: Record<string, string | boolean>,
  specs: Record<string, FlagSpec>,
  { except = {} }: { except?: Record<string, FlagSpec> } = {},
): Record<string, string | boolean> {
  const names = [...Object.keys(specs).filter((k) => k !== "out" && !(k in except)), "seed"];
  return Object.fromEntries(
    names.filter((k) => values[k] !== undefined).map((k) => [k, values[k]]),
  );
}

/** The engine flags every task reads: --backend, --threads and --seed, checked. */
export function engineFlags(
  values: Record<string, string | boolean>,
): { backend: EngineName | "auto"; threads: number; seed: number } {
  return {
    backend: backendFlag(values),
    threads: numberFlag(values, "threads", { integer: true, min: 1 }),
    seed: numberFlag(values, "seed", { integer: true }),
  };
}
