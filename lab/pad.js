// The Lab's drawing pad (a Streamlit Components v2 element; lab/pad.py mounts it).
//
// Streamlit runs this function again whenever `data` changes, so the DOM, the strokes and the
// listeners are created once and kept on `parentElement.__pad`. The strokes are in the pad's
// displayed CSS pixels; Python turns them into the 28x28 digit (ae_core.preprocess.from_strokes).
// While the pen moves the drawing is sent at most every `data.throttle_ms`, and not before the
// viewer has painted the previous one (up to `data.stall_ms`); pointer-up, Undo and Clear send
// at once. Every message carries a sequence number, shared with the results viewer through
// `window.__aeLab`, so the viewer never paints an older drawing over a newer one.

const lab = (window.__aeLab = window.__aeLab || { seq: 0, painted: 0 });

function round(v) {
  return Math.round(v * 10) / 10;
}

// A finger or pen acts on pointerup over the button, a mouse or the keyboard on click: in
// Chromium a tap sometimes brought no click at all (6 of 8 taps on Clear right after a stroke, in
// the phone test), while its pointerdown and pointerup arrived. The click that may follow a tap
// is then ignored.
function onPress(button, action) {
  let finger = null;
  let pressed = -Infinity;
  button.addEventListener("pointerdown", (e) => {
    finger = e.pointerType === "mouse" ? null : e.pointerId;
  });
  button.addEventListener("pointercancel", () => {
    finger = null;
  });
  button.addEventListener("pointerup", (e) => {
    if (finger === null || e.pointerId !== finger) return;
    finger = null;
    pressed = performance.now();
    action();
  });
  button.addEventListener("click", () => {
    if (performance.now() - pressed > 800) action();
  });
}

function build(root, data) {
  const wrap = document.createElement("div");
  wrap.className = "pad";
  const canvas = document.createElement("canvas");
  canvas.setAttribute("aria-label", "Drawing pad");
  canvas.setAttribute("role", "img");
  canvas.tabIndex = 0;
  const bar = document.createElement("div");
  bar.className = "pad-bar";
  const undo = document.createElement("button");
  undo.type = "button";
  undo.textContent = "↶ Undo";
  undo.setAttribute("aria-label", "Undo");
  undo.title = "Undo the last stroke (Ctrl+Z)";
  const clear = document.createElement("button");
  clear.type = "button";
  clear.textContent = "✕ Clear";
  clear.setAttribute("aria-label", "Clear");
  clear.title = "Clear the pad";
  const hint = document.createElement("span");
  hint.className = "pad-hint";
  bar.append(undo, clear, hint);
  wrap.append(canvas, bar);
  root.append(wrap); // append: the element also holds the component's <style>

  const s = {
    wrap, canvas, undo, clear, hint,
    strokes: (data.strokes || []).map((st) => st.map((p) => [p[0], p[1]])),
    size: data.size || 0, // the CSS side the strokes are measured in
    current: null,
    lastSent: 0, lastSentSeq: 0, timer: null, dirty: false,
    pen: data.pen, throttle: data.throttle_ms, stall: data.stall_ms,
    setStateValue: null,
  };
  lab.seq = Math.max(lab.seq, data.seq || 0);

  const ctx = canvas.getContext("2d");
  s.redraw = () => {
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, s.size, s.size);
    ctx.strokeStyle = ctx.fillStyle = "#fff";
    ctx.lineWidth = s.pen * s.size;
    ctx.lineCap = ctx.lineJoin = "round";
    for (const st of s.strokes) {
      if (st.length === 1) {
        ctx.beginPath();
        ctx.arc(st[0][0], st[0][1], ctx.lineWidth / 2, 0, 2 * Math.PI);
        ctx.fill();
        continue;
      }
      ctx.beginPath();
      ctx.moveTo(st[0][0], st[0][1]);
      for (let i = 1; i < st.length; i++) ctx.lineTo(st[i][0], st[i][1]);
      ctx.stroke();
    }
    undo.disabled = clear.disabled = s.strokes.length === 0;
    hint.textContent = s.strokes.length ? "The models follow as you draw" : "Draw one digit, as big as the pad";
  };

  // The pad fills its column and stays square; the drawing scales with it.
  const fit = () => {
    const side = Math.floor(wrap.clientWidth);
    if (!side || side === s.fitted) return;
    s.fitted = side;
    if (s.size && s.strokes.length) {
      const k = side / s.size;
      s.strokes = s.strokes.map((st) => st.map((p) => [p[0] * k, p[1] * k]));
    }
    s.size = side;
    const dpr = window.devicePixelRatio || 1;
    canvas.style.width = canvas.style.height = side + "px";
    canvas.width = canvas.height = Math.round(side * dpr);
    s.redraw();
  };
  s.observer = new ResizeObserver(fit);
  fit();

  s.send = () => {
    clearTimeout(s.timer);
    s.timer = null;
    s.dirty = false;
    if (!s.setStateValue || !s.size) return;
    const strokes = s.strokes.map((st) => st.map((p) => [round(p[0]), round(p[1])]));
    s.lastSentSeq = ++lab.seq;
    s.lastSent = performance.now();
    s.setStateValue("drawing", { seq: s.lastSentSeq, size: s.size, strokes });
  };
  // While drawing: no more often than `throttle` ms; while the server has not painted the last
  // drawing sent, wait for it (checked every frame) up to `stall` ms, so a slow server is not
  // queued more reruns than it can answer.
  s.tick = () => {
    s.timer = null;
    if (!s.dirty) return;
    const now = performance.now();
    const behind = lab.painted < s.lastSentSeq;
    const due = s.lastSent + (behind ? s.stall : s.throttle);
    if (now >= due) s.send();
    else s.timer = setTimeout(s.tick, behind ? Math.min(16, due - now) : due - now);
  };
  s.sendSoon = () => {
    s.dirty = true;
    if (!s.timer) s.tick();
  };

  const point = (e) => {
    const r = canvas.getBoundingClientRect();
    const k = s.size / (r.width || s.size);
    return [(e.clientX - r.left) * k, (e.clientY - r.top) * k];
  };
  canvas.addEventListener("pointerdown", (e) => {
    if (e.button !== 0 && e.pointerType === "mouse") return;
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    s.current = [point(e)];
    s.strokes.push(s.current);
    s.redraw();
    s.sendSoon();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!s.current) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = s.pen * s.size;
    ctx.lineCap = ctx.lineJoin = "round";
    for (const ev of events.length ? events : [e]) {
      const p = point(ev);
      const last = s.current[s.current.length - 1];
      if (Math.hypot(p[0] - last[0], p[1] - last[1]) < 1.5) continue;
      s.current.push(p);
      ctx.beginPath();
      ctx.moveTo(last[0], last[1]);
      ctx.lineTo(p[0], p[1]);
      ctx.stroke();
    }
    s.sendSoon();
  });
  const end = () => {
    if (!s.current) return;
    s.current = null;
    s.redraw();
    s.send();
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  canvas.addEventListener("lostpointercapture", end);
  s.doUndo = () => {
    if (!s.strokes.length) return;
    s.strokes.pop();
    s.current = null;
    s.redraw();
    s.send();
  };
  onPress(undo, s.doUndo);
  onPress(clear, () => {
    s.strokes = [];
    s.current = null;
    s.redraw();
    s.send();
  });
  // Ctrl/Cmd+Z anywhere on the page, except where it undoes typing.
  s.onKey = (e) => {
    if (!(e.ctrlKey || e.metaKey) || e.shiftKey || e.key.toLowerCase() !== "z") return;
    const t = e.composedPath()[0];
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    if (!s.wrap.isConnected || !s.strokes.length) return;
    e.preventDefault();
    s.doUndo();
  };
  return s;
}

// The page's CSS (lab/style.py) comes with the pad as well as through st.html: Streamlit draws a
// style-only st.html with a lazily loaded chunk, and on a busy server that chunk can arrive after
// this one; the page's paddings then changed under a visible pad and moved it 55 px.
function pageStyle(css) {
  if (!css || document.getElementById("ae-lab-page-css")) return;
  const el = document.createElement("style");
  el.id = "ae-lab-page-css";
  el.textContent = css;
  document.head.append(el);
}

export default function ({ parentElement, data, setStateValue }) {
  pageStyle(data.page_css);
  let s = parentElement.__pad;
  if (!s || !s.wrap.isConnected) s = parentElement.__pad = build(parentElement, data);
  s.setStateValue = setStateValue;
  s.pen = data.pen;
  s.throttle = data.throttle_ms;
  s.stall = data.stall_ms;
  // Listeners outside the pad: added again on every run (no-ops when present), removed by the
  // cleanup Streamlit calls when the element goes away.
  document.addEventListener("keydown", s.onKey);
  s.observer.observe(s.wrap);
  return () => {
    document.removeEventListener("keydown", s.onKey);
    s.observer.disconnect();
  };
}
