"""A little CSS on top of the theme in .streamlit/config.toml: compact rows, no wasted top space."""
import streamlit as st

CSS = """
<style>
.block-container {padding: 1.6rem 1.6rem 1rem 1.6rem; max-width: 1400px;}
.row-title {display: flex; justify-content: space-between; align-items: baseline; gap: 0.8rem;
            flex-wrap: wrap; margin: 0.1rem 0 -0.6rem 0; font-size: 0.95rem;}
.row-title b {cursor: help;}
.panel-titles {display: grid; text-align: center; font-size: 0.78rem; color: #31333f;
               margin: 0.3rem 0 0.35rem 0; line-height: 1.1; position: relative; z-index: 1;}
.row-title i {color: #7a7f8f; font-size: 0.8rem; font-style: normal; margin-right: auto; margin-left: -0.4rem;}
.row-title span {color: #5b6070; font-size: 0.85rem; font-variant-numeric: tabular-nums;}
[data-testid="stSidebar"] h2 {font-size: 1.25rem;}
/* Reruns take tens of milliseconds: no fade-out of "stale" elements (it only costs repaints). */
[data-stale="true"] {opacity: 1 !important; transition: none !important;}
[data-testid="stStatusWidget"] {display: none;}
h1 {font-size: 2.2rem !important; padding-top: 0.2rem !important;}
.st-key-plotly_warmup {display: none;}
</style>
"""


def apply() -> None:
    st.html(CSS)
