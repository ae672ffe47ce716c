"""A little CSS on top of the theme in .streamlit/config.toml: compact rows, no wasted top space."""
import streamlit as st

RULES = """
.block-container {padding: 1.6rem 1.6rem 1rem 1.6rem; max-width: 1400px;}
.panel-titles {display: grid; text-align: center; font-size: 0.78rem; color: #31333f;
               margin: 0.3rem 0 0.35rem 0; line-height: 1.1; position: relative; z-index: 1;}
[data-testid="stSidebar"] h2 {font-size: 1.25rem;}
/* Reruns take tens of milliseconds: no fade-out of "stale" elements (it only costs repaints). */
[data-stale="true"] {opacity: 1 !important; transition: none !important;}
[data-testid="stStatusWidget"] {display: none;}
h1 {font-size: 2.2rem !important; padding-top: 0.2rem !important;}
/* The noise types on one line in a laptop-sized input column. */
.st-key-noise_kind button {padding-left: 0.4rem; padding-right: 0.4rem;}
.input-line {font-size: 0.85rem; color: #5b6070; font-variant-numeric: tabular-nums;}
.input-line abbr {text-decoration: underline dotted rgba(49, 51, 63, 0.35); cursor: help;}
/* Phones: room for Streamlit's header above the title. */
@media (max-width: 640px) {
  .block-container {padding: 4.2rem 0.9rem 1rem 0.9rem;}
  h1 {font-size: 1.7rem !important;}
}
/* A narrow page (a phone, or a small window with the sidebar open): the Lab in one column, in
   the order a finger needs it: the pad, the results right below it, then the model choice and
   the noise controls. The Lab's two columns (and the fragments' wrappers in them) give up their
   boxes so their elements can be ordered as one list. */
.block-container {container-type: inline-size;}
@container (max-width: 600px) {
  [data-testid="stHorizontalBlock"]:has(.st-key-noise_box) {flex-direction: column; flex-wrap: nowrap; gap: 1rem;}
  [data-testid="stHorizontalBlock"]:has(.st-key-noise_box) > [data-testid="stColumn"],
  [data-testid="stHorizontalBlock"]:has(.st-key-noise_box) > [data-testid="stColumn"] > [data-testid="stVerticalBlock"],
  [data-testid="stHorizontalBlock"]:has(.st-key-noise_box) > [data-testid="stColumn"] > [data-testid="stVerticalBlock"] > [data-testid="stLayoutWrapper"],
  [data-testid="stHorizontalBlock"]:has(.st-key-noise_box) > [data-testid="stColumn"] > [data-testid="stVerticalBlock"] > [data-testid="stLayoutWrapper"] > [data-testid="stVerticalBlock"]
    {display: contents;}
  [data-testid="stHorizontalBlock"]:has(.st-key-noise_box) > [data-testid="stColumn"] * {min-width: 0;}
  [data-testid="stHorizontalBlock"]:has(.st-key-noise_box) > [data-testid="stColumn"]:nth-child(2) > div > div > div > * {order: 1;}
  [data-testid="stHorizontalBlock"]:has(.st-key-noise_box) .st-key-models, [data-testid="stHorizontalBlock"]:has(.st-key-noise_box) .st-key-show_channels {order: 2 !important;}
  [data-testid="stHorizontalBlock"]:has(.st-key-noise_box) [data-testid="stLayoutWrapper"]:has(> .st-key-noise_box) {order: 3;}
  [data-testid="stHorizontalBlock"]:has(.st-key-noise_box) [data-testid="stExpander"] {order: 4;}
  [data-testid="stHorizontalBlock"]:has(.st-key-noise_box) .st-key-pad {max-width: 26rem;}
}
"""
CSS = f"<style>{RULES}</style>"


def apply() -> None:
    st.html(CSS)
