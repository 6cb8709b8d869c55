import assert from "node:assert/strict";
import { COMMON_FLAGS, type FlagSpec, helpText } from "../../tasks/_cli.ts";
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
