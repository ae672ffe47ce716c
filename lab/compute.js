// DEV STUB (not committed): replaced by the parity helper's compute.js.
function fromStrokes(strokes, size, pen) {
  const R = 112, c = new OffscreenCanvas(R, R), x = c.getContext("2d");
  x.fillStyle = "#000"; x.fillRect(0, 0, R, R);
  const k = R / size; x.strokeStyle = x.fillStyle = "#fff"; x.lineWidth = pen * R; x.lineCap = x.lineJoin = "round";
  let n = 0;
  for (const st of strokes) { x.beginPath(); x.moveTo(st[0][0]*k, st[0][1]*k); for (const p of st) { x.lineTo(p[0]*k, p[1]*k); n++; } if (st.length === 1) x.lineTo(st[0][0]*k+0.01, st[0][1]*k); x.stroke(); }
  const d = x.getImageData(0, 0, R, R).data;
  let t = R, b = -1, l = R, r = -1;
  for (let i = 0; i < R; i++) for (let j = 0; j < R; j++) if (d[4*(i*R+j)] > 50) { t = Math.min(t, i); b = Math.max(b, i); l = Math.min(l, j); r = Math.max(r, j); }
  if (b < 0) return { error: "Nothing drawn yet: draw a digit on the pad." };
  const h = b - t + 1, w = r - l + 1;
  if (Math.max(h, w) < 1.6 * pen * R) return { error: "Keep going: a dot is not a digit yet. Draw a whole digit." };
  const s = 20 / Math.max(h, w), nh = Math.max(1, Math.round(h * s)), nw = Math.max(1, Math.round(w * s));
  const o = new OffscreenCanvas(28, 28), ox = o.getContext("2d"); ox.fillStyle = "#000"; ox.fillRect(0, 0, 28, 28);
  ox.drawImage(c, l, t, w, h, Math.floor((28 - nw) / 2), Math.floor((28 - nh) / 2), nw, nh);
  const od = ox.getImageData(0, 0, 28, 28).data, img = new Float32Array(784);
  for (let i = 0; i < 784; i++) img[i] = od[4 * i] / 255;
  return { image: img };
}
function noiseApply(clean, field, level) {
  const out = new Float32Array(784);
  const z = new Float32Array(Uint8Array.from(atob(field.z), (ch) => ch.charCodeAt(0)).buffer);
  for (let i = 0; i < 784; i++) out[i] = Math.min(1, Math.max(0, Math.fround(clean[i] + Math.fround(Math.fround(level) * z[i]))));
  return out;
}
function metrics(a, b) {
  let mse = 0, bce = 0;
  for (let i = 0; i < 784; i++) { const d = a[i] - b[i]; mse += d * d; const p = Math.min(1 - 1e-7, Math.max(1e-7, b[i])); bce -= a[i] * Math.log(p) + (1 - a[i]) * Math.log(1 - p); }
  mse /= 784; bce /= 784;
  return { bce, mse, psnr: Math.min(100, 10 * Math.log10(1 / Math.max(mse, 1e-10))), ssim: 0.5 };
}
