// onnxruntime-web in the page (plain functions; lab/pagejs.py joins this file in front of an
// element's module). The runtime is loaded once per page from the app's own server (lab/runtime.py
// publishes it under /app/static/ort/), and one InferenceSession is kept per model file. Model
// URLs are content-addressed (/app/static/models/<sha256>.onnx), so a kept session is never stale.
// `info` is the element's `data.ort`: {module, wasm}, absolute paths on this server.

const aeOrt = (window.__aeOrt = window.__aeOrt || { lib: null, sessions: new Map() });

function ortLib(info) {
  if (!aeOrt.lib) {
    aeOrt.lib = import(location.origin + info.module).then((ort) => {
      ort.env.wasm.wasmPaths = location.origin + info.wasm;
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
    entry = ortLib(info).then(async (ort) => ({
      ort,
      session: await ort.InferenceSession.create(location.origin + url,
        { executionProviders: ["wasm"], graphOptimizationLevel: "all" }),
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
