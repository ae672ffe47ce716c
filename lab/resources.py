"""Everything loaded once per server: digits, models, the training job manager (its trainers
run in their own processes)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from . import engine
from .jobs import JobManager


@st.cache_resource(show_spinner=False)
def dataset():
    """The bundled digits (read only, shared; training slices it)."""
    from ae_core.data import load_bundled

    return load_bundled()


@st.cache_resource(show_spinner=False)
def clothing():
    """The bundled clothing items (read only, shared)."""
    from ae_core.data import load_clothing

    return load_clothing()


def _set(kind: str):
    return clothing() if kind == "clothing" else dataset()


@st.cache_data(show_spinner=False)
def test_labels(kind: str = "digits") -> np.ndarray:
    """Labels of the held-out split (the one the evaluation uses) of "digits" or "clothing"."""
    return _set(kind).y_test.copy()


def random_test_index(label="any", kind: str = "digits") -> int:
    """A random held-out image's index: of class `label` (0-9), or of any class."""
    labels = _set(kind).y_test
    pool = np.arange(len(labels)) if label == "any" else np.flatnonzero(labels == int(label))
    return int(np.random.default_rng().choice(pool))


@st.cache_data(show_spinner=False, max_entries=256)
def test_digit(index: int, kind: str = "digits") -> tuple[np.ndarray, int]:
    """One held-out image (28, 28) of "digits" or "clothing", and its label."""
    d = _set(kind)
    return d.x_test[index].copy(), int(d.y_test[index])


@st.cache_resource(show_spinner=False, max_entries=32)
def _load(folder: str, name: str, kind: str, stamp: tuple):
    del stamp  # part of the cache key only: a changed file is loaded again
    return engine.load_stored(Path(folder), name, kind, dataset().x_test)


def model(folder: Path, name: str, kind: str) -> engine.LoadedModel | engine.LoadFailure:
    """A stored model, loaded and warmed up once per version of its files (failures cached too)."""
    return _load(str(folder), name, kind, engine.file_stamp(folder, name))


@st.cache_resource(show_spinner=False)
def job_manager() -> JobManager:
    from .settings import Settings

    s = Settings.from_env()
    return JobManager(max_running=s.max_runs, queue_max=s.queue_max, idle_seconds=s.idle_seconds)
