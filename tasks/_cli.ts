// Shared command-line plumbing for tasks/: flag parsing with --help, typed
// number flags with clear errors, and the run folder. Private to tasks/.
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  DataError,
  EngineOutOfMemoryError,
  ENGINES,
  EngineUnavailableError,
  NonFiniteLossError,
  OptionError,
  pathExists,
  shutdownBackend,
} from "../mod.ts";
import type { EngineName, FileProblem } from "../mod.ts";

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
  debug: {
    type: "boolean",
    default: false,
    help: "on an error, also print its stack (as does the variable SALIENCY_LAB_DEBUG=1)",
  },
  help: { type: "boolean", default: false, help: "show this help" },
};

/** Common flags that say how to run, not what: never keys of a config file. */
const NOT_CONFIG_KEYS = new Set(["config", "help", "debug"]);

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
    if (!flag || NOT_CONFIG_KEYS.has(key)) {
      const known = Object.keys(all).filter((k) => !NOT_CONFIG_KEYS.has(k));
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
 * Makes the run folder `dir` and any missing parents. Returns what to call
 * when the run fails: it removes the folders this call made, `dir` with
 * what the run wrote into it unless `dir` then holds one of `keep` (paths
 * under `dir`, such as a checkpoint to resume from), and each parent that
 * is left empty. A folder that existed before is left as it is.
 */
export async function makeRunFolder(
  dir: string,
  { keep = [] }: { keep?: readonly string[] } = {},
): Promise<() => Promise<void>> {
  const made: string[] = [];
  for (let d = resolve(dir); !(await pathExists(d)); d = dirname(d)) {
    made.push(d);
    if (dirname(d) === d) break;
  }
  await Deno.mkdir(dir, { recursive: true });
  return async () => {
    if (made.length === 0) return;
    for (const k of keep) if (await pathExists(`${dir}/${k}`)) return;
    await Deno.remove(made[0], { recursive: true }).catch(() => {});
    // Parents, innermost first, only while empty.
    for (const d of made.slice(1)) {
      try {
        await Deno.remove(d);
      } catch {
        return;
      }
    }
  };
}

/** What {@linkcode outputFolder} made, removed by {@linkcode runMain} if the task fails. */
const madeThisCall: (() => Promise<void>)[] = [];

/**
 * Makes a task's output folder `dir` as {@linkcode makeRunFolder} does, and
 * has {@linkcode runMain} remove what this call made if the task then fails,
 * so that a failed run leaves no output folder behind (a folder that existed
 * before is left as it is).
 */
export async function outputFolder(dir: string): Promise<void> {
  madeThisCall.push(await makeRunFolder(dir));
}

/**
 * Fails on files that will not load ({@linkcode FileProblem}s from a check
 * before work starts); returns where there are none. One problem is the
 * error itself (`file: reason`); several are each printed on a line of
 * their own, and the error counts them: `3 <what> cannot be used (listed
 * above)`, naming `file` (the folder or dataset they are in).
 */
export function failOnFileProblems(
  problems: readonly FileProblem[],
  { what, file }: { what: string; file: string },
): void {
  if (problems.length === 0) return;
  if (problems.length === 1) throw new DataError(problems[0].reason, { file: problems[0].file });
  for (const p of problems) console.error(`${p.file}: ${p.reason}`);
  throw new DataError(
    `${problems.length} ${what} cannot be used (listed above); replace or remove them`,
    { file },
  );
}

/**
 * The flag that sets each library option the tasks pass on, by option name:
 * how a message meant for the command line names the option.
 */
const OPTION_FLAGS: Record<string, string> = {
  resume: "--resume",
  overrideSettings: "--override-settings",
  overwrite: "--overwrite",
  outDir: "--out",
  batchSize: "--batch",
  epochs: "--epochs",
  lr: "--lr",
  seed: "--seed",
  threads: "--threads",
  backend: "--backend",
};

/** The project's error classes whose messages are written for the user as they are. */
const OWN_ERRORS = [
  UsageError,
  DataError,
  OptionError,
  EngineOutOfMemoryError,
  EngineUnavailableError,
  NonFiniteLossError,
];

/** Lines joined into one: a line that ends without punctuation gets a full stop. */
function oneLine(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  return lines.map((l, i) => i < lines.length - 1 && !/[.;:,!?]$/.test(l) ? `${l}.` : l)
    .join(" ");
}

/**
 * An error as the one line a task prints: the message (a {@linkcode DataError}'s
 * starts with its `file:line`), library options spelled as the flags that set
 * them, and a hint naming the flag to change where one applies. Errors of
 * other classes than the project's and `Error`, `TypeError` and `RangeError`
 * keep their class name in front (`SyntaxError: …`).
 */
export function errorLine(error: unknown): string {
  if (!(error instanceof Error)) return oneLine(String(error));
  let text = error instanceof OptionError
    ? error.describe({
      name: (option) => OPTION_FLAGS[option] ?? null,
      setting: (flag, value) => value === true ? flag : value === false ? null : `${flag} ${value}`,
    })
    : error.message;
  if (error instanceof EngineUnavailableError) {
    text += "\nOr pass another --backend (auto takes the fastest engine this machine has).";
  } else if (error instanceof NonFiniteLossError) {
    text += "\nA lower --lr may keep the loss finite.";
  }
  const own = OWN_ERRORS.some((c) => error instanceof c) ||
    ["Error", "TypeError", "RangeError"].includes(error.name);
  return oneLine(own ? text : `${error.name}: ${text}`);
}

/** Whether a task prints stacks: `--debug` among `args`, or SALIENCY_LAB_DEBUG=1. */
export function debugRequested(args: readonly string[]): boolean {
  if (args.includes("--debug")) return true;
  try {
    return Deno.env.get("SALIENCY_LAB_DEBUG") === "1";
  } catch {
    return false; // No permission to read the environment.
  }
}

/** Options of {@linkcode runMain}. */
export interface RunMainOptions {
  /** The task's command line, read for `--debug`. @default {Deno.args} */
  args?: readonly string[];
}

/**
 * Runs a task's main. An error prints as one line ({@linkcode errorLine}),
 * followed by its stack and causes with `--debug` or SALIENCY_LAB_DEBUG=1;
 * the exit status is 2 for a {@linkcode UsageError}, else 1; the folders
 * {@linkcode outputFolder} made are removed first. Stops the
 * engine's threads at the end so the process exits.
 */
export async function runMain(
  main: () => Promise<void>,
  { args = Deno.args }: RunMainOptions = {},
): Promise<void> {
  try {
    await main();
  } catch (error) {
    for (const cleanUp of madeThisCall.splice(0).reverse()) await cleanUp();
    console.error(errorLine(error));
    if (debugRequested(args)) console.error(error);
    // Deno.exit also ends the engine's worker threads, which a wasm abort can leave spinning.
    Deno.exit(error instanceof UsageError ? 2 : 1);
  } finally {
    await shutdownBackend();
  }
}
