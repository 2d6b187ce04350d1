"""The person mask that [loss] auto_regions finds (nst.inputs.portrait) against ones drawn by
hand, on seven portraits.

python -m bench.portrait [--cache DIR] [--out DIR] [--only NAME ...] [--selfie]

The photos are not part of this project; each comes from a package on PyPI, fetched with
`pip download` into a cache outside the repository (default ~/.cache/nst-portraits):

- hopper: matplotlib's sample photo of Grace Hopper, 512 x 600 (official US Navy portrait,
  public domain), read from the installed matplotlib.
- astronaut: scikit-image's astronaut.png, 512 x 512 (Eileen Collins, NASA, public domain,
  as scikit-image's skimage.data.astronaut says), from the scikit-image wheel.
- camera: scikit-image's camera.png, 512 x 512, grey, a man behind a camera in three-quarter
  profile (CC0 by the photographer, Lav Varshney, as skimage.data.camera says), same wheel.
- t1: insightface's sample t1.jpg, 1280 x 886, six people round a table (a publicity still
  of the TV series *Friends*; the package states no licence for it, so it is fetched, never
  stored here), from the insightface source distribution.
- obama, obama2, obama3: face_recognition 1.3.0's test photos (source distribution, member
  tests/test_images/NAME.jpg; the package is MIT, it states no licence for the photos, which
  look like White House photos of Barack Obama, so they are fetched, never stored here).
  obama: 910 x 1137, half-length, frontal, arms crossed, face about 280 px wide. obama2:
  626 x 1200, three-quarter view at a lectern behind a microphone, two blurred people behind
  him, partly in frame. obama3: 1434 x 2333, standing, knees up, in a room, face about 200 px
  of 2333, the sleeve of someone else at the right edge.

The hand-drawn masks are the polygons in bench/portrait_outlines.json, traced by eye on
gridded enlargements (their own error: a few pixels along the outline). The three
face_recognition photos were traced, and the outlines committed, before the model was run on
them, by a rule fixed first: the person is hair, skin, clothes and what is worn; things held
in the hand are in (t1's cards); objects in front of a person that are not held (a
microphone on its stand, a lectern) are out; other people partly in frame, sharp or
blurred, are drawn.

Prints, per photo, the IoU of the found person (person + face > 0.5) with the filled polygons
at the photo's resolution, the faces found, and the time find_regions took; with --out, a
picture of the differences per photo (red: found, not drawn; blue: drawn, not found).

Each photo is found twice and the second time is printed (the first includes TensorFlow's
import, printed once as "first call"). --grabcut measures the fallback (GrabCut around the
faces, what runs where TensorFlow has no tf.lite.Interpreter) instead of the selfie model
that nst/inputs/models ships.

An outline may name its photo ("photo": "astronaut"): astronaut+helmet is the astronaut with
the helmet she holds drawn in, a second reading of "person/foreground" beside the first.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
from matplotlib import cbook
from PIL import Image

from nst.inputs import portrait
from nst.inputs.portrait import find_regions

OUTLINES = Path(__file__).with_name("portrait_outlines.json")
CACHE = Path.home() / ".cache" / "nst-portraits"
# name: (pip download arguments, the file inside the downloaded archive)
SOURCES = {
    "astronaut": (
        ["scikit-image==0.26.0", "--only-binary", ":all:"],
        "skimage/data/astronaut.png",
    ),
    "camera": (["scikit-image==0.26.0", "--only-binary", ":all:"], "skimage/data/camera.png"),
    "t1": (["insightface==2.1", "--no-binary", ":all:"], "insightface/data/images/t1.jpg"),
    **{
        name: (
            ["face_recognition==1.3.0", "--no-binary", ":all:"],
            f"tests/test_images/{name}.jpg",
        )
        for name in ("obama", "obama2", "obama3")
    },
}


def fetch(name: str, cache: Path) -> Path:
    """The photo's path in `cache`, downloaded from PyPI (pip) the first time."""
    if name == "hopper":
        return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    arguments, member = SOURCES[name]
    target = cache / Path(member).name
    if target.is_file():
        return target
    folder = cache / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(folder)]
    subprocess.run([*pip, *arguments], check=True)
    stem = arguments[0].split("==")[0].replace("-", "_")
    archive = next(p for p in folder.iterdir() if p.name.lower().startswith(stem))
    target.write_bytes(read_member(archive, member))
    return target


def read_member(archive: Path, member: str) -> bytes:
    """A file of a wheel (zip) or source distribution (tar.gz), by its path in the package."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as wheel:
            return wheel.read(member)
    with tarfile.open(archive) as sdist:
        path = next(n for n in sdist.getnames() if n.endswith("/" + member))
        return sdist.extractfile(path).read()


def hand_mask(outline: dict) -> np.ndarray:
    """The hand-drawn polygons filled, bool (height, width)."""
    width, height = outline["size"]
    mask = np.zeros((height, width), np.uint8)
    for polygon in outline["polygons"]:
        cv2.fillPoly(mask, [np.array(polygon, np.int32)], 1)
    return mask.astype(bool)


def measure(photo: np.ndarray, hand: np.ndarray) -> tuple[float, int, float, np.ndarray]:
    """(IoU, faces found, seconds, the found person mask) at the photo's resolution."""
    start = time.perf_counter()
    found = find_regions(photo)
    seconds = time.perf_counter() - start
    if found is None:
        return 0.0, 0, seconds, np.zeros_like(hand)
    person = (found.person + found.face) > 0.5
    return float((person & hand).sum() / (person | hand).sum()), len(found.faces), seconds, person


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=CACHE, help="where fetched photos go")
    parser.add_argument("--out", type=Path, help="write <name>_differences.png here")
    parser.add_argument("--only", nargs="*", help="these outlines only")
    parser.add_argument("--grabcut", action="store_true", help="the GrabCut fallback instead")
    args = parser.parse_args()
    if args.grabcut:  # as where this TensorFlow has no tf.lite.Interpreter
        portrait.selfie_interpreter = lambda *_: None
    outlines = json.loads(OUTLINES.read_text())
    first = True
    for name, outline in outlines.items():
        if args.only and name not in args.only:
            continue
        path = fetch(outline.get("photo", name), args.cache)
        photo = np.asarray(Image.open(path).convert("RGB")).astype(np.float32)
        hand = hand_mask(outline)
        assert hand.shape == photo.shape[:2], (name, hand.shape, photo.shape)
        if first:
            start = time.perf_counter()
            find_regions(photo)
            print(
                f"first call (TensorFlow's import, the model): {time.perf_counter() - start:.2f} s"
            )
            first = False
        iou, faces, seconds, person = measure(photo, hand)
        size = f"{photo.shape[1]}x{photo.shape[0]}"
        print(f"{name} {size}: IoU {iou:.3f}, {faces} faces found, {seconds:.2f} s")
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            shown = photo.copy()
            shown[person & ~hand], shown[hand & ~person] = (255, 0, 0), (0, 0, 255)
            tag = "_grabcut" if args.grabcut else ""
            Image.fromarray(shown.astype(np.uint8)).save(args.out / f"{name}{tag}_differences.png")


if __name__ == "__main__":
    main()
