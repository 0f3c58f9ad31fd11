// Small hand-made SVG charts (no library): a line chart over time and a horizontal funnel bar.

const NS = "http://www.w3.org/2000/svg";

function el(name, attrs = {}, ...children) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const child of children) node.append(child);
  return node;
}

function title(text) {
  const t = el("title");
  t.textContent = text;
  return t;
}

function clock(ms, spanMs) {
  const d = new Date(ms);
  if (spanMs > 2 * 86400e3) return d.toLocaleDateString([], { weekday: "short", day: "numeric" });
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// points: [{t: ms, v: number|null}], with the x range [since, until] and y from 0 to yMax
// (yMax null: the largest value). format(v) labels the y axis and the tooltips.
export function lineChart({ points, since, until, yMax = null, format = String, label, className = "" }) {
  const W = 520, H = 170, L = 52, R = 12, T = 14, B = 26;
  const top = yMax ?? Math.max(1, ...points.filter((p) => p.v !== null).map((p) => p.v)) * 1.1;
  const span = Math.max(1, until - since);
  const x = (t) => L + ((t - since) / span) * (W - L - R);
  const y = (v) => H - B - (v / top) * (H - T - B);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: `chart ${className}`, role: "img", "aria-label": label });
  svg.append(title(label));
  for (const frac of [0, 0.5, 1]) {
    const v = top * frac;
    svg.append(el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
    const text = el("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" });
    text.textContent = format(v);
    svg.append(text);
  }
  for (const frac of [0, 0.5, 1]) {
    const t = since + span * frac;
    const anchor = frac === 0 ? "start" : frac === 1 ? "end" : "middle";
    const text = el("text", { x: x(t), y: H - 6, "text-anchor": anchor, class: "axis" });
    text.textContent = clock(t, span);
    svg.append(text);
  }
  const known = points.filter((p) => p.v !== null && p.v !== undefined);
  if (!known.length) {
    const text = el("text", { x: (L + W - R) / 2, y: H / 2, "text-anchor": "middle", class: "empty" });
    text.textContent = "no data in this window";
    svg.append(text);
    return svg;
  }
  // One path, broken where a bucket has no value.
  let d = "";
  let pen = false;
  for (const p of points) {
    if (p.v === null || p.v === undefined) {
      pen = false;
      continue;
    }
    d += `${pen ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
    pen = true;
  }
  svg.append(el("path", { d, class: "line" }));
  for (const p of known) {
    svg.append(el("circle", { cx: x(p.t), cy: y(p.v), r: known.length < 4 ? 4 : 2.5, class: "dot" },
      title(`${new Date(p.t).toLocaleString()}: ${format(p.v)}`)));
  }
  return svg;
}

// parts: [{label, value, className}] drawn as one stacked bar of total width.
export function stackedBar(parts, label) {
  const W = 520, H = 18;
  const total = parts.reduce((s, p) => s + p.value, 0);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "bar", role: "img", "aria-label": label,
    preserveAspectRatio: "none" });
  svg.append(title(label));
  if (!total) {
    svg.append(el("rect", { x: 0, y: 0, width: W, height: H, class: "seg-empty" }));
    return svg;
  }
  let at = 0;
  for (const p of parts) {
    if (!p.value) continue;
    const w = (p.value / total) * W;
    svg.append(el("rect", { x: at, y: 0, width: w, height: H, class: p.className },
      title(`${p.label}: ${p.value} (${((100 * p.value) / total).toFixed(1)}%)`)));
    at += w;
  }
  return svg;
}
