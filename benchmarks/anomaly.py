"""Is this a digit? Candidate digit scores measured on canvas-style digits and non-digits.

    python benchmarks/anomaly.py [--models pretrained/]

The non-digits and the canvas-style digits are `ae_core/data/nondigit_set.npz`
(scripts/build_nondigit_set.py): letters from 10 fonts (the digit-like ones left out), shapes
and scribbles, all drawn with the Lab pad's pen, and validation and test digits redrawn the
same way. Every candidate is an `ae_core.score.DigitScorer` with other parts, fitted the same
way: code statistics on the training digits, scaling and thresholds on validation digits (MNIST
and canvas-style). It is then measured on the test digits only:

    AUC          ROC AUC, non-digits (letters, shapes, scribbles) vs canvas-style test digits
    AUC mnist    the same non-digits vs the MNIST test digits
    letters ok   share of letters called "digit" (target <= 10%)
    canvas no    share of canvas-style test digits called "not a digit" (target <= 2%)
    mnist no     share of MNIST test digits called "not a digit" (target <= 2%)

Targets: AUC >= 0.97, letters ok <= 10%, digits called "not a digit" <= 2%.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from ae_core import score, store  # noqa: E402
from ae_core.data import load_bundled  # noqa: E402

CANDIDATES = {
    "dense_seed bce (the old check)": (("dense_seed", "bce"),),
    "dense_deep bce": (("dense_deep", "bce"),),
    "dense_deep mahalanobis": (("dense_deep", "mahalanobis"),),
    "dense_deep class": (("dense_deep", "class"),),
    "dense_deep bce + mahalanobis": (("dense_deep", "bce"), ("dense_deep", "mahalanobis")),
    "dense_deep bce + class": (("dense_deep", "bce"), ("dense_deep", "class")),
    "vae_2d elbo": (("vae_2d", "elbo"),),
    "vae_32d elbo": (("vae_32d", "elbo"),),
    "vae_32d elbo + class": (("vae_32d", "elbo"), ("vae_32d", "class")),
    "vae_32d bce + class": (("vae_32d", "bce"), ("vae_32d", "class")),
    "dense_deep class, vae_32d class": (("dense_deep", "class"), ("vae_32d", "class")),
    "dense_deep bce + class, vae_32d elbo + class": (("dense_deep", "bce"), ("dense_deep", "class"),
                                                     ("vae_32d", "elbo"), ("vae_32d", "class")),
    "dense_deep class, vae_32d class, dense_seed class": (("dense_deep", "class"), ("vae_32d", "class"),
                                                          ("dense_seed", "class")),
    "dense_deep bce + class, vae_32d bce + class, dense_seed class": (
        ("dense_deep", "bce"), ("dense_deep", "class"), ("vae_32d", "bce"), ("vae_32d", "class"),
        ("dense_seed", "class")),
    "ladder_16 bce + class": (("ladder_16", "bce"), ("ladder_16", "class")),
    "the above, ladder_16/32/64 class (the choice)": score.DEFAULT_PARTS,
}


def auc(digits: np.ndarray, others: np.ndarray) -> float:
    """ROC AUC of the digit score: the chance that a non-digit scores below a digit."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.r_[np.ones(len(digits)), np.zeros(len(others))], np.r_[digits, others]))


def sets(data) -> dict[str, np.ndarray]:
    with np.load(score.NONDIGIT_SET) as f:
        out = {k: f[k].astype(np.float32) / 255.0 for k in ("letters", "shapes", "scribbles", "digits_test")}
    out["mnist test"] = data.x_test
    return out


def measure(scorer: score.DigitScorer, inputs: dict[str, np.ndarray]) -> dict[str, float]:
    s = {k: scorer.scores(v) for k, v in inputs.items()}
    v = {k: np.array(scorer.verdicts(x)) for k, x in s.items()}
    non = np.concatenate([s["letters"], s["shapes"], s["scribbles"]])
    return {"auc": auc(s["digits_test"], non), "auc_mnist": auc(s["mnist test"], non),
            "letters_ok": float(np.mean(v["letters"] == "digit")),
            "shapes_ok": float(np.mean(v["shapes"] == "digit")),
            "scribbles_ok": float(np.mean(v["scribbles"] == "digit")),
            "canvas_no": float(np.mean(v["digits_test"] == "not a digit")),
            "mnist_no": float(np.mean(v["mnist test"] == "not a digit"))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=str(ROOT / "pretrained"))
    args = parser.parse_args(argv)
    data = load_bundled()
    names = sorted({m for parts in CANDIDATES.values() for m, _ in parts} & set(store.list_models(args.models)))
    models = {}
    for n in names:
        try:
            models[n] = store.load_onnx(args.models, n).model
        except store.ModelFileError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
    inputs = sets(data)
    x_val = score.validation_digits(data.x_val)
    train = score.training_digits(data.x_train, data.y_train)
    print(f"# Digit score candidates: thresholds on {len(x_val)} validation digits; measured on "
          f"{len(inputs['digits_test'])} canvas-style and {len(data.x_test)} MNIST test digits, "
          f"{len(inputs['letters'])} letters, {len(inputs['shapes'])} shapes, {len(inputs['scribbles'])} scribbles\n")
    print("| score | AUC | AUC mnist | letters called digit | shapes | scribbles | canvas digits called "
          "not a digit | mnist digits |\n|---|---|---|---|---|---|---|---|")
    for label, parts in CANDIDATES.items():
        if not {m for m, _ in parts} <= set(models):
            print(f"| {label} | (models missing from {args.models}) |")
            continue
        r = measure(score.DigitScorer.fit(models, *train, x_val, parts), inputs)
        print(f"| {label} | {r['auc']:.3f} | {r['auc_mnist']:.3f} | {r['letters_ok']:.1%} | {r['shapes_ok']:.1%} "
              f"| {r['scribbles_ok']:.1%} | {r['canvas_no']:.1%} | {r['mnist_no']:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
