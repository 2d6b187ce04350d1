"""Values that pass validation must run (property-based, with hypothesis).

Part 1, many examples, no TensorFlow: any text for any key, drawn from the key's declared
type and range and from just outside it, is either refused with one line naming the key or
parsed to a value inside the range. Part 2, a few examples through `main.main` (the tool's
own entry, in-process): settings drawn from their whole declared ranges (only the ones that
set the run's size kept small) end with status 0 or 3, or 2 naming a key; never 1.
"""

from __future__ import annotations

import contextlib
import io
import math
import tempfile
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import main as cli
from nst.settings import (
    SECTIONS,
    Choice,
    Flag,
    ListOf,
    Number,
    NumberOr,
    SettingsError,
    load_settings,
)
from nst.settings.networks import conv_layer_names
from tests.helpers import make_image

FIELDS = [(section, f) for section, cls in SECTIONS.items() for f in fields(cls)]
JUNK = st.sampled_from(["", " ", "nan", "inf", "-inf", "1e999", "0x10", "1_0", "abc", "1,2", "\t"])


def _number_text(kind: Number) -> st.SearchStrategy[str]:
    """Numbers in the range, at its edges, just outside it, and far outside, as text."""
    low = kind.min if kind.min is not None else -1e6
    high = kind.max if kind.max is not None else 2.0**70
    edges = [low, high, low - 1, high + 1, 2**32, 2**32 - 1, 2**63, -1, 0, 1]
    if kind.type is int:
        inside = st.integers(math.ceil(low), min(int(high), 2**70))
        around = st.sampled_from([int(e) for e in edges])
        return st.one_of(inside, around, st.integers()).map(str)
    inside = st.floats(low, high, allow_nan=False)
    tiny = st.sampled_from([5e-324, 1e-300, 1e-45, 1e-38, 3.5e38, 3.4e38, 1e308])
    around = st.sampled_from([float(e) for e in edges])
    return st.one_of(inside, around, tiny, st.floats()).map(repr)


def value_text(kind) -> st.SearchStrategy[str]:
    """Text for a setting of `kind`: mostly well-formed, sometimes junk."""
    if isinstance(kind, Number):
        good = _number_text(kind)
    elif isinstance(kind, NumberOr):
        good = st.one_of(st.just(kind.word), st.just(kind.word.upper()), value_text(kind.number))
    elif isinstance(kind, Choice):
        good = st.sampled_from([*kind.choices, *(c.upper() for c in kind.choices), "x"])
    elif isinstance(kind, Flag):
        good = st.sampled_from(["true", "False", "yes", "0", "2", "maybe"])
    elif isinstance(kind, ListOf):
        item = value_text(kind.item) if kind.item else st.sampled_from(conv_layer_names("vgg19"))
        good = st.lists(item, max_size=6).map(", ".join)
    else:  # paths and weights: any text
        good = st.text(min_size=0, max_size=30)
    return st.one_of(good, JUNK)


@st.composite
def one_setting(draw) -> tuple[str, str, str]:
    section, f = draw(st.sampled_from(FIELDS))
    return section, f.name, draw(value_text(f.metadata["kind"]))


def _inside(kind, value) -> bool:
    if isinstance(kind, NumberOr):
        return value is None or _inside(kind.number, value)
    if isinstance(kind, ListOf):
        return all(_inside(kind.item, v) for v in value) if kind.item else True
    if isinstance(kind, Number):
        low_ok = kind.min is None or (value > kind.min if kind.min_open else value >= kind.min)
        return low_ok and (kind.max is None or value <= kind.max) and math.isfinite(value)
    return True


@settings(max_examples=400, deadline=None)
@given(one_setting())
def test_any_value_is_refused_naming_its_key_or_parsed_in_range(drawn):
    section, key, text = drawn
    try:
        parsed = load_settings(None, (f"{section}.{key}={text}",))
    except SettingsError as error:
        message = str(error)
        assert f"[{section}]" in message and key in message, message
        assert "\n" not in message and len(message) < 600
        return
    kind = next(f.metadata["kind"] for f in fields(SECTIONS[section]) if f.name == key)
    value = getattr(getattr(parsed, section), key)
    if key not in ("style_layer_weights", "style_blend_weights"):  # normalised to sum 1
        assert _inside(kind, value), (section, key, text, value)


# --- part 2: accepted settings run ----------------------------------------------------------

# The keys that set how long a run takes are drawn from small values; every other key from
# its whole declared range.
SMALL = {
    ("image", "max_size"): st.integers(32, 56),
    ("optimizer", "iterations"): st.integers(1, 3),
    ("optimizer", "coarse_iterations"): st.integers(1, 2).map(str),
    ("output", "save_every"): st.integers(1, 4),
    ("output", "show_viewer"): st.just("false"),
}
RUN_KEYS = [
    ("image", "seed"),
    ("image", "init"),
    ("image", "noise_ratio"),
    ("image", "scales"),
    ("image", "scale_factor"),
    ("image", "style_scale"),
    ("image", "preserve_colors"),
    ("optimizer", "name"),
    ("optimizer", "learning_rate"),
    ("optimizer", "beta_1"),
    ("optimizer", "beta_2"),
    ("optimizer", "epsilon"),
    ("loss", "content_weight"),
    ("loss", "style_weight"),
    ("loss", "tv_weight"),
    ("model", "network"),
    ("model", "pooling"),
    ("model", "precision"),
    ("output", "animation"),
]


def _kind(section: str, key: str):
    return next(f.metadata["kind"] for f in fields(SECTIONS[section]) if f.name == key)


@st.composite
def run_settings(draw) -> dict[str, str]:
    chosen = {f"{s}.{k}": str(draw(strategy)) for (s, k), strategy in SMALL.items()}
    for section, key in draw(st.lists(st.sampled_from(RUN_KEYS), max_size=6, unique=True)):
        chosen[f"{section}.{key}"] = draw(value_text(_kind(section, key)))
    return chosen


def _run(chosen: dict[str, str]) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as folder:
        content = make_image(Path(folder) / "c.png", 40, 30, seed=1)
        style = make_image(Path(folder) / "s.png", 30, 40, seed=2)
        args = [
            "--set", f"paths.content_image={content}",
            "--set", f"paths.style_image={style}",
            "--set", f"paths.results_dir={folder}/results",
            "--set", "model.weights=random",
        ]  # fmt: skip
        for key, value in chosen.items():
            args += ["--set", f"{key}={value}"]
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = cli.main(args)
    return status, err.getvalue()


EXTREMES = [
    {"image.seed": str(2**32 - 1)},
    {"image.seed": "4294967296"},
    {"image.scales": "3", "image.scale_factor": "3.4e38"},
    {"optimizer.epsilon": "5e-324", "optimizer.learning_rate": "3.4e38"},
    {"loss.style_weight": "3.4e38", "loss.content_weight": "0", "image.init": "noise"},
    {"image.style_scale": "4", "optimizer.name": "lbfgs", "model.precision": "bfloat16"},
    {"image.noise_ratio": "1", "image.init": "noise", "optimizer.beta_1": "0.999999"},
]


@pytest.mark.slow
@pytest.mark.parametrize("extreme", EXTREMES, ids=lambda e: ",".join(e))
def test_extreme_accepted_values_run(extreme):
    chosen = {f"{s}.{k}": str(v) for (s, k), v in {**SMALL_DEFAULTS}.items()} | extreme
    _assert_ran_or_named_a_key(chosen, *_run(chosen))


SMALL_DEFAULTS = {
    ("image", "max_size"): 32,
    ("optimizer", "iterations"): 2,
    ("optimizer", "coarse_iterations"): 1,
    ("output", "save_every"): 1,
    ("output", "show_viewer"): "false",
}


def _assert_ran_or_named_a_key(chosen: dict, status: int, err: str) -> None:
    assert status in (0, 2, 3), (chosen, status, err)
    assert "Traceback" not in err, err
    if status == 2:  # refused: one line that names the setting at fault
        line = err.strip().splitlines()[-1]
        assert line.startswith("nst: error:"), err
        assert any(key.split(".")[1] in line for key in chosen) or "[image]" in line, err


@pytest.mark.slow
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@example({"image.max_size": "32", "optimizer.iterations": "1", "output.show_viewer": "false"})
@given(run_settings())
def test_accepted_settings_run_to_0_or_3(chosen):
    _assert_ran_or_named_a_key(chosen, *_run(chosen))
