"""lab.naming: one display name per model, whatever the page shows it in."""
import pytest

from ae_core.presets import PRESETS
from lab.naming import title


def test_pretrained_models_are_named_by_their_preset_title():
    for name, preset in PRESETS.items():
        assert title("pretrained", name, name) == preset.title
    assert title("pretrained", "conv_seed", None) == "Conv denoiser 7×7×32 (tutorial)"
    assert title("pretrained", "my_model", None) == "my_model"


def test_saved_and_session_models_keep_the_preset_title_and_say_what_differs():
    base = PRESETS["dense_seed"].title
    assert title("saved", "dense_seed-v3", "dense_seed") == f"{base}, saved v3"
    assert title("saved", "renamed", "dense_seed") == f"{base}, saved as renamed"
    assert title("saved", "mystery", None) == "mystery (saved)"
    assert title("session", "dense_seed-retrained-2", "dense_seed") == f"{base}, retrained #2 (unsaved)"
    assert title("session", "odd", None) == "odd (unsaved)"


def test_titles_are_distinct_and_write_7x7x32_one_way():
    names = [title("pretrained", n, n) for n in PRESETS]
    assert len(set(names)) == len(names)
    text = " ".join(p.title + " " + p.description for p in PRESETS.values())
    assert "7x7" not in text and "7×7×32" in text


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="Received: kind='public'"):
        title("public", "dense_seed", "dense_seed")
