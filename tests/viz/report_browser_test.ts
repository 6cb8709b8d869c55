import assert from "node:assert/strict";
import { writeReport } from "../../lib/viz/report.ts";
import { EVIL, SAMPLE_FIGURES, sampleReport } from "./_report_sample.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = await Deno.stat(CHROMIUM).then((s) => s.isFile, () => false);
if (!hasChromium) {
  console.log(`report_browser_test: skipped, ${CHROMIUM} is absent (apt-get install chromium)`);
}

/** Runs headless Chromium on `url` with a fresh profile, killed after 60 s. */
async function chromium(args: string[], url: string): Promise<{ stdout: string; stderr: string }> {
  const profile = await Deno.makeTempDir({ prefix: "report-chromium-" });
  try {
    const child = new Deno.Command(CHROMIUM, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
        "--virtual-time-budget=10000",
        ...args,
        url,
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    try {
      const out = await child.output();
      assert.ok(out.success, `Chromium exited with ${out.code}`);
      const decoder = new TextDecoder();
      return { stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

Deno.test({
  name:
    "writeReport() pages open in headless Chromium: no errors, every figure drawn, a screenshot",
  ignore: !hasChromium,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "report-browser-" });
    try {
      const { results, images } = await sampleReport();
      const page = `${dir}/report.html`;
      await writeReport(page, results, { images });
      const url = `file://${page}`;

      const { stdout: dom } = await chromium(["--dump-dom"], url);
      const status = /<div id="report-status"([^>]*)>([^<]*)</.exec(dom);
      assert.ok(status, "the dumped page has no #report-status element");
      const attr = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(status[1])?.[1];
      assert.equal(attr("data-errors"), "0", `the page recorded errors: ${status[2]}`);
      assert.equal(attr("data-state"), "done", status[2]);
      assert.equal(attr("data-expected"), String(SAMPLE_FIGURES));
      assert.equal(attr("data-figures"), String(SAMPLE_FIGURES));
      const plots = dom.match(/<div[^>]*class="[^"]*\bjs-plotly-plot\b/g) ?? [];
      assert.equal(plots.length, SAMPLE_FIGURES, "Plotly figure elements in the page");
      assert.ok((dom.match(/class="main-svg"/g) ?? []).length >= SAMPLE_FIGURES);
      // The hostile class name is text: no such element was created, and the text is there.
      assert.ok(!/<img src="?x"?/i.test(dom), "an <img src=x> element was created from data");
      assert.ok(
        dom.includes("&lt;img src=x onerror=alert(1)&gt;"),
        "the class name is shown as text",
      );
      assert.ok(EVIL.length > 0);
      // Every gallery picture loaded from its data URI.
      assert.equal((dom.match(/<img [^>]*src="data:image\/png;base64,/g) ?? []).length, 15);

      const shot = `${dir}/shot.png`;
      await chromium(["--screenshot=" + shot, "--window-size=1280,2000", "--hide-scrollbars"], url);
      const png = await Deno.readFile(shot);
      assert.ok(png.length > 10_000, `screenshot is only ${png.length} bytes`);
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      const view = new DataView(png.buffer, png.byteOffset);
      assert.equal(view.getUint32(16), 1280, "screenshot width");
      assert.equal(view.getUint32(20), 2000, "screenshot height");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "the report's status element records page errors (a page without Plotly fails)",
  ignore: !hasChromium,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "report-browser-" });
    try {
      const page = `${dir}/broken.html`;
      await writeReport(page, {
        title: "No Plotly",
        classification: { classNames: ["a", "b"], confusionMatrix: [[1, 0], [0, 1]] },
      }, { plotlySource: "" });
      const { stdout: dom } = await chromium(["--dump-dom"], `file://${page}`);
      const status = /<div id="report-status"([^>]*)>([^<]*)</.exec(dom);
      assert.ok(status);
      assert.match(status[1], /data-state="error"/);
      assert.match(status[2], /Plotly is not defined/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
