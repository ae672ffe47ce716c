"""Unexpected errors become one calm line on the page (and a traceback in the server log).

Streamlit's own stop/rerun signals are BaseExceptions, so `except Exception` lets them through.
"""
from __future__ import annotations

import logging

import streamlit as st

OOPS = "Something went wrong on our side"  # tests look for this text
log = logging.getLogger("autoencoder_lab")


def oops(where: str, exc: Exception) -> None:
    log.exception("unexpected error in %s", where)
    st.error(f"{OOPS} while {where} ({type(exc).__name__}). The rest of the page still works; "
             "try again, or reload the page.", icon=":material/build:")

