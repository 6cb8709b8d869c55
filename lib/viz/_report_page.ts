/**
 * The style sheet and the script of a report page. The script builds every
 * section from the JSON in `#report-data` (the run's `results.json` object),
 * so the page and the file never disagree. All text from data is set through
 * `textContent`, and text handed to Plotly (which reads a few HTML tags) has
 * `&`, `<` and `>` written as entities, so it is shown, never interpreted.
 *
 * It records errors and counts the figures Plotly finished in
 * `#report-status` (`data-state`, `data-figures`, `data-expected`,
 * `data-errors`), which the browser test reads back with `--dump-dom`.
 *
 * @module
 */

/** The page's style sheet. */
export const REPORT_CSS = `
:root { --fg: #1f2430; --muted: #5f6878; --line: #e3e6eb; --bg: #f6f7f9; --card: #fff;
  --accent: #2f5fb3; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { background: var(--card); border-bottom: 1px solid var(--line); padding: 28px 40px 20px; }
header h1 { margin: 0 0 4px; font-size: 26px; font-weight: 650; letter-spacing: -0.01em; }
header .subtitle { color: var(--muted); margin: 0; }
nav { margin-top: 14px; display: flex; flex-wrap: wrap; gap: 6px 18px; }
nav a { color: var(--accent); text-decoration: none; font-size: 13px; }
nav a:hover { text-decoration: underline; }
main { max-width: 1240px; margin: 0 auto; padding: 8px 40px 40px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  padding: 20px 24px 24px; margin-top: 22px; }
section > h2 { margin: 0 0 4px; font-size: 18px; font-weight: 620; }
section > p.note { margin: 0 0 14px; color: var(--muted); font-size: 13px; }
h3 { font-size: 14px; font-weight: 600; margin: 18px 0 8px; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 16px; }
.figure { border: 1px solid var(--line); border-radius: 6px; padding: 4px; min-height: 320px; }
.figure.wide { grid-column: 1 / -1; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); text-align: right; }
th { font-weight: 600; color: var(--muted); background: #fafbfc; }
th:first-child, td:first-child { text-align: left; }
tr.total td { font-weight: 600; border-top: 2px solid var(--line); }
.kv { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 12px 32px; }
.kv table { width: 100%; }
.kv td:first-child { color: var(--muted); white-space: nowrap; width: 40%; }
.kv td { text-align: left; word-break: break-word; }
code { font: 12px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: 16px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; }
.card .head { display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: baseline; margin-bottom: 8px; }
.card .head .id { font-weight: 600; }
.card .head .meta { color: var(--muted); font-size: 13px; }
.card .wrong { color: #b3261e; }
.strip { display: flex; flex-wrap: wrap; gap: 10px; margin-bottom: 10px; }
.strip figure { margin: 0; text-align: center; }
.strip img { display: block; width: 140px; height: 140px; object-fit: contain; background: #eef0f3;
  border-radius: 4px; image-rendering: auto; }
.strip figcaption { font-size: 12px; color: var(--muted); margin-top: 3px; max-width: 140px;
  overflow-wrap: anywhere; }
.empty { color: var(--muted); font-style: italic; }
footer { max-width: 1240px; margin: 0 auto; padding: 0 40px 30px; color: var(--muted); font-size: 12px; }
#report-status[data-errors]:not([data-errors="0"]) { color: #b3261e; }
`;

/** The page's script (plain ES2020, run after Plotly). */
export const REPORT_SCRIPT = `
(function () {
  "use strict";
  var statusEl = document.getElementById("report-status");
  var state = { errors: [], figures: 0, expected: 0, built: false };
  function show() {
    var done = state.built && state.figures === state.expected;
    statusEl.setAttribute("data-state", state.errors.length ? "error" : done ? "done" : "rendering");
    statusEl.setAttribute("data-figures", String(state.figures));
    statusEl.setAttribute("data-expected", String(state.expected));
    statusEl.setAttribute("data-errors", String(state.errors.length));
    statusEl.textContent = state.errors.length
      ? "Errors: " + state.errors.join(" | ")
      : "Rendered " + state.figures + " of " + state.expected + " figures.";
  }
  function fail(message) { state.errors.push(String(message)); show(); }
  window.addEventListener("error", function (e) { fail(e.message || "error"); });
  window.addEventListener("unhandledrejection", function (e) {
    fail((e.reason && e.reason.message) || e.reason || "unhandled rejection");
  });
  var consoleError = console.error;
  console.error = function () {
    fail(Array.prototype.map.call(arguments, String).join(" "));
    return consoleError.apply(console, arguments);
  };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function add(parent, child) { parent.appendChild(child); return child; }
  function num(x) { return typeof x === "number" && isFinite(x) ? x : null; }
  function fmt(x, digits) {
    var v = num(x);
    return v === null ? "\\u2014" : v.toFixed(digits === undefined ? 3 : digits);
  }
  // Plotly reads <b>, <br>, <a> and entities in text: write the markup characters as entities.
  function pt(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }
  var FONT = { family: "system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif", size: 12,
    color: "#1f2430" };
  var COLORS = ["#2f5fb3", "#d9822b", "#3a9a5b", "#c23b3b", "#7d5ba6", "#8c6d31", "#d16ba5",
    "#5f6878", "#1fa3a3", "#a3a31f"];
  function plot(parent, traces, layout, wide) {
    var div = add(parent, el("div", wide ? "figure wide" : "figure"));
    state.expected++;
    var base = {
      font: FONT, colorway: COLORS, paper_bgcolor: "#fff", plot_bgcolor: "#fff",
      margin: { l: 64, r: 20, t: 48, b: 56 }, height: 340,
      title: { x: 0.02, xanchor: "left", font: { size: 14 } },
      legend: { orientation: "h", y: -0.22 },
      hoverlabel: { font: FONT },
    };
    var baseTitle = base.title;
    var merged = Object.assign(base, layout);
    merged.title = Object.assign(baseTitle, { text: pt(layout.title || "") });
    Plotly.newPlot(div, traces, merged, { displaylogo: false, responsive: true })
      .then(function () { state.figures++; show(); }, fail);
  }
  function axis(title, extra) {
    return Object.assign({ title: { text: pt(title) }, gridcolor: "#eceef1", zeroline: false,
      automargin: true }, extra || {});
  }
  function section(id, title, note) {
    var s = add(document.querySelector("main"), el("section"));
    s.id = id;
    add(s, el("h2", "", title));
    if (note) add(s, el("p", "note", note));
    var link = add(document.querySelector("nav"), el("a", "", title));
    link.href = "#" + id;
    return s;
  }
  function table(parent, header, rows, totalRows) {
    var t = add(parent, el("table"));
    var tr = add(add(t, el("thead")), el("tr"));
    header.forEach(function (h) { add(tr, el("th", "", h)); });
    var body = add(t, el("tbody"));
    rows.forEach(function (row, i) {
      var r = add(body, el("tr", totalRows && i >= rows.length - totalRows ? "total" : ""));
      row.forEach(function (cell) { add(r, el("td", "", cell)); });
    });
    return t;
  }
  function ciText(m) {
    if (num(m.mean) === null) return "not scored (" + m.excluded + " excluded)";
    return fmt(m.mean) + " [" + fmt(m.ci && m.ci[0]) + ", " + fmt(m.ci && m.ci[1]) + "]";
  }

  var data = JSON.parse(document.getElementById("report-data").textContent);
  var images = JSON.parse(document.getElementById("report-images").textContent);

  function buildFindings(findings) {
    var s = section("findings", "Verdict",
      "What the paired tests say, a sentence each; a map counts as the model's reason only if " +
      "deleting what it calls salient hurts the prediction clearly faster than a random map.");
    var list = add(s, el("ul", "findings"));
    findings.forEach(function (f) { add(list, el("li", "", f)); });
  }

  function buildRun(run) {
    var s = section("run", "Run", "Everything needed to reproduce the numbers below.");
    var kv = add(s, el("div", "kv"));
    function block(title, entries) {
      if (!entries.length) return;
      var box = add(kv, el("div"));
      add(box, el("h3", "", title));
      var t = add(box, el("table"));
      entries.forEach(function (e) {
        var r = add(t, el("tr"));
        add(r, el("td", "", e[0]));
        add(add(r, el("td")), el("code", "", e[1]));
      });
    }
    function str(v) { return typeof v === "string" ? v : JSON.stringify(v); }
    var general = [];
    ["task", "seed", "startedAt", "gitCommit"].forEach(function (k) {
      if (run[k] !== undefined) general.push([k, str(run[k])]);
    });
    if (run.backend) {
      Object.keys(run.backend).forEach(function (k) { general.push(["backend." + k, str(run.backend[k])]); });
    }
    if (run.machine) {
      Object.keys(run.machine).forEach(function (k) { general.push(["machine." + k, str(run.machine[k])]); });
    }
    block("General", general);
    block("Versions", Object.keys(run.versions || {}).map(function (k) { return [k, str(run.versions[k])]; }));
    block("Configuration", Object.keys(run.config || {}).map(function (k) { return [k, str(run.config[k])]; }));
  }

  function buildTraining(log) {
    var s = section("training", "Training curves",
      "One panel per loss term and metric; training means over each epoch's steps, validation where it ran.");
    var grid = add(s, el("div", "figures"));
    var groups = {};
    var order = [];
    log.forEach(function (rec) {
      Object.keys(rec.metrics || {}).forEach(function (key) {
        var m = /^(train|val)_(.+)$/.exec(key);
        var name = m ? m[2] : key;
        if (!groups[name]) { groups[name] = {}; order.push(name); }
        groups[name][m ? m[1] : key] = true;
      });
    });
    order.forEach(function (name) {
      var traces = Object.keys(groups[name]).map(function (prefix) {
        var key = prefix === "train" || prefix === "val" ? prefix + "_" + name : name;
        var pts = log.filter(function (r) { return r.metrics && num(r.metrics[key]) !== null; });
        return {
          type: "scatter", mode: pts.length > 30 ? "lines" : "lines+markers",
          name: pt(prefix === "train" ? "training" : prefix === "val" ? "validation" : name),
          x: pts.map(function (r) { return r.epoch; }),
          y: pts.map(function (r) { return r.metrics[key]; }),
        };
      });
      plot(grid, traces, { title: name, xaxis: axis("epoch", { dtick: log.length <= 12 ? 1 : undefined }),
        yaxis: axis(name) });
    });
  }

  function buildComparisons(list) {
    var s = section("metrics", "Metrics",
      "Means with 95% bootstrap confidence intervals; hover a bar for the images scored and excluded.");
    var grid = add(s, el("div", "figures"));
    list.forEach(function (cmp) {
      var names = [];
      cmp.groups.forEach(function (g) {
        Object.keys(g.metrics).forEach(function (k) { if (names.indexOf(k) < 0) names.push(k); });
      });
      var traces = cmp.groups.map(function (g) {
        var ms = names.map(function (k) { return g.metrics[k] || null; });
        return {
          type: "bar", name: pt(g.name), x: names.map(pt),
          y: ms.map(function (m) { return m ? num(m.mean) : null; }),
          error_y: { type: "data", symmetric: false, thickness: 1.2, width: 4, color: "#333",
            array: ms.map(function (m) { return m && num(m.ci[1]) !== null && num(m.mean) !== null ? m.ci[1] - m.mean : null; }),
            arrayminus: ms.map(function (m) { return m && num(m.ci[0]) !== null && num(m.mean) !== null ? m.mean - m.ci[0] : null; }) },
          hovertext: ms.map(function (m) {
            return m ? pt(g.name) + "<br>" + ciText(m) + "<br>scored " + m.scored + ", excluded " + m.excluded : "";
          }),
          hoverinfo: "text",
        };
      });
      plot(grid, traces, { title: cmp.title, barmode: "group", bargap: 0.25,
        xaxis: axis(cmp.xLabel || "metric"), yaxis: axis(cmp.yLabel || "score") }, names.length > 6);
      var rows = cmp.groups.map(function (g) {
        return [g.name].concat(names.map(function (k) { return g.metrics[k] ? ciText(g.metrics[k]) : "\\u2014"; }));
      });
      var holder = add(s, el("div"));
      holder.style.overflowX = "auto";
      add(holder, el("h3", "", cmp.title + " (mean [95% CI])"));
      table(holder, [""].concat(names), rows);
    });
  }

  function buildClassification(c) {
    var s = section("classes", "Classes", "Per-class precision, recall and F1, and the confusion matrix.");
    var names = c.classNames;
    var overall = [];
    if (c.accuracy) overall.push(["accuracy", ciText(c.accuracy)]);
    ["balancedAccuracy", "macroF1", "expectedCalibrationError"].forEach(function (k) {
      if (c[k] !== undefined && c[k] !== null) overall.push([k, fmt(c[k])]);
    });
    if (overall.length) table(add(s, el("div")), ["overall", "value"], overall);
    if (c.perClass) {
      add(s, el("h3", "", "Per class"));
      var rows = c.perClass.perClass.map(function (r, i) {
        return [names[i] === undefined ? "class " + i : names[i], fmt(r.precision), fmt(r.recall), fmt(r.f1), String(r.support)];
      });
      var total = 0;
      if (c.perClass.macro) {
        rows.push(["macro average", fmt(c.perClass.macro.precision), fmt(c.perClass.macro.recall),
          fmt(c.perClass.macro.f1), String(c.perClass.perClass.reduce(function (a, r) { return a + r.support; }, 0))]);
        total = 1;
      }
      var holder = add(s, el("div"));
      holder.style.overflowX = "auto";
      table(holder, ["class", "precision", "recall", "F1", "support"], rows, total);
    }
    if (c.confusionMatrix) {
      var m = c.confusionMatrix;
      var z = m.map(function (row) {
        var sum = row.reduce(function (a, b) { return a + b; }, 0);
        return row.map(function (v) { return sum ? v / sum : 0; });
      });
      var labels = names.map(pt);
      var size = Math.min(900, Math.max(420, 90 + 46 * names.length));
      var grid = add(s, el("div", "figures"));
      plot(grid, [{
        type: "heatmap", x: labels, y: labels, z: z, text: m, texttemplate: names.length <= 20 ? "%{text}" : "",
        colorscale: [[0, "#f5f7fb"], [1, "#2f5fb3"]], zmin: 0, zmax: 1, colorbar: { title: { text: "row share" }, thickness: 12 },
        hovertemplate: "true %{y}<br>predicted %{x}<br>%{text} images (%{z:.1%} of the row)<extra></extra>",
      }], { title: "Confusion matrix (counts; colour is the share of the true class)", height: size,
        xaxis: axis("predicted class", { side: "bottom", tickangle: names.length > 6 ? -35 : 0 }),
        yaxis: axis("true class", { autorange: "reversed" }),
        margin: { l: 120, r: 20, t: 48, b: 90 } }, true);
    }
  }

  function buildGallery(sections) {
    var s = section("gallery", "Gallery",
      "Test images with each method's map and the image's localisation scores.");
    sections.forEach(function (g) {
      add(s, el("h3", "", g.title));
      if (!g.items.length) { add(s, el("p", "empty", "No images.")); return; }
      var box = add(s, el("div", "gallery"));
      g.items.forEach(function (item) {
        var card = add(box, el("div", "card"));
        var head = add(card, el("div", "head"));
        add(head, el("span", "id", item.id));
        var meta = "true: " + item.label;
        if (item.predicted !== undefined) meta += " \\u00b7 predicted: " + item.predicted;
        if (num(item.confidence) !== null) meta += " (" + fmt(item.confidence, 2) + ")";
        add(head, el("span", "meta" + (item.predicted !== undefined && item.predicted !== item.label ? " wrong" : ""), meta));
        var strip = add(card, el("div", "strip"));
        (item.images || []).forEach(function (im) {
          var f = add(strip, el("figure"));
          var img = add(f, el("img"));
          img.alt = im.label;
          img.src = images[im.image] !== undefined ? images[im.image] : im.image;
          add(f, el("figcaption", "", im.label));
        });
        var methods = Object.keys(item.scores || {});
        if (methods.length) {
          var metrics = [];
          methods.forEach(function (k) {
            Object.keys(item.scores[k]).forEach(function (m) { if (metrics.indexOf(m) < 0) metrics.push(m); });
          });
          var holder = add(card, el("div"));
          holder.style.overflowX = "auto";
          table(holder, ["method"].concat(metrics), methods.map(function (k) {
            return [k].concat(metrics.map(function (m) { return fmt(item.scores[k][m]); }));
          }));
        }
      });
    });
  }

  try {
    if (data.findings && data.findings.length) buildFindings(data.findings);
    if (data.run) buildRun(data.run);
    if (data.trainLog && data.trainLog.length) buildTraining(data.trainLog);
    if (data.comparisons && data.comparisons.length) buildComparisons(data.comparisons);
    if (data.classification) buildClassification(data.classification);
    if (data.gallery && data.gallery.length) buildGallery(data.gallery);
  } catch (e) {
    fail(e && e.message ? e.message : e);
  }
  state.built = true;
  show();
})();
`;
