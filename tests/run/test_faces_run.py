"""Whole runs at the defaults' [loss] auto_regions = faces, in process: a still with either
style loss and a clip, the faces found in each frame
without the selfie model, what was found saved beside config.ini."""

from __future__ import annotations

import signal

import numpy as np
import pytest

from nst.inputs import portrait
from nst.output.runfolder import CONFIG
from nst.run.pipeline import resume, run
from nst.run.process import StopRequest
from nst.run.watchers import Watcher
from nst.settings import load_settings
from tests.helpers import SHALLOW, make_image
from tests.helpers.portrait import moving_face, needs_cascades, picture_with_face, save
from tests.helpers.video_clips import write_folder


@pytest.fixture(autouse=True)
def no_selfie_model(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("the selfie model was loaded in faces mode")

    monkeypatch.setattr(portrait, "selfie_interpreter", refuse)


def face_settings(tmp_path, content, *extra: str):
    """The defaults (auto_regions = faces) with a random shallow network, a few iterations."""
    style = make_image(tmp_path / "style.png", seed=2)
    return load_settings(
        None,
        (
            f"paths.content_image={content}",
            f"paths.style_image={style}",
            f"paths.results_dir={tmp_path / 'results'}",
            "model.weights=random",
            "image.max_size=160",
            "optimizer.iterations=3",
            "output.show_viewer=false",
            "output.animation=false",
            "image.scales=1",
            *SHALLOW,
            *extra,
        ),
    )


@needs_cascades
@pytest.mark.parametrize("style_loss", ["gram", "sliced"])
def test_a_still_at_the_defaults_finds_the_face_and_saves_it(tmp_path, capsys, style_loss):
    content = save(tmp_path / "content.png", picture_with_face(50, 30))
    settings = face_settings(tmp_path, content, f"loss.style_loss={style_loss}")
    assert settings.loss.auto_regions == "faces"
    outcome = run(settings, stop=StopRequest())
    assert outcome.status == 0, outcome.message
    notes = [line for line in capsys.readouterr().err.splitlines() if "auto_regions" in line]
    assert len(notes) == 1 and "auto_regions = faces: 1 face" in notes[0]
    saved = {path.name for path in outcome.run_dir.glob("region_*.png")}
    assert {"region_face.png", "region_background.png"} <= saved
    assert "region_person.png" not in saved
    assert (outcome.run_dir / "final.png").is_file()


@needs_cascades
def test_a_clip_at_the_defaults_finds_the_face_in_its_frames(tmp_path, capsys):
    frames = [np.clip(frame, 0, 255).astype(np.uint8) for frame in moving_face(2)]
    folder = write_folder(tmp_path / "clip", frames)
    settings = face_settings(
        tmp_path,
        folder,
        "video.first_frame_iterations=2",
        "video.frame_iterations=2",
        "video.compare=false",
    )
    outcome = run(settings, stop=StopRequest())
    assert outcome.status == 0, outcome.message
    assert "no face found" not in capsys.readouterr().err
    saved = {path.name for path in outcome.run_dir.glob("region_*.png")}
    assert "region_face.png" in saved and "region_person.png" not in saved


@needs_cascades
def test_a_run_folder_from_before_auto_regions_resumes_without_regions(tmp_path, capsys):
    """Its config.ini has no auto_regions line (the run found no faces): it resumes so,
    though faces are found by default now."""
    content = save(tmp_path / "content.png", picture_with_face(50, 30))
    settings = face_settings(tmp_path, content, "loss.auto_regions=off", "optimizer.iterations=4")
    stop = StopRequest()

    class StopAtTwo(Watcher):
        def recorded(self, record) -> None:
            if record.iteration == 2:
                stop.ask(signal.SIGTERM)

    outcome = run(settings, stop=stop, watcher=StopAtTwo())
    assert outcome.status == 128 + signal.SIGTERM
    config = outcome.run_dir / CONFIG
    lines = config.read_text().splitlines()
    config.write_text("\n".join(line for line in lines if "auto_regions =" not in line) + "\n")
    capsys.readouterr()
    again = resume(outcome.run_dir, stop=StopRequest())
    assert again.status == 0, again.message
    assert "auto_regions" not in capsys.readouterr().err  # no faces looked for
    assert not list(outcome.run_dir.glob("region_*.png"))
