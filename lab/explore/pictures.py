"""The one way Explore shows small digits that the page does not decode itself: inline PNGs
(data URIs) with captions, in one row. `st.image` would serve each picture as a media file that
the next rerun of a fragment deletes while the browser is still loading it (404s and "Image
source error" in the console); an inline image cannot go missing. Captions are escaped.
"""
from __future__ import annotations

import base64
import html

import numpy as np
import streamlit as st

from ae_core import analysis

WIDTH = 84  # px on the page of one 28x28 digit


def data_uri(image: np.ndarray, scale: int = 4) -> str:
    """A (28, 28) image, or a `tile` of them, in [0, 1] as a PNG data URI (sharp pixels)."""
    return "data:image/png;base64," + base64.b64encode(analysis.to_png_bytes(image, scale)).decode("ascii")


def row_html(images, captions=(), key: str = "", width: int = WIDTH, scale: int = 4) -> str:
    """HTML of `images` side by side, each above its caption (`captions[i]`, plain text)."""
    cells = []
    for i, im in enumerate(images):
        cap = html.escape(str(captions[i]) if i < len(captions) else "", quote=True)
        cells.append(f'<figure style="width:{width}px"><img src="{data_uri(im, scale)}" width="{width}" '
                     f'height="{width}" alt="{cap}"/><figcaption>{cap}</figcaption></figure>')
    return f'<div class="ae-pictures" data-key="{html.escape(key, quote=True)}">{"".join(cells)}</div>'


STYLE = ("<style>.ae-pictures{display:flex;flex-wrap:wrap;gap:4px 8px;margin-bottom:0.4rem}"
         ".ae-pictures figure{margin:0;text-align:center}"
         ".ae-pictures img{image-rendering:pixelated;display:block;margin:auto}"
         ".ae-pictures figcaption{font-size:0.78rem;color:#555;line-height:1.15;overflow-wrap:anywhere}</style>")


def show(images, captions=(), key: str = "", width: int = WIDTH, scale: int = 4) -> None:
    """Draw a row of small digits (see `row_html`)."""
    st.markdown(row_html(images, captions, key, width, scale), unsafe_allow_html=True)
