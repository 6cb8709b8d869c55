// Shared command-line plumbing for tasks/: flag parsing with --help, typed
// number flags with clear errors, and the run folder. Private to tasks/.
import { parseArgs } from "node:util";
import { EngineOutOfMemoryError, ENGINES, shutdownBackend } from "../mod.ts";
import type { EngineName } from "../mod.ts";

/** One flag of a task. */
export interface FlagSpec {
  type: "string" | "boolean";
  default?: string | boolean;
  help: string;
}

/** Flags every task takes. */
export const COMMON_FLAGS: Record<string, FlagSpec> = {
  backend: {
    type: "string",
    default: "auto",
    help: `engine: auto, ${ENGINES.join(", ")} (auto picks the fastest this machine has)`,
  },
  threads: {
    type: "string",
    default: String(navigator.hardwareConcurrency),
    help: "threads of the wasm engine (default: every core)",
  },
  seed: { type: "string", default: "0", help: "seed of every random choice" },
  help: { type: "boolean", default: false, help: "show this help" },
};

/** Thrown for a bad flag; tasks print its message and exit 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The flag names that the command line itself sets (not their defaults). */
export function givenOnCommandLine(args: readonly string[]): Set<string> {
  const given = new Set<string>();
  for (const arg of args) {
    const m = arg.match(/^--([^=]+)/);
    if (m) given.add(m[1]);
  }
  return given;
}

/** Every flag of `flags` (and the common ones) at its default. */
export function defaultFlags(flags: Record<string, FlagSpec>): Record<string, string | boolean> {
  const all = { ...flags, ...COMMON_FLAGS };
  return Object.fromEntries(
    Object.entries(all).filter(([, v]) => v.default !== undefined).map((
      [k, v],
    ) => [k, v.default!]),
  );
}

/** Reads a JSON config file: an object of flag values. */
export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    throw new UsageError(
      `Config file "${path}": cannot read it as JSON: ${(error as Error).message}`,
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new UsageError(`Config file "${path}": must hold a JSON object of flag values`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * Merges `values` (a config object whose keys are flag names) under `flags`,
 * leaving the flags in `given` as they are. Fails naming `source` and the key
 * on an unknown key or a value of the wrong type; null unsets a flag.
 */
export function mergeConfigObject(
  flags: Record<string, string | boolean>,
  values: Record<string, unknown>,
  spec: Record<string, FlagSpec>,
  { source, given = new Set<string>() }: { source: string; given?: Set<string> },
): Record<string, string | boolean> {
  const all: Record<string, FlagSpec> = { ...spec, ...COMMON_FLAGS };
  const merged = { ...flags };
  for (const [key, value] of Object.entries(values)) {
    const flag = all[key];
    if (!flag || key === "config" || key === "help") {
      const known = Object.keys(all).filter((k) => k !== "config" && k !== "help");
      throw new UsageError(`${source}: unknown key "${key}" (known keys: ${known.join(", ")})`);
    }
    if (given.has(key)) continue;
    if (flag.type === "boolean") {
      if (typeof value !== "boolean") {
        throw new UsageError(`${source}: key "${key}" must be true or false`);
      }
      merged[key] = value;
    } else if (value === null) {
      delete merged[key];
    } else {
      if (typeof value !== "string" && typeof value !== "number") {
        throw new UsageError(`${source}: key "${key}" must be a string or a number`);
      }
      merged[key] = String(value);
    }
  }
  return merged;
}

/**
 * Parses `args`, then merges the `--config` file (if given) under the flags
 * the command line sets: the file's keys are flag names.
 */
export async function parseFlagsWithConfig(
  task: string,
  summary: string,
  flags: Record<string, FlagSpec>,
  args: string[],
): Promise<Record<string, string | boolean>> {
  const values = parseFlags(task, summary, flags, args);
  const path = typeof values.config === "string" && values.config !== "" ? values.config : null;
  if (path === null) return values;
  return mergeConfigObject(values, await readConfigFile(path), flags, {
    source: `Config file "${path}"`,
    given: givenOnCommandLine(args),
  });
}

/** Parses `args` against `flags`; prints help and exits on --help. */
export function parseFlags(
  task: string,
  summary: string,
  flags: Record<string, FlagSpec>,
  args: string[],
): Record<string, string | boolean> {
  const all = { ...flags, ...COMMON_FLAGS };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args,
      options: Object.fromEntries(
        Object.entries(all).map(([k, v]) => [k, { type: v.type, default: v.default }]),
      ),
      allowPositionals: false,
      strict: true,
    }).values as Record<string, string | boolean | undefined>;
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\nRun with --help to see the flags.`);
  }
  if (values.help) {
    console.log(helpText(task, summary, all));
    Deno.exit(0);
  }
  return values as Record<string, string | boolean>;
}

/**
 * The help text of a task: one row per flag, its help and its default. A
 * string flag's default is added as ` (default: VALUE)` unless it is empty
 * or the help already states the default in words (`(default: every core)`).
 */
export function helpText(task: string, summary: string, flags: Record<string, FlagSpec>): string {
  const rows = Object.entries(flags).map(([name, spec]) => {
    const left = spec.type === "boolean" ? `--${name}` : `--${name} <value>`;
    const stated = /\(default\b/.test(spec.help);
    const def = spec.type === "string" && spec.default !== undefined && spec.default !== "" &&
        !stated
      ? ` (default: ${spec.default})`
      : "";
    return `  ${left.padEnd(24)} ${spec.help}${def}`;
  });
  return `${summary}\n\nUsage: deno task ${task} [flags]\n\nFlags:\n${rows.join("\n")}`;
}

/** Reads a numeric flag, failing with a message that names it. */
export function numberFlag(
  values: Record<string, string | boolean>,
  name: string,
  { integer = false, min = -Infinity, max = Infinity } = {},
): number {
  const raw = values[name];
  const n = Number(raw);
  if (typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(n)) {
    throw new UsageError(`Flag --${name} must be a number, got "${raw}"`);
  }
  if (integer && !Number.isInteger(n)) {
    throw new UsageError(`Flag --${name} must be a whole number, got ${raw}`);
  }
  if (n < min || n > max) {
    throw new UsageError(`Flag --${name} must be between ${min} and ${max}, got ${raw}`);
  }
  return n;
}

/** Reads --backend, failing with the valid choices. */
export function backendFlag(values: Record<string, string | boolean>): EngineName | "auto" {
  const b = String(values.backend);
  if (b !== "auto" && !(ENGINES as readonly string[]).includes(b)) {
    throw new UsageError(`Flag --backend must be one of auto, ${ENGINES.join(", ")}; got "${b}"`);
  }
  return b as EngineName | "auto";
}

/**
 * Runs a task's main, turning usage errors into exit code 2 and other errors
 * into 1, and stops the engine's threads at the end so the process exits.
 */
export async function runMain(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    const plain = error instanceof UsageError || error instanceof EngineOutOfMemoryError;
    console.error(plain ? error.message : error);
    // Deno.exit also ends the engine's worker threads, which a wasm abort can leave spinning.
    Deno.exit(error instanceof UsageError ? 2 : 1);
  } finally {
    await shutdownBackend();
  }
}
