"""The web studio's portrait mode: the [loss] auto_regions toggle in the form and the preview
of the found regions (nst.web.regions), through Flask's test client."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.helpers.portrait import background, needs_cascades, picture_with_face
from tests.helpers.web import upload


def png(array: np.ndarray) -> bytes:
    data = io.BytesIO()
    Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)).save(data, format="PNG")
    return data.getvalue()


def test_the_form_offers_the_toggle_and_the_page_loads_the_preview_script(client):
    fields = {item["name"]: item for item in client.get("/api/form").json["fields"]}
    field = fields["loss.auto_regions"]
    assert field["value"] == "faces" and field["choices"] == ["off", "faces", "people"]
    assert "loss.face_content" in fields
    page = client.get("/")
    assert b"/static/regions.js" in page.data
    script = client.get("/static/regions.js")
    assert script.status_code == 200 and b"/regions" in script.data
    assert b"://" not in script.data  # nothing fetched from elsewhere


@needs_cascades
def test_the_preview_shows_the_face_where_it_is(client):
    image = upload(client, png(picture_with_face(90, 40, shape=(200, 150))), "face.png").json
    answer = client.get(f"/api/images/{image['id']}/regions")
    assert answer.status_code == 200 and answer.mimetype == "image/png"
    assert "1 face" in answer.headers["X-Regions"]
    shown = np.asarray(Image.open(io.BytesIO(answer.data)).convert("RGB")).astype(float)
    assert shown.shape == (150, 200, 3)
    face = shown[40 + 26, 90 + 28]
    assert face[0] > face[1] + 20  # the face tinted red
    original = background(200, 150)[5, 5]
    np.testing.assert_allclose(shown[5, 5], 0.45 * original, atol=2)  # the background dimmed


@needs_cascades
def test_a_photo_without_a_face_gets_the_one_line_note(client):
    image = upload(client, png(background(120, 90)), "empty.png").json
    answer = client.get(f"/api/images/{image['id']}/regions")
    assert answer.status_code == 422
    error = answer.json["error"]
    assert "no face found in empty.png" in error and "without regions" in error
    people = client.get(f"/api/images/{image['id']}/regions?find=people")
    assert people.status_code == 422
    assert "no person or face found in empty.png" in people.json["error"]


@needs_cascades
def test_the_preview_finds_the_faces_alone_unless_asked_for_people(client, monkeypatch):
    from nst.inputs import portrait

    def refuse(*_args, **_kwargs):
        raise AssertionError("the selfie model was loaded for a faces preview")

    image = upload(client, png(picture_with_face(90, 40, shape=(200, 150))), "face.png").json
    with monkeypatch.context() as patched:
        patched.setattr(portrait, "selfie_interpreter", refuse)
        faces = client.get(f"/api/images/{image['id']}/regions?find=faces")
    assert faces.status_code == 200 and "people" not in faces.headers["X-Regions"]
    people = client.get(f"/api/images/{image['id']}/regions?find=people")
    assert people.status_code == 200 and "people" in people.headers["X-Regions"]
    assert client.get(f"/api/images/{image['id']}/regions?find=sky").status_code == 400


@pytest.mark.parametrize("image_id", ["nope", "../etc", "0" * 32])
def test_an_unknown_image_is_404(client, image_id):
    answer = client.get(f"/api/images/{image_id}/regions")
    assert answer.status_code == 404 and "error" in answer.json
