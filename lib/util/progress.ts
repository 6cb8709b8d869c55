/**
 * A progress bar for long loops, on standard error.
 *
 * @module
 */

/** Options of {@linkcode ProgressBar}. */
export interface ProgressOptions {
  /** Text before the bar. @default {""} */
  label?: string;
  /** Redraw in place (a terminal) or print a line every tenth (a log). @default {stderr is a terminal} */
  interactive?: boolean;
  /** Where lines go. @default {text written to standard error} */
  write?: (text: string) => void;
  /** What a step is, in the rate (`"MB"` gives `12.5 MB/s`). @default {"it"} */
  unit?: string;
}

const encoder = new TextEncoder();

/**
 * A bar that shows done/total, rate, time left and a status text:
 * `train ██████░░░░ 120/200  3.1 it/s  ETA 26s  loss 0.41`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { ProgressBar } from "./progress.ts";
 * const lines: string[] = [];
 * const bar = new ProgressBar(3, { label: "work", interactive: false, write: (t) => lines.push(t) });
 * for (let i = 0; i < 3; i++) bar.tick(1, `item ${i}`);
 * bar.done();
 * assert.equal(lines.length, 3); // not interactive: a line every tenth
 * assert.match(lines[2], /^work  █{20}  3\/3  .* it\/s  ETA 0s  item 2\n$/);
 * ```
 */
export class ProgressBar {
  #total: number;
  #count = 0;
  #start = performance.now();
  #label: string;
  #interactive: boolean;
  #write: (text: string) => void;
  #lastTenth = -1;
  #status = "";
  #unit: string;

  /** Starts a bar for `total` steps. */
  constructor(total: number, options: ProgressOptions = {}) {
    this.#total = Math.max(1, total);
    this.#label = options.label ?? "";
    this.#interactive = options.interactive ?? safeIsTerminal();
    this.#write = options.write ?? ((text) => Deno.stderr.writeSync(encoder.encode(text)));
    this.#unit = options.unit ?? "it";
  }

  /** Advances by `n` steps and sets the status text. */
  tick(n = 1, status?: string): void {
    this.#count = Math.min(this.#total, this.#count + n);
    if (status !== undefined) this.#status = status;
    if (this.#interactive) {
      this.#write(`\r${this.#line()}\x1b[K`);
    } else {
      const tenth = Math.floor((10 * this.#count) / this.#total);
      if (tenth !== this.#lastTenth) {
        this.#lastTenth = tenth;
        this.#write(`${this.#line()}\n`);
      }
    }
  }

  /** Ends the bar's line. */
  done(): void {
    if (this.#interactive) this.#write(`\r${this.#line()}\x1b[K\n`);
  }

  #line(): string {
    const width = 20;
    const filled = Math.round((width * this.#count) / this.#total);
    const seconds = (performance.now() - this.#start) / 1000;
    const rate = this.#count / Math.max(seconds, 1e-9);
    const eta = rate > 0 ? (this.#total - this.#count) / rate : 0;
    const bar = "█".repeat(filled) + "░".repeat(width - filled);
    const unit = this.#unit;
    const rateText = rate >= 1
      ? `${rate.toFixed(1)} ${unit}/s`
      : `${(1 / rate).toFixed(1)} s/${unit}`;
    return [
      this.#label,
      bar,
      `${this.#count}/${this.#total}`,
      rateText,
      `ETA ${formatSeconds(eta)}`,
      this.#status,
    ].filter((s) => s).join("  ");
  }
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${Math.round(s)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
}

function safeIsTerminal(): boolean {
  try {
    return Deno.stderr.isTerminal();
  } catch {
    return false;
  }
}
