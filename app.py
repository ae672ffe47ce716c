"""Autoencoder lab: draw or pick a digit, add noise, watch autoencoders encode and rebuild it.

Run: `streamlit run app.py`. Settings come from the environment (see lab/settings.py).
"""
from pathlib import Path

import streamlit as st

from lab import style

ICON = Path(__file__).parent / "lab" / "assets" / "icon.png"

st.set_page_config(page_title="Autoencoder lab", page_icon=str(ICON), layout="wide")
style.apply()

from lab import inputs_view, lab_page, models_view, runtime, training_view  # noqa: E402
from lab.kit import section  # noqa: E402
from lab.settings import Settings  # noqa: E402

settings = Settings.from_env()
runtime.start()  # fetches the in-page runtime in the background on a first start

st.title("Autoencoder lab")
st.markdown(
    "An **autoencoder** squeezes a 28×28 digit (784 numbers) through a small **code**, 32 numbers "
    "for the dense model, and rebuilds the digit from that code alone. Trained on noisy digits "
    "against clean ones, it learns to **remove noise**. Draw a digit or pick one, add noise, and "
    "follow each model from left to right: clean → noisy → code → reconstruction.")
for problem in settings.problems:
    st.warning(problem)


def lab_element(models) -> None:
    """The Lab's element. The page's reports of the drawing and the noise (once they have settled,
    or at once on a press elsewhere) rerun the whole page, as any widget does: a report sent as a
    fragment's rerun together with a press on the Explore tab lost the tab's rerun, and left
    Explore blank."""
    with section("running the models"):
        noise = inputs_view.current_noise()
        lab_page.lab_ui(inputs_view.current_input, inputs_view.example(inputs_view.EMPTY_PAD), noise, models,
                        {m.key: models_view.is_denoiser(m) for m in models},
                        {m.key: models_view.about(m) for m in models}, models_view.clean_for(noise, models))


with section("collecting a finished training run"):
    training_view.collect_finished()
# The sidebar before the tabs, so that it shows in the same first paint as the Lab.
with section("drawing the training sidebar"):
    training_view.sidebar_ui(settings)
lab_tab, explore_tab = st.tabs([":material/science: Lab", ":material/explore: Explore"], key="page_tab",
                               on_change="rerun")  # Explore runs only while open
with lab_tab:
    models = []
    left, right = st.columns([0.4, 0.6], gap="medium")
    with left, section("reading the input"):
        inputs_view.input_ui()
    with right, section("listing the models"):
        labels, missing = models_view.catalog(settings)
        models, failures = models_view.load(settings, models_view.chooser(labels))
        models_view.problems_ui(settings, missing, failures)
    lab_element(models)
    with section("describing the models"):
        models_view.about_ui(models)
if explore_tab.open:
    with explore_tab, section("drawing the Explore tab"):
        from lab import explore

        explore.page(settings, models)
