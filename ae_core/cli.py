"""Command line: `python -m ae_core train PRESET ...`, `evaluate`, `presets`, `export-onnx`, `models`."""
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


def train_config(preset, args):
    """The preset's `TrainConfig` with the options given on the command line."""
    import dataclasses

    # A preset trained on fresh noise (noise_max) takes --noise as its maximum level.
    noise_field = "noise_max" if preset.config.noise_max is not None else "noise_factor"
    overrides = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size,
                                   noise_field: args.noise, "optimizer": args.optimizer,
                                   "learning_rate": args.learning_rate, "seed": args.seed,
                                   "noise_kind": getattr(args, "noise_kind", None)}.items()
                 if v is not None}
    return dataclasses.replace(preset.config, **overrides)


def cmd_train(args) -> int:
    from . import presets
    from .data import kind_of, load_mnist
    from .models import code_size_settable, with_code_size
    from .pipeline import divergence_warning, mean_image_loss, train_and_save

    preset = presets.get(args.preset)
    config = train_config(preset, args)
    data = load_mnist(args.data or preset.data)
    if data.message:
        print(data.message)
    print(f"Training {args.preset} on {len(data.x_train)} {kind_of(data.source)} images ({data.source}); "
          f"validating on {len(data.x_val)}.")
    name = args.name or args.preset
    callbacks = [_progress_callback(config.epochs)]
    if args.snapshots:
        from .snapshots import png_snapshots

        snapshots = png_snapshots(args.snapshots, data, title=f"{args.preset} on {data.source}")
        callbacks.append(snapshots)
    spec = preset.spec
    if getattr(args, "code_size", None):
        if not code_size_settable(spec):
            print(f"{args.preset} has no flat code whose size --code-size could set.", file=sys.stderr)
            return 2
        spec = with_code_size(spec, args.code_size)
    result, path = train_and_save(spec, config, data, Path(args.out), name, preset=args.preset,
                                  callbacks=callbacks)
    if path is None:
        print(f"Training diverged (loss became NaN after {result.epochs_run} epochs); nothing was "
              "saved. Try a smaller --learning-rate.", file=sys.stderr)
        return 1
    val = result.history["val_loss"][-1]
    print(f"{result.status}: {result.epochs_run} epochs in {result.seconds:.1f} s, "
          f"val_loss {val:.4f}. Saved {path}")
    if args.snapshots:
        from .snapshots import cost_line

        print(f"Wrote {result.epochs_run} snapshot strips to {args.snapshots}; {cost_line(snapshots)}")
    warning = divergence_warning(result.history, mean_image_loss(data, config.loss))
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    from .data import load_mnist
    from .evaluate import evaluate_all, to_markdown, write_reports

    data = load_mnist(args.data)
    if data.message:
        print(data.message)
    result = evaluate_all(data, args.models, with_baselines=not args.no_baselines,
                          progress=lambda name: print(f"evaluating {name} ...", file=sys.stderr),
                          with_claims=not args.no_claims)
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


def cmd_export_onnx(args) -> int:
    from . import store

    names = args.names or store.list_models(args.models)
    if not names:
        print(f"No models in {args.models}.", file=sys.stderr)
        return 1
    failed = 0
    for name in names:
        try:
            path = store.export_onnx(args.models, name)
        except store.ModelFileError as exc:
            print(f"error: {exc.full_message}", file=sys.stderr)
            failed += 1
            continue
        print(f"exported {name}'s encoder and decoder to ONNX; updated {path}")
    return 1 if failed else 0


def cmd_score(args) -> int:
    import json

    from . import score, store

    batches = [score.read_images(path) for path in args.files]  # a bad file stops here, in one line
    try:
        scorer = score.fit_default(args.models)
    except store.ModelFileError as exc:
        print(f"error: the digit score needs its models: {exc.full_message}", file=sys.stderr)
        return 1
    judged = [(path, i, j) for path, x in zip(args.files, batches) for i, j in enumerate(scorer.judge(x))]
    if args.json:
        print(json.dumps({"images": [{"score": round(j.score, 4), "verdict": j.verdict} for _, _, j in judged]}))
        return 0
    for path, i, j in judged:
        where = f"{path}[{i}]" if path.lower().endswith(".npz") else path
        print(f"{where}\t{j.score:+.3f}\t{j.verdict}")
    return 0


def cmd_models(args) -> int:
    from . import store

    if args.action == "list":
        names = store.list_models(args.models)
        if not names:
            print(f"No models in {args.models}.")
        for name in names:
            try:
                m = store.read_manifest(Path(args.models) / f"{name}.json")
                val = (m.get("metrics") or {}).get("val_bce")
                print(f"{name:28s} {m.get('preset') or '-':15s} {m.get('created', ''):25s} "
                      f"{'' if val is None else f'val_bce {val:.4f}'}")
            except store.ModelFileError as exc:
                print(f"{name:28s} unreadable: {exc.problem}")
        return 0
    if args.action == "rename":
        if len(args.names) != 2:
            raise ValueError(f"rename takes OLD NEW. Received: {args.names}")
        try:
            path = store.rename(args.models, *args.names)
        except store.NameTaken as exc:
            print(f"error: {exc}; nothing was renamed. Choose another name.", file=sys.stderr)
            return 1
        print(f"renamed {args.names[0]} to {path.stem}")
        return 0
    if not args.names:
        raise ValueError("remove takes one or more model names.")
    for name in args.names:
        removed = store.remove(args.models, name)
        print(f"removed {name} ({len(removed)} files)")
    return 0


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    from .store import ModelFileError  # no Keras: the store imports it only to build or load .keras

    try:
        return args.func(args)
    except ModelFileError as exc:  # the command line shows the full path (visitors get str(exc))
        print(f"error: {exc.full_message}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ae_core", description="Train and evaluate "
                                     "the autoencoders of the autoencoder lab.")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a preset and save it")
    t.add_argument("preset", help="a preset name (see `python -m ae_core presets`)")
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--noise", type=float, help="Gaussian noise factor on the training inputs")
    t.add_argument("--noise-kind", choices=("gaussian", "salt_pepper", "mask"),
                   help="the kind of the fixed noisy copy (presets with a noise factor)")
    t.add_argument("--code-size", type=int, help="the code's size, for presets with a flat code")
    t.add_argument("--optimizer", choices=["adam", "adadelta"])
    t.add_argument("--learning-rate", type=float)
    t.add_argument("--seed", type=int)
    t.add_argument("--data", default=None,
                   help="'bundled' digits, 'clothing' (the bundled Fashion-MNIST subset), 'full' (local "
                        "file, Keras cache or download, else bundled) or the path of an mnist.npz "
                        "(default: the preset's, 'bundled' for every preset but dense_clothing)")
    t.add_argument("--snapshots", metavar="DIR",
                   help="write 8 fixed validation images and their reconstructions after every "
                        "epoch to DIR/epoch_001.png, ...")
    t.add_argument("--out", default=str(PRETRAINED), help="models folder (default: pretrained/)")
    t.add_argument("--name", help="name to save under (default: the preset's)")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="every model and baseline on the test digits, the ladder, the 2x2 "
                                        "data-specific table and the rate-distortion data")
    e.add_argument("--models", default=str(PRETRAINED), help="models folder (default: pretrained/)")
    e.add_argument("--data", default="bundled")
    e.add_argument("--report-dir", default=str(BENCHMARKS),
                   help="where evaluation.json/.md go (default: benchmarks/; '' for none)")
    e.add_argument("--no-baselines", action="store_true")
    e.add_argument("--no-claims", action="store_true",
                   help="leave out the 2x2 data-specific table and the rate-distortion data")
    e.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("presets", help="list the presets")
    p.set_defaults(func=cmd_presets)

    x = sub.add_parser("export-onnx", help="export saved models' encoder and decoder to ONNX again")
    x.add_argument("names", nargs="*", help="model names (default: every model in the folder)")
    x.add_argument("--models", default=str(PRETRAINED), help="models folder (default: pretrained/)")
    x.set_defaults(func=cmd_export_onnx)

    s = sub.add_parser("score", help="is this a digit? a score (higher: more digit-like) and a verdict per image")
    s.add_argument("files", nargs="+", metavar="FILE",
                   help=".npz (array x: (N, 28, 28) floats in [0, 1] or uint8) or PNG/JPEG files")
    s.add_argument("--json", action="store_true", help='one JSON object: {"images": [{"score", "verdict"}, ...]}')
    s.add_argument("--models", default=str(PRETRAINED), help="models folder (default: pretrained/)")
    s.set_defaults(func=cmd_score)

    m = sub.add_parser("models", help="list, rename or remove saved models")
    m.add_argument("action", choices=["list", "rename", "remove"])
    m.add_argument("names", nargs="*", help="rename: OLD NEW; remove: NAME...")
    m.add_argument("--models", default=str(ROOT / "models"), help="models folder (default: models/)")
    m.set_defaults(func=cmd_models)

    # The shared training queue's worker (docs/serving-a-class.md); `rq worker` works as well.
    from . import worker as queue_worker  # NumPy only: TensorFlow loads per run, in RQ's work horse

    w = sub.add_parser("worker", help="train the runs of the shared queue (RQ on Redis)")
    w.add_argument("--url", required=True, help="the servers' AE_QUEUE_URL, redis://HOST:PORT/DB")
    w.add_argument("--burst", action="store_true", help="quit when the queue is empty")
    w.add_argument("--name", help="the worker's name in RQ (default: host and process id)")
    w.set_defaults(func=queue_worker.cli)

    return parser
