"""Server settings, read from the environment once per run. Bad values fall back to defaults
with a note for the page, never an exception."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BATCH_SIZES = (16, 32, 64, 128, 256, 512)


def _flag(value: str) -> bool | None:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    return None


@dataclass(frozen=True)
class Settings:
    pretrained_dir: Path = ROOT / "pretrained"  # AE_PRETRAINED_DIR: the shipped models (read only)
    models_dir: Path = ROOT / "models"  # AE_MODELS_DIR: saved retrained versions (writable)
    allow_training: bool = True  # AE_ALLOW_TRAINING=0 turns the sidebar training off
    max_epochs: int = 50  # AE_MAX_EPOCHS: cap on epochs per run
    max_batch_size: int = 512  # AE_MAX_BATCH_SIZE: largest batch size offered
    # AE_TRAIN_DIGITS: training digits per run (default: all 7,000 bundled ones); validation uses a
    # quarter as many (at least 64, at most the 1,000 validation digits)
    train_digits: int = 7000
    max_runs: int = 1  # AE_MAX_RUNS: trainer processes at once (embedded backend); later runs queue
    queue_url: str = ""  # AE_QUEUE_URL=redis://HOST:PORT/DB: the shared RQ queue instead of this server's
    queue_max: int = 30  # AE_QUEUE_MAX: runs waiting at most; more are refused with a message
    # AE_IDLE_SECONDS: a run nobody watched this long is dropped or cancelled. A page polls every
    # second, but browsers slow the timers of background tabs to once a minute: keep it above that.
    idle_seconds: int = 180
    problems: tuple[str, ...] = field(default=(), compare=False)  # notes about ignored values

    @classmethod
    def from_env(cls, env=None) -> "Settings":
        env = os.environ if env is None else env
        kw, problems = {}, []
        for key, name in (("AE_PRETRAINED_DIR", "pretrained_dir"), ("AE_MODELS_DIR", "models_dir")):
            if env.get(key):
                kw[name] = Path(env[key]).expanduser()
        url = env.get("AE_QUEUE_URL", "").strip()
        if url:
            if url.startswith(("redis://", "rediss://", "unix://")):
                kw["queue_url"] = url
            else:
                problems.append("AE_QUEUE_URL should look like redis://HOST:PORT/DB; it was not, so "
                                "this server trains on its own (no shared queue).")
        if env.get("AE_ALLOW_TRAINING"):
            flag = _flag(env["AE_ALLOW_TRAINING"])
            if flag is None:
                problems.append(f"AE_ALLOW_TRAINING should be 1 or 0; received {env['AE_ALLOW_TRAINING']!r}, "
                                "so training stays off.")
            kw["allow_training"] = bool(flag)
        limits = {"AE_MAX_EPOCHS": ("max_epochs", 1, 500), "AE_MAX_BATCH_SIZE": ("max_batch_size", 16, 4096),
                  "AE_TRAIN_DIGITS": ("train_digits", 64, 60000), "AE_MAX_RUNS": ("max_runs", 1, 16),
                  "AE_QUEUE_MAX": ("queue_max", 1, 10000), "AE_IDLE_SECONDS": ("idle_seconds", 5, 86400)}
        for key, (name, lo, hi) in limits.items():
            if env.get(key):
                try:
                    value = int(env[key])
                    if not lo <= value <= hi:
                        raise ValueError
                    kw[name] = value
                except ValueError:
                    problems.append(f"{key} should be an integer from {lo} to {hi}; received "
                                    f"{env[key]!r}, so the default is used.")
        return cls(**kw, problems=tuple(problems))

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        return tuple(b for b in BATCH_SIZES if b <= self.max_batch_size) or (BATCH_SIZES[0],)

    @property
    def save_problem(self) -> str:
        """Why retrained models cannot be saved here, or '' when they can."""
        try:
            same = self.models_dir.resolve() == self.pretrained_dir.resolve()
        except OSError:
            same = False
        if same:
            # Visitors read this: it names the settings, never a server path.
            return ("Saving is off: this server's models folder is its pretrained folder, and saving "
                    "there would overwrite the shipped models. Set AE_MODELS_DIR to another folder.")
        return ""
