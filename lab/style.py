"""A little CSS on top of the theme in .streamlit/config.toml.

Nothing here may move the page's layout: Streamlit loads a style-only `st.html`'s script on
demand, and on a busy server it can arrive after the Lab's element; a rule that changed the
paddings or the title's size would then move the pad under the pen. Streamlit's own paddings stay.
"""
import streamlit as st

RULES = """
[data-testid="stSidebar"] h2 {font-size: 1.25rem;}
/* Reruns take milliseconds: no fade-out of "stale" elements (it only costs repaints). */
[data-stale="true"] {opacity: 1 !important; transition: none !important;}
[data-testid="stStatusWidget"] {display: none;}
/* Every chosen model's chip stays in view: the chips wrap onto more lines instead of scrolling. */
.st-key-models [role="group"] {overflow: visible !important; height: auto !important; max-height: none !important;}
.st-key-models [data-testid="stMultiSelectTagsContainer"], .st-key-models [data-testid="stMultiSelectTagsContainer"] > span
  {flex-wrap: wrap;}
"""


def apply() -> None:
    st.html(f"<style>{RULES}</style>")
