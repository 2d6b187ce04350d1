"""Clips in and out (PyAV): frames, frame rate, audio, frame folders and bad inputs."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from nst.inputs.images import ImageError
from nst.inputs.video_io import is_clip, load_clip, write_video
from tests.helpers import make_image
from tests.helpers.video_clips import clip_frames, read_video, write_clip, write_folder


def test_a_video_is_read_with_its_frames_rate_and_audio(tmp_path):
    frames = clip_frames(5)
    path = write_clip(tmp_path / "clip.mp4", frames, fps=12, tone_hz=440)
    clip = load_clip(path, 0, None, 64)
    assert len(clip.frames) == 5 and clip.fps == 12 and clip.audio == path
    assert clip.frames[0].shape == (48, 64, 3) and clip.frames[0].dtype == np.float32
    # H.264 in 4:2:0 is lossy, but each frame is far closer to its own source than to another
    own, other = (np.abs(clip.frames[2] - frames[i]).mean() for i in (2, 0))
    assert own < 10 and own < 0.5 * other


def test_a_range_of_frames_and_the_size(tmp_path):
    path = write_clip(tmp_path / "clip.mp4", clip_frames(6), fps=12)
    clip = load_clip(path, 2, 5, 32)
    assert len(clip.frames) == 3 and clip.frames[0].shape == (24, 32, 3)
    assert clip.start_s == pytest.approx(2 / 12) and clip.audio is None


def test_written_video_keeps_rate_frames_and_the_sources_tone(tmp_path):
    source = write_clip(tmp_path / "clip.mp4", clip_frames(6), fps=12, tone_hz=440)
    frames = [np.full((47, 63, 3), 40 * i, np.uint8) for i in range(6)]  # odd sides
    write_video(tmp_path / "out.mp4", frames, Fraction(12), source, 0.0)
    written, rate, sound = read_video(tmp_path / "out.mp4")
    assert len(written) == 6 and rate == 12 and written[0].shape == (48, 64, 3)
    assert abs(int(written[3].mean()) - 120) < 4
    spectrum = np.abs(np.fft.rfft(sound[4000:12000]))
    assert np.argmax(spectrum) * 44100 / 8000 == pytest.approx(440, abs=10)
    assert len(sound) == pytest.approx(44100 * 6 / 12, rel=0.1)  # as long as the frames


def test_a_folder_of_frames_is_sorted_by_number(tmp_path):
    frames = [np.full((20, 40, 3), 20 * i, np.uint8) for i in range(12)]
    folder = write_folder(tmp_path / "frames", frames)  # frame_1 ... frame_12
    clip = load_clip(folder, 0, None, 40)
    assert [int(f.mean()) for f in clip.frames] == [20 * i for i in range(12)]
    assert is_clip(folder)


def test_images_are_not_clips_and_videos_are_by_content(tmp_path):
    assert not is_clip(make_image(tmp_path / "photo.png"))
    video = write_clip(tmp_path / "clip.mp4", clip_frames(3))
    renamed = video.rename(tmp_path / "clip.dat")
    assert is_clip(renamed)


def _broken(tmp_path):
    data = write_clip(tmp_path / "good.mp4", clip_frames(4)).read_bytes()
    (tmp_path / "broken.mp4").write_bytes(data[: len(data) // 3])
    return tmp_path / "broken.mp4", "damaged"


def _no_frames(tmp_path):
    import av

    with av.open(str(tmp_path / "empty.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height = 64, 48
        container.start_encoding()
    return tmp_path / "empty.mp4", "no frames"


def _unknown_codec(tmp_path):
    data = write_clip(tmp_path / "good.mp4", clip_frames(4)).read_bytes()
    (tmp_path / "odd.mp4").write_bytes(data.replace(b"avc1", b"zzzz"))  # the codec's tag
    return tmp_path / "odd.mp4", "cannot decode"


def _mixed_sizes(tmp_path):
    folder = write_folder(tmp_path / "frames", clip_frames(3))
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(folder / "frame_4.png")
    return folder, "one size"


def _empty_folder(tmp_path):
    (tmp_path / "nothing").mkdir()
    return tmp_path / "nothing", "no frames"


@pytest.mark.parametrize("make", [_broken, _no_frames, _unknown_codec, _mixed_sizes, _empty_folder])
def test_bad_clips_raise_one_clear_image_error(tmp_path, make):
    path, words = make(tmp_path)
    assert is_clip(path)
    with pytest.raises(ImageError, match=words) as error:
        load_clip(path, 0, None, 64)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
