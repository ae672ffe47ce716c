"""The Explore sections of lab/claims_view.py, run by AppTest from a small script."""
import base64
import html
import io
import re

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.timeout(300)


def _script(report_path: str = ""):
    """The page under test: the three sections on the first test digit and the shipped models."""
    from pathlib import Path

    import numpy as np
    import streamlit as st

    from ae_core import data, store
    from lab import claims_view

    root = Path(claims_view.__file__).resolve().parents[1]
    pretrained = root / "pretrained"
    d = data.load_bundled()
    dense = store.load_onnx(pretrained, "dense_seed").model
    report = claims_view.load_report(report_path) if report_path else claims_view.load_report()
    fit = np.concatenate([d.x_train, d.x_val])
    st.session_state["shown"] = claims_view.vs_jpeg_section(d.x_test[0], dense, "dense_seed", "dense_seed-test",
                                                            fit, report)
    claims_view.data_specific_section(report)
    models = {"dense_seed": dense, "conv_denoiser": store.load_onnx(pretrained, "conv_denoiser").model}
    st.session_state["png"] = claims_view.tutorial_figures_section(models, d.x_test, d.y_test)


def _app(**kwargs) -> AppTest:
    at = AppTest.from_function(_script, kwargs=kwargs, default_timeout=120)
    return at.run()


def _alts(at) -> list[str]:
    return [html.unescape(alt) for m in at.markdown for alt in re.findall(r'alt="([^"]*)"', m.value)]


def test_vs_jpeg_shows_the_code_bytes_and_the_codecs_side_by_side():
    at = _app()
    assert not at.exception
    shown = at.session_state["shown"]
    assert [c.method for c in shown] == ["dense_seed", "JPEG", "WebP", "PNG", "zlib"]
    alts = _alts(at)
    assert any(a.startswith("dense_seed (32 values at 8 bits): 32 bytes") for a in alts)
    assert any(a.startswith("PNG (lossless)") and a.endswith("lossless") for a in alts)
    assert any("**32 bytes**" in m.value and "128" in m.value for m in at.markdown)
    assert any("JPEG cannot get down to 32 bytes" in c.value for c in at.caption)
    # Counting the coded data alone changes the budget JPEG is measured by
    at.radio(key="claims_vs_count").set_value("data").run()
    assert not at.exception
    assert any(a.startswith("JPEG") and "bytes" in a for a in _alts(at))
    assert at.session_state["shown"][1].data_bytes < at.session_state["shown"][1].file_bytes


def test_rate_distortion_chart_reads_the_report_for_each_set():
    at = _app()
    chart = at.get("plotly_chart")[0]
    import json

    spec = json.loads(chart.proto.spec)
    names = [t["name"] for t in spec["data"]]
    assert names[:2] == ["JPEG", "WebP"] and "Ladder (digits)" in names
    assert "MNIST test digits" in spec["layout"]["title"]["text"]
    at.radio(key="claims_vs_rd_set").set_value("clothing").run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "clothing" in spec["layout"]["title"]["text"]
    at.radio(key="claims_vs_rd_count").set_value("data").run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "coded data alone" in spec["layout"]["xaxis"]["title"]["text"]
    assert not at.exception


def test_without_a_report_the_sections_say_how_to_make_it(tmp_path):
    at = _app(report_path=str(tmp_path / "missing.json"))
    assert not at.exception
    infos = [i.value for i in at.info]
    assert any("rate-distortion chart appears" in i for i in infos)
    assert any("dense_clothing" in i for i in infos)


def test_two_by_two_table_is_shown():
    at = _app()
    table = at.dataframe[0].value
    assert list(table["model (trained on)"]) == ["dense_seed (digits)", "dense_clothing (clothing)"]
    assert table["Digits: PSNR dB"][0] > table["Clothing: PSNR dB"][0]


def test_tutorial_figures_another_batch_model_and_download():
    at = _app()
    first = at.session_state["png"]
    assert Image.open(io.BytesIO(first)).format == "PNG"
    assert any(a.startswith("Batch 0: the tutorial's codes figure for dense_seed") for a in _alts(at))
    at.button(key="claims_fig_another").click().run()
    assert at.session_state["claims_fig_seed"] == 1 and at.session_state["png"] != first
    assert any(a.startswith("Batch 1:") for a in _alts(at))
    at.radio(key="claims_fig_which").set_value("denoising").run()
    at.selectbox(key="claims_fig_model").set_value("conv_denoiser").run()
    assert not at.exception
    assert any(a.startswith("Batch 1: the tutorial's denoising figure for conv_denoiser") for a in _alts(at))
    inline = [m.value for m in at.markdown if "Batch 1: the tutorial's denoising" in html.unescape(m.value)][0]
    shown = base64.b64decode(re.search(r"base64,([^\"]+)", inline).group(1))
    assert shown == at.session_state["png"]  # the download holds the picture on the page
    downloads = at.get("download_button")
    assert downloads and downloads[0].label == "Download PNG" and downloads[0].proto.url.endswith(".png")


def _replay_script():
    import numpy as np
    import streamlit as st

    from ae_core import snapshots
    from lab import claims_view

    rng = np.random.default_rng(0)
    originals = rng.random((8, 28, 28)).astype(np.float32)
    snaps = [snapshots.Snapshot(e, snapshots.to_uint8(originals * e / 3).tobytes(), 8, 0.0) for e in (1, 2, 3)]
    st.session_state["epoch"] = claims_view.replay(snaps, [str(c) for c in range(8)], originals)


def test_replay_slider_shows_each_epochs_strip_with_named_images():
    at = AppTest.from_function(_replay_script, default_timeout=60).run()
    assert not at.exception and at.session_state["epoch"] == 3
    alts = _alts(at)
    assert "Epoch 3, reconstruction of 0" in alts and "Validation image 7" in alts
    at.select_slider(key="claims_replay").set_value(1).run()
    assert at.session_state["epoch"] == 1
    alts = _alts(at)
    assert "Epoch 1, reconstruction of 5" in alts and not any(a.startswith("Epoch 3") for a in alts)
