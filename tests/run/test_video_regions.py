"""[loss] auto_regions in a video: each frame's regions found and blended with the previous
frame's carried along the optical flow (nst.run.video.next_regions), so they move with the
face, and a frame where the finder misses keeps them."""

from __future__ import annotations

import numpy as np
import pytest

from nst.inputs import portrait
from nst.run.video import next_regions
from tests.helpers.portrait import LEFT, STEP, TOP, moving_face, needs_cascades, picture_with_face


def face_middle(mask: np.ndarray) -> tuple[float, float]:
    """The face mask's centre of mass (x, y)."""
    ys, xs = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
    return float((xs * mask).sum() / mask.sum()), float((ys * mask).sum() / mask.sum())


def follow(frames: list, people: bool = True) -> list:
    regions, every = None, []
    for index in range(len(frames)):
        regions = next_regions(regions, frames, index, people)
        every.append(regions)
    return every


@needs_cascades
def test_the_regions_move_with_the_face():
    for k, regions in enumerate(follow(moving_face(5))):
        x, y = face_middle(regions.face)
        assert x == pytest.approx(LEFT + 28 + STEP * k, abs=3)
        assert y == pytest.approx(TOP + 26, abs=4)
        total = regions.background + regions.person + regions.face
        np.testing.assert_allclose(total, 1.0, atol=1e-4)  # still a partition


@needs_cascades
def test_a_frame_where_the_finder_misses_keeps_the_regions_moved_along_the_flow(monkeypatch):
    frames = moving_face(4)
    find = portrait.find_regions
    missed = {id(frames[2])}

    def finder(picture, people=True):
        return None if id(picture) in missed else find(picture, people=people)

    monkeypatch.setattr(portrait, "find_regions", finder)
    every = follow(frames)
    assert finder(frames[2]) is None  # the finder alone would lose the face in frame 3
    x, _ = face_middle(every[2].face)
    assert x == pytest.approx(LEFT + 28 + 2 * STEP, abs=3)  # carried along with it
    assert every[2].face.max() > 0.8
    x, _ = face_middle(every[3].face)
    assert x == pytest.approx(LEFT + 28 + 3 * STEP, abs=3)


@needs_cascades
def test_no_face_in_the_first_frame_gives_nothing_until_one_is_found():
    frames = moving_face(2)
    frames[0] = picture_with_face(LEFT, TOP) * 0 + frames[0][0, 0]  # one flat colour
    first, second = follow(frames)
    assert first is None and second is not None


@needs_cascades
def test_the_faces_alone_move_with_the_face_without_the_selfie_model(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("the selfie model was loaded in faces mode")

    monkeypatch.setattr(portrait, "selfie_interpreter", refuse)
    for k, regions in enumerate(follow(moving_face(3), people=False)):
        x, _ = face_middle(regions.face)
        assert x == pytest.approx(LEFT + 28 + STEP * k, abs=3)
        assert not regions.person.any() and regions.person_finder == portrait.FACES_ONLY
        np.testing.assert_allclose(regions.background, 1.0 - regions.face, atol=1e-4)
