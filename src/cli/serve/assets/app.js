// calig serve's page: a form over the JSON API (docs/serve.md). The query lives in the address
// (?model=..&text=..&methods=calig,ig&steps=20...), so a view can be shared and reloaded; the
// maps are the HTML report's (POST /api/render), the layer view is drawn here with the reports'
// palette (PALETTE, written into the page by the server).
"use strict";

// Settings shown above the fold; the others sit under "more settings".
const MAIN = ["steps", "baseline", "quadrature", "lambda", "aggregation", "attention_mode"];
// Keys of the query that are not settings.
const FIELDS = ["model", "text", "text_pair", "methods", "target", "contrast", "layer"];
let META = null;
let SHOWN = [];
const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  };
  const r = await fetch(path, init);
  let j;
  try { j = await r.json(); } catch (_) { throw new Error(`${path}: HTTP ${r.status}`); }
  if (!r.ok) {
    const e = new Error(j.error || `${path}: HTTP ${r.status}`);
    e.status = r.status;
    e.retry = r.headers.get("retry-after");
    throw e;
  }
  return j;
}

function option(value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  return o;
}

function settingInput(s) {
  const label = document.createElement("label");
  label.className = "setting";
  label.title = `${s.doc} (${s.values}; default ${s.default})`;
  label.append(s.name.replace(/_/g, " ") + " ");
  let el;
  if (s.kind === "choice" || s.kind === "flag") {
    el = document.createElement("select");
    el.append(option("", `default (${s.default})`));
    for (const c of s.kind === "flag" ? ["true", "false"] : s.choices) el.append(option(c, c));
  } else {
    el = document.createElement("input");
    el.type = "text";
    el.placeholder = s.default.length < 24 ? s.default : "default";
  }
  el.id = "s-" + s.name;
  el.dataset.setting = s.name;
  label.append(el);
  return label;
}

function currentModel() {
  return META.models.find((x) => x.name === $("model").value) || META.models[0];
}

// A text model shows the text fields, an image model the file upload.
function showInputs() {
  const image = currentModel().input === "image";
  for (const el of document.querySelectorAll(".text-only")) el.hidden = image;
  for (const el of document.querySelectorAll(".image-only")) el.hidden = !image;
  $("text").required = !image;
  $("image").required = image;
}

function fillClasses() {
  const m = currentModel();
  showInputs();
  for (const id of ["target", "contrast"]) {
    const sel = $(id);
    const keep = sel.value;
    [...sel.options].slice(id === "target" ? 1 : 2).forEach((o) => o.remove());
    m.labels.forEach((l) => sel.append(option(l, l)));
    sel.value = [...sel.options].some((o) => o.value === keep) ? keep : "";
  }
}

function buildForm() {
  for (const m of META.models) $("model").append(option(m.name, `${m.name} (${m.labels.join(" / ")})`));
  for (const m of META.methods) {
    const label = document.createElement("label");
    label.title = m.summary;
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = m.name;
    box.name = "method";
    box.checked = m.name === "calig";
    label.append(box, " " + m.name);
    $("methods").append(label);
  }
  for (const s of META.settings) {
    if (s.kind === "path") continue; // files are not named from the page
    $(MAIN.includes(s.name) ? "main-settings" : "more-settings").append(settingInput(s));
  }
  $("model").addEventListener("change", fillClasses);
  fillClasses();
}

function readForm() {
  const q = { model: $("model").value, settings: {} };
  if (currentModel().input === "image") {
    q.file = $("image").files[0];
  } else {
    q.text = $("text").value;
    if ($("text_pair").value) q.text_pair = $("text_pair").value;
  }
  q.methods = [...document.querySelectorAll("input[name=method]:checked")].map((b) => b.value);
  if ($("target").value) q.target = $("target").value;
  if ($("contrast").value) q.contrast = $("contrast").value;
  for (const el of document.querySelectorAll("[data-setting]")) {
    if (el.value.trim() !== "") q.settings[el.dataset.setting] = el.value.trim();
  }
  return q;
}

function toSearch(q) {
  const p = new URLSearchParams();
  p.set("model", q.model);
  if (q.text !== undefined) p.set("text", q.text);
  if (q.text_pair) p.set("text_pair", q.text_pair);
  p.set("methods", q.methods.join(","));
  if (q.target) p.set("target", q.target);
  if (q.contrast) p.set("contrast", q.contrast);
  for (const [k, v] of Object.entries(q.settings)) p.set(k, v);
  return "?" + p.toString();
}

// The address's query into the form; whether it holds a text to explain.
function fromSearch() {
  const p = new URLSearchParams(location.search);
  if (p.has("model")) $("model").value = p.get("model");
  fillClasses();
  for (const f of ["text", "text_pair", "target", "contrast"]) if (p.has(f)) $(f).value = p.get(f);
  if (p.has("methods")) {
    const want = p.get("methods").split(",");
    for (const b of document.querySelectorAll("input[name=method]")) b.checked = want.includes(b.value);
  }
  for (const [k, v] of p) {
    if (FIELDS.includes(k)) continue;
    const el = $("s-" + k);
    if (el) el.value = v;
  }
  return p.has("text") && p.get("text") !== "";
}

function showError(msg) {
  $("error").textContent = msg;
  $("error").hidden = !msg;
}

// A file's bytes as base64 (a data URL without its prefix).
function base64Of(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ""));
    r.onerror = () => reject(new Error(`cannot read ${file.name}`));
    r.readAsDataURL(file);
  });
}

async function run(q) {
  showError("");
  if (!q.methods.length) return showError("choose at least one method");
  if (currentModel().input === "image" && !q.file) return showError("choose an image file");
  const started = performance.now();
  const secs = () => ((performance.now() - started) / 1000).toFixed(1);
  $("run").disabled = true;
  $("status").textContent = "running…";
  // The model's worker, polled for the interpolation points done and the requests waiting.
  let polling = false;
  const poll = async () => {
    let line = `running… ${secs()} s`;
    if (!polling) {
      polling = true;
      try {
        const st = (await api("/api/status")).models.find((m) => m.name === q.model);
        if (st && st.running && st.running.points_planned > 0) {
          line += ` · ${st.running.points_done} of ${st.running.points_planned} interpolation points`;
        }
        if (st && st.waiting > 0) line += ` · ${st.waiting} waiting`;
      } catch (_) { /* the answer itself will tell */ }
      polling = false;
    }
    if (tick !== null) $("status").textContent = line;
  };
  let tick = setInterval(poll, 500);
  try {
    const { file, ...body } = q;
    if (file) Object.assign(body, { image: await base64Of(file), image_name: file.name });
    const out = await api("/api/explain", body);
    const es = Array.isArray(out) ? out : [out];
    // An image's maps are drawn over the upload (the report's own per-layer grid included).
    const { html } = await api("/api/render", { explanations: es, image: body.image });
    $("report").innerHTML = html;
    SHOWN = es;
    showLayers();
    $("status").textContent = `done in ${secs()} s`;
  } catch (e) {
    const retry = e.status === 503 && e.retry ? ` (retry in ${e.retry} s)` : "";
    showError(e.message + retry);
    $("status").textContent = "";
  } finally {
    clearInterval(tick);
    tick = null;
    $("run").disabled = false;
  }
}

// Special tokens ([CLS], [SEP]): not covered by a word; outside the colour scale.
function specials(e) {
  const sp = e.tokens.map(() => true);
  for (const w of e.words) for (let i = w.token_range[0]; i < w.token_range[1]; i++) sp[i] = false;
  return sp;
}

// A score's background and ink, as the reports draw them (render/palette.rs): the end colour
// at opacity t = |v| / max, and dark or white text, whichever contrasts more.
function colour(v, max, signed) {
  const t = max > 0 && Number.isFinite(v) ? Math.min(Math.abs(v) / max, 1) : 0;
  const end = !signed ? PALETTE.unsigned : v >= 0 ? PALETTE.for : PALETTE.against;
  const bg = end.map((c) => Math.round(255 + (c - 255) * t));
  const lum = (c) => {
    const l = c.map((x) => { x /= 255; return x <= 0.04045 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
  };
  const ratio = (a, b) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const L = lum(bg);
  const ink = ratio(L, 0) >= ratio(L, 1) ? "#000" : "#fff";
  return [`rgba(${end[0]},${end[1]},${end[2]},${t.toFixed(3)})`, ink];
}

// One row of token scores on its own scale (special tokens excluded from it).
function tokenRow(e, scores, signed) {
  const sp = specials(e);
  const max = Math.max(0, ...scores.map((v, i) => (sp[i] ? 0 : Math.abs(v))));
  const div = document.createElement("div");
  e.tokens.forEach((t, i) => {
    const s = document.createElement("span");
    s.className = "ltok" + (sp[i] ? " sp" : "");
    s.textContent = t;
    s.title = `#${i}: ${scores[i] >= 0 ? "+" : ""}${scores[i].toPrecision(4)}` + (sp[i] ? " (special token, outside the scale)" : "");
    if (!sp[i]) [s.style.background, s.style.color] = colour(scores[i], max, signed);
    div.append(s);
  });
  return [div, max];
}

function withLayers() {
  return SHOWN.filter((e) => e.input.kind === "text" && Array.isArray(e.layers) && e.layers.some((l) => l));
}

function showLayers() {
  const es = withLayers();
  $("layers").hidden = es.length === 0;
  const sel = $("layer-method");
  sel.replaceChildren(...es.map((e, i) => option(String(i), e.method)));
  if (!es.length) return;
  const e = es[0];
  $("layer").max = String(e.layers.length - 1);
  const asked = new URLSearchParams(location.search).get("layer");
  $("layer").value = asked !== null && asked !== "" ? asked : String(strongestLayer(e));
  drawLayer();
}

// The layer whose largest |score| off the special tokens is largest (the last layer of an
// encoder is often zero but at [CLS]).
function strongestLayer(e) {
  const sp = specials(e);
  let best = 0, top = -1;
  e.layers.forEach((l, k) => {
    if (!l) return;
    const m = Math.max(0, ...l.map((v, i) => (sp[i] ? 0 : Math.abs(v))));
    if (m > top) { top = m; best = k; }
  });
  return best;
}

// The layer shown is kept in the address too.
function keepLayer() {
  const p = new URLSearchParams(location.search);
  p.set("layer", $("layer").value);
  history.replaceState(null, "", "?" + p.toString());
}

function drawLayer() {
  const e = withLayers()[Number($("layer-method").value) || 0];
  if (!e) return;
  $("layer").max = String(e.layers.length - 1);
  const l = Math.min(Number($("layer").value), e.layers.length - 1);
  $("layer-out").textContent = l === 0 ? "0 (h⁽⁰⁾, the embeddings)" : `${l} of ${e.layers.length - 1}`;
  const view = $("layer-view");
  view.replaceChildren();
  const rows = [];
  const d = e.details || {};
  if (e.method === "calig" && Array.isArray(d.r)) {
    rows.push(["r (layer IG)", d.r[l], true]);
    rows.push(["a (attention relevance)", d.a && d.a[l], false]);
    rows.push(["s (fused)", d.s && d.s[l], true]);
  } else {
    rows.push([e.method, e.layers[l], e.signed]);
  }
  const grid = document.createElement("div");
  grid.className = "parts";
  for (const [name, scores, signed] of rows) {
    const b = document.createElement("b");
    b.textContent = name;
    if (!scores) {
      const none = document.createElement("span");
      none.className = "note";
      none.textContent = "no scores at this layer";
      grid.append(b, none);
      continue;
    }
    const [row, max] = tokenRow(e, scores, signed);
    const sum = scores.reduce((a, v) => a + v, 0);
    b.title = `Σ = ${sum.toPrecision(5)}; colour scale ${signed ? "±" : "0…"}${max.toPrecision(3)} (this row)`;
    grid.append(b, row);
  }
  view.append(grid);
  const delta = Array.isArray(e.convergence_delta) ? e.convergence_delta[l] : null;
  const p = document.createElement("p");
  p.className = "note";
  p.textContent = (delta !== null && delta !== undefined ? `completeness delta at this layer: ${delta.toPrecision(4)}. ` : "") +
    "Each row has its own colour scale (special tokens outlined, outside it); exact scores on hover.";
  view.append(p);
}

async function main() {
  try {
    META = await api("/api/models");
  } catch (e) {
    return showError("cannot reach the server: " + e.message);
  }
  buildForm();
  $("layer").addEventListener("input", () => { drawLayer(); keepLayer(); });
  $("layer-method").addEventListener("change", drawLayer);
  $("query").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = readForm();
    history.pushState(null, "", toSearch(q));
    run(q);
  });
  window.addEventListener("popstate", () => { if (fromSearch()) run(readForm()); });
  if (fromSearch()) run(readForm());
}

main();
