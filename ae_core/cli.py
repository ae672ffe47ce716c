"""Command line: `python -m ae_core train PRESET ...`, `evaluate`, `presets`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "pretrained"
BENCHMARKS = ROOT / "benchmarks"


def _progress_callback(epochs: int):
    import keras
    from tqdm import tqdm

    class TqdmEpochs(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=epochs, unit="epoch", dynamic_ncols=True)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.bar.set_postfix(loss=f"{logs.get('loss', float('nan')):.4f}",
                                 val_loss=f"{logs.get('val_loss', float('nan')):.4f}")
            self.bar.update(1)

        def on_train_end(self, logs=None):
            self.bar.close()

    return TqdmEpochs()


def cmd_train(args) -> int:
    import dataclasses

    from . import presets
    from .data import load_mnist
    from .pipeline import save_result
    from .training import train

    preset = presets.get(args.preset)
    overrides = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size,
                                   "noise_factor": args.noise, "optimizer": args.optimizer,
                                   "learning_rate": args.learning_rate, "seed": args.seed}.items()
                 if v is not None}
    config = dataclasses.replace(preset.config, **overrides)
    data = load_mnist(args.data)
    if data.message:
        print(data.message)
    print(f"Training {args.preset} on {len(data.x_train)} digits ({data.source}); "
          f"validating on {len(data.x_val)}.")
    result = train(preset.spec, config, data, callbacks=[_progress_callback(config.epochs)])
    if not result.ok:
        print(f"Training diverged (loss became NaN after {result.epochs_run} epochs); nothing was "
              "saved. Try a smaller --learning-rate.", file=sys.stderr)
        return 1
    name = args.name or args.preset
    path = save_result(result, preset.spec, config, data, Path(args.out), name, preset=args.preset)
    val = result.history["val_loss"][-1]
    print(f"{result.status}: {result.epochs_run} epochs in {result.seconds:.1f} s, "
          f"val_loss {val:.4f}. Saved {path}")
    return 0


def cmd_evaluate(args) -> int:
    from .data import load_mnist
    from .evaluate import evaluate_all, to_markdown, write_reports

    data = load_mnist(args.data)
    if data.message:
        print(data.message)
    result = evaluate_all(data, args.models, with_baselines=not args.no_baselines,
                          progress=lambda name: print(f"evaluating {name} ...", file=sys.stderr))
    print(to_markdown(result))
    if args.report_dir:
        json_path, md_path = write_reports(result, args.report_dir)
        print(f"Wrote {json_path} and {md_path}")
    return 1 if result["errors"] else 0


def cmd_presets(args) -> int:
    from .presets import PRESETS

    for name, p in PRESETS.items():
        print(f"{name:15s} {p.title}: {p.description}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ae_core", description="Train and evaluate "
                                     "the autoencoders of the autoencoder lab.")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a preset and save it")
    t.add_argument("preset", help="a preset name (see `python -m ae_core presets`)")
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--noise", type=float, help="Gaussian noise factor on the training inputs")
    t.add_argument("--optimizer", choices=["adam", "adadelta"])
    t.add_argument("--learning-rate", type=float)
    t.add_argument("--seed", type=int)
    t.add_argument("--data", default="bundled",
                   help="'bundled' (default), 'full' (local file, Keras cache or download, else "
                        "bundled) or the path of an mnist.npz")
    t.add_argument("--out", default=str(PRETRAINED), help="models folder (default: pretrained/)")
    t.add_argument("--name", help="name to save under (default: the preset's)")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="one table of every model and baseline")
    e.add_argument("--models", default=str(PRETRAINED), help="models folder (default: pretrained/)")
    e.add_argument("--data", default="bundled")
    e.add_argument("--report-dir", default=str(BENCHMARKS),
                   help="where evaluation.json/.md go (default: benchmarks/; '' for none)")
    e.add_argument("--no-baselines", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("presets", help="list the presets")
    p.set_defaults(func=cmd_presets)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
