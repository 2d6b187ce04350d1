"""The person mask that [loss] auto_regions finds (nst.inputs.portrait) against one drawn by hand.

python -m bench.portrait [--out DIR]

The photo is matplotlib's sample of Grace Hopper (512 x 600, an official US Navy portrait,
public domain), which ships with matplotlib. The hand-drawn mask is the polygon below, traced
by eye on 4x enlargements of the photo (hat, hair and uniform in, the flag out); its own error
is about 3 px along the outline. Prints the IoU of the found person (person + face > 0.5)
with it at the photo's size and two smaller ones, and the time find_regions took; with --out,
writes the hand mask and a picture of the differences (red: found, not drawn; blue: drawn,
not found).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from matplotlib import cbook
from PIL import Image

from nst.inputs.portrait import find_regions

OUTLINE = (  # (x, y) pixels of the 512 x 600 photo, clockwise from the hat's left
    (153, 140), (155, 100), (163, 87), (173, 82), (183, 63), (197, 50), (217, 40), (230, 30),
    (240, 25), (253, 23), (267, 25), (280, 30), (293, 38), (313, 43), (330, 52), (343, 63),
    (350, 77), (353, 85), (367, 87), (373, 97), (375, 110), (375, 140), (372, 165), (372, 190),
    (375, 210), (367, 240), (364, 250), (362, 270), (359, 280), (352, 290), (341, 300),
    (331, 305), (337, 310), (347, 320), (357, 330), (372, 340), (390, 350), (410, 360),
    (425, 366), (465, 377), (487, 392), (500, 407), (512, 418), (512, 600), (12, 600),
    (17, 550), (22, 520), (25, 470), (26, 450), (27, 435), (30, 422), (35, 412), (37, 400),
    (42, 390), (50, 381), (60, 376), (75, 370), (100, 365), (120, 357), (140, 350), (160, 342),
    (177, 335), (190, 325), (200, 315), (200, 302), (165, 275), (163, 265), (160, 250),
    (155, 215), (152, 190), (150, 170),
)  # fmt: skip


def hand_mask(height: int, width: int) -> np.ndarray:
    """The traced outline filled, bool (height, width)."""
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [np.array(OUTLINE, np.int32)], 1)
    return mask.astype(bool)


def measure(photo: np.ndarray, hand: np.ndarray, side: int) -> tuple[float, float, np.ndarray]:
    """IoU and seconds at `side` px (longer side), and the found person mask there."""
    height, width = photo.shape[:2]
    scale = min(1.0, side / max(height, width))
    size = (round(width * scale), round(height * scale))
    picture = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    drawn = cv2.resize(hand.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.5
    start = time.perf_counter()
    found = find_regions(picture)
    seconds = time.perf_counter() - start
    person = (found.person + found.face) > 0.5 if found is not None else np.zeros_like(drawn)
    return float((person & drawn).sum() / (person | drawn).sum()), seconds, person


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write hand_person.png and differences.png")
    args = parser.parse_args()
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    photo = np.asarray(Image.open(path).convert("RGB")).astype(np.float32)
    hand = hand_mask(*photo.shape[:2])
    for side in (600, 512, 256):
        iou, seconds, person = measure(photo, hand, side)
        print(f"longer side {side}: IoU {iou:.3f}, find_regions {seconds:.2f} s")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        _, _, person = measure(photo, hand, 600)
        Image.fromarray(hand.astype(np.uint8) * 255).save(args.out / "hand_person.png")
        shown = photo.copy()
        shown[person & ~hand], shown[hand & ~person] = (255, 0, 0), (0, 0, 255)
        Image.fromarray(shown.astype(np.uint8)).save(args.out / "differences.png")


if __name__ == "__main__":
    main()
