"""The Explore tab, headless (AppTest): every control of its sections, no exceptions.

AppTest cannot run the page's JavaScript or send an element's values: the decoder element
(lab/explore/decoder.py) is read through the data it was given, the values it sends back are
put where its callbacks put them, and the callbacks' parsing is run in a small script of its
own. AppTest cannot click a Plotly point either: the map click is covered by its selection parser
and by setting the input the way its callback does. tests/test_browser_explore.py does the rest
in Chromium.
"""
from __future__ import annotations

import os
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from ae_core import analysis
from lab.explore import baselines, codemap, data, ladder, manifold, pictures, playground
from tests.app_support import (APP, EXPLORE_TIMEOUT, assert_clean, charts, element, explore, open_section,
                               texts)



@pytest.fixture
def server_decodes(monkeypatch):
    """The path without the in-page runtime: the server decodes and sends the pictures."""
    from lab.explore import decoder

    monkeypatch.setattr(decoder, "in_page", lambda model: None)


def picture(b64: str) -> np.ndarray:
    import base64

    return np.frombuffer(base64.b64decode(b64), np.uint8).reshape(28, 28) / 255.0


def inline_images(at, key: str) -> list[str]:
    """The inline PNGs (data URIs) of the picture row `key` (`pictures.show`)."""
    for md in at.markdown:
        if f'data-key="{key}"' in md.value:
            return re.findall(r'src="(data:image/png;base64,[^"]+)"', md.value)
    return []


def model(at, key: str):
    from lab import resources
    from lab.settings import Settings

    return resources.model(Settings.from_env().pretrained_dir, key.partition(":")[2], "pretrained")


def input_image(at) -> np.ndarray:
    from lab import inputs_view

    return inputs_view.example().image if at.session_state["input_mode"] == "draw" else None


def test_explore_tab_shows_every_section_one_at_a_time(env):
    at = explore()
    pg = element(at, playground.PG_KEY)
    assert pg["mode"] == "playground" and len(pg["values"]) == 32
    assert element(at, playground.INTERP_KEY)["mode"] == "interpolation"
    assert "code_map" not in charts(at)  # only the open section runs

    at = open_section(at, "Code map")
    assert "code_map" in charts(at) and element(at, playground.PG_KEY) is None
    assert len(inline_images(at, "nearest")) == 5
    assert "real digit" in texts(at) and "held-out digits" in texts(at)  # "is this a digit?"

    at = open_section(at, "Baselines")
    assert "sweep" in charts(at) and len(inline_images(at, "baseline_images")) >= 5
    body = texts(at)
    for name in ("PCA-32", "median 3x3", "Gaussian sigma 1", "non-local means"):
        assert name in body  # the baselines' metrics table

    at = open_section(at, "History")
    assert any(k.startswith("history_") for k in charts(at))
    assert len(at.get("download_button")) >= 3  # input, noisy input, one per shown model


def test_a_failing_panel_is_one_calm_line_and_the_other_panel_still_works(env, monkeypatch):
    from lab.errors import OOPS

    def broken(model):
        raise RuntimeError("ranges that cannot be computed")

    at = explore()
    monkeypatch.setattr(data, "slider_ranges", broken)
    at.run()
    assert not at.exception
    assert [e.value for e in at.error if OOPS in e.value and "while drawing the latent playground" in e.value]
    assert element(at, playground.PG_KEY) is None and element(at, playground.INTERP_KEY) is not None


def test_the_section_labels_are_short_enough_for_one_strip():
    from lab import explore

    labels = [s.label.split(" ", 1)[1] for s in explore.SECTIONS]
    assert labels == ["Playground", "Code map", "Manifold", "Ladder", "Baselines", "vs JPEG", "History"]


def test_the_lab_tab_does_not_run_explore(env):
    at = AppTest.from_file(APP, default_timeout=EXPLORE_TIMEOUT)
    at.run()
    assert_clean(at)
    assert not any(k in charts(at) for k in ("code_map", "sweep")) and element(at, playground.PG_KEY) is None


# --- the latent playground --------------------------------------------------------------------

def test_playground_starts_from_the_inputs_code_and_decodes_it_on_the_server(env, server_decodes):
    at = explore()
    pg = element(at, playground.PG_KEY)
    seed = model(at, "pretrained:dense_seed")
    code = analysis.encode(seed.net, input_image(at))[0]
    np.testing.assert_allclose(pg["values"], code, atol=1e-3)
    assert pg["model"] == "pretrained:dense_seed" and "decoder" not in pg  # no runtime here: the server decodes
    np.testing.assert_allclose(picture(pg["px"]), analysis.decode(seed.net, code[None])[0], atol=1 / 255 + 1e-6)


def test_switching_models_keeps_each_models_own_code(env, server_decodes):
    at = explore()
    seed, deep = model(at, "pretrained:dense_seed"), model(at, "pretrained:dense_deep")
    moved = np.asarray(element(at, playground.PG_KEY)["values"]) + 1.5  # as if the sliders were moved
    at.session_state[playground.PG_STATE]["pretrained:dense_seed"]["values"] = moved.tolist()
    at.segmented_control(key="explore_model").set_value("pretrained:dense_deep").run()
    assert_clean(at)
    pg = element(at, playground.PG_KEY)
    np.testing.assert_allclose(pg["values"], analysis.encode(deep.net, input_image(at))[0], atol=1e-3)
    at.segmented_control(key="explore_model").set_value("pretrained:dense_seed").run()
    assert_clean(at)
    pg = element(at, playground.PG_KEY)
    np.testing.assert_allclose(pg["values"], moved, atol=1e-6)  # dense_seed's own values, not dense_deep's
    np.testing.assert_allclose(picture(pg["px"]), analysis.decode(seed.net, moved[None].astype(np.float32))[0],
                               atol=1 / 255 + 1e-6)


def test_a_64_value_model_gets_64_sliders(env):
    at = explore(models=["pretrained:ladder_64", "pretrained:dense_seed"])
    at.segmented_control(key="explore_model").set_value("pretrained:ladder_64").run()
    assert_clean(at)
    pg = element(at, playground.PG_KEY)
    assert len(pg["values"]) == len(pg["lo"]) == len(pg["hi"]) == 64
    assert sorted(i for row in pg["grid"] for i in row if i >= 0) == list(range(64))
    at.segmented_control(key="explore_model").set_value("pretrained:dense_seed").run()
    assert_clean(at)
    assert len(element(at, playground.PG_KEY)["values"]) == 32


def test_each_slider_spans_its_own_units_values(env):
    at = explore()
    pg = element(at, playground.PG_KEY)
    codes = data.codes(model(at, "pretrained:dense_seed")).reshape(-1, 32)
    lo, hi = np.asarray(pg["lo"]), np.asarray(pg["hi"])
    inside = ((codes >= lo - 1e-6) & (codes <= hi + 1e-6)).mean(axis=0)
    assert (inside >= 0.98).all(), inside  # each slider covers its unit's held-out values...
    assert len(set(np.round(hi, 2))) > 16  # ...with a range of its own,
    assert np.median(hi) < 0.5 * codes.max()  # not the maximum over every value
    assert (np.asarray(pg["values"]) >= lo).all() and (np.asarray(pg["values"]) <= hi).all()


def test_reset_and_random(env):
    at = explore()
    start = np.asarray(element(at, playground.PG_KEY)["values"])
    at.button(key="pg_random").click().run()
    assert_clean(at)
    pg = element(at, playground.PG_KEY)
    assert not np.allclose(pg["values"], start)
    assert pg["nonce"] != "pretrained:dense_seed:1"  # a new nonce: the page takes the values over
    at.button(key="pg_reset").click().run()
    assert_clean(at)
    np.testing.assert_allclose(element(at, playground.PG_KEY)["values"], start, atol=1e-3)


def test_the_values_the_page_sends_are_kept_for_their_own_model():
    def script():
        import streamlit as st

        from lab.explore import playground

        st.session_state.setdefault(playground.PG_STATE, {"a": {"values": [0.0, 0.0], "nonce": 1},
                                                          "b": {"values": [0.0, 0.0, 0.0], "nonce": 1}})
        playground._on_values()

    at = AppTest.from_function(script)
    for sent, expect in (({"model": "a", "values": [1.0, 2.0]}, ([1.0, 2.0], [0.0] * 3)),
                         ({"model": "b", "values": [1.0, 2.0]}, ([1.0, 2.0], [0.0] * 3)),  # wrong length
                         ({"model": "c", "values": [5.0, 5.0]}, ([1.0, 2.0], [0.0] * 3)),  # unknown model
                         ({"model": "a", "values": [float("nan"), 1.0]}, ([1.0, 2.0], [0.0] * 3)),
                         ({"model": "b", "values": [3, 4, 5]}, ([1.0, 2.0], [3.0, 4.0, 5.0]))):
        at.session_state[playground.PG_KEY] = {"values": sent}
        at.run()
        assert not at.exception, at.exception
        kept = at.session_state[playground.PG_STATE]
        assert (kept["a"]["values"], kept["b"]["values"]) == expect, sent


def test_with_the_runtime_ready_the_page_decodes(env, monkeypatch):
    from lab.explore import decoder

    ort = {"decoder": "/app/static/models/" + "0" * 64 + ".onnx", "ort": {"module": "/m.mjs", "wasm": "/w/"}}
    monkeypatch.setattr(decoder, "in_page", lambda m: dict(ort))
    at = explore()
    pg = element(at, playground.PG_KEY)
    assert pg["decoder"] == ort["decoder"] and pg["ort"] == ort["ort"]
    assert "px" not in pg and len(pg["input_code"]) == 32  # no server decoding
    interp = element(at, playground.INTERP_KEY)
    assert "path_px" not in interp and len(interp["a"]) == len(interp["b"]) == 32
    at = open_section(at, "Manifold")
    mf = element(at, manifold.KEY)
    assert mf["decoder"] == ort["decoder"] and "px" not in mf


def test_the_decoder_is_published_for_the_page_once_the_runtime_is_ready(env, monkeypatch):
    from lab import runtime
    from lab.explore import decoder
    from tests.runtime_support import ort_ready

    monkeypatch.delenv("AE_RUNTIME_FETCH")
    status = ort_ready()
    if not status.ready and not os.environ.get("AE_REQUIRE_BROWSER"):
        pytest.skip(f"the in-page runtime is not available here: {status.message}")
    assert status.ready, status.message
    seed = model(None, "pretrained:dense_seed")
    page = decoder.in_page(seed)
    sha = seed.manifest["onnx"]["decoder"]["sha256"]
    assert page == {"decoder": f"/app/static/models/{sha}.onnx",
                    "ort": {"module": runtime.module_url(), "wasm": runtime.wasm_base_url(), "version": runtime.VERSION}}
    assert (runtime.STATIC / "models" / f"{sha}.onnx").is_file()


# --- interpolation ------------------------------------------------------------------------------

def test_interpolation_steps_and_second_digit(env, server_decodes):
    at = explore()
    at.slider(key="interp_steps").set_value(5).run()
    assert_clean(at)
    interp = element(at, playground.INTERP_KEY)
    assert interp["steps"] == 5 and len(interp["path_px"]) == 5 and len(interp["ends"]) == 2
    at.selectbox(key="interp_label").set_value(7).run()  # a class change picks a digit at once
    assert_clean(at)
    from ae_core.data import load_bundled

    assert load_bundled().y_test[at.session_state["interp_index"]] == 7 and "(label 7)" in texts(at)
    first = at.session_state["interp_index"]
    for _ in range(5):
        at.button(key="interp_random").click().run()  # another 7
        if at.session_state["interp_index"] != first:
            break
    assert_clean(at)
    assert load_bundled().y_test[at.session_state["interp_index"]] == 7
    assert at.session_state["interp_index"] != first


# --- the code map and the digit check --------------------------------------------------------------

def test_map_selection_is_parsed_and_loads_the_digit(env):
    state = {"selection": {"points": [{"curve_number": 3, "point_index": 4, "customdata": 612}]}}
    assert codemap.selected_index(state) == 612
    assert codemap.selected_index({"selection": {"points": [{"customdata": [9]}]}}) == 9
    assert codemap.selected_index({"selection": {"points": []}}) is None
    assert codemap.selected_index(None) is None
    # What the click callback does (codemap.load_test_digit), then the tab redraws on it.
    at = explore("Code map", input_mode="pick", pick_index=612, pick_label="any")
    assert "Input: held-out test digit #612" in texts(at)
    traces = charts(at)["code_map"]["data"]
    assert traces[-1]["name"] == "input" and len(traces) == 11  # 10 classes and the star
    assert sum(len(t["x"]) for t in traces[:10]) == 2000


def test_dense_deep_and_a_drawing(env):
    from tests.app_support import PAD_STATE, pad_drawing

    at = explore("Code map", **{PAD_STATE: pad_drawing()})
    assert "your drawing" in texts(at)
    before = charts(at)["code_map"]["data"][-1]
    at.segmented_control(key="explore_model").set_value("pretrained:dense_deep").run()
    assert_clean(at)
    after = charts(at)["code_map"]["data"][-1]
    assert after["name"] == "input" and (after["x"], after["y"]) != (before["x"], before["y"])  # another model's map


def test_tsne_map(env):
    at = explore("Code map")
    at.segmented_control(key="map_method").set_value("tsne").run()
    assert_clean(at)
    fig = charts(at)["code_map"]
    assert fig["layout"]["xaxis"]["title"]["text"] == "t-SNE 1"
    assert sum(len(t["x"]) for t in fig["data"][:10]) == 2000


def test_a_map_that_cannot_be_read_gives_a_calm_line_and_the_pca_map(env, monkeypatch):
    import zipfile

    def broken(*args, **kwargs):
        raise zipfile.BadZipFile("File is not a zip file")

    data._computed.clear()  # no map kept from an earlier test
    monkeypatch.setattr(analysis, "cached_map", broken)
    monkeypatch.setattr(analysis, "project_codes", lambda codes, method="pca", *a, **k:
                        broken() if method == "tsne" else ORIGINAL_PROJECT(codes, method, *a, **k))
    at = explore("Code map")
    at.segmented_control(key="map_method").set_value("tsne").run()
    assert_clean(at)
    assert "t-SNE map could not be made" in texts(at)
    assert charts(at)["code_map"]["layout"]["xaxis"]["title"]["text"].startswith("PC 1")


ORIGINAL_PROJECT = analysis.project_codes


def test_digit_check_shows_input_reconstruction_score_and_one_verdict(env):
    at = explore("Code map", input_mode="pick", pick_index=3, pick_label="any")
    assert len(inline_images(at, "check")) == 2  # the judged input and its reconstruction
    check = next(m.value for m in at.markdown if 'data-key="check"' in m.value)
    assert "rebuilt by Deep dense" in check  # which model made the reconstruction
    metric = next(m for m in at.metric if m.label == "Digit score")
    float(metric.value)  # a signed number
    body = texts(at)
    assert "percentile" not in body and "None of" not in body  # one phrasing: "N% of real digits score lower"
    assert re.search(r"(\d+(\.\d)?% of real digits score lower|No real digit scores lower|"
                     r"Every real digit scores lower)", body)
    verdicts = [v for v in ("**Digit.**", "**Unusual.**", "**Not a digit.**") if v in body]
    assert len(verdicts) == 1


def test_the_digit_checks_phrasing():
    assert codemap.share_lower(0) == "No real digit scores lower."
    assert codemap.share_lower(2.7) == "2% of real digits score lower."
    assert codemap.share_lower(0.4) == "0.4% of real digits score lower."
    assert codemap.share_lower(100) == "Every real digit scores lower."
    assert all("score lower" in v or "real digits do" in v for v in codemap.VERDICTS.values())


def test_a_dot_is_not_silently_judged_as_the_example_digit(env):
    from tests.app_support import DOT, PAD_STATE, pad_drawing

    at = explore("Code map", **{PAD_STATE: pad_drawing(DOT)})
    body = texts(at)
    assert "the check judges the example test digit" in body  # said, not silent
    check = next(m.value for m in at.markdown if 'data-key="check"' in m.value)
    assert "the example digit" in check


def test_an_unreadable_upload_still_shows_what_needs_no_input(env):
    at = explore("Code map")
    at.segmented_control(key="input_mode").set_value("upload").run()
    at.file_uploader(key="upload").set_value(("broken.png", b"not an image at all", "image/png")).run()
    at.run()
    assert_clean(at)
    assert "code_map" in charts(at) and "cannot be read" in texts(at)
    assert "This panel works on the Lab's input" in texts(at)  # the digit check waits


def test_captions_are_escaped():
    html = pictures.row_html([np.zeros((28, 28))], ['<script>alert(1)</script> & "q"'], key='k"x')
    assert "<script>" not in html and "&lt;script&gt;" in html and "&quot;q&quot;" in html
    assert 'data-key="k&quot;x"' in html


# --- the digit manifold -----------------------------------------------------------------------------

def test_manifold_click_sliders_dream_and_posterior(env, server_decodes):
    at = explore("Manifold", input_mode="pick", pick_index=5, pick_label="any")
    mf = element(at, manifold.KEY)
    assert mf["plane"].startswith("data:image/png;base64,") and len(mf["mean"]) == 2
    big = mf["px"]
    at.slider(key="mf_z1").set_value(-2.0).run()
    assert_clean(at)
    mf = element(at, manifold.KEY)
    assert mf["z"][0] == -2.0 and mf["px"] != big  # the large digit follows the code
    at.button(key="mf_dream").click().run()
    assert_clean(at)
    dreamed = (at.session_state["mf_z1"], at.session_state["mf_z2"])
    assert dreamed != (-2.0, 0.0) and element(at, manifold.KEY)["z"] == list(dreamed)
    at.button(key="mf_posterior").click().run()
    assert_clean(at)
    assert (at.session_state["mf_z1"], at.session_state["mf_z2"]) != dreamed


def test_a_click_on_the_plane_sets_the_point():
    assert manifold.point({"model": "m", "z": [1.25, -0.5]}) == (1.25, -0.5)
    for bad in (None, {}, {"z": [1.0]}, {"z": [float("nan"), 0.0]}, {"z": ["a", 1]}, {"z": [True, 1.0]}):
        assert manifold.point(bad) is None

    def script():
        import streamlit as st

        from lab.explore import manifold

        manifold._on_click()
        st.write(st.session_state.get("mf_z1"), st.session_state.get("mf_z2"))

    at = AppTest.from_function(script)
    at.session_state[manifold.KEY] = {"z": {"model": "m", "z": [9.0, -0.514]}}
    at.run()
    assert (at.session_state["mf_z1"], at.session_state["mf_z2"]) == (2.5, -0.51)  # kept on the plane


# --- ladder, baselines, history ----------------------------------------------------------------------

def test_ladder_section_shows_the_digit_at_every_size(env):
    at = explore("Ladder", input_mode="pick", pick_index=9, pick_label="any")
    assert len(inline_images(at, "ladder_pca")) == 7  # the input and PCA at 6 sizes
    assert len(inline_images(at, "ladder_ae")) == 7
    assert len(charts(at)["ladder_curve"]["data"]) == 4  # BCE and PSNR, autoencoder and PCA (shipped report)


def test_ladder_curve_reads_the_evaluation_report():
    report = {"sizes": [2, 4, 8], "autoencoder": {"2": {"bce": 0.2, "psnr": 14.0}, "8": {"bce": 0.13, "psnr": 17.4}},
              "pca": {str(k): {"bce": 0.3 - 0.01 * k, "psnr": 12.0 + k / 4} for k in (2, 4, 8)}}
    traces = ladder.ladder_figure(report).to_dict()["data"]
    assert [(t["name"], t["yaxis"]) for t in traces] == [("autoencoder", "y"), ("autoencoder", "y2"),
                                                          ("PCA", "y"), ("PCA", "y2")]
    assert traces[0]["x"] == [2, 8] and traces[0]["y"] == [0.2, 0.13]  # a missing size is left out
    assert traces[3]["x"] == [2, 4, 8] and traces[3]["y"] == [12.5, 13.0, 14.0]


def baseline_psnr(at) -> dict[str, float]:
    """The Baselines section's table: name -> PSNR (dB) on the current input."""
    table = next(m.value for m in at.markdown if m.value.startswith("| | PSNR"))
    rows = [line.split("|")[1:3] for line in table.splitlines()[2:]]
    return {name.strip(): float(psnr.split()[0]) for name, psnr in rows}


def test_noise_change_reaches_baselines_and_downloads(env):
    low, high = baseline_psnr(explore("Baselines", noise=0.2)), baseline_psnr(explore("Baselines", noise=0.9))
    assert low.keys() == high.keys() and {"median 3x3", "PCA-32"} <= set(low)
    for name in ("median 3x3", "PCA-32"):
        assert high[name] < low[name], (name, low[name], high[name])  # more noise, worse baselines
    at = explore("History", noise=0.9)
    assert "noise 0.90" in texts(at)
    downloads = {d.key: d for d in at.get("download_button")}
    assert {"dl_input", "dl_noisy", "dl_row"} <= set(downloads)
    assert {f"dl_code_{k}" for k in ("pretrained:dense_seed", "pretrained:conv_denoiser")} <= set(downloads)
    assert "280×280" in texts(at)  # the downloads are enlarged, and say so


def test_downloads_carry_captions_and_codes_can_be_downloaded():
    """The row and the code pictures are captioned PNGs: the caption is drawn into the picture,
    so the PNG is taller than the images alone, and its top rows hold dark text pixels."""
    import io

    from PIL import Image

    from ae_core import figures as pictures

    x = np.zeros((3, 28, 28), np.float32)
    bare = Image.open(io.BytesIO(pictures.grid_png([("", x)], "")))
    captioned = Image.open(io.BytesIO(pictures.grid_png([("", x)], "Input: a test digit. Gaussian noise 0.50, seed 0.",
                                                        ["input", "noisy", "dense_seed"])))
    assert captioned.height > bare.height
    top = np.asarray(captioned.convert("L"))[:20]
    assert (top < 100).any()  # text drawn in the caption band


def test_the_sweeps_legend_keeps_clear_of_the_axis_titles(env, monkeypatch):
    monkeypatch.setattr(data, "baselines", dict)
    sweep = analysis.Sweep((0.0, 0.5), {"noisy input": [30.0, 10.0]}, {"noisy input": [1.0, 0.3]}, 10, 0)
    legend = baselines.sweep_figure(sweep, None).to_dict()["layout"]["legend"]
    assert legend["orientation"] == "v" and legend["x"] > 1  # at the right, beside the plots


def test_leaving_the_tab_keeps_its_section_and_model(env):
    at = explore()
    at.segmented_control(key="explore_model").set_value("pretrained:dense_deep").run()
    assert_clean(at)
    at = open_section(at, "Manifold")
    assert not at.get("segmented_control") or all(c.key != "explore_model" for c in at.get("segmented_control"))
    section = at.session_state["explore_section"]
    at.session_state["page_tab"] = next(t.label for t in at.tabs if "Lab" in t.label)
    at.run()
    assert_clean(at)
    at.session_state["page_tab"] = next(t.label for t in at.tabs if "Explore" in t.label)
    at.run()
    assert_clean(at)
    assert at.session_state["explore_section"] == section and element(at, manifold.KEY) is not None
    at = open_section(at, "Playground")
    assert at.segmented_control(key="explore_model").value == "pretrained:dense_deep"
    assert element(at, playground.PG_KEY)["model"] == "pretrained:dense_deep"


def test_values_are_cached_per_model_file_not_per_object():
    import dataclasses

    from lab import engine

    net = object()
    a = engine.LoadedModel("saved:m", "m", "m", "saved", None, (32,), net, (0, 1), (0, 1),
                           {"model_sha256": "a" * 64, "onnx": {"decoder": {"sha256": "d" * 64}}})
    retrained = dataclasses.replace(a, manifest={"model_sha256": "b" * 64})  # same object, new file
    reloaded = dataclasses.replace(a, net=object())  # the same file loaded again
    assert data.version(retrained) != data.version(a) and data.version(reloaded) == data.version(a)
    calls = []

    @data.per_model
    def value(m):
        calls.append(m)
        return len(calls)

    assert value(a) == value(reloaded) == 1 and value(retrained) == 2 and len(calls) == 2


def test_vae_rows_in_the_lab_show_the_mean_code_and_its_reconstruction(env):
    from tests.app_support import viewer_rows

    at = AppTest.from_file(APP, default_timeout=EXPLORE_TIMEOUT)
    at.session_state["models"] = ["pretrained:vae_2d", "pretrained:vae_32d"]
    at.run()
    assert_clean(at)
    rows = {r["key"]: r for r in viewer_rows(at)}
    assert set(rows) == {"pretrained:vae_2d", "pretrained:vae_32d"}
    for key, size in (("pretrained:vae_2d", 2), ("pretrained:vae_32d", 32)):
        code, recon = rows[key]["panels"][2], rows[key]["panels"][3]
        vae = model(at, key)
        mean = analysis.encode(vae.net, rows[key]["panels"][1])[0]
        assert code.size == size and np.allclose(code.ravel(), mean.ravel(), atol=1e-3)  # the mean code
        np.testing.assert_allclose(recon, analysis.decode(vae.net, mean[None])[0], atol=2 / 255)


def test_a_posterior_sample_follows_the_mean_and_the_variance():
    from ae_core import vae

    mean, log_var = np.array([1.0, -2.0]), np.log(np.array([0.01, 4.0]))
    draws = np.stack([vae.posterior_sample(mean, log_var, s) for s in range(4000)])
    assert np.allclose(draws.mean(0), mean, atol=0.1) and np.allclose(draws.std(0), [0.1, 2.0], rtol=0.05)


def test_the_claims_section_compares_with_jpeg_and_shows_the_two_by_two_table(env):
    """vs JPEG: the model's 8-bit code against JPEG, WebP, PNG and zlib for the Lab's input; the
    digits-and-clothing table; the tutorial's figures."""
    at = AppTest.from_file(APP, default_timeout=EXPLORE_TIMEOUT)
    at.run()
    at.session_state["page_tab"] = ":material/explore: Explore"
    at.session_state["explore_section"] = ":material/compress: vs JPEG"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not [e.value for e in at.error if OOPS in e.value]
    page = " ".join(m.value for m in at.markdown)
    assert "sends its code" in page and "bytes" in page and "JPEG" in page
    assert at.get("arrow_data_frame") or at.dataframe  # the 2x2 table
    assert any("Another batch" in b.label for b in at.button)
