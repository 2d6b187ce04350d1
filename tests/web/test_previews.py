"""The page shows a print-sized result downscaled (and in sRGB); the downloads stay full."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from nst.inputs.images import png_bytes
from nst.web.previews import Previews, display_copy
from tests.helpers.icc import ADOBE_RGB_D50, rgb_profile
from tests.helpers.web import fake_run

SIDE = 48  # the display copy's longest side in these tests (the studio's: 2048)


def picture(width: int, height: int) -> np.ndarray:
    ramp = np.linspace(0, 255, width * height * 3, dtype=np.float32)
    return ramp.reshape(height, width, 3)


def large_run(studio, tmp_path):
    """A finished run whose final.png is 16-bit and larger than the display side."""
    run_dir = fake_run(tmp_path / "results")
    (run_dir / "final.png").write_bytes(png_bytes(picture(90, 60), bit_depth=16, dpi=300))
    studio.extensions["nst"]["previews"] = Previews(max_side=SIDE)
    return run_dir


def test_the_page_shows_a_large_result_downscaled_and_downloads_it_whole(studio, client, tmp_path):
    run_dir = large_run(studio, tmp_path)
    detail = client.get(f"/api/runs/{run_dir.name}").json
    shown = client.get(detail["view"])
    assert shown.status_code == 200 and shown.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(shown.data)).size == (SIDE, 32)
    whole = client.get(detail["final"] + "?download=1")
    assert whole.data == (run_dir / "final.png").read_bytes()  # 16-bit, every pixel
    assert Image.open(io.BytesIO(whole.data)).size == (90, 60)
    thumbnail = client.get(client.get("/api/runs").json["runs"][0]["thumbnail"])
    assert Image.open(io.BytesIO(thumbnail.data)).size == (SIDE, 32)


def test_a_small_srgb_picture_is_shown_as_it_is(studio, client, tmp_path):
    run_dir = fake_run(tmp_path / "results")  # iterates of 64x48, untagged
    studio.extensions["nst"]["previews"] = Previews(max_side=64)
    frame = client.get(f"/api/runs/{run_dir.name}").json["frames"][0]
    assert client.get(frame["url"]).data == (run_dir / "iterates" / "iter_000000.png").read_bytes()


def test_the_copy_is_made_once_per_version_of_the_file(tmp_path):
    path = tmp_path / "final.png"
    path.write_bytes(png_bytes(picture(90, 60), bit_depth=16))
    previews = Previews(max_side=SIDE)
    first = previews.view(path)
    assert previews.view(path) is first  # kept
    path.write_bytes(png_bytes(picture(60, 90), bit_depth=16))
    assert Image.open(io.BytesIO(previews.view(path))).size == (32, SIDE)  # rewritten: anew


def test_a_result_in_another_profile_is_shown_in_srgb(tmp_path):
    """A JPEG without a profile is shown as sRGB: the copy of an Adobe RGB print file must be
    converted, not relabelled."""
    grey_green = np.full((40, 40, 3), (90, 160, 90), np.uint8)
    path = tmp_path / "final.png"
    Image.fromarray(grey_green).save(path, icc_profile=rgb_profile(ADOBE_RGB_D50, 2.2))
    copy = np.asarray(Image.open(io.BytesIO(display_copy(path, SIDE, path.stat().st_size))))
    assert copy.shape == (40, 40, 3)
    # Adobe RGB's green is more saturated than sRGB's: in sRGB the same colour has more red
    # and blue spread apart from green
    assert copy[20, 20, 1] - copy[20, 20, 0] > grey_green[20, 20, 1] - grey_green[20, 20, 0] + 10


def test_only_pictures_in_the_run_are_shown(client, tmp_path):
    run_dir = fake_run(tmp_path / "results")
    for name in ("config.ini", "../../secret.png", "missing.png"):
        assert client.get(f"/runs/{run_dir.name}/view/{name}").status_code == 404
