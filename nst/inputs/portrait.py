"""Regions found in the content photo, offline ([loss] auto_regions): the faces (with eyes and
mouth where found), the people (the foreground), and the background; with auto_regions =
faces (the default) the faces alone, in a fraction of a second, the selfie model not loaded.

The people: MediaPipe's selfie segmentation (selfie_segmentation.tflite, from the mediapipe
0.10.21 wheel, Apache License 2.0: nst/inputs/models/LICENSE and NOTICE), a 256 x 256 network
that gives each pixel the chance that it is a person, run by TensorFlow's own
tf.lite.Interpreter on square tiles along the picture's longer side (a group photo's people
are larger in a tile than in the whole picture squeezed to 256 x 256) and read back at the
picture's resolution, its soft edge kept. Where this TensorFlow has no tf.lite.Interpreter,
GrabCut as before (below), and the run's note says so.

Faces: OpenCV's Haar cascades (Viola & Jones 2001; Lienhart's frontal-face cascade, the profile
cascade both ways round, the eye and smile cascades), shipped with their trained data in the
opencv-python 4.x wheels (cv2.data.haarcascades, under the Intel License Agreement, a
BSD-style licence; OpenCV 5's wheels no longer ship them). The fallback for the people: GrabCut
(Rother, Kolmogorov & Blake 2004, cv2.grabCut), started from a head-and-shoulders shape below
each face. Nothing is downloaded; TensorFlow is imported only when regions are found.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image

from nst.inputs.images import ImageError
from nst.inputs.native import native_stderr_silenced

DETECT_SIDE = 640  # faces are looked for at this longer side at most (time: ~0.3 s)
# ... and confirmed at this one: Haar's borderline finds (a facade's two windows, a model
# rocket) come and go with the resampling, a face stays (bench/results/regions.md)
CONFIRM_SIDE = 512
CUT_SIDE = 256  # GrabCut runs at this longer side at most (time: ~0.1 s)
MIN_FACE = 0.06  # the smallest face looked for: this share of the picture's shorter side
FACE_FEATHER = 0.12  # the face's soft edge: Gaussian sigma, a share of the face's width
PERSON_FEATHER = 0.004  # the person's soft edge: Gaussian sigma, a share of the longer side
CUT_ROUNDS = 5  # GrabCut's iterations
CARRIED_SHARE = 0.7  # video: the previous frame's regions' share where the flow is trusted
SIDE_CLEAR = 1.3  # farther than this many face widths beside a face, above its chin: background
MIN_SKIN = 0.25  # a face's core must be at least this share skin-coloured (Haar finds swirls)
SKIN_CR, SKIN_CB = (133, 173), (77, 127)  # YCrCb skin ranges (Chai & Ngan 1999)
GREY_CHROMA = 6.0  # mean |Cr - 128| + |Cb - 128| below this: a grey picture, no skin test
FRONTAL, PROFILE = "haarcascade_frontalface_default.xml", "haarcascade_profileface.xml"
EYES = ("haarcascade_eye.xml", "haarcascade_eye_tree_eyeglasses.xml")
MOUTH = "haarcascade_smile.xml"
SELFIE_MODEL = Path(__file__).with_name("models") / "selfie_segmentation.tflite"
MIN_PERSON = 0.01  # no face and less than this share of the picture a person: no one found
SELFIE, GRABCUT = "selfie segmentation", "GrabCut"
FACES_ONLY = "none"  # the person finder where only faces were looked for (auto_regions = faces)
NO_INTERPRETER = "this TensorFlow has no tf.lite.Interpreter for the selfie segmentation model"


class FoundRegions(NamedTuple):
    """What was found, at the picture's size: background, person and face are 0..1 masks
    (height, width) that sum to 1 at every pixel; eyes and mouth are 0/1, zeros if none."""

    background: np.ndarray
    person: np.ndarray  # the people less their faces
    face: np.ndarray  # soft edged
    faces: tuple  # (x, y, width, height) per face, in pixels
    eyes: np.ndarray
    mouth: np.ndarray
    # what found the people: SELFIE, GRABCUT (the fallback), or FACES_ONLY (none looked for)
    person_finder: str = SELFIE

    def masks(self) -> dict[str, np.ndarray]:
        """Each region by name (eyes and mouth only where found, person only where people were
        looked for): what region_*.png holds."""
        named = {"background": self.background, "person": self.person, "face": self.face}
        if self.person_finder == FACES_ONLY:
            del named["person"]
        named.update({k: m for k, m in (("eyes", self.eyes), ("mouth", self.mouth)) if m.any()})
        return named


def cascade(name: str) -> cv2.CascadeClassifier:
    """One of OpenCV's bundled Haar cascades; ImageError naming the fix if this OpenCV has none."""
    folder = Path(getattr(getattr(cv2, "data", None), "haarcascades", "") or "/nonexistent")
    classifier = cv2.CascadeClassifier(str(folder / name)) if (folder / name).is_file() else None
    if classifier is None or classifier.empty():
        raise ImageError(
            f"[loss] auto_regions (faces or people) needs OpenCV's Haar cascades, which "
            f"OpenCV {cv2.__version__} does not ship ({name} not found): "
            "pip install 'opencv-python>=4.9,<5'"
        )
    return classifier


def overlap(a: tuple, b: tuple) -> float:
    """Intersection over the smaller box's area, of two (x, y, width, height) boxes."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(width, 0) * max(height, 0) / min(a[2] * a[3], b[2] * b[3])


def skin_share(picture: np.ndarray, box: tuple) -> float:
    """The share of skin-coloured pixels in the middle half of `box` of an RGB uint8 picture;
    1 for a grey picture (no colour to tell by)."""
    x, y, w, h = box
    core = cv2.cvtColor(
        picture[y + h // 4 : y + 3 * h // 4, x + w // 4 : x + 3 * w // 4], cv2.COLOR_RGB2YCrCb
    )
    cr, cb = core[..., 1].astype(np.float32), core[..., 2].astype(np.float32)
    if np.abs(cr - 128).mean() + np.abs(cb - 128).mean() < GREY_CHROMA:
        return 1.0
    skin = (cr >= SKIN_CR[0]) & (cr <= SKIN_CR[1]) & (cb >= SKIN_CB[0]) & (cb <= SKIN_CB[1])
    return float(skin.mean())


def detect_faces(picture: np.ndarray, grey: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Face boxes in an RGB uint8 picture (`grey`: its equalised grey): frontal faces first,
    then profiles facing either way that overlap none of them (a turned face is often found
    by both); those whose middle is hardly skin-coloured are dropped."""
    side = max(12, round(MIN_FACE * min(grey.shape)))
    found = [
        tuple(map(int, b)) for b in cascade(FRONTAL).detectMultiScale(grey, 1.1, 5, 0, (side, side))
    ]
    profile = cascade(PROFILE)
    for flipped in (False, True):
        seen = np.ascontiguousarray(grey[:, ::-1]) if flipped else grey
        for x, y, w, h in profile.detectMultiScale(seen, 1.1, 6, 0, (side, side)):
            box = (int(grey.shape[1] - x - w) if flipped else int(x), int(y), int(w), int(h))
            if all(overlap(box, kept) < 0.3 for kept in found):
                found.append(box)
    return [box for box in found if skin_share(picture, box) >= MIN_SKIN]


def face_parts(grey: np.ndarray, box: tuple) -> tuple[list, list]:
    """Eye boxes (at most two, in the face's upper half) and a mouth box (at most one, in
    its lower third), in the picture's pixels; empty where the cascades find none."""
    x, y, w, h = box
    upper = np.ascontiguousarray(grey[y : y + h * 3 // 5, x : x + w])
    eyes = []
    for name in EYES:  # the plain eye cascade misses eyes behind glasses; the other one not
        eyes = sorted(
            cascade(name).detectMultiScale(upper, 1.1, 5, 0, (w // 10, w // 10)),
            key=lambda e: -e[2],
        )[:2]
        if len(eyes):
            break
    top = y + h * 2 // 3
    lower = np.ascontiguousarray(grey[top : y + h, x : x + w])
    mouths = cascade(MOUTH).detectMultiScale(lower, 1.1, 12, 0, (w // 5, h // 12))
    mouths = sorted(mouths, key=lambda m: abs(m[0] + m[2] / 2 - w / 2))[:1]
    return (
        [(x + ex, y + ey, ew, eh) for ex, ey, ew, eh in eyes],
        [(x + mx, top + my, mw, mh) for mx, my, mw, mh in mouths],
    )


def oval(image: np.ndarray, centre: tuple, axes: tuple, value: int) -> None:
    """Fills an axis-aligned ellipse of `image` with `value` (coordinates in pixels, any type)."""
    cx, cy = centre
    cv2.ellipse(image, (int(cx), int(cy)), (int(axes[0]), int(axes[1])), 0, 0, 360, value, -1)


def box_mask(boxes: list, height: int, width: int) -> np.ndarray:
    """0/1 (height, width): an ellipse inscribed in each box."""
    mask = np.zeros((height, width), np.uint8)
    for x, y, w, h in boxes:
        oval(mask, (x + w / 2, y + h / 2), (w / 2, h / 2), 1)
    return mask.astype(np.float32)


def face_mask(faces: list, height: int, width: int) -> np.ndarray:
    """0..1: an oval over each face (a Haar box spans brows to chin, the oval a little more),
    blurred by FACE_FEATHER of the face's width: no seam where the face meets the rest."""
    mask = np.zeros((height, width), np.float32)
    for x, y, w, h in faces:
        shape = np.zeros((height, width), np.uint8)
        oval(shape, (x + w / 2, y + 0.55 * h), (0.45 * w, 0.6 * h), 1)
        soft = cv2.GaussianBlur(shape.astype(np.float32), (0, 0), FACE_FEATHER * w)
        mask = np.maximum(mask, soft)
    return np.clip(mask, 0.0, 1.0)


def seed_labels(height: int, width: int, faces: list) -> np.ndarray:
    """GrabCut's starting labels: background everywhere but near the people; probably a person
    in a head (an oval around each face) and shoulders (a trapezoid widening to the bottom);
    surely background beside each head, and a person in each face's core and a strip below
    its chin."""
    labels = np.full((height, width), cv2.GC_BGD, np.uint8)
    near = np.zeros((height, width), np.uint8)
    for x, y, w, h in faces:
        oval(near, (x + w / 2, y + h / 2), (1.5 * w, 1.6 * h), 1)
        cv2.fillPoly(near, [trapezoid(x + w / 2, y + 0.8 * h, 1.2 * w, 3.5 * w, height)], 1)
    labels[near == 1] = cv2.GC_PR_BGD
    columns = np.arange(width)[None, :]
    rows = np.arange(height)[:, None]
    for x, y, w, h in faces:  # beside the head, above the chin: no one (hair reaches ~0.7 w)
        beside = (np.abs(columns - (x + w / 2)) > SIDE_CLEAR * w) & (rows < y + h)
        labels[beside] = cv2.GC_BGD
    for x, y, w, h in faces:
        oval(labels, (x + w / 2, y + 0.45 * h), (0.85 * w, h), cv2.GC_PR_FGD)
        shoulders = trapezoid(x + w / 2, y + 0.9 * h, 0.6 * w, 2.0 * w, height)
        cv2.fillPoly(labels, [shoulders], cv2.GC_PR_FGD)
    for x, y, w, h in faces:
        oval(labels, (x + w / 2, y + h / 2), (0.3 * w, 0.35 * h), cv2.GC_FGD)
        chin = min(y + 1.4 * h, height - 1)
        corners = (
            (int(x + 0.2 * w), int(chin)),
            (int(x + 0.8 * w), int(min(chin + 1.5 * h, height - 1))),
        )
        cv2.rectangle(labels, *corners, cv2.GC_FGD, -1)
    return labels


def trapezoid(cx: float, top: float, half_top: float, half_bottom: float, bottom: int):
    """The corners of a trapezoid centred on cx from `top` down to `bottom`, int32 for cv2."""
    return np.array(
        [
            [cx - half_top, top],
            [cx + half_top, top],
            [cx + half_bottom, bottom],
            [cx - half_bottom, bottom],
        ],
        np.int32,
    )


def person_mask(picture: np.ndarray, faces: list) -> np.ndarray:
    """0..1 (height, width): the people whose faces are `faces` (picture pixels), by GrabCut
    at CUT_SIDE, its holes filled, what does not touch a face dropped, soft edged."""
    height, width = picture.shape[:2]
    scale = min(1.0, CUT_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(
        np.clip(picture, 0, 255).astype(np.uint8), size, interpolation=cv2.INTER_AREA
    )
    scaled = [tuple(v * scale for v in box) for box in faces]
    labels = seed_labels(size[1], size[0], scaled)
    models = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(0)  # GrabCut's k-means starts from OpenCV's RNG: the same cut every time
    cv2.grabCut(small[:, :, ::-1].copy(), labels, None, *models, CUT_ROUNDS, cv2.GC_INIT_WITH_MASK)
    cut = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    cut = keep_touching(fill_holes(cut), box_mask(scaled, size[1], size[0]) > 0)
    mask = cv2.resize(cut.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(cv2.GaussianBlur(mask, (0, 0), PERSON_FEATHER * max(height, width)), 0.0, 1.0)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """0/1 `mask` with every hole (background not connected to the border) filled."""
    padded = np.pad(mask, 1)
    outside = padded.copy()
    flood = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
    cv2.floodFill(outside, flood, (0, 0), 2)
    return (outside[1:-1, 1:-1] != 2).astype(np.uint8)


def keep_touching(mask: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """0/1 `mask` less its connected parts that touch no face (stray bits of background)."""
    count, parts = cv2.connectedComponents(mask)
    wanted = [k for k in range(1, count) if faces[parts == k].any()]
    return np.isin(parts, wanted).astype(np.uint8)


def selfie_interpreter(model: Path = SELFIE_MODEL):
    """The selfie segmentation model in a tf.lite.Interpreter, tensors allocated; None where
    this TensorFlow has none (TensorFlow moved it to the ai_edge_litert package, and said it
    would go). Its deprecation warning is kept from the user: nothing they can act on."""
    with native_stderr_silenced():  # its "Created TensorFlow Lite XNNPACK delegate" line
        import tensorflow as tf  # seconds: only when regions are found

        make = getattr(getattr(tf, "lite", None), "Interpreter", None)
        if make is None:
            return None
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated")
            interpreter = make(model_path=str(model))
        interpreter.allocate_tensors()  # its XNNPACK delegate runs the custom transposed conv
    return interpreter


def selfie_chance(interpreter, picture: np.ndarray) -> np.ndarray:
    """0..1 (height, width): the chance that each pixel of an RGB uint8 picture is a person,
    the model's output (at its input's size, the picture squeezed to it) resized back."""
    given, result = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    height, width = (int(v) for v in given["shape"][1:3])
    small = cv2.resize(picture, (width, height), interpolation=cv2.INTER_AREA)
    interpreter.set_tensor(given["index"], (small[None] / 255.0).astype(np.float32))
    interpreter.invoke()
    chance = interpreter.get_tensor(result["index"])[0, :, :, 0]
    size = (picture.shape[1], picture.shape[0])
    return np.clip(cv2.resize(chance, size, interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def selfie_person(interpreter, picture: np.ndarray) -> np.ndarray:
    """0..1 (height, width): the people in an RGB uint8 picture, by the model on square tiles
    (side: the shorter side) along the longer side, one more than it takes to cover it, so
    that they overlap; averaged where they do. A square picture is one tile. Measured on a
    1280 x 886 group photo: IoU 0.53 (one tile), 0.76 (squeezed whole), 0.88 (three tiles)."""
    height, width = picture.shape[:2]
    side, longer = min(height, width), max(height, width)
    count = 1 if longer == side else math.ceil(longer / side) + 1
    total = np.zeros((height, width), np.float32)
    covered = np.zeros((height, width), np.float32)
    for start in np.linspace(0, longer - side, count).round().astype(int):
        rows = slice(start, start + side) if height > width else slice(0, height)
        columns = slice(0, width) if height > width else slice(start, start + side)
        total[rows, columns] += selfie_chance(interpreter, picture[rows, columns])
        covered[rows, columns] += 1.0
    return total / covered


def find_regions(picture: np.ndarray, people: bool = True) -> FoundRegions | None:
    """The regions of an RGB picture (height, width, 3), 0..255; None where neither a face
    nor a person (MIN_PERSON of the picture) is found. The people by the selfie model (GrabCut
    around the faces where TensorFlow has no interpreter for it), the faces inside them.
    people=False ([loss] auto_regions = faces): the faces alone, the selfie model never
    loaded (nor TensorFlow); the person region is empty, the background 1 - face."""
    height, width = picture.shape[:2]
    colours = np.clip(picture, 0, 255).astype(np.uint8)
    boxes, parts, scale = faces_found(colours)
    faces = [tuple(v / scale for v in box) for box in boxes]
    if not people:
        found_people = (np.zeros((height, width), np.float32), FACES_ONLY) if faces else None
    else:
        found_people = people_found(picture, colours, faces)
    if found_people is None:
        return None
    face = face_mask(faces, height, width)
    person = np.maximum(found_people[0], face)

    def in_picture(found: list) -> np.ndarray:
        return box_mask([tuple(v / scale for v in box) for box in found], height, width)

    eyes = in_picture([e for eye, _ in parts for e in eye])
    mouth = in_picture([m for _, mouth in parts for m in mouth])
    rounded = tuple(tuple(round(v) for v in box) for box in faces)
    return FoundRegions(1.0 - person, person - face, face, rounded, eyes, mouth, found_people[1])


def people_found(picture: np.ndarray, colours: np.ndarray, faces: list) -> tuple | None:
    """(0..1 (height, width): the people, what found them: SELFIE or GRABCUT); None where
    there is no face and hardly a person (MIN_PERSON of the picture)."""
    interpreter = selfie_interpreter()
    if interpreter is not None:
        people, finder = selfie_person(interpreter, colours), SELFIE
    elif faces:
        people, finder = person_mask(picture, faces), GRABCUT
    else:
        return None
    if not faces and (people > 0.5).mean() < MIN_PERSON:
        return None
    return people, finder


def shrunk(picture: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(the RGB picture, its equalised grey, the scale) at longer side `side` at most."""
    height, width = picture.shape[:2]
    scale = min(1.0, side / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
    return small, cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)), scale


def faces_found(picture: np.ndarray) -> tuple[list, list, float]:
    """(face boxes, (eyes, mouth) boxes per face, the scale they are at) in an RGB uint8
    picture, looked for at DETECT_SIDE at most; in a larger picture a face must also be found
    at CONFIRM_SIDE (overlapping half of it)."""
    small, grey, scale = shrunk(picture, DETECT_SIDE)
    boxes = detect_faces(small, grey)
    if boxes and max(picture.shape[:2]) > CONFIRM_SIDE:
        smaller, smaller_grey, smaller_scale = shrunk(picture, CONFIRM_SIDE)
        seen = [
            tuple(v * scale / smaller_scale for v in box)
            for box in detect_faces(smaller, smaller_grey)
        ]
        boxes = [box for box in boxes if any(overlap(box, other) >= 0.5 for other in seen)]
    return boxes, [face_parts(grey, box) for box in boxes], scale


def describe(found: FoundRegions) -> str:
    """One line: what was looked for and found, for the run's notes."""
    eyes = cv2.connectedComponents((found.eyes > 0).astype(np.uint8))[0] - 1
    mouths = cv2.connectedComponents((found.mouth > 0).astype(np.uint8))[0] - 1
    count = len(found.faces)
    faces = (
        f"{count} face{'s' * (count != 1)} ({eyes} eyes, {mouths} mouth{'s' * (mouths != 1)} found)"
    )
    if found.person_finder == FACES_ONLY:
        return f"[loss] auto_regions = faces: {faces}"
    people = float((found.person + found.face).mean())
    fallback = f" (people by {GRABCUT}: {NO_INTERPRETER})" if found.person_finder == GRABCUT else ""
    return (
        f"[loss] auto_regions = people: {faces}, people {100 * people:.0f}% of the "
        f"picture{fallback}"
    )


def not_found(name: str, people: bool) -> str:
    """The one line where nothing was found in the picture `name`: the run goes on without."""
    if people:
        return f"[loss] auto_regions = people: no person or face found in {name}"
    return f"[loss] auto_regions = faces: no face found in {name}"


def save_regions(found: FoundRegions, folder: Path) -> list[Path]:
    """region_<name>.png in `folder`, one grey image per region (white: in it), for a user to
    see, edit and give back as [paths] content_mask or style_masks."""
    written = []
    for name, mask in found.masks().items():
        path = Path(folder) / f"region_{name}.png"
        Image.fromarray(np.rint(np.clip(mask, 0, 1) * 255).astype(np.uint8)).save(path)
        written.append(path)
    return written


def carry_regions(
    previous: FoundRegions, found: FoundRegions | None, backward: np.ndarray, trusted: np.ndarray
) -> FoundRegions:
    """A video frame's regions, steady along the flow: the previous frame's regions carried
    by `backward` (the flow from this frame back to the previous one, nst.inputs.flow) and
    blended with those `found` in this frame, CARRIED_SHARE of the carried ones where the
    flow is `trusted` (consistency 1), only the found ones where it is not (disocclusions);
    where nothing is found this frame (the detector missed the face), the carried ones alone.
    Linear blends of partitions: background, person and face still sum to 1."""
    from nst.inputs.flow import warp  # the regions of a still photo need no flow

    def carried(mask: np.ndarray) -> np.ndarray:
        return np.clip(warp(np.ascontiguousarray(mask, np.float32), backward), 0.0, 1.0)

    moved = [carried(m) for m in (previous.person, previous.face, previous.eyes, previous.mouth)]
    if found is None:
        person, face, eyes, mouth = moved
        return FoundRegions(
            1.0 - person - face, person, face, previous.faces, eyes, mouth, previous.person_finder
        )
    share = CARRIED_SHARE * np.clip(trusted, 0.0, 1.0)
    now = (found.person, found.face, found.eyes, found.mouth)
    blended = (share * m + (1.0 - share) * n for m, n in zip(moved, now, strict=True))
    person, face, eyes, mouth = blended
    return FoundRegions(
        1.0 - person - face, person, face, found.faces, eyes, mouth, found.person_finder
    )
