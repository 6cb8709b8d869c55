import assert from "node:assert/strict";
import { escapeHtml, renderReport, scriptJson, writeReport } from "../../lib/viz/report.ts";
import type { ReportData } from "../../lib/viz/report.ts";
import { EVIL, sampleReport } from "./_report_sample.ts";

const STUB = "/* plotly stub */";

/** The text of `<script type="application/json" id="...">…</script>`. */
function jsonScript(html: string, id: string): string {
  const m = new RegExp(`<script type="application/json" id="${id}">([\\s\\S]*?)</script>`).exec(
    html,
  );
  assert.ok(m, `no #${id} script`);
  return m[1];
}

/** The page with the content of every <script> element and the <style> removed. */
function markupOnly(html: string): string {
  return html.replace(/<script([^>]*)>[\s\S]*?<\/script>/g, "<script$1></script>")
    .replace(/<style>[\s\S]*?<\/style>/, "<style></style>");
}

Deno.test("escapeHtml() writes the five markup characters as entities", () => {
  assert.equal(
    escapeHtml(`<a href="x" title='y'>&</a>`),
    "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;",
  );
  assert.equal(escapeHtml("plain text"), "plain text");
});

Deno.test("scriptJson() never contains </script or <!-- and parses back to the same value", () => {
  const value = {
    a: "</script><script>alert(1)</script>",
    b: "<!-- x -->",
    c: "Tom & Jerry > \u2028\u2029",
    d: [1, 2.5, null, true],
  };
  const text = scriptJson(value);
  assert.ok(!/<\/script/i.test(text));
  assert.ok(!text.includes("<!--"));
  assert.ok(!/[<>&\u2028\u2029]/.test(text));
  assert.deepEqual(JSON.parse(text), value);
  assert.throws(() => scriptJson(undefined), /no JSON form/);
});

Deno.test("renderReport() embeds the very object results.json holds", async () => {
  const { results, images } = await sampleReport();
  const html = await renderReport(results, { images, plotlySource: STUB });
  const embedded = JSON.parse(jsonScript(html, "report-data"));
  // What writeJsonAtomic writes and a reader gets back (NaN becomes null in both).
  const resultsJson = JSON.parse(JSON.stringify(results, null, 2) + "\n");
  assert.deepEqual(embedded, resultsJson);
  assert.equal(
    embedded.comparisons[1].groups[0].metrics.deletionAuc.mean,
    null,
    "NaN means are null, as in results.json",
  );
  // Pictures travel separately, as PNG data URIs keyed like the gallery's references.
  const pictures = JSON.parse(jsonScript(html, "report-images"));
  assert.deepEqual(Object.keys(pictures).sort(), Object.keys(images).sort());
  const first = Object.keys(images)[0];
  assert.ok(pictures[first].startsWith("data:image/png;base64,"));
  const bytes = Uint8Array.from(atob(pictures[first].slice(22)), (c) => c.charCodeAt(0));
  assert.deepEqual(bytes, images[first]);
});

Deno.test("renderReport() shows hostile text from data as text, never as markup", async () => {
  const { results, images } = await sampleReport();
  const html = await renderReport(results, { images, plotlySource: STUB });
  const markup = markupOnly(html);
  assert.ok(!markup.includes(EVIL), "the raw tag appears outside the scripts");
  assert.ok(!/<img/i.test(markup), "an <img> tag appears in the markup");
  assert.ok(markup.includes(`<title>Report for ${escapeHtml(EVIL)}</title>`));
  assert.ok(markup.includes(`<h1>Report for ${escapeHtml(EVIL)}</h1>`));
  // Inside the JSON scripts the tag is escaped too, so it cannot close the script.
  for (const id of ["report-data", "report-images"]) {
    const text = jsonScript(html, id);
    assert.ok(!/[<>]/.test(text), `#${id} contains < or >`);
  }
  assert.equal((html.match(/<\/script>/g) ?? []).length, 4, "exactly four scripts close");
});

Deno.test("renderReport() keeps a </script inside the Plotly source from closing its element", async () => {
  const html = await renderReport({ title: "t" }, {
    plotlySource: 'var s = "</SCRIPT><!--";',
  });
  assert.ok(html.includes('var s = "<\\/SCRIPT><\\!--";'));
  assert.equal((html.match(/<\/script>/gi) ?? []).length, 4);
});

Deno.test("renderReport() inlines the pinned plotly.js-dist bundle by default", async () => {
  const html = await renderReport({ title: "t" });
  assert.ok(html.length > 5_000_000, `the page is only ${html.length} characters`);
  assert.match(html, /plotly\.js v3\.7\.0/);
});

Deno.test("writeReport() writes the page atomically and leaves no temporary file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeReport(`${dir}/r.html`, { title: "Atomic" }, { plotlySource: STUB });
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["r.html"]);
    assert.match(await Deno.readTextFile(`${dir}/r.html`), /<title>Atomic<\/title>/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeReport() names the file and the field at fault in bad input", async () => {
  const path = "/nonexistent/r.html";
  const o = { plotlySource: STUB };
  const bad = (results: unknown) => writeReport(path, results as ReportData, o);
  await assert.rejects(bad({ title: 3 }), (e: Error) => {
    assert.ok(e instanceof TypeError);
    assert.match(e.message, /^Cannot write report "\/nonexistent\/r\.html": results\.title must/);
    return true;
  });
  await assert.rejects(
    bad({ title: "t", trainLog: [{ epoch: 1, metrics: {} }, { epoch: "2", metrics: {} }] }),
    /results\.trainLog\[1\]\.epoch must be a number, got "2"/,
  );
  await assert.rejects(
    bad({ title: "t", classification: { classNames: ["a", "b"], confusionMatrix: [[1, 2]] } }),
    (e: Error) => e instanceof RangeError && /confusionMatrix must be 2x2/.test(e.message),
  );
  await assert.rejects(
    bad({
      title: "t",
      comparisons: [{ title: "c", groups: [{ name: "g", metrics: { iou: { mean: 0.5 } } }] }],
    }),
    /results\.comparisons\[0\]\.groups\[0\]\.metrics\.iou must be a MetricSummary/,
  );
  await assert.rejects(
    bad({
      title: "t",
      gallery: [{
        title: "Best",
        items: [{ id: "a", label: "x", images: [{ label: "i", image: "javascript:alert(1)" }] }],
      }],
    }),
    /results\.gallery\[0\]\.items\[0\]\.images\[0\]\.image "javascript:alert\(1\)" is neither/,
  );
  await assert.rejects(
    writeReport(path, { title: "t" }, {
      ...o,
      images: { a: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) },
    }),
    /options\.images\["a"\] is not a PNG/,
  );
  await assert.rejects(
    writeReport(path, { title: "t" }, { ...o, images: { a: "data:text/html,<b>" } }),
    /options\.images\["a"\] must be PNG bytes or a "data:image\/png;base64," URI/,
  );
  // Good input with an unwritable path fails in the atomic writer, naming the file.
  await assert.rejects(
    writeReport(path, { title: "t" }, o),
    /Cannot write "\/nonexistent\/r\.html/,
  );
});
