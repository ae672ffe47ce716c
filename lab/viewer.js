// The Lab's results: one row per model (clean, input, code, reconstruction), painted into small
// canvases scaled with `image-rendering: pixelated` (a Streamlit Components v2 element; lab/viewer.py
// builds `data`). One grey scale: 0 black, the top of the panel's range white.
//
// Streamlit runs this function again on every data change: the rows are rebuilt only when their
// layout changes, otherwise only repainted. `data.seq` is the drawing pad's sequence number for
// the drawing these images come from; a reply for an older drawing than the one painted is
// ignored, so a late answer never replaces a newer one.

const lab = (window.__aeLab = window.__aeLab || { seq: 0, painted: 0 });

function el(tag, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}

function b64bytes(s) {
  const bin = atob(s);
  const out = new Uint8ClampedArray(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// Grey levels 0..255 of a panel: images arrive as bytes, codes as values on [lo, hi].
function greys(p) {
  if (p.px) return b64bytes(p.px);
  const g = new Uint8ClampedArray(p.w * p.h);
  const span = p.hi - p.lo || 1;
  p.values.forEach((v, i) => { g[i] = v === null ? 0 : Math.round(255 * (v - p.lo) / span); });
  return g;
}

function paint(canvas, p) {
  const g = greys(p);
  const img = new ImageData(p.w, p.h);
  for (let i = 0; i < g.length; i++) {
    const empty = p.values && p.values[i] === null;
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = g[i];
    img.data[4 * i + 3] = empty ? 0 : 255;
  }
  canvas.getContext("2d").putImageData(img, 0, 0);
}

function hoverText(p, i) {
  const v = p.values[i];
  if (v === null || v === undefined) return "";
  if (p.hover === "spatial") {
    const r = Math.floor(i / p.w), c = i % p.w;
    return `cell (${r}, ${c}): mean of ${p.channels} channels ${v.toFixed(2)}; ` +
      `max ${p.max[i].toFixed(2)}, ${p.active[i]} active`;
  }
  return `code[${p.index[i]}] = ${v.toFixed(3)}`;
}

function panelNode(p) {
  const cell = el("figure", "panel");
  const box = el("div", "box");
  const canvas = el("canvas");
  canvas.setAttribute("role", "img");
  const side = Math.max(p.w, p.h);
  canvas.style.width = (100 * p.w / side) + "%";
  canvas.style.height = (100 * p.h / side) + "%";
  box.append(canvas);
  const cap = el("figcaption");
  cell.append(cap, box);
  if (p.values) {
    const tip = el("div", "tip");
    tip.setAttribute("role", "tooltip");
    box.append(tip);
    const show = (e) => {
      const r = canvas.getBoundingClientRect();
      const x = Math.floor((e.clientX - r.left) / r.width * p.w), y = Math.floor((e.clientY - r.top) / r.height * p.h);
      const text = x >= 0 && y >= 0 && x < p.w && y < p.h ? hoverText(cell.__panel, y * p.w + x) : "";
      tip.textContent = text;
      tip.style.display = text ? "block" : "none";
      tip.style.left = (e.clientX - box.getBoundingClientRect().left) + "px";
      tip.style.top = (e.clientY - box.getBoundingClientRect().top) + "px";
    };
    canvas.addEventListener("pointermove", show);
    canvas.addEventListener("pointerdown", show);
    canvas.addEventListener("pointerleave", () => { tip.style.display = "none"; });
  }
  return cell;
}

function fill(cell, p) {
  cell.__panel = p;
  const canvas = cell.querySelector("canvas");
  if (canvas.width !== p.w || canvas.height !== p.h) { canvas.width = p.w; canvas.height = p.h; }
  canvas.setAttribute("aria-label", p.label);
  cell.querySelector("figcaption").textContent = p.title;
  paint(canvas, p);
}

function rowNode(row) {
  const node = el("section", "row");
  const head = el("div", "head");
  const grid = el("div", "panels");
  grid.style.gridTemplateColumns = `repeat(${row.panels.length}, minmax(0, 1fr))`;
  for (const p of row.panels) grid.append(panelNode(p));
  node.append(head, grid);
  return node;
}

function fillHead(head, row) {
  head.replaceChildren();
  const title = el("b");
  title.textContent = row.title;
  if (row.about) title.title = row.about;
  head.append(title);
  if (row.tag) {
    const tag = el("i");
    tag.textContent = row.tag;
    head.append(tag);
  }
  const metrics = el("span", "metrics");
  row.metrics.forEach((m, i) => {
    if (i) metrics.append(" · ");
    const a = el("abbr");
    a.title = m.help;
    a.textContent = `${m.name} ${m.text}`;
    metrics.append(a);
  });
  head.append(metrics);
}

export default function ({ parentElement, data }) {
  let s = parentElement.__viewer;
  if (!s) {
    s = parentElement.__viewer = { root: el("div", "viewer"), layout: "", painted: -1 };
    parentElement.append(s.root); // append: the element also holds the component's <style>
  }
  const seq = data.seq || 0;
  if (seq < s.painted) return; // an answer for an older drawing than the one on screen
  s.painted = seq;
  lab.painted = Math.max(lab.painted, seq);
  lab.paints = (lab.paints || 0) + 1; // counted by benchmarks/app_latency.py
  const layout = JSON.stringify(data.rows.map((r) => [r.key, r.panels.map((p) => [p.w, p.h, !!p.values])]));
  if (layout !== s.layout) {
    s.layout = layout;
    s.root.replaceChildren(...data.rows.map(rowNode));
  }
  data.rows.forEach((row, i) => {
    const node = s.root.children[i];
    node.dataset.key = row.key;
    node.dataset.seq = String(seq);
    fillHead(node.querySelector(".head"), row);
    node.querySelectorAll(".panel").forEach((cell, j) => fill(cell, row.panels[j]));
  });
}
