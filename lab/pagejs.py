"""The page-side JavaScript of the app's elements: plain .js files next to this one, joined into
one module string for `st.components.v2.component(js=...)` (an element's inline JS runs as a
single `blob:` module, so shared functions travel in front of it rather than as imports)."""
from __future__ import annotations

import functools
from pathlib import Path

HERE = Path(__file__).parent


@functools.cache
def script(*names: str) -> str:
    """`script("compute.js", "ort_page.js", "lab_page.js")`: the files' texts, in that order."""
    return "\n".join((HERE / name).read_text() for name in names)
