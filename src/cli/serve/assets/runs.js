// calig serve's run browser: the tables of a `calig eval` output (GET /api/runs/{index}), its
// examples sortable by any method's value of the chosen metric, an example's every metric on a
// click. The view (run, metric, sort, example) lives in the address.
"use strict";

const $ = (id) => document.getElementById(id);
let RUN = null;

async function api(path) {
  const r = await fetch(path);
  let j;
  try { j = await r.json(); } catch (_) { throw new Error(`${path}: HTTP ${r.status}`); }
  if (!r.ok) throw new Error(j.error || `${path}: HTTP ${r.status}`);
  return j;
}

function showError(msg) {
  $("error").textContent = msg;
  $("error").hidden = !msg;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function num(v, digits = 4) {
  return typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "—";
}

function params() { return new URLSearchParams(location.search); }

function keep(changes) {
  const p = params();
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === "") p.delete(k); else p.set(k, v);
  }
  history.replaceState(null, "", "?" + p.toString());
}

function headerTable(h) {
  const t = $("header");
  t.replaceChildren();
  for (const [k, v] of Object.entries(h || {})) {
    const tr = el("tr");
    tr.append(el("td", k), el("td", String(v)));
    t.append(tr);
  }
}

function overview(run, metric) {
  const t = $("overview");
  t.replaceChildren();
  const head = el("tr");
  head.append(el("th", "method"));
  for (const tb of run.tables) head.append(el("th", tb.metric + (tb.higher_is_better ? " ↑" : " ↓"), tb.metric === metric ? "mark" : ""));
  t.append(head);
  for (const m of run.methods) {
    const tr = el("tr");
    tr.append(el("td", m));
    for (const tb of run.tables) {
      const row = tb.rows.find((r) => r.method === m);
      tr.append(el("td", num(row && row.mean && row.mean.mean), "num" + (tb.metric === metric ? " mark" : "")));
    }
    t.append(tr);
  }
}

function summary(run, metric) {
  const tb = run.tables.find((t) => t.metric === metric);
  $("metric-title").textContent = tb ? `${metric} (${tb.higher_is_better ? "higher" : "lower"} is better)` : metric;
  const t = $("summary");
  t.replaceChildren();
  if (!tb) return;
  const head = el("tr");
  for (const h of ["method", "n", "mean", "95 % CI", "difference from the reference", "its 95 % CI", "p (Holm)", "verdict"]) head.append(el("th", h));
  t.append(head);
  for (const r of tb.rows) {
    const tr = el("tr");
    const ci = (x) => (x ? `[${num(x.low)}, ${num(x.high)}]` : "—");
    tr.append(el("td", r.method), el("td", String(r.n), "num"), el("td", num(r.mean && r.mean.mean), "num"),
      el("td", ci(r.mean)), el("td", num(r.difference && r.difference.mean), "num"), el("td", ci(r.difference)),
      el("td", num(r.p_holm, 3), "num"), el("td", r.verdict || "reference"));
    t.append(tr);
  }
}

// The examples' column values: fixed fields, then each method's value of `metric`.
function columns(run, metric) {
  const fixed = ["id", "line", "label", "predicted", "tokens"].map((k) => ({ name: k, get: (e) => e[k] }));
  const methods = run.methods.map((m) => ({ name: m, method: true, get: (e) => (e.values[m] || {})[metric] }));
  return fixed.concat(methods);
}

function examples(run, metric) {
  const cols = columns(run, metric);
  const p = params();
  const sort = p.get("sort") || "line";
  const desc = p.get("desc") === "1";
  const col = cols.find((c) => c.name === sort) || cols[1];
  const rows = run.examples.slice().sort((a, b) => {
    const x = col.get(a), y = col.get(b);
    const missing = (v) => v === null || v === undefined;
    if (missing(x) || missing(y)) return missing(x) - missing(y);
    const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
    return desc ? -c : c;
  });
  const t = $("examples");
  t.replaceChildren();
  const thead = el("thead");
  const head = el("tr");
  for (const c of cols) {
    const th = el("th", c.name + (c.name === col.name ? (desc ? " ▼" : " ▲") : ""));
    th.dataset.col = c.name;
    th.addEventListener("click", () => {
      keep({ sort: c.name, desc: c.name === col.name && !desc ? "1" : null });
      examples(run, metric);
    });
    head.append(th);
  }
  thead.append(head);
  const tbody = el("tbody");
  const open = p.get("example");
  for (const e of rows) {
    const tr = el("tr");
    tr.dataset.id = e.id;
    if (e.id === open) tr.className = "open";
    for (const c of cols) {
      const v = c.get(e);
      tr.append(el("td", c.method ? num(v) : v === null || v === undefined ? "—" : String(v), c.method ? "num" : ""));
    }
    tr.addEventListener("click", () => { keep({ example: e.id }); examples(run, metric); showExample(run); });
    tbody.append(tr);
  }
  t.append(thead, tbody);
}

// An example's every metric, one column per method.
function showExample(run) {
  const id = params().get("example");
  const e = run.examples.find((x) => x.id === id);
  const box = $("example");
  box.hidden = !e;
  box.replaceChildren();
  if (!e) return;
  box.append(el("h3", `example ${e.id} (line ${e.line}; label ${e.label}, predicted ${e.predicted}, ${e.tokens} tokens)`));
  const t = el("table", null, "grid");
  const head = el("tr");
  head.append(el("th", "metric"));
  run.methods.forEach((m) => head.append(el("th", m)));
  t.append(head);
  for (const tb of run.tables) {
    const tr = el("tr");
    tr.append(el("td", tb.metric));
    run.methods.forEach((m) => tr.append(el("td", num((e.values[m] || {})[tb.metric]), "num")));
    t.append(tr);
  }
  box.append(t);
  const maps = el("div", "loading the maps from the run's cache…", "note");
  maps.id = "example-maps";
  box.append(maps);
  showMaps(run, e.id, maps);
}

// The example's maps as the run's cache holds them, drawn by the report (POST /api/render).
async function showMaps(run, id, box) {
  try {
    const ex = await api(`/api/runs/${run.index}/examples/${encodeURIComponent(id)}`);
    box.className = "";
    box.replaceChildren();
    const text = el("p", null, "note");
    if (ex.image) {
      text.append(el("b", "image "), ex.example.text);
    } else {
      text.append(el("b", "text "), ex.example.text + (ex.example.text_pair ? ` ‖ ${ex.example.text_pair}` : ""));
      const link = el("a", "explain it on the single-input page");
      const q = { model: ex.model, text: ex.example.text };
      if (ex.example.text_pair) q.text_pair = ex.example.text_pair;
      link.href = "/?" + new URLSearchParams(q).toString();
      text.append(" · ", link);
    }
    box.append(text);
    if (ex.example.evidence && ex.example.words) {
      box.append(el("h4", "human rationale (ERASER evidence, marked)"));
      box.append(rationaleView(ex.example.words, ex.example.evidence));
    }
    const curves = curvesView(ex.curves);
    if (curves) {
      box.append(el("h4", "removal curves of this example (from the run's cache)"));
      box.append(curves);
    }
    for (const m of ex.missing) box.append(el("p", `${m.method}: ${m.why}`, "warn"));
    if (ex.explanations.length) {
      const r = await fetch("/api/render", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ explanations: ex.explanations, image: ex.image }),
      });
      const j = await r.json();
      if (!r.ok) throw new Error(j.error || `HTTP ${r.status}`);
      const div = el("div");
      div.innerHTML = j.html;
      box.append(div);
    }
  } catch (e) {
    box.className = "error";
    box.textContent = e.message;
  }
}

function draw() {
  const metric = $("metric").value;
  overview(RUN, metric);
  summary(RUN, metric);
  examples(RUN, metric);
  showExample(RUN);
}

async function openRun(index) {
  showError("");
  try {
    RUN = await api(`/api/runs/${index}`);
  } catch (e) {
    RUN = null;
    return showError(e.message);
  }
  headerTable(RUN.header);
  const want = params().get("metric");
  const metrics = RUN.tables.map((t) => t.metric);
  $("metric").replaceChildren(...metrics.map((m) => { const o = el("option", m); o.value = m; return o; }));
  $("metric").value = metrics.includes(want) ? want : metrics[0] || "";
  draw();
}

async function main() {
  let runs;
  try {
    runs = (await api("/api/runs")).runs;
  } catch (e) {
    return showError("cannot reach the server: " + e.message);
  }
  if (!runs.length) return showError("this server browses no run: start it with --run DIR (a calig eval output)");
  for (const r of runs) {
    const o = el("option", r.error ? `${r.index}: ${r.error}` : `${r.name} (${r.model}, ${r.dataset}, n = ${r.n})`);
    o.value = String(r.index);
    $("run").append(o);
  }
  const want = params().get("run");
  if (want !== null && runs.some((r) => String(r.index) === want)) $("run").value = want;
  $("run").addEventListener("change", () => { keep({ run: $("run").value, example: null }); openRun($("run").value); });
  $("metric").addEventListener("change", () => { keep({ metric: $("metric").value }); draw(); });
  openRun($("run").value);
}

main();
