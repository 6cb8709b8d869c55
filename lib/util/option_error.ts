/**
 * An error about options that says which options to change, as data, so
 * that a command line can name its own flags instead of the options.
 *
 * @module
 */

/**
 * One way out of an {@linkcode OptionError}: set an option to a value
 * (`value`), or change it (`change`: another, lower or higher value).
 */
export type OptionFix =
  | {
    /** The option's name, e.g. `"resume"`. */
    option: string;
    /** The value to pass. */
    value: boolean | number | string;
    /** What it does, e.g. `"to continue it"`. */
    effect?: string;
  }
  | {
    /** The option's name, e.g. `"outDir"`. */
    option: string;
    /** How to change the value. */
    change: "another" | "lower" | "raise";
    /** What it does. */
    effect?: string;
  };

/** How {@linkcode describeFixes} spells options and settings. */
export interface FixSpelling {
  /**
   * The option's name for the reader, or null to leave out every fix of
   * that option (one the reader cannot change).
   * @default {(option) => option}
   */
  name?: (option: string) => string | null;
  /**
   * The setting of option `name` to `value`, or null to leave it out.
   * @default {(name, value) => `${name}: ${JSON.stringify(value)}`}
   */
  setting?: (name: string, value: boolean | number | string) => string | null;
}

/**
 * The fixes as one phrase: `pass resume: true to continue it, overwrite:
 * true to replace it, or another outDir`. Fixes that `spelling` leaves out
 * are dropped; with none left, the phrase is empty.
 *
 * @example Spelled as options, then as a command line's flags
 * ```ts
 * import assert from "node:assert";
 * import { describeFixes, type OptionFix } from "./option_error.ts";
 * const fixes: OptionFix[] = [
 *   { option: "dropLast", value: false },
 *   { option: "batchSize", change: "lower" },
 * ];
 * assert.equal(describeFixes(fixes), "pass dropLast: false or lower batchSize");
 * const flags: Record<string, string> = { batchSize: "--batch" };
 * assert.equal(describeFixes(fixes, { name: (o) => flags[o] ?? null }), "lower --batch");
 * ```
 */
export function describeFixes(fixes: readonly OptionFix[], spelling: FixSpelling = {}): string {
  const name = spelling.name ?? ((option: string) => option);
  const setting = spelling.setting ??
    ((n: string, value: boolean | number | string) => `${n}: ${JSON.stringify(value)}`);
  const parts: string[] = [];
  let passing = false;
  for (const fix of fixes) {
    const n = name(fix.option);
    if (n === null) continue;
    const effect = fix.effect ? ` ${fix.effect}` : "";
    if ("change" in fix) {
      parts.push(`${fix.change} ${n}${effect}`);
      passing = false;
      continue;
    }
    const set = setting(n, fix.value);
    if (set === null) continue;
    parts.push(`${passing ? "" : "pass "}${set}${effect}`);
    passing = true;
  }
  if (parts.length <= 2) return parts.join(" or ");
  return `${parts.slice(0, -1).join(", ")}, or ${parts[parts.length - 1]}`;
}

/**
 * Options that cannot work as given (a batch larger than the data, an
 * output folder that already holds a run). `problem` says what is wrong and
 * `fixes` which options to change; the message joins them, spelling the
 * options as the library does. A command line spells them as its flags
 * with {@linkcode OptionError.prototype.describe}. A `RangeError`, so code
 * that catches bad option values catches it too.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { OptionError } from "./option_error.ts";
 * const e = new OptionError("Cannot start a run in \"out\": it already holds one", [
 *   { option: "resume", value: true, effect: "to continue it" },
 *   { option: "outDir", change: "another" },
 * ]);
 * assert.equal(
 *   e.message,
 *   'Cannot start a run in "out": it already holds one; pass resume: true to continue it or another outDir',
 * );
 * const flags: Record<string, string> = { resume: "--resume", outDir: "--out" };
 * assert.equal(
 *   e.describe({ name: (o) => flags[o] ?? null, setting: (n, v) => (v === true ? n : null) }),
 *   'Cannot start a run in "out": it already holds one; pass --resume to continue it or another --out',
 * );
 * assert.ok(e instanceof RangeError);
 * ```
 */
export class OptionError extends RangeError {
  /** What is wrong, without the fixes. */
  readonly problem: string;
  /** The options to change, in the order the message names them. */
  readonly fixes: readonly OptionFix[];

  /** Creates the error; `options.cause` keeps an underlying error. */
  constructor(problem: string, fixes: readonly OptionFix[], options?: ErrorOptions) {
    const fix = describeFixes(fixes);
    super(fix === "" ? problem : `${problem}; ${fix}`, options);
    this.name = "OptionError";
    this.problem = problem;
    this.fixes = fixes;
  }

  /** The message with the options spelled by `spelling` (fixes it leaves out are dropped). */
  describe(spelling: FixSpelling): string {
    const fix = describeFixes(this.fixes, spelling);
    return fix === "" ? this.problem : `${this.problem}; ${fix}`;
  }
}
