import assert from "node:assert/strict";
import { DataError, EngineUnavailableError, NonFiniteLossError, OptionError } from "../../mod.ts";
import { COMMON_FLAGS, errorLine, type FlagSpec, helpText, UsageError } from "../../tasks/_cli.ts";
import { writeBusiFixture } from "./_busi.ts";
import { runTask } from "./_run.ts";

Deno.test("helpText() states each default once: in the help's own words, else the value, never an empty one", () => {
  const flags: Record<string, FlagSpec> = {
    ...COMMON_FLAGS,
    batch: { type: "string", default: "16", help: "batch size" },
    "data-seed": { type: "string", default: "", help: "seed of the splits (default: --seed)" },
    explainers: { type: "string", default: "", help: "explainers to score (none)" },
    quiet: { type: "boolean", default: false, help: "print less" },
  };
  const rows = helpText("x", "What x does.", flags).split("\n");
  const row = (flag: string) => rows.find((r) => r.trimStart().startsWith(`--${flag} `))!;
  assert.match(row("threads"), /threads of the wasm engine \(default: every core\)$/);
  assert.match(row("batch"), /batch size \(default: 16\)$/);
  assert.match(row("data-seed"), /seed of the splits \(default: --seed\)$/);
  assert.match(row("explainers"), /explainers to score \(none\)$/);
  assert.match(row("quiet"), /print less$/);
  assert.match(row("backend"), /\(default: auto\)$/);
});

Deno.test("every task's --help names each default at most once and no empty default", async () => {
  const scripts = ["train", "evaluate", "explain", "sweep", "transfer", "compare_gradcam", "bench"];
  const runs = await Promise.all(scripts.map((s) => runTask(`tasks/${s}.ts`, ["--help"])));
  for (const [i, r] of runs.entries()) {
    assert.equal(r.code, 0, r.stderr);
    for (const line of r.stdout.split("\n")) {
      const defaults = line.match(/\(default\b/g) ?? [];
      assert.ok(defaults.length <= 1, `${scripts[i]}: ${line}`);
      assert.ok(!line.includes("(default: )"), `${scripts[i]}: ${line}`);
    }
    assert.match(
      r.stdout,
      /--threads <value>\s+threads of the wasm engine \(default: every core\)\n/,
    );
  }
});

Deno.test("errorLine() gives one line: a DataError's file:line, flags for library options, a hint naming the flag", () => {
  assert.equal(
    errorLine(new DataError("expected 2 fields, got 1", { file: "images.txt", line: 3 })),
    "images.txt:3: expected 2 fields, got 1",
  );
  const clash = new OptionError('Cannot start a run in "runs/x": it already holds one', [
    { option: "resume", value: true, effect: "to continue it" },
    { option: "overwrite", value: true, effect: "to replace it" },
    { option: "outDir", change: "another" },
  ]);
  assert.match(clash.message, /pass resume: true to continue it, overwrite: true/);
  assert.equal(
    errorLine(clash),
    'Cannot start a run in "runs/x": it already holds one; pass --resume to continue it, ' +
      "--overwrite to replace it, or another --out",
  );
  const batch = new OptionError("Cannot train: 8 training samples make no full batch of 16", [
    { option: "dropLast", value: false },
    { option: "batchSize", change: "lower" },
  ]);
  assert.equal(
    errorLine(batch),
    "Cannot train: 8 training samples make no full batch of 16; lower --batch",
  );
  const engine = errorLine(new EngineUnavailableError("tensorflow", "it is not installed"));
  assert.doesNotMatch(engine, /\n/);
  assert.match(engine, /^Cannot use engine "tensorflow": it is not installed\. To get it, /);
  assert.match(engine, /Or pass another --backend/);
  assert.match(
    errorLine(new NonFiniteLossError(2, 1, "ce", NaN, "No checkpoint was written yet.")),
    /^Training stopped at step 2 \(epoch 1\): loss term "ce" is NaN; .* A lower --lr may/,
  );
  assert.equal(
    errorLine(new UsageError("Flag --model is required\nRun with --help to see the flags.")),
    "Flag --model is required. Run with --help to see the flags.",
  );
  assert.equal(errorLine(new RangeError("Option x must be 1")), "Option x must be 1");
  assert.match(errorLine(new SyntaxError("Unexpected token")), /^SyntaxError: Unexpected token$/);
  assert.equal(errorLine("a bare string"), "a bare string");
});

/** The non-empty lines of `stderr`, less the Wayland library's XDG_RUNTIME_DIR complaint. */
function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.trim() !== "" && !/XDG_RUNTIME_DIR/.test(l));
}

Deno.test("train on a dataset with a broken file prints one line naming the file, exit 1; --debug adds the stack", async () => {
  const root = await Deno.makeTempDir();
  try {
    await writeBusiFixture(root);
    await Deno.copyFile(
      `${root}/malignant/malignant (1)_mask.png`,
      `${root}/malignant/ghost_mask.png`,
    );
    const args = ["--dataset=busi", `--root=${root}`, "--size=16", `--out=${root}/run`];
    const r = await runTask("tasks/train.ts", args);
    assert.equal(r.code, 1, r.stderr);
    const lines = errorLines(r.stderr);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /malignant\/ghost_mask\.png: mask has no image: expected "ghost\.png"/);
    assert.ok(!(await Deno.stat(`${root}/run`).catch(() => null)), "no --out folder is made");

    const debug = await runTask("tasks/train.ts", [...args, "--debug"]);
    assert.equal(debug.code, 1);
    const more = errorLines(debug.stderr);
    assert.equal(more[0], lines[0]);
    assert.ok(more.length > 2, debug.stderr);
    assert.ok(more.slice(1).some((l) => /^\s+at .*busi\.ts/.test(l)), debug.stderr);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("train names flags where the trainer would name its options: --patience without validation, --schedule step", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const tiny = ["--size=16", "--width=0.25", "--count=40", "--classes=2", "--batch=8"];
    const patience = await runTask("tasks/train.ts", [
      ...tiny,
      "--patience=2",
      "--val=0",
      `--out=${dir}/p`,
    ]);
    assert.equal(patience.code, 2);
    assert.match(
      patience.stderr,
      /^Flag --patience 2 needs validation images, and --val 0 holds out none of the 32 training images; raise --val or pass --patience 0$/m,
    );
    assert.doesNotMatch(patience.stderr, /valIndices|Option "/);

    // The step schedule needs a step size, which the task sets: a tenth of the rate each third.
    const step = await runTask("tasks/train.ts", [
      ...tiny,
      "--threads=1",
      "--epochs=3",
      "--schedule=step",
      `--out=${dir}/s`,
    ]);
    assert.equal(step.code, 0, step.stderr);
    const lrs = (await Deno.readTextFile(`${dir}/s/train_log.jsonl`)).trim().split("\n")
      .map((l) => JSON.parse(l).lr);
    assert.equal(lrs.length, 3);
    for (const [i, lr] of lrs.entries()) {
      assert.ok(Math.abs(lr - 0.003 * 0.1 ** i) < 1e-9, `${lrs}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
