"""A little CSS on top of the theme in .streamlit/config.toml: compact page, no wasted top space."""
import streamlit as st

RULES = """
.block-container {padding: 1.6rem 1.6rem 1rem 1.6rem; max-width: 1400px;}
[data-testid="stSidebar"] h2 {font-size: 1.25rem;}
/* Reruns take milliseconds: no fade-out of "stale" elements (it only costs repaints). */
[data-stale="true"] {opacity: 1 !important; transition: none !important;}
[data-testid="stStatusWidget"] {display: none;}
h1 {font-size: 2.2rem !important; padding-top: 0.2rem !important;}
/* Every chosen model's chip stays in view: the chips wrap onto more lines instead of scrolling. */
.st-key-models [role="group"] {overflow: visible !important; height: auto !important; max-height: none !important;}
.st-key-models [data-testid="stMultiSelectTagsContainer"], .st-key-models [data-testid="stMultiSelectTagsContainer"] > span
  {flex-wrap: wrap;}
/* Phones: room for Streamlit's header above the title. */
@media (max-width: 640px) {
  .block-container {padding: 4.2rem 0.9rem 1rem 0.9rem;}
  h1 {font-size: 1.7rem !important;}
}
"""


def apply() -> None:
    st.html(f"<style>{RULES}</style>")
