// onnxruntime-web in the page, and the small DOM and base64 helpers both elements use (plain
// functions; lab/pagejs.py joins this file in front of each element's module). The runtime is
// loaded once per page from the app's own server (lab/runtime.py publishes it under
// /app/static/ort/), and one InferenceSession is kept per model file. Model
// URLs are content-addressed (/app/static/models/<sha256>.onnx), so a kept session is never stale.
// `info` is the element's `data.ort`: {module, wasm, version}, absolute paths on this server.
//
// Streamlit serves static files without Cache-Control, so a browser may fetch the 14 MB engine
// again on a later visit. The engine's files are kept in a Cache API store named after the
// runtime's version (a new version gets a new store), and the models' names are their hashes, so
// neither goes stale; they are handed to onnxruntime-web as bytes. Without the Cache API (a page served over
// plain http to another machine) they are fetched as usual.

const aeOrt = (window.__aeOrt = window.__aeOrt || { lib: null, sessions: new Map() });

async function ortBytes(url, info) {
  const full = location.origin + url;
  const store = typeof caches !== "undefined" ? await caches.open("ae-lab-ort-" + info.version).catch(() => null) : null;
  let response = store && await store.match(full);
  if (!response) {
    response = await fetch(full);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    if (store) await store.put(full, response.clone()).catch(() => {});
  }
  return new Uint8Array(await response.arrayBuffer());
}

function ortLib(info) {
  if (!aeOrt.lib) {
    aeOrt.lib = Promise.all([import(location.origin + info.module),
      ortBytes(info.wasm + "ort-wasm-simd-threaded.wasm", info)]).then(([ort, wasm]) => {
      ort.env.wasm.wasmPaths = location.origin + info.wasm;
      ort.env.wasm.wasmBinary = wasm;
      ort.env.wasm.numThreads = 1; // the page is not cross-origin isolated: one thread anyway
      ort.env.logLevel = "error";
      return ort;
    });
    aeOrt.lib.catch(() => { aeOrt.lib = null; }); // a later call tries again
  }
  return aeOrt.lib;
}

// {session, ort, queue}: runs on one session are chained (the WebAssembly backend runs one at a time).
function ortSession(url, info) {
  let entry = aeOrt.sessions.get(url);
  if (!entry) {
    entry = Promise.all([ortLib(info), ortBytes(url, info)]).then(async ([ort, bytes]) => ({
      ort,
      session: await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" }),
      queue: Promise.resolve(),
    }));
    aeOrt.sessions.set(url, entry);
    entry.catch(() => aeOrt.sessions.delete(url));
  }
  return entry;
}

// Every output of the graph, in its order, as Float32Arrays (a VAE encoder gives mean, log-variance).
async function ortRunAll(url, info, input, dims) {
  const entry = await ortSession(url, info);
  const { ort, session } = entry;
  const run = entry.queue.then(() =>
    session.run({ [session.inputNames[0]]: new ort.Tensor("float32", input, dims) }));
  entry.queue = run.catch(() => {});
  const out = await run;
  return session.outputNames.map((name) => out[name].data);
}

async function ortRun(url, info, input, dims) {
  return (await ortRunAll(url, info, input, dims))[0];
}

// --- shared by the elements --------------------------------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// Base64 as Python sends it: raw bytes (pixels 0..255), or little-endian float32 values.
function bytesOf(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function floatsOf(b64) {
  return new Float32Array(bytesOf(b64).buffer);
}
