"""Widget values survive runs that do not draw them (lab.kit.keep): the one keeper behind the
Lab's pick controls, Explore's choices and the training form."""
from __future__ import annotations

import numpy as np
from streamlit.testing.v1 import AppTest

from tests.app_support import app, assert_clean, explore, floats, lab_data, open_section


def _toggled_slider(keep: bool) -> None:
    import streamlit as st

    from lab import kit

    if st.toggle("show", value=True, key="show"):
        if keep:
            kit.keep(["level"])
        st.slider("level", 0, 10, 2, key="level")


def _hide_and_show(keep: bool) -> int:
    at = AppTest.from_function(_toggled_slider, kwargs={"keep": keep}).run()
    at.slider(key="level").set_value(7).run()
    at.toggle(key="show").set_value(False).run()
    at.run()  # a second run without the slider: Streamlit has dropped its value by now
    at.toggle(key="show").set_value(True).run()
    assert not at.exception
    return at.slider(key="level").value


def test_a_kept_widget_gets_its_value_back_after_runs_that_did_not_draw_it():
    assert _hide_and_show(keep=True) == 7
    assert _hide_and_show(keep=False) == 2  # what happens without it: the default again


def _input_picture(at) -> np.ndarray:
    return floats(lab_data(at)["image"])


def test_pick_keeps_its_test_set_and_class_across_draw(env):
    at = app()
    at.segmented_control(key="input_mode").set_value("pick").run()
    at.segmented_control(key="pick_set").set_value("clothing").run()
    at.selectbox(key="pick_label").set_value(3).run()
    assert_clean(at)
    before, caption = _input_picture(at), lab_data(at)["caption"]
    assert "clothing" in caption
    at.segmented_control(key="input_mode").set_value("draw").run()
    at.run()
    at.segmented_control(key="input_mode").set_value("pick").run()
    assert_clean(at)
    assert at.segmented_control(key="pick_set").value == "clothing" and at.selectbox(key="pick_label").value == 3
    assert lab_data(at)["caption"] == caption
    np.testing.assert_array_equal(_input_picture(at), before)


def test_explore_keeps_a_sections_choices_while_another_section_is_open(env):
    at = explore("Code map")
    at.segmented_control(key="map_method").set_value("tsne").run()
    at = open_section(at, "Playground")
    at.slider(key="interp_steps").set_value(5).run()
    assert_clean(at)
    at = open_section(at, "Code map")
    assert at.segmented_control(key="map_method").value == "tsne"
    at = open_section(at, "Playground")
    assert at.slider(key="interp_steps").value == 5
