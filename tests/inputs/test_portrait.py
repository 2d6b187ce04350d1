"""Regions found in the content photo ([loss] auto_regions, nst.inputs.portrait) and how they
feed the masks (nst.inputs.masks.load_guidance); no network is built here.

The face is a real photo that ships inside matplotlib (its sample data: Grace Hopper, an
official US Navy portrait, public domain), pasted into generated backgrounds at known places.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from nst.inputs import portrait
from nst.inputs.images import ImageError
from nst.inputs.masks import load_guidance
from nst.inputs.portrait import GRABCUT, SELFIE, describe, find_regions, save_regions
from nst.settings import SettingsError, load_settings
from tests.helpers.portrait import (
    background,
    needs_cascades,
    picture_with_face,
    save,
    settings_for,
)


@needs_cascades
@pytest.mark.parametrize(("where", "far"), [((20, 12), (115, 155)), ((90, 50), (3, 3))])
def test_the_face_is_found_where_it_was_put_and_the_regions_split_the_picture(where, far):
    left, top = where
    picture = picture_with_face(left, top)
    found = find_regions(picture)
    assert found is not None and len(found.faces) == 1
    x, y, w, h = found.faces[0]
    centre = (left + 28, top + 26)  # the pasted face's middle (56 x 52 px)
    assert abs(x + w / 2 - centre[0]) < 10 and abs(y + h / 2 - centre[1]) < 12
    assert found.face[centre[1], centre[0]] > 0.9  # the face region holds the face
    assert found.face[far] < 0.01 and found.background[far] > 0.99  # the opposite corner
    assert found.person[centre[1], centre[0]] + found.face[centre[1], centre[0]] > 0.99
    total = found.background + found.person + found.face
    np.testing.assert_allclose(total, 1.0, atol=1e-5)  # a partition: every pixel once
    for mask in (found.background, found.person, found.face):
        assert mask.shape == (120, 160) and mask.min() >= -1e-6 and mask.max() <= 1 + 1e-6


@needs_cascades
def test_the_same_picture_gives_the_same_regions():
    picture = picture_with_face(50, 30)
    first, again = find_regions(picture), find_regions(picture)
    np.testing.assert_array_equal(first.person, again.person)


@needs_cascades
def test_the_face_has_a_soft_edge():
    found = find_regions(picture_with_face(50, 30))
    row = found.face[30 + 26]  # across the face's middle
    assert row.max() > 0.9 and row.min() < 0.01
    assert ((row > 0.05) & (row < 0.95)).sum() >= 6  # a ramp, not a step


@needs_cascades
def test_a_picture_without_people_gives_one_line_and_no_regions(tmp_path):
    settings = settings_for(tmp_path, background(160, 120))
    notes = []
    guidance = load_guidance(settings.paths, settings.loss, 160, 120, on_note=notes.append)
    assert guidance is None
    assert len(notes) == 1 and "people: no person or face found in content.png" in notes[0]


@needs_cascades
@pytest.mark.parametrize("face_style", [0.25, 0.0, 1.0])
def test_portrait_mode_lowers_the_style_inside_the_face_only(tmp_path, face_style):
    settings = settings_for(tmp_path, picture_with_face(50, 30), f"loss.face_style={face_style}")
    notes = []
    guidance = load_guidance(settings.paths, settings.loss, 160, 120, on_note=notes.append)
    assert len(notes) == 1 and "1 face" in notes[0]
    (style,) = guidance.style_masks
    assert guidance.photo_mask is None  # the face is styled less, not pasted from the photo
    assert style[30 + 26, 50 + 28] == pytest.approx(face_style, abs=0.05)
    assert style[2, 2] == pytest.approx(1.0, abs=1e-4)  # the background: the full style
    face = guidance.found.face
    np.testing.assert_allclose(style, 1 - (1 - face_style) * face, atol=1e-5)


@needs_cascades
def test_a_hand_content_mask_wins_over_the_found_regions(tmp_path):
    corner = np.zeros((120, 160))
    corner[:30, 120:] = 255
    mask = save(tmp_path / "corner.png", corner)
    settings = settings_for(tmp_path, picture_with_face(20, 40), f"paths.content_mask={mask}")
    guidance = load_guidance(settings.paths, settings.loss, 160, 120, on_note=lambda _: None)
    assert guidance.photo_mask[10, 150] > 0.9  # the hand mask is kept as the photo
    assert guidance.style_masks[0][10, 150] < 0.01  # no style there
    assert guidance.photo_mask[40 + 26, 20 + 28] < 0.01  # the face is not the photo
    assert guidance.style_masks[0][40 + 26, 20 + 28] == pytest.approx(0.25, abs=0.05)


@needs_cascades
def test_auto_region_styles_give_each_found_region_its_style(tmp_path):
    settings = settings_for(
        tmp_path,
        picture_with_face(50, 30),
        "loss.auto_region_styles=background: a.png, person: b.png, face: photo",
        styles=("a.png", "b.png"),
    )
    guidance = load_guidance(settings.paths, settings.loss, 160, 120, on_note=lambda _: None)
    found = guidance.found
    a, b = guidance.style_masks
    np.testing.assert_allclose(a, found.background * (1 - found.face), atol=1e-5)
    np.testing.assert_allclose(b, found.person * (1 - found.face), atol=1e-5)
    assert guidance.photo_mask[30 + 26, 50 + 28] > 0.9


@needs_cascades
def test_an_unnamed_face_takes_its_persons_style_at_face_style(tmp_path):
    settings = settings_for(
        tmp_path,
        picture_with_face(50, 30),
        "loss.auto_region_styles=background: a.png, person: b.png",
        styles=("a.png", "b.png"),
    )
    guidance = load_guidance(settings.paths, settings.loss, 160, 120, on_note=lambda _: None)
    a, b = guidance.style_masks
    found = guidance.found
    assert guidance.photo_mask is None
    np.testing.assert_allclose(a, found.background, atol=1e-5)
    np.testing.assert_allclose(b, found.person + 0.25 * found.face, atol=1e-5)


@needs_cascades
def test_the_regions_are_saved_as_grey_pngs(tmp_path):
    found = find_regions(picture_with_face(50, 30))
    written = save_regions(found, tmp_path)
    names = {path.name for path in written}
    assert {"region_background.png", "region_person.png", "region_face.png"} <= names
    face = np.asarray(Image.open(tmp_path / "region_face.png")) / 255.0
    assert face.shape == (120, 160)
    np.testing.assert_allclose(face, found.face, atol=1 / 255)


def test_an_opencv_without_cascades_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(cv2.data, "haarcascades", str(tmp_path), raising=False)
    with pytest.raises(ImageError, match=r"opencv-python>=4\.9,<5"):
        find_regions(background(64, 48))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ("loss.auto_region_styles=background: a.png, person: a.png",),
            r"auto_regions = faces: it needs auto_regions = people",
        ),
        (
            ("loss.auto_regions=off", "loss.auto_region_styles=background: a.png, person: a.png"),
            r"auto_regions = off: it needs auto_regions = people",
        ),
        (
            ("loss.auto_regions=true", "loss.auto_region_styles=background: a.png"),
            "no style to person",
        ),
        (("loss.auto_regions=true", "loss.auto_region_styles=sky: a.png"), "background | person"),
        (
            ("loss.auto_regions=true", "loss.auto_region_styles=background: a.png, person: c.png"),
            r"auto_region_styles: 'c\.png' is not one of",
        ),
        (("loss.auto_regions=true", "paths.style_masks=m.png"), "two ways of placing"),
        (
            (
                "loss.auto_regions=people",
                "paths.regions=m.png",
                "loss.region_styles=#ffffff: a.png",
            ),
            r"people and \[paths\] regions or style_masks are two ways",
        ),
    ],
)
def test_auto_region_settings_errors_name_the_key(tmp_path, overrides, message):
    save(tmp_path / "a.png", np.full((8, 8, 3), 100))
    with pytest.raises(SettingsError, match=message):
        load_settings(None, (f"paths.style_image={tmp_path / 'a.png'}", *overrides))


def has_interpreter() -> bool:
    import tensorflow as tf

    return hasattr(tf.lite, "Interpreter")


needs_interpreter = pytest.mark.skipif(
    not has_interpreter(), reason="this TensorFlow has no tf.lite.Interpreter (GrabCut is used)"
)


@needs_interpreter
def test_the_shipped_selfie_model_loads_quietly(recwarn, capfd):
    interpreter = portrait.selfie_interpreter()
    assert interpreter is not None
    assert tuple(interpreter.get_input_details()[0]["shape"]) == (1, 256, 256, 3)
    assert tuple(interpreter.get_output_details()[0]["shape"]) == (1, 256, 256, 1)
    assert not [w for w in recwarn if "deprecated" in str(w.message)]  # kept from the user
    assert "XNNPACK" not in capfd.readouterr().err


@needs_interpreter
@pytest.mark.parametrize("shape", [(96, 96), (61, 97), (97, 61), (40, 150)])
def test_the_person_chance_is_at_the_pictures_resolution(shape):
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    interpreter = portrait.selfie_interpreter()
    person = portrait.selfie_person(interpreter, picture)
    assert person.shape == shape and np.isfinite(person).all()  # every pixel in some tile
    assert person.min() >= 0.0 and person.max() <= 1.0
    if shape[0] == shape[1]:  # a square picture is one tile: the model's own output
        chance = portrait.selfie_chance(interpreter, picture)
        np.testing.assert_allclose(person, chance, atol=1e-6)


@needs_cascades
@needs_interpreter
def test_the_selfie_model_finds_the_people_and_the_faces_sit_in_them():
    found = find_regions(picture_with_face(50, 30))
    assert found.person_finder == SELFIE and "GrabCut" not in describe(found)
    people = found.person + found.face
    assert people[30 + 26, 50 + 28] > 0.99 and people[3, 3] < 0.01
    transition = (people > 0.05) & (people < 0.95)
    assert transition.any()  # the model's soft edge is kept, not thresholded


@needs_cascades
def test_without_a_tflite_interpreter_grabcut_finds_the_people_and_the_note_says_so(
    monkeypatch,
):
    import tensorflow as tf

    monkeypatch.delattr(tf.lite, "Interpreter", raising=False)
    assert portrait.selfie_interpreter() is None
    found = find_regions(picture_with_face(50, 30))
    assert found.person_finder == GRABCUT
    line = describe(found)
    assert "\n" not in line and "GrabCut" in line and "tf.lite.Interpreter" in line
    assert found.face[30 + 26, 50 + 28] > 0.9
    assert find_regions(background(160, 120)) is None  # GrabCut needs a face to start from


def astronaut_outlines() -> tuple[np.ndarray, dict] | None:
    """scikit-image's astronaut (public domain, NASA) as bench/portrait.py caches it, and its
    hand-drawn outlines; None where that cache is absent (nothing is downloaded in tests)."""
    from bench.portrait import CACHE, OUTLINES, hand_mask

    path = CACHE / "astronaut.png"
    if not path.is_file():
        return None
    outlines = json.loads(OUTLINES.read_text())
    hands = {name: hand_mask(outlines[name]) for name in ("astronaut", "astronaut+helmet")}
    return np.asarray(Image.open(path).convert("RGB")).astype(np.float32), hands


@needs_cascades
@needs_interpreter
def test_the_astronaut_is_found_as_drawn_by_hand():
    given = astronaut_outlines()
    if given is None:
        pytest.skip("no ~/.cache/nst-portraits/astronaut.png: run python -m bench.portrait once")
    photo, hands = given
    found = find_regions(photo)
    assert len(found.faces) == 1
    people = (found.person + found.face) > 0.5
    iou = {name: (people & hand).sum() / (people | hand).sum() for name, hand in hands.items()}
    # the model counts the helmet she holds as foreground: the outline with it is the target
    assert iou["astronaut+helmet"] >= 0.85
    assert iou["astronaut"] < iou["astronaut+helmet"]
    x, y, w, h = found.faces[0]
    assert people[y + h // 2, x + w // 2]  # the face sits inside the person
