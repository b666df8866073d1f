// The run browser's removal curves: one example's curves as the run's cache holds them
// (GET /api/runs/{index}/examples/{id}: `curves`, per method entry and curve, x and y), drawn
// as inline SVG, one small plot per curve with one line per method.
"use strict";

const CURVE_COLOURS = ["#e66101", "#5e3c99", "#1b7837", "#b2182b", "#2166ac", "#8c510a", "#666666"];
const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// One plot: `lines` is [[method, {x, y}], ...] of one curve.
function curvePlot(name, lines) {
  const W = 300, H = 190, L = 44, R = 8, T = 22, B = 30;
  const ys = lines.flatMap(([, c]) => c.y.filter(Number.isFinite));
  let lo = Math.min(0, ...ys), hi = Math.max(1, ...ys);
  if (hi - lo < 1e-12) hi = lo + 1;
  const px = (x) => L + x * (W - L - R);
  const py = (y) => T + (hi - y) / (hi - lo) * (H - T - B);
  const svg = svgEl("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "curve", role: "img" });
  svg.append(svgEl("title", {}, `${name}: the example's curve per method`));
  svg.append(svgEl("text", { x: L, y: 14, "font-size": 12, "font-weight": 600 }, name));
  svg.append(svgEl("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#ccc" }));
  for (const v of [lo, hi]) {
    svg.append(svgEl("text", { x: L - 4, y: py(v) + 4, "font-size": 10, "text-anchor": "end" }, v.toFixed(2)));
  }
  for (const v of [0, 0.5, 1]) {
    svg.append(svgEl("text", { x: px(v), y: H - B + 13, "font-size": 10, "text-anchor": "middle" }, String(v)));
  }
  svg.append(svgEl("text", { x: (L + W - R) / 2, y: H - 4, "font-size": 10, "text-anchor": "middle" }, "fraction removed (or step / K)"));
  lines.forEach(([method, c], i) => {
    const pts = c.x.map((x, k) => [x, c.y[k]]).filter(([, y]) => Number.isFinite(y));
    const colour = CURVE_COLOURS[i % CURVE_COLOURS.length];
    const line = svgEl("polyline", {
      points: pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" "),
      fill: "none", stroke: colour, "stroke-width": 1.8,
    });
    line.append(svgEl("title", {}, `${method}: ${c.y.map((y) => y.toFixed(3)).join(", ")}`));
    svg.append(line);
  });
  return svg;
}

// Every curve of the example, with a legend of the methods; null when the cache holds none.
function curvesView(curves) {
  const methods = Object.keys(curves || {});
  if (!methods.length) return null;
  const names = [...new Set(methods.flatMap((m) => Object.keys(curves[m])))];
  const box = document.createElement("div");
  box.className = "curves";
  const legend = document.createElement("p");
  legend.className = "note";
  methods.forEach((m, i) => {
    const sw = document.createElement("span");
    sw.style.color = CURVE_COLOURS[i % CURVE_COLOURS.length];
    sw.textContent = `■ ${m} `;
    legend.append(sw);
  });
  box.append(legend);
  for (const name of names) {
    box.append(curvePlot(name, methods.filter((m) => curves[m][name]).map((m) => [m, curves[m][name]])));
  }
  return box;
}

// An ERASER document's whitespace tokens with the human rationale spans marked.
function rationaleView(words, evidence) {
  const p = document.createElement("p");
  p.className = "rationale";
  const inSpan = (i) => evidence.some(([s, e]) => i >= s && i < e);
  words.forEach((w, i) => {
    const span = document.createElement(inSpan(i) ? "mark" : "span");
    span.textContent = w;
    p.append(span, " ");
  });
  return p;
}
