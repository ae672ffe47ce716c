"""Train the seed dense model on the same data and epochs three ways: the tutorial's own plain
Keras code, `ae_core.training.train` in this process, and the app's way (a trainer process
started by `lab.jobs.JobManager`, which runs `python -m ae_core.worker`). Prints the times, the
ratios, the validation losses, and for the trainer process the time from the request to its
first progress event and the whole wall-clock time (TensorFlow start-up and the save with its
ONNX export included).

    nice -n 10 python benchmarks/train_speed.py [--epochs 25] [--repeats 2]

Targets: training through the trainer process at most 1.05x the tutorial code's fit time; the
faithful preset within 0.005 validation BCE of the tutorial code. All three validate on the
validation split. The trainer runs at this process's priority (no extra `nice`), so the
comparison is fair on a busy machine; the app adds 19 (the lowest priority).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from ae_core import presets, training  # noqa: E402
from ae_core.data import load_bundled  # noqa: E402


def tutorial(x_train, x_val, epochs, seed):
    """The tutorial's code, verbatim but for the data source and Adam (see README)."""
    from keras.layers import Dense, Input
    from keras.models import Model

    keras.utils.set_random_seed(seed)
    x_train = x_train.reshape((len(x_train), np.prod(x_train.shape[1:])))
    x_val = x_val.reshape((len(x_val), np.prod(x_val.shape[1:])))
    input_img = Input(shape=(784,))
    encoded = Dense(32, activation='relu')(input_img)
    decoded = Dense(784, activation='sigmoid')(encoded)
    autoencoder = Model(input_img, decoded)
    autoencoder.compile(optimizer='adam', loss='binary_crossentropy')
    start = time.perf_counter()
    h = autoencoder.fit(x_train, x_train, epochs=epochs, batch_size=128, shuffle=True,
                        validation_data=(x_val, x_val), verbose=0)
    return {"fit": time.perf_counter() - start, "val": h.history["val_loss"][-1]}


def _config(epochs, seed):
    import dataclasses

    return dataclasses.replace(presets.get("dense_seed").config, epochs=epochs, seed=seed)


def ae_core_run(data, epochs, seed):
    r = training.train(presets.get("dense_seed").spec, _config(epochs, seed), data)
    return {"fit": r.seconds, "val": r.history["val_loss"][-1]}


def worker_run(epochs, seed):
    """One run the app's way; the trainer loads the same bundled digits itself."""
    from lab.jobs import JobManager

    with tempfile.TemporaryDirectory() as scratch:
        manager = JobManager(scratch_root=scratch, nice=0)
        start = time.perf_counter()
        job = manager.start("benchmark", "dense_seed", _config(epochs, seed))
        while job.active:
            time.sleep(0.05)
        wall = time.perf_counter() - start
        if job.status != "completed":
            raise RuntimeError(f"the trainer run ended {job.status}: {job.error}")
        return {"fit": job.train_seconds, "val": job.history["val_loss"][-1], "wall": wall,
                "first_event": job.first_event}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    data = load_bundled()
    runs = {"tutorial": [], "ae_core": [], "trainer": []}
    order = list(runs)
    for rep in range(args.repeats):
        for name in order if rep % 2 == 0 else order[::-1]:  # alternate, so drift hits all alike
            if name == "tutorial":
                r = tutorial(data.x_train, data.x_val, args.epochs, seed=rep)
            elif name == "ae_core":
                r = ae_core_run(data, args.epochs, seed=rep)
            else:
                r = worker_run(args.epochs, seed=rep)
            runs[name].append(r)
            extra = f", wall {r['wall']:.1f} s, first event {r['first_event']:.2f} s" if "wall" in r else ""
            print(f"run {rep + 1} {name:8s}: fit {r['fit']:6.1f} s, val BCE {r['val']:.4f}{extra}", flush=True)

    def med(name, key):
        return float(np.median([r[key] for r in runs[name]]))

    print(f"\n{args.epochs} epochs on {len(data.x_train)} digits, validation on {len(data.x_val)}, "
          f"{args.repeats} runs each (medians); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs:")
    for name, label in (("tutorial", "tutorial code"), ("ae_core", "ae_core in-process"),
                        ("trainer", "trainer process")):
        print(f"  {label:19s} fit {med(name, 'fit'):6.1f} s   val BCE {med(name, 'val'):.4f}")
    print(f"  trainer process: Train -> first progress event {med('trainer', 'first_event'):.2f} s, "
          f"request -> model saved (with ONNX) {med('trainer', 'wall'):.1f} s")
    print(f"  fit time ratio, trainer process / tutorial: {med('trainer', 'fit') / med('tutorial', 'fit'):.3f} "
          "(target <= 1.05)")
    print(f"  fit time ratio, ae_core in-process / tutorial: {med('ae_core', 'fit') / med('tutorial', 'fit'):.3f}")
    print(f"  val BCE difference, trainer / tutorial: {abs(med('trainer', 'val') - med('tutorial', 'val')):.4f} "
          "(target: within 0.005)")


if __name__ == "__main__":
    main()
