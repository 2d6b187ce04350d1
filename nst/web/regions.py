"""The web studio's preview of [loss] auto_regions: the regions that a run would find in the
chosen content upload (nst.inputs.portrait), as an overlay PNG, before Start.

GET /api/images/<id>/regions[?find=people]: 200 image/png (the photo, the faces tinted red,
with find=people the rest of the people green; the rest dimmed), or 422 JSON with the run's
one-line note where nothing is found, 404 for an unknown image, 400 for another find. Without
find, the faces alone (auto_regions = faces, the default). The picture is looked at, at most
PREVIEW_SIDE pixels along its longer side (the finder itself works at 640 px at most).
"""

from __future__ import annotations

import io
import threading

import numpy as np
from flask import Flask, abort, request, send_file
from PIL import Image

from nst.inputs.images import ImageError, load_image, resize
from nst.inputs.portrait import FoundRegions, describe, find_regions, not_found

PREVIEW_SIDE = 512
FACE_TINT, PERSON_TINT = (235.0, 60.0, 60.0), (60.0, 200.0, 90.0)
TINT = 0.45  # how far a region's pixels go towards its colour
DIMMED = 0.45  # the background's brightness


def overlay(picture: np.ndarray, found: FoundRegions) -> np.ndarray:
    """The picture (RGB 0..255) with the found regions shown: uint8 (height, width, 3)."""
    face, person = found.face[..., None], found.person[..., None]
    shown = picture * (found.background[..., None] * DIMMED + face + person)
    shown = shown + TINT * face * (np.array(FACE_TINT) - picture)
    shown = shown + TINT * person * (np.array(PERSON_TINT) - picture)
    return np.clip(np.rint(shown), 0, 255).astype(np.uint8)


def preview_png(path, people: bool = False) -> tuple[bytes | None, str]:
    """(the overlay as PNG bytes, or None where nothing is found; the one line about it);
    `people`: as auto_regions = people finds them, else the faces alone."""
    picture = load_image(path)
    height, width = picture.shape[:2]
    scale = min(1.0, PREVIEW_SIDE / max(height, width))
    size = max(1, round(width * scale)), max(1, round(height * scale))
    picture = resize(picture, *size)
    found = find_regions(picture, people=people)
    if found is None:
        return None, f"{not_found(path.name, people)}: a run goes without regions"
    data = io.BytesIO()
    Image.fromarray(overlay(picture, found)).save(data, format="PNG")
    return data.getvalue(), describe(found)


def register(app: Flask, store) -> None:
    """The preview route, on `store` (nst.web.uploads.ImageStore)."""
    # one at a time: the people's finder takes a core for about a second (TensorFlow's
    # import first), the faces' a fraction of one
    finding = threading.BoundedSemaphore(1)

    @app.get("/api/images/<image_id>/regions")
    def found_regions(image_id: str):
        stored = store.get(image_id)
        if stored is None:
            abort(404, "no such image")
        find = request.args.get("find", "faces")
        if find not in ("faces", "people"):
            abort(400, f"find = {find[:40]}: expected faces or people")
        with finding:
            try:
                png, line = preview_png(stored.path, people=find == "people")
            except ImageError as problem:
                abort(422, str(problem))
        if png is None:
            abort(422, line)
        response = send_file(io.BytesIO(png), mimetype="image/png", max_age=0)
        response.headers["X-Regions"] = line
        return response
