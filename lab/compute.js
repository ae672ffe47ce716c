// The Lab page's own arithmetic: the pad's strokes to the 28x28 digit, the noise, the metrics.
//
// Each function is the page's twin of a Python one and does the same arithmetic in the same
// order and float types, so both agree (tests/test_parity.py runs them on the same inputs in
// Chromium and in Python; docs/page-compute.md):
//   fromStrokes  ae_core.preprocess.from_strokes  (within 1/255; the same errors)
//   noiseApply   ae_core.noise.apply              (the same float32 bits)
//   metrics      ae_core.metrics.all_metrics      (within 1e-4 relative)
// A plain script, no DOM and no imports or exports: the Lab element's module is appended to it.

// ae_core/preprocess.py's constants (tests/test_parity.py checks that they agree).
const PREPROCESS = Object.freeze({
  SIZE: 28, // output side
  BOX: 20, // the digit's longest side after fitting
  INK_LEVEL: 0.2, // ink above this counts; below half of it is haze
  RASTER: 192, // strokes are drawn on RASTER x RASTER whatever the pad's size
  MIN_SPAN_PENS: 1.6, // a drawing narrower than this many pen widths is a dot
  MAX_STROKES: 500,
  MAX_POINTS: 20000,
  MAX_INK_PADS: 200, // total stroke length, in pad sides
});
const METRICS = Object.freeze({ EPS: 1e-7, PSNR_CAP: 100, SSIM_WIN: 7 }); // ae_core/metrics.py's

// Python's round(): halves go to the even neighbour.
function roundHalfEven(x) {
  const f = Math.floor(x);
  const d = x - f;
  if (d !== 0.5) return d < 0.5 ? f : f + 1;
  return f % 2 === 0 ? f : f + 1;
}

// preprocess._raster: anti-aliased round pen, each pixel's ink clip(radius - d + 0.5, 0, 1)
// with d its centre's distance to the nearest segment; float64, the same operations in the
// same order as NumPy's. `strokes` are Float64Arrays of x, y pairs in raster pixels.
const RASTER_IMAGE = new Float64Array(PREPROCESS.RASTER * PREPROCESS.RASTER); // reused: no garbage per pen move

function rasterise(strokes, radius) {
  const R = PREPROCESS.RASTER;
  const img = RASTER_IMAGE.fill(0);
  const reach = radius + 0.5;
  for (const p of strokes) {
    const n = p.length / 2;
    const segments = n > 1 ? n - 1 : 1;
    for (let s = 0; s < segments; s++) {
      const x0 = p[2 * s], y0 = p[2 * s + 1];
      const x1 = n > 1 ? p[2 * s + 2] : x0, y1 = n > 1 ? p[2 * s + 3] : y0;
      const cLo = Math.max(Math.floor(Math.min(x0, x1) - reach), 0);
      const cHi = Math.min(Math.ceil(Math.max(x0, x1) + reach), R - 1);
      const rLo = Math.max(Math.floor(Math.min(y0, y1) - reach), 0);
      const rHi = Math.min(Math.ceil(Math.max(y0, y1) + reach), R - 1);
      const vx = x1 - x0, vy = y1 - y0;
      const length2 = vx * vx + vy * vy;
      for (let r = rLo; r <= rHi; r++) {
        const wy = r + 0.5 - y0;
        const row = r * R;
        for (let c = cLo; c <= cHi; c++) {
          const wx = c + 0.5 - x0;
          let t = 0;
          if (length2 > 0) {
            t = (wx * vx + wy * vy) / length2;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
          }
          const dx = wx - t * vx, dy = wy - t * vy;
          let ink = radius - Math.sqrt(dx * dx + dy * dy) + 0.5;
          ink = ink < 0 ? 0 : ink > 1 ? 1 : ink;
          if (ink > img[row + c]) img[row + c] = ink;
        }
      }
    }
  }
  return img;
}

// preprocess._lanczos and _resample_weights: PIL's Lanczos coefficients (Resample.c).
function lanczos(x) {
  const sinc = (v) => {
    if (v === 0) return 1;
    const a = v * Math.PI;
    return Math.sin(a) / a;
  };
  return -3 <= x && x < 3 ? sinc(x) * sinc(x / 3) : 0;
}

const RESAMPLE_WEIGHTS = new Map(); // "in,out" -> {lo, hi, k}; few sizes ever occur

function resampleWeights(nIn, nOut) {
  const key = nIn + "," + nOut;
  let w = RESAMPLE_WEIGHTS.get(key);
  if (w) return w;
  const scale = nIn / nOut;
  const filterscale = Math.max(scale, 1);
  const support = 3 * filterscale;
  w = { lo: new Int32Array(nOut), hi: new Int32Array(nOut), k: [] };
  for (let i = 0; i < nOut; i++) {
    const centre = (i + 0.5) * scale;
    const lo = Math.max(Math.trunc(centre - support + 0.5), 0);
    const hi = Math.min(Math.trunc(centre + support + 0.5), nIn);
    const k = new Float64Array(hi - lo);
    let total = 0;
    for (let j = lo; j < hi; j++) {
      k[j - lo] = lanczos((j - centre + 0.5) * (1 / filterscale));
      total += k[j - lo];
    }
    if (total !== 0) for (let j = 0; j < k.length; j++) k[j] /= total;
    w.lo[i] = lo;
    w.hi[i] = hi;
    w.k.push(k);
  }
  RESAMPLE_WEIGHTS.set(key, w);
  return w;
}

// preprocess.resample: PIL's resize(LANCZOS) in mode "F", horizontal then vertical, each pass
// summing in float64 and storing float32. `img` is (h, w) row-major.
function resample(img, h, w, height, width) {
  let cur = img, curW = w;
  if (width !== w) {
    const wt = resampleWeights(w, width);
    const out = new Float32Array(h * width);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < width; x++) {
        const k = wt.k[x], lo = wt.lo[x], base = y * w;
        let s = 0;
        for (let j = 0; j < k.length; j++) s += cur[base + lo + j] * k[j];
        out[y * width + x] = s;
      }
    }
    cur = out;
    curW = width;
  }
  if (height !== h) {
    const wt = resampleWeights(h, height);
    const out = new Float32Array(height * curW);
    for (let y = 0; y < height; y++) {
      const k = wt.k[y], lo = wt.lo[y];
      for (let x = 0; x < curW; x++) {
        let s = 0;
        for (let j = 0; j < k.length; j++) s += cur[(lo + j) * curW + x] * k[j];
        out[y * curW + x] = s;
      }
    }
    cur = out;
  }
  return cur;
}

// preprocess.mnistify with no trim and no minimum ink share (the pad's case): crop, fit into
// 20x20, centre by centre of mass in 28x28.
function mnistifyRaster(raster) {
  const { SIZE, BOX, INK_LEVEL, RASTER: R } = PREPROCESS;
  const haze = Math.fround(INK_LEVEL * 0.5), level = Math.fround(INK_LEVEL);
  const ink = (i) => { // float32, haze dropped, as NumPy's `ink` after its first steps
    const v = Math.fround(raster[i]);
    return v >= haze ? v : 0;
  };
  let strong = 0, top = R, bottom = -1, left = R, right = -1;
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < R; c++) {
      const v = ink(r * R + c);
      if (v >= level) strong++;
      if (v > 0) {
        if (r < top) top = r;
        if (r > bottom) bottom = r;
        if (c < left) left = c;
        if (c > right) right = c;
      }
    }
  }
  const empty = { error: "Nothing to read yet: draw a digit (or upload a clearer photo)." };
  if (strong < 1) return empty;
  const h = bottom - top + 1, w = right - left + 1;
  const crop = new Float32Array(h * w);
  for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) crop[r * w + c] = ink((top + r) * R + left + c);
  const scale = BOX / Math.max(h, w);
  const newH = Math.max(1, roundHalfEven(h * scale)), newW = Math.max(1, roundHalfEven(w * scale));
  const small = resample(crop, h, w, newH, newW);
  let peak = 0;
  for (let i = 0; i < small.length; i++) {
    if (!(small[i] > 0)) small[i] = 0; // Lanczos rings below 0
    if (small[i] > peak) peak = small[i];
  }
  if (!(peak > 0)) return empty;
  for (let i = 0; i < small.length; i++) small[i] = Math.min(Math.fround(small[i] / peak), 1);
  const r0 = Math.floor((SIZE - newH) / 2), c0 = Math.floor((SIZE - newW) / 2);
  let total = 0, my = 0, mx = 0;
  const colSums = new Float64Array(newW);
  for (let r = 0; r < newH; r++) {
    let rowSum = 0;
    for (let c = 0; c < newW; c++) {
      rowSum += small[r * newW + c];
      colSums[c] += small[r * newW + c];
    }
    total += rowSum;
    my += rowSum * r;
  }
  for (let c = 0; c < newW; c++) mx += colSums[c] * c;
  // _snap: float noise at an exact half rounds the same way as in NumPy, which sums in another order.
  const snap = (v) => Math.floor(v * 1048576 + 0.5) / 1048576;
  const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
  const dy = clamp(roundHalfEven(SIZE / 2 - snap(r0 + my / total)), -r0, SIZE - newH - r0);
  const dx = clamp(roundHalfEven(SIZE / 2 - snap(c0 + mx / total)), -c0, SIZE - newW - c0);
  const image = new Float32Array(SIZE * SIZE);
  for (let r = 0; r < newH; r++) {
    image.set(small.subarray(r * newW, (r + 1) * newW), (r0 + dy + r) * SIZE + c0 + dx);
  }
  return { image };
}

// preprocess.from_strokes: the pad's strokes ([[[x, y], ...], ...] in its CSS pixels, `size`
// its side, `pen` PEN_FRACTION) -> {image: Float32Array(784)} or {error: Python's message}.
function fromStrokes(strokes, size, pen) {
  const { RASTER: R, MAX_STROKES, MAX_POINTS, MAX_INK_PADS, MIN_SPAN_PENS } = PREPROCESS;
  const again = "Clear the pad and draw one digit.";
  if (strokes.length > MAX_STROKES) {
    return { error: `Too many strokes: at most ${MAX_STROKES}. Received: ${strokes.length}. ${again}` };
  }
  let count = 0;
  for (const s of strokes) count += s.length;
  if (count > MAX_POINTS) {
    return { error: `Too many points: at most ${MAX_POINTS} in all strokes. Received: ${count}. ${again}` };
  }
  if (!strokes.length) return { error: "Nothing drawn yet: draw a digit on the pad." };
  const scale = R / size;
  const clip = (v) => Math.min(Math.max(v * scale, 0), R);
  let length = 0;
  let xMin = Infinity, xMax = -Infinity, yMin = Infinity, yMax = -Infinity;
  const points = strokes.map((s) => {
    const p = new Float64Array(2 * s.length);
    for (let i = 0; i < s.length; i++) {
      const x = clip(s[i][0]), y = clip(s[i][1]);
      p[2 * i] = x;
      p[2 * i + 1] = y;
      if (i > 0) {
        const dx = x - p[2 * i - 2], dy = y - p[2 * i - 1];
        length += Math.sqrt(dx * dx + dy * dy);
      }
      xMin = Math.min(xMin, x); xMax = Math.max(xMax, x);
      yMin = Math.min(yMin, y); yMax = Math.max(yMax, y);
    }
    return p;
  });
  if (length > MAX_INK_PADS * R) {
    return { error: `Too much ink: at most ${MAX_INK_PADS} pad sides of strokes in all. Received: ` +
      `${Math.floor(length / R)}. ${again}` };
  }
  const penPx = pen * R;
  if (Math.max(xMax - xMin, yMax - yMin) < MIN_SPAN_PENS * penPx) {
    return { error: "Keep going: a dot is not a digit yet. Draw a whole digit." };
  }
  return mnistifyRaster(rasterise(points, penPx / 2));
}

// noise.field_json's arrays, decoded once per field object.
const NOISE_ARRAYS = new WeakMap();

function noiseArrays(field) {
  let a = NOISE_ARRAYS.get(field);
  if (a) return a;
  const bytes = (b64) => Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  const view = (b) => new DataView(b.buffer, b.byteOffset, b.byteLength);
  a = {};
  if (field.kind === "gaussian") {
    const v = view(bytes(field.z));
    a.z = new Float32Array(v.byteLength / 4);
    for (let i = 0; i < a.z.length; i++) a.z[i] = v.getFloat32(4 * i, true);
  } else if (field.kind === "salt_pepper") {
    const v = view(bytes(field.u));
    a.u = new Float64Array(v.byteLength / 8);
    for (let i = 0; i < a.u.length; i++) a.u[i] = v.getFloat64(8 * i, true);
    a.salt = bytes(field.salt);
  } else if (field.kind === "mask") {
    a.rank = bytes(field.rank);
  } else {
    throw new Error(`Unknown noise kind: ${field.kind}`);
  }
  NOISE_ARRAYS.set(field, a);
  return a;
}

// noise.apply for one image: `clean` Float32Array(784) in [0, 1], `field` noise.field_json(kind,
// seed), `level` in [0, 1] -> Float32Array(784), the same bits as Python.
function noiseApply(clean, field, level) {
  const a = noiseArrays(field);
  const out = new Float32Array(clean.length);
  if (field.kind === "gaussian") {
    const lv = Math.fround(level);
    for (let i = 0; i < out.length; i++) {
      const v = Math.fround(clean[i] + Math.fround(lv * a.z[i])); // float32 arithmetic, as NumPy's
      out[i] = (v < 0 ? 0 : v > 1 ? 1 : v) + 0; // + 0: a -0 becomes 0, as in Python
    }
  } else if (field.kind === "salt_pepper") {
    for (let i = 0; i < out.length; i++) out[i] = a.u[i] < level ? a.salt[i] : clean[i];
  } else {
    const block = field.block, cells = Math.floor(28 / block);
    const n = roundHalfEven(level * cells * cells);
    for (let r = 0; r < 28; r++) {
      for (let c = 0; c < 28; c++) {
        const br = Math.floor(r / block), bc = Math.floor(c / block);
        const black = br < cells && bc < cells && a.rank[br * cells + bc] < n;
        out[r * 28 + c] = black ? 0 : clean[r * 28 + c];
      }
    }
  }
  return out;
}

// metrics.all_metrics for one image: `clean` and `recon` Float32Array(784) in [0, 1].
function metrics(clean, recon) {
  const n = clean.length;
  const eps = Math.fround(METRICS.EPS), top = Math.fround(1 - eps); // Keras clips in float32
  let bce = 0, mse = 0;
  for (let i = 0; i < n; i++) {
    const t = clean[i];
    const p = Math.min(Math.max(Math.fround(recon[i]), eps), top);
    bce -= t * Math.log(p) + (1 - t) * Math.log(1 - p);
    const d = clean[i] - recon[i];
    mse += d * d;
  }
  bce /= n;
  mse /= n;
  const psnr = Math.min(10 * Math.log10(1 / Math.max(mse, 1e-10)), METRICS.PSNR_CAP);
  return { bce, mse, psnr, ssim: ssim(clean, recon) };
}

// metrics.ssim (skimage's structural_similarity, data_range 1, a 7x7 window): the mean over
// the pixels whose window lies inside the image, the only ones skimage keeps.
function ssim(a, b) {
  const win = METRICS.SSIM_WIN, half = (win - 1) / 2, N = win * win;
  const covNorm = N / (N - 1);
  const c1 = 0.01 ** 2, c2 = 0.03 ** 2;
  let sum = 0, count = 0;
  for (let r = half; r < 28 - half; r++) {
    for (let c = half; c < 28 - half; c++) {
      let sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
      for (let i = r - half; i <= r + half; i++) {
        for (let j = c - half; j <= c + half; j++) {
          const x = a[i * 28 + j], y = b[i * 28 + j];
          sx += x; sy += y; sxx += x * x; syy += y * y; sxy += x * y;
        }
      }
      const ux = sx / N, uy = sy / N;
      const vx = covNorm * (sxx / N - ux * ux), vy = covNorm * (syy / N - uy * uy);
      const vxy = covNorm * (sxy / N - ux * uy);
      sum += ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
      count++;
    }
  }
  return sum / count;
}
