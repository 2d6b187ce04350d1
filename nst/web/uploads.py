"""The page's images and clips: uploads checked by the CLI's image loader (a clip: by decoding
its first frame, nst.web.clips), kept under generated names.

An upload lives in `<folder>/<id>/<name>.<ext>`: the id is the first 16 hex digits of the
SHA-256 of its bytes (the same file uploaded twice is stored once), the name the uploaded
file's stem reduced to safe characters (run folders are named after it), the extension the
format Pillow (a clip: its container) found. The uploaded file name is never used as a path.
`.thumb.png` beside it is a small PNG that any browser can show (uploads may be TIFF, 16-bit,
CMYK, a clip's first frame, ...); a clip has `.clip.json` too: its size, frames and duration.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from nst.inputs.images import ImageError, load_image, to_uint8
from nst.inputs.video_io import VIDEO_SUFFIXES
from nst.web.clips import TAKEN, ClipFacts, container_of, probe

_ID = re.compile(r"[0-9a-f]{16}")
THUMBNAIL = ".thumb.png"
THUMBNAIL_SIDE = 256
_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp", "TIFF": ".tif"}
MAX_PIXELS = 40_000_000  # decoded, an image costs ~35 bytes a pixel in the checks: 1.4 GB here
INCOMING = ".incoming-"
STALE_INCOMING_S = 600  # an upload being checked takes seconds; older ones were interrupted
# a clip keeps the suffix it was uploaded with where that names its container
_CLIP_SUFFIXES = {"mov": (".mp4", ".mov", ".m4v"), "matroska": (".mkv", ".webm"), "avi": (".avi",)}


class UploadError(ValueError):
    """An upload that is refused; the message is the image loader's, about the uploaded name."""


@dataclass(frozen=True)
class StoredImage:
    id: str
    path: Path  # the image or clip file itself (what a run's settings point at)
    clip: ClipFacts | None = None  # None: a still image

    @property
    def name(self) -> str:
        return self.path.name

    def public(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "thumbnail": f"/api/images/{self.id}",
            "kind": "image" if self.clip is None else "clip",
            "clip": None if self.clip is None else self.clip.public(),
        }


def safe_stem(filename: str) -> str:
    """The file name's stem in [A-Za-z0-9_-], at most 40 characters; 'image' if nothing is left."""
    stem = Path(filename.replace("\\", "/")).stem
    return re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:40] or "image"


def pixel_count(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file's header, without decoding it; None where Pillow cannot
    tell (the loader's own checks then say why)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                return image.size
    except Exception:  # any failure to read a header: the loader names the problem
        return None


class ImageStore:
    def __init__(self, folder: Path, max_pixels: int = MAX_PIXELS, max_bytes: int | None = None):
        self.folder = Path(folder)
        self.max_pixels = max_pixels
        self.max_bytes = max_bytes  # a clip on this machine larger than this is not offered

    def clean(self, older_than_s: float = STALE_INCOMING_S) -> int:
        """Remove uploads that were interrupted while being checked (killed server)."""
        if not self.folder.is_dir():
            return 0
        removed = 0
        for path in self.folder.glob(f"{INCOMING}*"):
            if path.is_symlink() or time.time() - path.lstat().st_mtime < older_than_s:
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
        return removed

    def check_size(self, path: Path, shown: str) -> None:
        """Refuse an image of more than `max_pixels` before decoding it (a small file can
        unpack to gigabytes)."""
        size = pixel_count(path)
        if size is not None and size[0] * size[1] > self.max_pixels:
            raise UploadError(
                f"{shown} is {size[0]} × {size[1]} pixels ({size[0] * size[1] / 1e6:.0f} "
                f"megapixels); the studio takes at most {self.max_pixels / 1e6:g} megapixels: "
                "make it smaller first (a run paints at most [image] max_size anyway)"
            )

    def add(self, data: bytes, filename: str) -> StoredImage:
        """Check `data` with the image loader; store it once; UploadError if it is refused."""
        image_id = hashlib.sha256(data).hexdigest()[:16]
        known = self.get(image_id)
        if known is not None:
            return known
        self.folder.mkdir(parents=True, exist_ok=True)
        incoming = self.folder / f"{INCOMING}{secrets.token_hex(8)}"
        incoming.mkdir()
        shown = Path(filename.replace("\\", "/")).name or "the upload"
        try:
            return self._keep(incoming, data, image_id, safe_stem(filename), shown)
        except ImageError as error:
            # The loader names its temporary file; the user knows the file by its own name.
            raise UploadError(str(error).replace(str(incoming / "upload"), shown)) from None
        finally:
            shutil.rmtree(incoming, ignore_errors=True)

    def _keep(
        self, incoming: Path, data: bytes, image_id: str, stem: str, shown: str
    ) -> StoredImage:
        path = incoming / "upload"
        path.write_bytes(data)
        container = container_of(data[:12])
        if container is not None:
            pixels, extension = self._clip(incoming, path, container, shown)
        elif Path(shown).suffix.lower() in VIDEO_SUFFIXES:  # named a video, but is none we take
            raise ImageError(
                f"clip {path} is not a video the studio takes (by its content: no {TAKEN}); "
                "convert it to H.264 mp4 (or run it with python main.py)"
            )
        else:
            self.check_size(path, shown)
            pixels = load_image(path)  # the CLI's checks: broken, foreign, bomb-sized, ...
            with Image.open(path) as image:
                extension = _EXTENSIONS.get(image.format or "", ".img")
        thumbnail = Image.fromarray(to_uint8(pixels))
        thumbnail.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        thumbnail.save(incoming / THUMBNAIL)
        path.rename(incoming / f"{stem}{extension}")
        try:
            incoming.rename(self.folder / image_id)
        except OSError:  # stored meanwhile by another request: that copy is the same bytes
            pass
        return self.get(image_id)

    def _clip(
        self, incoming: Path, path: Path, container: tuple[str, str], shown: str
    ) -> tuple[np.ndarray, str]:
        """A clip's first frame (its thumbnail) and its file's suffix; its facts saved."""
        default, demuxer = container
        facts, first = probe(path, demuxer, self.max_pixels)
        facts.save(incoming)
        suffix = Path(shown).suffix.lower()
        return first, suffix if suffix in _CLIP_SUFFIXES[demuxer] else default

    def add_file(self, path: Path) -> StoredImage:
        """An image or clip on this machine (the config's, an earlier run's), stored as an
        upload."""
        path = Path(path)
        if not path.is_file():
            raise UploadError(f"image {path} does not exist")
        with open(path, "rb") as file:
            head = file.read(12)
        if container_of(head) is not None:
            size = path.stat().st_size
            if self.max_bytes is not None and size > self.max_bytes:
                raise UploadError(f"clip {path} is larger than an upload may be")
            return self.add(path.read_bytes(), path.name)
        self.check_size(path, str(path))
        try:
            load_image(path)  # before reading it whole: a bomb-sized file is refused here
        except ImageError as error:
            raise UploadError(str(error)) from None
        return self.add(path.read_bytes(), path.name)

    def get(self, image_id: str) -> StoredImage | None:
        """The stored image of this id; None for an unknown or malformed id."""
        if not isinstance(image_id, str) or not _ID.fullmatch(image_id):
            return None
        folder = self.folder / image_id
        if folder.is_symlink() or not folder.is_dir():
            return None
        files = [p for p in folder.iterdir() if not p.name.startswith(".") and p.is_file()]
        if len(files) != 1 or files[0].is_symlink():
            return None
        return StoredImage(image_id, files[0], ClipFacts.load(folder))

    def find(self, path: Path) -> StoredImage | None:
        """The stored copy of the image file at `path` (same bytes), without storing it."""
        try:
            data = Path(path).read_bytes() if Path(path).is_file() else None
        except OSError:
            return None
        return None if data is None else self.get(hashlib.sha256(data).hexdigest()[:16])

    def remove(self, image_id: str) -> bool:
        """Delete a stored image (its folder inside the upload folder, nothing else); False
        for an unknown or malformed id."""
        if self.get(image_id) is None:
            return False
        shutil.rmtree(self.folder / image_id)
        return True

    def thumbnail(self, image_id: str) -> Path | None:
        """The thumbnail the store made; None where it is missing or not a plain file."""
        stored = self.get(image_id)
        if stored is None:
            return None
        path = stored.path.parent / THUMBNAIL
        return path if path.is_file() and not path.is_symlink() else None

    def all(self) -> list[StoredImage]:
        """Every stored image, newest first."""
        if not self.folder.is_dir():
            return []
        found = [self.get(p.name) for p in self.folder.iterdir()]
        found = [image for image in found if image is not None]
        return sorted(found, key=lambda image: image.path.stat().st_mtime, reverse=True)
