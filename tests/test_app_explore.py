"""The Explore tab, headless (AppTest): every control of issue 4's panels, no exceptions.

AppTest cannot click a point of a Plotly chart: the map click is covered by its selection
parser (`selected_index`, fed the selection state Streamlit stores) and by setting the input
the way its callback does (`load_test_digit`); tests/test_browser.py clicks a real point.
"""
from __future__ import annotations

import numpy as np
from streamlit.testing.v1 import AppTest

from lab import explore_data, explore_view
from tests.app_support import APP, assert_clean, charts, texts
from tests.test_app import env  # noqa: F401 (fixture)

TIMEOUT = 300  # the first Explore run encodes the held-out digits and measures the noise sweep


def explore(section: str = "Playground", **state) -> AppTest:
    """The app with the Explore tab and its `section` open (and `state` set in session state first)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert_clean(at)
    at.session_state["page_tab"] = next(t.label for t in at.tabs if "Explore" in t.label)
    at.run()
    assert_clean(at)
    return open_section(at, section)


def open_section(at: AppTest, section: str) -> AppTest:
    label = next(t.label for t in at.tabs if section in t.label)
    if at.session_state["explore_section"] != label:
        at.session_state["explore_section"] = label
        at.run()
        assert_clean(at)
    return at


def inline_images(at, key: str) -> list[str]:
    """The inline PNGs (data URIs, `explore_view.png_html`) of the picture group `key`."""
    import re

    for md in at.markdown:
        if f'data-key="{key}"' in md.value:
            return re.findall(r'src="(data:image/png;base64,[^"]+)"', md.value)
    return []


def pg_images(at) -> list[str]:
    """The playground's images: data URIs, which change with the pixels."""
    return inline_images(at, "pg")


def pg(at) -> np.ndarray:
    return np.array([at.session_state[f"pg_{i}"] for i in range(32)])


def test_explore_tab_shows_every_panel_one_section_at_a_time(env):
    at = explore()
    shown = charts(at)
    assert len(pg_images(at)) == 2  # decoded from the sliders, and from the input's code
    assert {"interp_path", "interp_fade"} <= set(shown) and "code_map" not in shown  # only the open section runs
    assert len([s for s in at.slider if s.key and s.key.startswith("pg_")]) == 32

    shown = charts(open_section(at, "Code map"))
    assert {"code_map", "nearest"} <= set(shown) and "interp_path" not in shown
    body = texts(at)
    assert "percentile" in body and "held-out digits" in body  # "is this a digit?"

    shown = charts(open_section(at, "Baselines"))
    assert {"baseline_images", "sweep"} <= set(shown)
    body = texts(at)
    for name in ("PCA-32", "median 3x3", "Gaussian sigma 1", "non-local means"):
        assert name in body  # the baselines' metrics table

    shown = charts(open_section(at, "History"))
    assert any(k.startswith("history_") for k in shown)
    downloads = at.get("download_button")
    assert len(downloads) >= 3  # input, noisy input, one per shown model


def test_the_lab_tab_does_not_run_explore(env):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert_clean(at)
    assert not any(k in charts(at) for k in ("code_map", "sweep")) and not pg_images(at)


def test_playground_slider_reset_and_random(env):
    at = explore()
    start = pg(at)
    before = pg_images(at)[0]
    at.slider(key="pg_0").set_value(round(float(start[0]) + 2.0, 2)).run()
    assert_clean(at)
    after = pg_images(at)[0]
    assert after != before  # decoded live from the slider values
    at.button(key="pg_reset").click().run()
    assert_clean(at)
    np.testing.assert_allclose(pg(at), start)
    at.button(key="pg_random").click().run()
    assert_clean(at)
    assert not np.allclose(pg(at), start)


def test_interpolation_steps_and_second_digit(env):
    at = explore()
    at.slider(key="interp_steps").set_value(5).run()
    assert_clean(at)
    assert len(charts(at)["interp_path"]["data"]) == 5 and len(charts(at)["interp_fade"]["data"]) == 5
    at.selectbox(key="interp_label").set_value(7).run()
    at.button(key="interp_random").click().run()  # another 7
    assert_clean(at)
    from ae_core.data import load_bundled

    assert load_bundled().y_test[at.session_state["interp_index"]] == 7
    assert "(label 7)" in texts(at)


def test_map_selection_is_parsed_and_loads_the_digit(env):
    state = {"selection": {"points": [{"curve_number": 3, "point_index": 4, "customdata": 612}]}}
    assert explore_view.selected_index(state) == 612
    assert explore_view.selected_index({"selection": {"points": [{"customdata": [9]}]}}) == 9
    assert explore_view.selected_index({"selection": {"points": []}}) is None
    assert explore_view.selected_index(None) is None
    # What the click callback does (explore_view.load_test_digit), then the tab redraws on it.
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


def test_leaving_the_tab_keeps_its_section_and_model(env):
    at = open_section(explore(), "Digit manifold")
    at.segmented_control(key="explore_model").set_value("pretrained:dense_deep").run()
    assert_clean(at)
    section = at.session_state["explore_section"]
    at.session_state["page_tab"] = next(t.label for t in at.tabs if "Lab" in t.label)
    at.run()
    assert_clean(at)
    at.session_state["page_tab"] = next(t.label for t in at.tabs if "Explore" in t.label)
    at.run()
    assert_clean(at)
    assert at.session_state["explore_section"] == section and "manifold" in charts(at)
    assert at.segmented_control(key="explore_model").value == "pretrained:dense_deep"


def test_a_class_change_picks_a_second_digit_at_once(env):
    at = explore()
    at.selectbox(key="interp_label").set_value(3).run()  # no "Another" press
    assert_clean(at)
    from ae_core.data import load_bundled

    assert load_bundled().y_test[at.session_state["interp_index"]] == 3
    assert "(label 3)" in texts(at)


def test_manifold_click_sliders_dream_and_posterior(env):
    at = explore("Digit manifold", input_mode="pick", pick_index=5, pick_label="any")
    fig = charts(at)["manifold"]
    assert fig["layout"]["images"][0]["source"].startswith("data:image/png;base64,")
    names = [t.get("name") for t in fig["data"]]
    assert "input's mean code" in names and "shown large" in names
    big = inline_images(at, "manifold_big")
    assert len(big) == 1
    at.slider(key="mf_z1").set_value(-2.0).run()
    assert_clean(at)
    moved = inline_images(at, "manifold_big")
    assert moved != big  # the large digit follows the code
    at.button(key="mf_dream").click().run()
    assert_clean(at)
    dreamed = (at.session_state["mf_z1"], at.session_state["mf_z2"])
    assert dreamed != (-2.0, 0.0)
    at.button(key="mf_posterior").click().run()
    assert_clean(at)
    assert (at.session_state["mf_z1"], at.session_state["mf_z2"]) != dreamed
    # A click on the plane: what Streamlit stores for the selection, parsed as the callback does.
    point = {"selection": {"points": [{"curve_number": 0, "point_index": 7, "x": 1.25, "y": -0.5}]}}
    assert explore_view.manifold_point(point) == (1.25, -0.5)
    assert explore_view.manifold_point({"selection": {"points": []}}) is None


def test_ladder_section_shows_the_digit_at_every_size(env):
    at = explore("Bottleneck ladder", input_mode="pick", pick_index=9, pick_label="any")
    shown = charts(at)
    assert len(shown["ladder_pca"]["data"]) == 7  # the input and PCA at 6 sizes
    assert len(shown["ladder_ae"]["data"]) == 7
    if explore_data.ladder_report():
        assert len(shown["ladder_curve"]["data"]) == 4  # BCE and PSNR, autoencoder and PCA
    else:
        assert "ladder_curve" not in shown and "curve appears" in texts(at)


def test_digit_check_shows_input_reconstruction_score_and_one_verdict(env):
    at = explore("Code map", input_mode="pick", pick_index=3, pick_label="any")
    assert len(inline_images(at, "check")) == 2  # the judged input and its reconstruction
    metric = next(m for m in at.metric if m.label == "Digit score")
    float(metric.value)  # a signed number
    body = texts(at)
    assert "percentile of real digits' scores" in body or "below every real digit" in body
    verdicts = [v for v in ("Digit.", "Unusual.", "Not a digit.") if v in body]
    assert len(verdicts) == 1


def test_tsne_map(env):
    at = explore("Code map")
    at.segmented_control(key="map_method").set_value("tsne").run()
    assert_clean(at)
    fig = charts(at)["code_map"]
    assert fig["layout"]["xaxis"]["title"]["text"] == "t-SNE 1"
    assert sum(len(t["x"]) for t in fig["data"][:10]) == 2000


def test_an_unreadable_upload_still_shows_what_needs_no_input(env):
    at = explore("Code map", input_mode="upload")
    at.session_state["input_mode"] = "upload"
    from lab import inputs_view

    monkeypatch_digit = inputs_view.current_digit
    try:
        inputs_view.current_digit = lambda: preprocess_error()
        at.run()
    finally:
        inputs_view.current_digit = monkeypatch_digit
    assert_clean(at)
    assert "code_map" in charts(at) and "cannot be read" in texts(at)


def preprocess_error():
    from ae_core import preprocess

    return preprocess.BrokenImageError("The image could not be read.")


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
    assert "280×280" in texts(at)  # the downloads are enlarged, and say so


def test_ladder_curve_reads_the_evaluation_report():
    report = {"sizes": [2, 4, 8], "autoencoder": {"2": {"bce": 0.2, "psnr": 14.0}, "8": {"bce": 0.13, "psnr": 17.4}},
              "pca": {str(k): {"bce": 0.3 - 0.01 * k, "psnr": 12.0 + k / 4} for k in (2, 4, 8)}}
    traces = explore_view.ladder_figure(report).to_dict()["data"]
    assert [(t["name"], t["yaxis"]) for t in traces] == [("autoencoder", "y"), ("autoencoder", "y2"),
                                                          ("PCA", "y"), ("PCA", "y2")]
    assert traces[0]["x"] == [2, 8] and traces[0]["y"] == [0.2, 0.13]  # a missing size is left out
    assert traces[3]["x"] == [2, 4, 8] and traces[3]["y"] == [12.5, 13.0, 14.0]


def test_vae_rows_in_the_lab_show_the_mean_code_and_its_reconstruction(env):
    from tests.app_support import viewer_rows

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["models"] = ["pretrained:vae_2d", "pretrained:vae_32d"]
    at.run()
    assert_clean(at)
    rows = {r["key"]: r for r in viewer_rows(at)}
    assert set(rows) == {"pretrained:vae_2d", "pretrained:vae_32d"}
    titles = [[p.get("title") for p in r["panels"]] for r in rows.values()]
    assert ["Code (2)", "Code 8×4"] == [t[2] for t in titles] and all(t[3] == "Reconstruction" for t in titles)
    # The posterior button: each press draws a code from N(mean, variance) and shows its decoding.
    assert not [m for m in at.markdown if "Posterior sample" in m.value]
    at.button(key="posterior_btn_pretrained:vae_2d").click().run()
    assert_clean(at)
    first = [m.value for m in at.markdown if "Posterior sample of" in m.value]
    assert len(first) == 1 and "data:image/png;base64," in first[0]
    at.button(key="posterior_btn_pretrained:vae_2d").click().run()
    again = [m.value for m in at.markdown if "Posterior sample of" in m.value]
    assert len(again) == 1 and again != first  # a new draw (a fresh seed each press)


def test_a_posterior_sample_follows_the_mean_and_the_variance():
    from ae_core import vae

    mean, log_var = np.array([1.0, -2.0]), np.log(np.array([0.01, 4.0]))
    draws = np.stack([vae.posterior_sample(mean, log_var, s) for s in range(4000)])
    assert np.allclose(draws.mean(0), mean, atol=0.1) and np.allclose(draws.std(0), [0.1, 2.0], rtol=0.05)
