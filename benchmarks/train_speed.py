"""Train the seed dense model twice on the same data and epochs: with the tutorial's own plain
Keras code and with ae_core. Prints both times, the ratio and both validation losses.

    python benchmarks/train_speed.py [--epochs 25] [--repeats 2]

ae_core must not be slower (ratio ae_core / tutorial <= 1.0 within noise), and the faithful
preset must land within 0.005 validation BCE of the tutorial code.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from ae_core import presets, training  # noqa: E402
from ae_core.data import load_bundled  # noqa: E402


def tutorial(x_train, x_test, epochs, seed):
    """The tutorial's code, verbatim but for the data source and Adam (see README)."""
    from keras.layers import Dense, Input
    from keras.models import Model

    keras.utils.set_random_seed(seed)
    x_train = x_train.reshape((len(x_train), np.prod(x_train.shape[1:])))
    x_test = x_test.reshape((len(x_test), np.prod(x_test.shape[1:])))
    input_img = Input(shape=(784,))
    encoded = Dense(32, activation='relu')(input_img)
    decoded = Dense(784, activation='sigmoid')(encoded)
    autoencoder = Model(input_img, decoded)
    autoencoder.compile(optimizer='adam', loss='binary_crossentropy')
    start = time.perf_counter()
    h = autoencoder.fit(x_train, x_train, epochs=epochs, batch_size=128, shuffle=True,
                        validation_data=(x_test, x_test), verbose=0)
    return time.perf_counter() - start, h.history["val_loss"][-1]


def ae_core_run(data, epochs, seed):
    import dataclasses

    preset = presets.get("dense_seed")
    config = dataclasses.replace(preset.config, epochs=epochs, seed=seed)
    r = training.train(preset.spec, config, data)
    return r.seconds, r.history["val_loss"][-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    data = load_bundled()
    times = {"tutorial": [], "ae_core": []}
    losses = {"tutorial": [], "ae_core": []}
    for rep in range(args.repeats):
        for name in ("tutorial", "ae_core") if rep % 2 == 0 else ("ae_core", "tutorial"):
            if name == "tutorial":
                s, v = tutorial(data.x_train, data.x_test, args.epochs, seed=rep)
            else:
                s, v = ae_core_run(data, args.epochs, seed=rep)
            times[name].append(s)
            losses[name].append(v)
            print(f"run {rep + 1} {name:8s}: {s:6.1f} s, val BCE {v:.4f}", flush=True)
    t_tut, t_core = np.median(times["tutorial"]), np.median(times["ae_core"])
    v_tut, v_core = np.mean(losses["tutorial"]), np.mean(losses["ae_core"])
    print(f"\n{args.epochs} epochs on {len(data.x_train)} digits, {args.repeats} runs each (median time):")
    print(f"  tutorial code: {t_tut:6.1f} s   val BCE {v_tut:.4f}")
    print(f"  ae_core:       {t_core:6.1f} s   val BCE {v_core:.4f}")
    print(f"  time ratio ae_core / tutorial: {t_core / t_tut:.3f}")
    print(f"  val BCE difference: {abs(v_core - v_tut):.4f} (target: within 0.005)")


if __name__ == "__main__":
    main()
