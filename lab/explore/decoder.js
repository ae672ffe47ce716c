// Explore's decoded pictures (a Streamlit Components v2 element; lab/explore/decoder.py builds
// `data`). Three layouts share one decoder:
//   "playground":    a slider per code value, laid out like the code picture; every move decodes;
//   "manifold":      the 2-D VAE's plane; the large digit follows the pointer, a click keeps it;
//   "interpolation": the decoded line between two codes beside the pixel blend, and a scrubber.
// With `data.decoder` (the decoder's ONNX file on this server) and `data.ort`, the page decodes
// with onnxruntime-web (ortRun, from lab/ort_page.js in front of this module, as are el and
// bytesOf): no server round trip. Without them the server decodes: pictures arrive as bytes
// (`px`) and a slider or a click sends its value on release. The values go back to Python
// (`values`, `z`) after a pause.

const SEND_AFTER_MS = 300; // a value goes back to the server once the pointer or key rests this long
const explore = (window.__aeExplore = window.__aeExplore || { decodes: 0, paints: [], errors: 0 });

function canvas28(label) {
  const c = el("canvas");
  c.width = c.height = 28;
  c.setAttribute("role", "img");
  c.setAttribute("aria-label", label);
  return c;
}

// Paints a 28x28 picture: `pixels` in [0, 1] (a Float32Array view) or bytes 0..255.
function paint(canvas, pixels, bytes = false) {
  const img = new ImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const g = bytes ? pixels[i] : Math.round(255 * Math.min(1, Math.max(0, pixels[i])));
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = g;
    img.data[4 * i + 3] = 255;
  }
  canvas.getContext("2d").putImageData(img, 0, 0);
  canvas.dataset.painted = String((Number(canvas.dataset.painted) || 0) + 1);
}

function figure(label, caption) {
  const fig = el("figure");
  const canvas = canvas28(label);
  const cap = el("figcaption", "", caption);
  fig.append(canvas, cap);
  return { fig, canvas, cap };
}

// Decodes codes (n of `dims` values each, one Float32Array) into n pictures of 784 values: at
// most one run at a time, and while one runs only the newest request waits (a slider that moves
// faster than the decoder skips the frames in between, never falls behind).
function decoderFor(s) {
  let running = false, waiting = null;
  async function go(job) {
    running = true;
    try {
      const t0 = performance.now();
      const out = await ortRun(s.data.decoder, s.data.ort, job.codes, [job.n, job.dims]);
      explore.decodes += 1;
      job.done(out);
      explore.paints.push({ mode: s.data.mode, started: job.started, decoded: t0, painted: performance.now() });
      if (explore.paints.length > 2000) explore.paints.splice(0, 1000);
    } catch (err) {
      explore.errors += 1;
      s.problem.textContent = "The page could not decode this picture; reload the page to try again.";
      s.problem.hidden = false;
      s.problem.title = String(err && err.message || err);
    } finally {
      running = false;
      if (waiting) { const next = waiting; waiting = null; go(next); }
    }
  }
  return (codes, n, dims, done, started = performance.now()) => {
    const job = { codes, n, dims, done, started };
    if (running) waiting = job; else go(job);
  };
}

function inPage(data) {
  return Boolean(data.decoder && data.ort);
}

// --- the latent playground ---------------------------------------------------------------------

function playground(s) {
  const d = s.data;
  if (!s.built || s.built !== d.layout) {
    s.built = d.layout;
    s.root.replaceChildren();
    const top = el("div", "top");
    s.live = figure("Decoded from the sliders", "from the sliders");
    s.input = figure("Decoded from the input's code", "input's code");
    top.append(s.live.fig, s.input.fig);
    const grid = el("div", "sliders");
    grid.style.gridTemplateColumns = `repeat(${d.grid[0].length}, minmax(0, 1fr))`;
    s.sliders = [];
    d.grid.forEach((row) => row.forEach((i) => {
      const cell = el("label", "slider");
      if (i < 0) { grid.append(el("span")); return; }
      const name = el("span", "name", `code[${i}]`);
      const value = el("output");
      const input = el("input");
      input.type = "range";
      input.setAttribute("aria-label", `code[${i}]`);
      input.dataset.index = String(i);
      cell.append(name, value, input);
      grid.append(cell);
      s.sliders[i] = { input, value };
    }));
    s.root.append(top, grid);
    s.root.addEventListener("input", (e) => {
      const i = Number(e.target.dataset.index);
      if (Number.isNaN(i)) return;
      s.values[i] = Number(e.target.value);
      s.sliders[i].value.textContent = s.values[i].toFixed(2);
      if (inPage(s.data)) {
        decodeLive(s, performance.now());
        later(s, "values");
      }
    });
    s.root.addEventListener("change", (e) => { // released: the server decodes in the fallback
      if (!Number.isNaN(Number(e.target.dataset.index)) && !inPage(s.data)) send(s, "values");
    });
  }
  if (s.nonce !== d.nonce) { // new values from the server: a new input, Reset, Random, a model switch
    s.nonce = d.nonce;
    s.values = d.values.slice();
  }
  d.values.forEach((_, i) => {
    const { input, value } = s.sliders[i];
    input.min = d.lo[i]; input.max = d.hi[i]; input.step = String((d.hi[i] - d.lo[i]) / 200);
    input.value = String(s.values[i]);
    value.textContent = s.values[i].toFixed(2);
  });
  if (inPage(d)) {
    decodeLive(s);
    s.decode(new Float32Array(d.input_code), 1, d.values.length, (out) => paint(s.input.canvas, out));
  } else {
    if (d.px) paint(s.live.canvas, bytesOf(d.px), true);
    if (d.input_px) paint(s.input.canvas, bytesOf(d.input_px), true);
  }
}

function decodeLive(s, started) {
  s.decode(new Float32Array(s.values), 1, s.values.length, (out) => paint(s.live.canvas, out), started);
}

function later(s, what) {
  clearTimeout(s.timer);
  s.timer = setTimeout(() => send(s, what), SEND_AFTER_MS);
}

function send(s, what) {
  clearTimeout(s.timer);
  if (what === "values") s.setStateValue("values", { model: s.data.model, values: s.values.slice() });
  else s.setStateValue("z", { model: s.data.model, z: s.z.slice() });
}

// --- the digit manifold --------------------------------------------------------------------------

function manifold(s) {
  const d = s.data;
  if (!s.built) {
    s.built = "manifold";
    s.root.replaceChildren();
    const plane = el("div", "plane");
    s.planeImg = el("img");
    s.planeImg.alt = "";
    s.marks = el("canvas", "marks");
    s.marks.setAttribute("role", "img");
    s.marks.setAttribute("aria-label", "Plane of 2-D codes");
    plane.append(s.planeImg, s.marks, el("span", "axis x", "z1 →"), el("span", "axis y", "z2 →"));
    s.big = figure("Decoded from the point", "");
    const side = el("div", "side");
    side.append(s.big.fig);
    s.root.append(plane, side);
    s.root.classList.add("manifold");
    const at = (e) => {
      const r = s.marks.getBoundingClientRect();
      const e2 = s.data.edge;
      const z1 = -e2 + 2 * e2 * (e.clientX - r.left) / r.width;
      const z2 = e2 - 2 * e2 * (e.clientY - r.top) / r.height;
      const cap = (v) => Math.max(-s.data.span, Math.min(s.data.span, Math.round(v * 100) / 100));
      return [cap(z1), cap(z2)];
    };
    s.marks.addEventListener("pointermove", (e) => {
      if (!inPage(s.data)) return;
      s.hover = at(e);
      showZ(s, s.hover, performance.now());
    });
    s.marks.addEventListener("pointerleave", () => {
      s.hover = null;
      if (inPage(s.data)) showZ(s, s.z);
    });
    s.marks.addEventListener("click", (e) => {
      s.z = at(e);
      drawMarks(s);
      if (inPage(s.data)) showZ(s, s.z);
      send(s, "z");
    });
  }
  if (s.planeImg.src !== d.plane) s.planeImg.src = d.plane;
  if (s.nonce !== d.nonce) { s.nonce = d.nonce; s.z = d.z.slice(); }
  drawMarks(s);
  if (inPage(d)) showZ(s, s.hover || s.z);
  else {
    if (d.px) paint(s.big.canvas, bytesOf(d.px), true);
    s.big.cap.textContent = zText(s.z);
  }
}

function zText(z) {
  const f = (v) => (v >= 0 ? "+" : "") + v.toFixed(2);
  return `z = (${f(z[0])}, ${f(z[1])})`;
}

function showZ(s, z, started) {
  s.big.cap.textContent = zText(z);
  s.decode(new Float32Array(z), 1, 2, (out) => paint(s.big.canvas, out), started);
}

function drawMarks(s) {
  const c = s.marks, d = s.data;
  const side = 300;
  if (c.width !== side || c.height !== side) { c.width = c.height = side; }
  const g = c.getContext("2d");
  g.clearRect(0, 0, side, side);
  const px = (z) => [(z[0] + d.edge) / (2 * d.edge) * side, (d.edge - z[1]) / (2 * d.edge) * side];
  if (d.mean) { // the input's mean code: a star
    const [x, y] = px(d.mean);
    g.fillStyle = "#ff7f0e"; g.strokeStyle = "#000"; g.lineWidth = 1;
    g.beginPath();
    for (let k = 0; k < 10; k++) {
      const r = k % 2 ? 4 : 10, a = -Math.PI / 2 + k * Math.PI / 5;
      g.lineTo(x + r * Math.cos(a), y + r * Math.sin(a));
    }
    g.closePath(); g.fill(); g.stroke();
  }
  const [x, y] = px(s.z);
  g.strokeStyle = "#d62728"; g.lineWidth = 3;
  g.beginPath(); g.arc(x, y, 8, 0, 2 * Math.PI); g.stroke();
}

// --- interpolation -----------------------------------------------------------------------------

function interpolation(s) {
  const d = s.data;
  const layout = `${d.steps}:${inPage(d)}`;
  if (s.built !== layout) {
    s.built = layout;
    s.root.replaceChildren();
    s.path = [], s.fade = [];
    const rows = el("div", "rows");
    rows.style.gridTemplateColumns = `repeat(${d.steps}, minmax(0, 1fr))`;
    for (let i = 0; i < d.steps; i++) s.path.push(canvas28(`Decoded, step ${i + 1} of ${d.steps}`));
    for (let i = 0; i < d.steps; i++) s.fade.push(canvas28(`Pixel blend, step ${i + 1} of ${d.steps}`));
    rows.append(...s.path, ...s.fade);
    s.root.append(rows);
    if (inPage(d)) { // drag along the line: the decoded code beside the blended pixels, at any t
      const scrub = el("div", "scrub");
      s.at = figure("Decoded at the scrubber", "decoded");
      s.blend = figure("Pixel blend at the scrubber", "pixels blended");
      const t = el("input");
      t.type = "range"; t.min = "0"; t.max = "1"; t.step = "0.01"; t.value = "0.5";
      t.setAttribute("aria-label", "Position on the line");
      t.addEventListener("input", () => scrubTo(s, Number(t.value), performance.now()));
      s.t = t;
      const label = el("label", "", "position on the line ");
      label.append(t);
      scrub.append(s.at.fig, s.blend.fig, label);
      s.root.append(scrub);
    }
  }
  const dims = d.a.length;
  s.ends = [bytesOf(d.ends[0]), bytesOf(d.ends[1])];
  if (inPage(d)) {
    const codes = new Float32Array(d.steps * dims);
    for (let i = 0; i < d.steps; i++) {
      const t = d.steps > 1 ? i / (d.steps - 1) : 0;
      for (let j = 0; j < dims; j++) codes[i * dims + j] = (1 - t) * d.a[j] + t * d.b[j];
    }
    s.decode(codes, d.steps, dims, (out) => s.path.forEach((c, i) => paint(c, out.subarray(784 * i, 784 * (i + 1)))));
    scrubTo(s, Number(s.t.value));
  } else {
    d.path_px.forEach((p, i) => paint(s.path[i], bytesOf(p), true));
  }
  for (let i = 0; i < d.steps; i++) {
    const t = d.steps > 1 ? i / (d.steps - 1) : 0;
    paint(s.fade[i], blend(s.ends, t));
  }
}

function blend(ends, t) {
  const out = new Float32Array(784);
  for (let i = 0; i < 784; i++) out[i] = ((1 - t) * ends[0][i] + t * ends[1][i]) / 255;
  return out;
}

function scrubTo(s, t, started) {
  const d = s.data, dims = d.a.length;
  const code = new Float32Array(dims);
  for (let j = 0; j < dims; j++) code[j] = (1 - t) * d.a[j] + t * d.b[j];
  s.at.cap.textContent = `decoded, t = ${t.toFixed(2)}`;
  s.decode(code, 1, dims, (out) => paint(s.at.canvas, out), started);
  paint(s.blend.canvas, blend(s.ends, t));
}

const LAYOUTS = { playground, manifold, interpolation };

export default function ({ parentElement, data, setStateValue }) {
  let s = parentElement.__decoder;
  if (!s) {
    s = parentElement.__decoder = { root: el("div", "decoder"), problem: el("p", "problem") };
    s.problem.hidden = true;
    s.decode = decoderFor(s);
    parentElement.append(s.root, s.problem); // append: the element also holds the component's <style>
  }
  s.data = data;
  s.setStateValue = setStateValue;
  s.root.dataset.mode = data.mode;
  s.root.dataset.decodes = inPage(data) ? "page" : "server";
  LAYOUTS[data.mode](s);
}
