"""Autoencoder lab: draw or pick a digit, add noise, watch autoencoders encode and rebuild it.

Run: `streamlit run app.py`. Settings come from the environment (see lab/settings.py):
AE_PRETRAINED_DIR, AE_MODELS_DIR, AE_ALLOW_TRAINING, AE_MAX_EPOCHS, AE_MAX_BATCH_SIZE,
AE_TRAIN_DIGITS, AE_MAX_RUNS.
"""
from pathlib import Path

import streamlit as st

from lab import style

ICON = Path(__file__).parent / "lab" / "assets" / "icon.png"

st.set_page_config(page_title="Autoencoder lab", page_icon=str(ICON), layout="wide")
style.apply()

from lab import inputs_view, models_view, training_view  # noqa: E402
from lab.errors import oops  # noqa: E402  (unexpected errors: one calm line, traceback in the log)
from lab.settings import Settings  # noqa: E402

settings = Settings.from_env()


st.title("Autoencoder lab")
st.markdown(
    "An **autoencoder** squeezes a 28×28 digit (784 numbers) through a small **code**, 32 numbers "
    "for the dense model, and rebuilds the digit from that code alone. Trained on noisy digits "
    "against clean ones, it learns to **remove noise**. Draw a digit or pick one, add noise, and "
    "follow each model from left to right: clean → noisy → code → reconstruction.")
for problem in settings.problems:
    st.warning(problem)


@st.fragment(key=inputs_view.INPUTS)
def inputs_column() -> None:
    """Draw / pick / upload and the noise controls. Their callbacks rerun the results only."""
    try:
        inputs_view.input_ui()
    except Exception as exc:  # noqa: BLE001
        oops("reading the input", exc)
    inputs_view.noise_ui()


@st.fragment(key="choices")
def choices() -> None:
    """The model chooser (a change reruns the whole page) and the channel switch."""
    try:
        labels, _ = models_view.catalog(settings)
        keys = models_view.chooser(labels)
        models_view.channels_toggle(models_view.load(settings, keys)[0])
    except Exception as exc:  # noqa: BLE001
        oops("listing the models", exc)


@st.fragment(key=inputs_view.RESULTS)
def results_column() -> None:
    """Every chosen model on the current digit: a stroke or a slider step reruns only this."""
    try:
        digit = inputs_view.current_digit()
        labels, missing = models_view.catalog(settings)
        models, failures = models_view.load(settings, models_view.selected(labels))
        models_view.problems_ui(settings, missing, failures)
        if isinstance(digit, inputs_view.Digit):
            models_view.results_ui(digit, inputs_view.current_noise(), models)
        else:
            st.info("The models run as soon as there is a readable digit: try another file, or "
                    "switch to Draw or Test digit.", icon=":material/arrow_back:")
    except Exception as exc:  # noqa: BLE001
        oops("running the models", exc)


try:
    training_view.collect_finished()
except Exception as exc:  # noqa: BLE001
    oops("collecting a finished training run", exc)
# The sidebar before the tabs: it then shows in the same first paint as the pad. Drawn last, it
# appeared later on a busy server and pushed the pad 300 px to the right under the pen.
try:
    training_view.sidebar_ui(settings)
except Exception as exc:  # noqa: BLE001
    oops("drawing the training sidebar", exc)
lab_tab, explore_tab = st.tabs([":material/science: Lab", ":material/explore: Explore"], key="page_tab",
                               on_change="rerun")  # Explore runs only while open
with lab_tab:
    left, right = st.columns([0.4, 0.6], gap="medium")
    with left:
        inputs_column()
    with right:
        choices()
        results_column()
        try:  # drawn on full reruns only (a model choice reruns everything)
            labels, _ = models_view.catalog(settings)
            models_view.about_ui(models_view.load(settings, models_view.selected(labels))[0])
        except Exception as exc:  # noqa: BLE001
            oops("describing the models", exc)
if explore_tab.open:
    with explore_tab:
        try:
            from lab import explore_view

            explore_view.page(settings, oops)
        except Exception as exc:  # noqa: BLE001
            oops("drawing the Explore tab", exc)
