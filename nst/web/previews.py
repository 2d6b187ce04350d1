"""What the page shows of a run's pictures: a print-sized result downscaled for the screen.

A 4096x3072 16-bit final.png is some 70 MB: the browser would load and decode all of it to
draw a picture a few hundred pixels wide. The page shows a copy whose longer side is at most
VIEW_MAX_SIDE, as sRGB JPEG, made once per file version and kept in memory; the download
links stay the files themselves.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from pathlib import Path

from PIL import Image, ImageCms

from nst.inputs.images import srgb_profile

VIEW_MAX_SIDE = 2048
AS_IS_BYTES = 4 << 20  # a picture this small, in sRGB and within the size, is sent as it is
KEPT = 32  # display copies held (each a few hundred kB)
QUALITY = 90


class Previews:
    """Display copies of run pictures, the most recently used KEPT, keyed by file version
    (path, size, modification time): a rewritten final.png gets a new copy."""

    def __init__(self, max_side: int = VIEW_MAX_SIDE, kept: int = KEPT) -> None:
        self.max_side, self.kept = max_side, kept
        self._copies: OrderedDict[tuple, bytes | None] = OrderedDict()
        self._lock = threading.Lock()

    def view(self, path: Path) -> bytes | None:
        """A JPEG to show for the picture at `path`, or None where the file itself is fit to
        show (small, sRGB or untagged)."""
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if key in self._copies:
                self._copies.move_to_end(key)
                return self._copies[key]
        copy = display_copy(path, self.max_side, stat.st_size)
        with self._lock:
            self._copies[key] = copy
            while len(self._copies) > self.kept:
                self._copies.popitem(last=False)
        return copy


def display_copy(path: Path, max_side: int, size_bytes: int) -> bytes | None:
    """The picture at `path` fitted within max_side x max_side, converted from its embedded
    profile to sRGB, as JPEG; None where it already fits, is sRGB or untagged, and is small."""
    with Image.open(path) as image:
        profile = image.info.get("icc_profile")
        foreign = bool(profile) and profile != srgb_profile().tobytes()
        if max(image.size) <= max_side and not foreign and size_bytes <= AS_IS_BYTES:
            return None
        factor = max(image.size) // max_side
        picture = image.reduce(factor) if factor >= 2 else image.copy()  # fast, then exact
    picture = picture.convert("RGB")
    picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    if foreign:
        picture = _to_srgb(picture, profile)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=QUALITY)
    return buffer.getvalue()


def _to_srgb(picture: Image.Image, profile: bytes) -> Image.Image:
    """Browsers would manage an embedded profile, a JPEG without one is taken as sRGB: the
    copy's colours are converted (a profile that cannot be read: shown as it is)."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        return ImageCms.profileToProfile(picture, source, srgb_profile(), outputMode="RGB")
    except (OSError, ImageCms.PyCMSError):
        return picture
