// The Lab in the page: the pad (or the chosen digit), the noise controls and one row per shown
// model, in one Streamlit Components v2 element (lab/lab_page.py builds `data`). compute.js and
// ort_page.js come in front of this file (lab/pagejs.py).
//
// With `data.in_page`, every change (a pen move, the noise slider while it is dragged, a noise
// type, seed or "noise for every model") is computed and painted here: strokes to the 28x28
// input (fromStrokes), the noise (noiseApply on the fields the server sent for the seed), each
// model's code and reconstruction (onnxruntime-web), the metrics. At most one computation runs
// at a time and the next one starts from the newest input, so a slow machine skips frames
// instead of queueing them. The drawing and the noise settings go back to the server only when
// they have settled (REPORT_MS, or at once on a press anywhere outside the element, such as the
// Explore tab or the sidebar, or when the page is hidden), so the server keeps the current input for Explore without
// working on every stroke.
// Without `data.in_page` the server computes the rows (`data.result`); the pad sends the drawing
// on pen-up and the noise controls on release.
//
// Streamlit runs the default export again whenever `data` changes: the DOM and the listeners
// are created once and kept on `parentElement.__lab`.

const labStats = (window.__aeLab = window.__aeLab || { paints: 0, computes: 0 });
const REPORT_MS = 2500; // a drawing or a noise setting this long unchanged is reported to the server

// A finger or pen acts on pointerup over the button, a mouse or the keyboard on click: in
// Chromium a tap sometimes brings no click at all, while its pointerdown and pointerup arrive.
// The click that may follow a tap is then ignored.
function onPress(button, action) {
  let finger = null;
  let pressed = -Infinity;
  button.addEventListener("pointerdown", (e) => { finger = e.pointerType === "mouse" ? null : e.pointerId; });
  button.addEventListener("pointercancel", () => { finger = null; });
  button.addEventListener("pointerup", (e) => {
    if (finger === null || e.pointerId !== finger) return;
    finger = null;
    pressed = performance.now();
    action();
  });
  button.addEventListener("click", () => { if (performance.now() - pressed > 800) action(); });
}

function button(text, label, title) {
  const b = el("button", "", text);
  b.type = "button";
  b.setAttribute("aria-label", label);
  if (title) b.title = title;
  return b;
}

// ---- painting --------------------------------------------------------------------------------

// A (h, w) image in [0, 1] (or values on [lo, hi]) into a canvas of h x w pixels, grey scale.
function paintValues(canvas, values, w, h, lo = 0, hi = 1) {
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const img = new ImageData(w, h);
  const span = hi - lo || 1;
  for (let i = 0; i < w * h; i++) {
    const g = Math.round(255 * Math.min(1, Math.max(0, (values[i] - lo) / span)));
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = g;
    img.data[4 * i + 3] = 255;
  }
  canvas.getContext("2d").putImageData(img, 0, 0);
}

// A flat code of n values as a grid of exactly n cells, filled column by column as the
// tutorial's 8x4 picture (code[c * rows + r] at row r, column c); a spatial (h, w, c) code as its
// mean over channels.
function codeCells(model, code) {
  const shape = model.code_shape;
  if (shape.length === 3) {
    const [h, w, c] = shape;
    const mean = new Float32Array(h * w), max = new Float32Array(h * w), active = new Uint16Array(h * w);
    for (let i = 0; i < h * w; i++) {
      let sum = 0, top = -Infinity, on = 0;
      for (let k = 0; k < c; k++) {
        const v = code[i * c + k];
        sum += v; if (v > top) top = v; if (v > 1e-6) on++;
      }
      mean[i] = sum / c; max[i] = top; active[i] = on;
    }
    return { w, h, values: mean, hover: (i) => `cell (${Math.floor(i / w)}, ${i % w}): mean of ${c} channels ` +
      `${mean[i].toFixed(2)}; max ${max[i].toFixed(2)}, ${active[i]} active` };
  }
  const [rows, cols] = model.grid;
  const values = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) values[r * cols + c] = code[c * rows + r];
  return { w: cols, h: rows, values, hover: (i) => {
    const r = Math.floor(i / cols), c = i % cols;
    return `code[${c * rows + r}] = ${code[c * rows + r].toFixed(3)}`;
  } };
}

function panelNode(title, label, kind) {
  const fig = el("figure", "panel " + (kind || ""));
  const cap = el("figcaption", "", title);
  const box = el("div", "box");
  const canvas = el("canvas");
  canvas.width = canvas.height = 28; // square until painted (a canvas is 300 x 150 by default)
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", label);
  box.append(canvas);
  fig.append(cap, box);
  fig.canvas = canvas;
  fig.cap = cap;
  return fig;
}

// The hover text of a code panel: the value under the pointer.
function addTip(fig) {
  const tip = el("div", "tip");
  tip.setAttribute("role", "tooltip");
  fig.querySelector(".box").append(tip);
  const show = (e) => {
    const cells = fig.cells;
    if (!cells) return;
    const r = fig.canvas.getBoundingClientRect();
    const x = Math.floor((e.clientX - r.left) / r.width * cells.w);
    const y = Math.floor((e.clientY - r.top) / r.height * cells.h);
    const text = x >= 0 && y >= 0 && x < cells.w && y < cells.h ? cells.hover(y * cells.w + x) : "";
    tip.textContent = text;
    tip.style.display = text ? "block" : "none";
    const b = fig.querySelector(".box").getBoundingClientRect();
    tip.style.left = (e.clientX - b.left) + "px";
    tip.style.top = (e.clientY - b.top) + "px";
  };
  fig.canvas.addEventListener("pointermove", show);
  fig.canvas.addEventListener("pointerdown", show);
  fig.canvas.addEventListener("pointerleave", () => { tip.style.display = "none"; });
}

function metricTexts(m) {
  return [["BCE", m.bce.toFixed(3)], ["MSE", m.mse.toFixed(4)],
    ["PSNR", m.mse === 0 ? "∞ (identical)" : m.psnr.toFixed(1) + " dB"], ["SSIM", m.ssim.toFixed(2)]];
}

function fillMetrics(node, m, help) {
  node.replaceChildren();
  metricTexts(m).forEach(([name, text], i) => {
    if (i) node.append(" · ");
    const a = el("abbr", "", `${name} ${text}`);
    a.title = help[name];
    node.append(a);
  });
}

// ---- the pad -----------------------------------------------------------------------------------

function buildPad(s, data) {
  const wrap = el("div", "pad");
  const canvas = el("canvas");
  canvas.setAttribute("aria-label", "Drawing pad");
  canvas.setAttribute("role", "img");
  canvas.tabIndex = 0;
  const preview = panelNode("", "Preview: first model's reconstruction", "preview");
  const bar = el("div", "pad-bar");
  const undo = button("↶ Undo", "Undo", "Undo the last stroke (Ctrl+Z)");
  const clear = button("✕ Clear", "Clear", "Clear the pad");
  const hint = el("span", "pad-hint");
  bar.append(undo, clear, hint);
  const stage = el("div", "stage");
  stage.append(canvas, preview);
  wrap.append(stage, bar);
  const pad = { wrap, canvas, preview, undo, clear, hint, current: null,
    strokes: (data.strokes || []).map((st) => st.map((p) => [p[0], p[1]])), size: data.size || 0 };
  const ctx = canvas.getContext("2d");

  pad.redraw = () => {
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, pad.size, pad.size);
    ctx.strokeStyle = ctx.fillStyle = "#fff";
    ctx.lineWidth = s.pen * pad.size;
    ctx.lineCap = ctx.lineJoin = "round";
    for (const st of pad.strokes) {
      ctx.beginPath();
      if (st.length === 1) {
        ctx.arc(st[0][0], st[0][1], ctx.lineWidth / 2, 0, 2 * Math.PI);
        ctx.fill();
        continue;
      }
      ctx.moveTo(st[0][0], st[0][1]);
      for (let i = 1; i < st.length; i++) ctx.lineTo(st[i][0], st[i][1]);
      ctx.stroke();
    }
    undo.disabled = clear.disabled = pad.strokes.length === 0;
  };
  // The pad fills its column and stays square; the drawing scales with it.
  const fit = () => {
    const side = Math.floor(stage.clientWidth);
    if (!side || side === pad.fitted) return;
    pad.fitted = side;
    if (pad.size && pad.strokes.length) {
      const k = side / pad.size;
      pad.strokes = pad.strokes.map((st) => st.map((p) => [p[0] * k, p[1] * k]));
    }
    pad.size = side;
    const dpr = window.devicePixelRatio || 1;
    canvas.style.width = canvas.style.height = side + "px";
    canvas.width = canvas.height = Math.round(side * dpr);
    pad.redraw();
  };
  pad.observer = new ResizeObserver(fit);
  pad.observer.observe(stage);
  fit();

  const point = (e) => {
    const r = canvas.getBoundingClientRect();
    const k = pad.size / (r.width || pad.size);
    return [(e.clientX - r.left) * k, (e.clientY - r.top) * k];
  };
  const changed = (final) => {
    s.drawingChanged(final);
  };
  canvas.addEventListener("pointerdown", (e) => {
    if (e.button !== 0 && e.pointerType === "mouse") return;
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    pad.current = [point(e)];
    pad.strokes.push(pad.current);
    pad.redraw();
    changed(false);
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!pad.current) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = s.pen * pad.size;
    ctx.lineCap = ctx.lineJoin = "round";
    let moved = false;
    for (const ev of events.length ? events : [e]) {
      const p = point(ev);
      const last = pad.current[pad.current.length - 1];
      if (Math.hypot(p[0] - last[0], p[1] - last[1]) < 1.5) continue;
      pad.current.push(p);
      ctx.beginPath();
      ctx.moveTo(last[0], last[1]);
      ctx.lineTo(p[0], p[1]);
      ctx.stroke();
      moved = true;
    }
    if (moved) changed(false);
  });
  const end = () => {
    if (!pad.current) return;
    pad.current = null;
    pad.redraw();
    changed(true);
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  canvas.addEventListener("lostpointercapture", end);
  pad.doUndo = () => {
    if (!pad.strokes.length) return;
    pad.strokes.pop();
    pad.current = null;
    pad.redraw();
    changed(true);
  };
  onPress(undo, pad.doUndo);
  onPress(clear, () => {
    pad.strokes = [];
    pad.current = null;
    pad.redraw();
    changed(true);
  });
  // Ctrl/Cmd+Z anywhere on the page, except where it undoes typing.
  pad.onKey = (e) => {
    if (!(e.ctrlKey || e.metaKey) || e.shiftKey || e.key.toLowerCase() !== "z") return;
    const t = e.composedPath()[0];
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    if (!wrap.isConnected || !pad.strokes.length) return;
    e.preventDefault();
    pad.doUndo();
  };
  pad.message = () => ({ size: pad.size, strokes: pad.strokes.map((st) => st.map((p) =>
    [Math.round(p[0] * 10) / 10, Math.round(p[1] * 10) / 10])) });
  return pad;
}

// ---- the noise controls ------------------------------------------------------------------------

function buildNoise(s, data) {
  const box = el("div", "noise");
  const levelRow = el("label", "level");
  const levelText = el("span", "", "Noise level");
  const levelValue = el("output", "value");
  const level = el("input");
  level.type = "range";
  level.min = "0"; level.max = "1"; level.step = "0.05";
  level.setAttribute("aria-label", "Noise level");
  level.title = "0 leaves the digit clean; 0.5 is the tutorial's noise factor.";
  levelRow.append(levelText, levelValue, level);
  const kinds = el("div", "kinds");
  kinds.setAttribute("role", "radiogroup");
  kinds.setAttribute("aria-label", "Noise type");
  const kindButtons = data.noise_kinds.map(([value, label]) => {
    const b = button(label, label);
    b.setAttribute("role", "radio");
    b.dataset.value = value;
    kinds.append(b);
    return b;
  });
  const seedRow = el("div", "seed-row");
  const seedLabel = el("label", "seed");
  const seed = el("input");
  seed.type = "number"; seed.min = "0"; seed.max = String(data.max_seed); seed.step = "1";
  seed.setAttribute("aria-label", "Seed");
  seed.title = "Same seed, same noise: the picture is reproducible.";
  seedLabel.append(el("span", "", "Seed"), seed);
  const fresh = button("New noise", "New noise", "A fresh random seed");
  seedRow.append(seedLabel, fresh);
  const allRow = el("label", "all");
  const all = el("input");
  all.type = "checkbox";
  all.setAttribute("aria-label", "Noise for every model");
  allRow.title = "Off: models that are not denoisers get the clean digit, so each model shows the job it " +
    "was trained for. On: every model gets the noisy input.";
  allRow.append(all, el("span", "", "Noise for every model"));
  box.append(levelRow, kinds, seedRow, allRow);

  const n = { box, level, levelValue, kindButtons, seed, fresh, all };
  n.show = () => {
    level.value = String(s.noise.level);
    levelValue.textContent = s.noise.level.toFixed(2);
    for (const b of kindButtons) b.setAttribute("aria-checked", String(b.dataset.value === s.noise.kind));
    if (document.activeElement !== seed && s.host.activeElement !== seed) seed.value = String(s.noise.seed);
    all.checked = s.noise.all;
  };
  // While the slider is dragged the page follows every step; the server hears of it on release.
  level.addEventListener("input", () => s.noiseChanged({ level: Number(level.value) }, false));
  level.addEventListener("change", () => s.noiseChanged({ level: Number(level.value) }, true));
  for (const b of kindButtons) onPress(b, () => s.noiseChanged({ kind: b.dataset.value }, true));
  seed.addEventListener("change", () => {
    const v = Math.trunc(Number(seed.value));
    if (Number.isFinite(v) && v >= 0 && v <= data.max_seed) s.noiseChanged({ seed: v }, true);
    else n.show();
  });
  onPress(fresh, () => s.noiseChanged({ seed: s.nextSeed }, true));
  all.addEventListener("change", () => s.noiseChanged({ all: all.checked }, true));
  return n;
}

// ---- the rows ------------------------------------------------------------------------------------

function rowNode(s, model) {
  const node = el("section", "row");
  node.dataset.key = model.key;
  const head = el("div", "head");
  const title = el("b", "", model.title);
  title.title = model.about;
  const tag = el("i");
  const metrics = el("span", "metrics");
  head.append(title, tag, metrics);
  const grid = el("div", "panels");
  const clean = panelNode("Clean 28×28", "Clean input");
  const given = panelNode("", `Input to ${model.title}`);
  const code = panelNode(model.code_title, `Code of ${model.title}`, "code");
  addTip(code);
  const scale = el("div", "scale");
  code.append(scale);
  const recon = panelNode("Reconstruction", `Reconstruction by ${model.title}`);
  grid.append(clean, given, code, recon);
  node.append(head, grid);
  const row = { node, model, tag, metrics, clean, given, code, scale, recon };
  if (model.vae && s.inPage) {
    const extra = el("div", "extra");
    const sample = button("Sample from the posterior", `Sample from the posterior: ${model.title}`,
      "A VAE encodes a digit to a distribution, not a point: draw one code from it and decode it. " +
      "Each press draws again; the row above shows the mean.");
    const out = panelNode("Posterior sample", `Posterior sample of ${model.title}`, "small");
    out.hidden = true;
    extra.append(sample, out);
    node.append(extra);
    onPress(sample, () => s.samplePosterior(row, out));
  }
  if (model.code_shape.length === 3) {
    row.channels = el("div", "channels");
    row.channels.setAttribute("aria-label", `Every channel of the code of ${model.title}`);
    node.append(row.channels);
  }
  return row;
}

function paintRow(s, row, clean, noisy, out) {
  const m = row.model;
  row.tag.textContent = m.denoiser ? "denoiser" : out.noisy ? "not a denoiser" : "not a denoiser: gets the clean digit";
  fillMetrics(row.metrics, out.metrics, s.help);
  paintValues(row.clean.canvas, clean, 28, 28);
  const given = out.noisy ? noisy : clean;
  row.given.cap.textContent = !out.noisy ? "Input: clean" : s.noise.level > 0 ? "Noisy input" : "Input";
  row.given.canvas.setAttribute("aria-label", `Input to ${m.title} (${out.noisy && s.noise.level > 0 ? "noisy" : "clean"})`);
  paintValues(row.given.canvas, given, 28, 28);
  const cells = codeCells(m, out.code);
  row.code.cells = cells;
  paintValues(row.code.canvas, cells.values, cells.w, cells.h, m.range[0], m.range[1]);
  row.code.canvas.style.aspectRatio = `${cells.w} / ${cells.h}`;
  row.scale.textContent = `${m.range[0].toFixed(1)} … ${m.range[1].toFixed(1)}`;
  paintValues(row.recon.canvas, out.recon, 28, 28);
  showChannels(s, row, out.code);
}

// A spatial code's every channel, under its row, while "Show every channel" is ticked.
function showChannels(s, row, code) {
  if (!row.channels) return;
  row.channels.hidden = !s.showChannels;
  if (s.showChannels) paintChannels(row, code);
}

function paintChannels(row, code) {
  const [h, w, c] = row.model.code_shape;
  if (row.channels.children.length !== c) {
    row.channels.replaceChildren(...Array.from({ length: c }, (_, k) => {
      const canvas = el("canvas");
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", `Channel ${k + 1} of ${c}`);
      canvas.title = `channel ${k + 1}`;
      return canvas;
    }));
  }
  const [lo, hi] = row.model.channel_range;
  for (let k = 0; k < c; k++) {
    const values = new Float32Array(h * w);
    for (let i = 0; i < h * w; i++) values[i] = code[i * c + k];
    paintValues(row.channels.children[k], values, w, h, lo, hi);
  }
}

// ---- the element -------------------------------------------------------------------------------

function build(root, data) {
  const s = { root, host: root.getRootNode(), pen: data.pen, help: data.metric_help, models: [], rows: [],
    noise: { ...data.noise }, fields: {}, nextSeed: data.next_seed, busy: false, again: false, timers: {},
    showChannels: false };
  const grid = (s.grid = el("div", "lab"));
  const left = el("div", "inputs");
  const right = el("div", "results");
  s.status = el("p", "status");
  s.status.setAttribute("role", "status");
  s.pad = buildPad(s, data);
  s.image = panelNode("", "The chosen digit", "chosen");
  s.imageCaption = el("p", "caption");
  s.noiseUi = buildNoise(s, data);
  left.append(s.pad.wrap, s.image, s.imageCaption, s.noiseUi.box);
  s.rowsBox = el("div", "rows");
  s.inputLine = el("p", "input-line");
  s.toggle = el("label", "channels-toggle");
  s.toggleBox = el("input");
  s.toggleBox.type = "checkbox";
  s.toggle.append(s.toggleBox, el("span", "", "Show every channel of the 7×7 codes"));
  s.toggle.title = "A spatial code keeps a small map per channel; each row shows their mean.";
  s.toggleBox.addEventListener("change", () => { // the codes are on screen: only their channels change
    s.showChannels = s.toggleBox.checked;
    for (const row of s.rows) if (row.last) showChannels(s, row, row.last.code);
  });
  right.append(s.status, s.rowsBox, s.inputLine, s.toggle);
  grid.append(left, right);
  const box = el("div", "lab-box");
  box.append(grid);
  root.append(box); // append: the element also holds the component's <style>

  s.schedule = () => {
    if (s.frame) return;
    s.frame = requestAnimationFrame(() => { s.frame = 0; s.run(); });
  };
  s.run = async () => {
    if (s.busy) { s.again = true; return; }
    s.busy = true;
    try {
      await s.compute();
    } catch (err) {
      s.status.textContent = "The page could not run the models (" + (err && err.message || err) +
        "); reload the page to try again.";
      console.warn("autoencoder lab:", err);
    } finally {
      s.busy = false;
      if (s.again) { s.again = false; s.schedule(); }
    }
  };
  // Reports to the server: the latest value, once it has not changed for REPORT_MS (at once
  // when `now`); reported values are compared, so an unchanged one is never sent twice.
  s.pending = {};
  s.report = (name, value, now) => {
    clearTimeout(s.timers[name]);
    const send = () => {
      delete s.pending[name];
      const text = JSON.stringify(value());
      if (text === s.sent?.[name]) return;
      (s.sent = s.sent || {})[name] = text;
      s.setStateValue(name, JSON.parse(text));
    };
    s.pending[name] = send;
    if (now) send(); else s.timers[name] = setTimeout(send, REPORT_MS);
  };
  // A press outside the element (the Explore tab, the sidebar, any widget) or the page going to
  // the background sends what is pending at once, before what that press asks of the server.
  s.flush = () => {
    for (const [name, send] of Object.entries(s.pending)) { clearTimeout(s.timers[name]); send(); }
  };
  s.onOutside = (e) => { if (!e.composedPath().includes(grid)) s.flush(); };
  s.onHidden = () => { if (document.visibilityState === "hidden") s.flush(); };
  s.drawingChanged = (final) => {
    if (s.inPage) {
      s.schedule();
      if (final) s.report("drawing", () => s.pad.message(), false);
    } else if (final) {
      s.report("drawing", () => s.pad.message(), true);
    }
    s.hint();
  };
  s.noiseChanged = (change, final) => {
    Object.assign(s.noise, change);
    s.noiseUi.show();
    if (s.inPage) s.schedule();
    if (final) s.report("noise", () => ({ ...s.noise }), !s.inPage || !(s.noise.seed in s.fields));
  };
  s.hint = () => {
    s.pad.hint.textContent = s.pad.strokes.length ? (s.inPage ? "The models follow as you draw" :
      "The models update when you lift the pen") : "Draw one digit, as big as the pad";
  };
  s.samplePosterior = async (row, out) => {
    const last = row.last;
    if (!last || !last.logvar) return;
    const z = new Float32Array(last.code.length);
    for (let i = 0; i < z.length; i++) {
      const u = 1 - Math.random(), v = Math.random();
      z[i] = last.code[i] + Math.exp(0.5 * last.logvar[i]) * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }
    const image = await ortRun(row.model.dec, s.ort, z, [1, ...row.model.code_shape]);
    out.hidden = false;
    paintValues(out.canvas, image, 28, 28);
  };
  s.clean = () => {
    if (s.mode !== "draw") return { image: s.given, hint: "", caption: s.caption };
    if (!s.pad.strokes.length) return { image: s.example, hint: s.exampleHint, caption: s.exampleCaption };
    const out = fromStrokes(s.pad.message().strokes, s.pad.size, s.pen);
    if (out.error) return { image: s.example, hint: out.error, caption: s.exampleCaption };
    return { image: out.image, hint: "", caption: s.drawCaption };
  };
  s.compute = async () => {
    if (!s.inPage) return;
    const t0 = performance.now();
    const { image: clean, hint, caption } = s.clean();
    const field = (s.fields[s.noise.seed] || {})[s.noise.kind];
    if (!field) return; // a typed seed: its field is on its way from the server
    const noisy = noiseApply(clean, field, s.noise.level);
    const outs = [];
    for (const m of s.models) {
      const given = m.denoiser || s.noise.all || s.noise.level === 0;
      const input = given ? noisy : clean;
      const enc = await ortRunAll(m.enc, s.ort, input, [1, 28, 28, 1]);
      const recon = await ortRun(m.dec, s.ort, enc[0], [1, ...m.code_shape]);
      outs.push({ noisy: given, code: enc[0], logvar: enc[1], recon, metrics: metrics(clean, recon) });
    }
    s.paint({ clean, noisy, hint, caption, noisyMetrics: metrics(clean, noisy), outputs: outs });
    s.computed = true;
    labStats.computes++;
    labStats.lastComputeMs = performance.now() - t0;
  };
  s.paint = (r) => {
    r.outputs.forEach((out, i) => {
      const row = s.rows[i];
      row.last = out;
      paintRow(s, row, r.clean, r.noisy, out);
    });
    s.pad.preview.hidden = !(s.mode === "draw" && r.outputs.length);
    if (r.outputs.length) {
      s.pad.preview.cap.textContent = "";
      s.pad.preview.canvas.setAttribute("aria-label", `Preview: reconstruction by ${s.models[0].title}`);
      paintValues(s.pad.preview.canvas, r.outputs[0].recon, 28, 28);
    }
    if (s.mode !== "draw") paintValues(s.image.canvas, r.clean, 28, 28);
    s.pad.hint.textContent = r.hint || s.pad.hint.textContent;
    s.inputLine.replaceChildren(el("span", "", `Input: ${r.caption}. ` +
      `${s.noise.level > 0 ? "Noisy input" : "Input"} vs clean: `), el("span"));
    fillMetrics(s.inputLine.lastChild, r.noisyMetrics, s.help);
    s.plainNote();
    labStats.paints++;
    labStats.lastPaint = performance.now();
    s.grid.dataset.paints = String(labStats.paints);
  };
  s.plainNote = () => {
    const plain = s.models.filter((m) => !m.denoiser);
    if (!plain.length || s.noise.all || s.noise.level === 0) { s.inputLine.title = ""; return; }
    const names = plain.map((m) => m.title).join(", ");
    s.inputLine.append(el("span", "plain", ` ${names} ${plain.length === 1 ? "is not a denoiser: it gets" :
      "are not denoisers: they get"} the clean digit (tick "Noise for every model" to change that).`));
  };
  s.fromServer = (result) => {
    const clean = floatsOf(result.clean), noisy = floatsOf(result.noisy);
    s.paint({ clean, noisy, hint: result.hint, caption: result.caption, noisyMetrics: result.noisy_metrics,
      outputs: result.outputs.map((o) => ({ noisy: o.noisy, code: floatsOf(o.code), recon: floatsOf(o.recon),
        metrics: o.metrics })) });
  };
  return s;
}

function update(s, data) {
  s.inPage = data.in_page;
  s.ort = data.ort;
  s.pen = data.pen;
  s.mode = data.mode;
  s.caption = data.caption;
  s.example = floatsOf(data.example);
  s.exampleHint = data.example_hint;
  s.exampleCaption = data.example_caption;
  s.drawCaption = data.draw_caption;
  s.given = data.image ? floatsOf(data.image) : null;
  s.nextSeed = data.next_seed;
  for (const [seed, fields] of Object.entries(data.fields || {})) s.fields[seed] = fields;
  // The server's noise settings win only when they differ from what this page last reported
  // (a reset, another tab of the same session); otherwise the page keeps what is on screen.
  const serverNoise = JSON.stringify(data.noise);
  if (serverNoise !== s.serverNoise) {
    s.serverNoise = serverNoise;
    if (serverNoise !== s.sent?.noise) s.noise = { ...data.noise };
  }
  s.noiseUi.show();
  s.status.textContent = data.note || "";
  s.status.hidden = !data.note;
  const drawing = data.mode === "draw";
  s.pad.wrap.hidden = !drawing;
  s.image.hidden = s.imageCaption.hidden = drawing;
  s.imageCaption.textContent = drawing ? "" : data.caption;
  s.hint();
  const layout = JSON.stringify(data.models.map((m) => [m.key, m.enc, m.dec, m.title, m.vae]) + s.inPage);
  if (layout !== s.layout) {
    s.layout = layout;
    s.models = data.models;
    s.rows = s.models.map((m) => rowNode(s, m));
    s.rowsBox.replaceChildren(...s.rows.map((r) => r.node));
    if (!s.rows.length) s.rowsBox.append(el("p", "empty", "No model chosen: choose one or more above."));
    // Every model file starts downloading now, beside the engine, rather than one after another
    // as the first computation reaches it.
    if (s.inPage) for (const m of s.models) for (const url of [m.enc, m.dec]) ortSession(url, s.ort).catch(() => {});
  }
  s.toggle.hidden = !s.models.some((m) => m.code_shape.length === 3);
  if (data.result && !(s.inPage && s.computed)) s.fromServer(data.result);
  if (s.inPage) s.schedule();
}

export default function ({ parentElement, data: [data], setStateValue }) {
  let s = parentElement.__lab;
  if (!s || !s.root.isConnected) s = parentElement.__lab = build(parentElement, data);
  s.setStateValue = setStateValue;
  update(s, data);
  document.addEventListener("keydown", s.pad.onKey);
  document.addEventListener("visibilitychange", s.onHidden);
  document.addEventListener("pointerdown", s.onOutside, true);
  s.pad.observer.observe(s.pad.wrap.querySelector(".stage"));
  return () => {
    document.removeEventListener("keydown", s.pad.onKey);
    document.removeEventListener("visibilitychange", s.onHidden);
    document.removeEventListener("pointerdown", s.onOutside, true);
    s.pad.observer.disconnect();
  };
}
