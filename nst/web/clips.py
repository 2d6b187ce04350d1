"""A clip uploaded as the content: recognised by its first bytes, checked by decoding its first
frame with PyAV (what nst.inputs.video_io reads it with), its facts for the page.

Only the containers people upload from phones and editors are taken: MP4/MOV, Matroska/WebM
and AVI. The demuxer is chosen from the file's own signature and passed to FFmpeg by name,
never guessed by FFmpeg from the bytes: its playlist and concat demuxers would open the files
(or addresses) that an uploaded text names, and a thumbnail would show them.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from nst.inputs.images import ImageError, first_line

# the studio's suffix and FFmpeg's demuxer for each signature (checked in this order)
MP4, MATROSKA, AVI = (".mp4", "mov"), (".mkv", "matroska"), (".avi", "avi")
TAKEN = "mp4, mov, m4v, webm, mkv or avi"
FACTS = ".clip.json"  # beside a stored clip: what the page shows of it
_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")
# ISO files that are pictures (AVIF, HEIC): the image loader's, not clips
_PICTURE_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1")


@dataclass(frozen=True)
class ClipFacts:
    width: int
    height: int
    frames: int  # the container's count, or its video packets where it keeps none
    duration_s: float | None  # None where the container does not say
    fps: float | None

    def public(self) -> dict:
        return asdict(self)

    def save(self, folder: Path) -> None:
        (Path(folder) / FACTS).write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, folder: Path) -> ClipFacts | None:
        """The facts saved beside a stored clip; None where there are none (an image)."""
        path = Path(folder) / FACTS
        if path.is_symlink() or not path.is_file():
            return None
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


def container_of(head: bytes) -> tuple[str, str] | None:
    """(suffix, FFmpeg demuxer) of a video file from its first 12 bytes; None: not a clip the
    studio takes."""
    if head[4:8] in _MP4_BOXES:
        return None if head[8:12] in _PICTURE_BRANDS else MP4
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return MATROSKA
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return AVI
    return None


def probe(path: Path, demuxer: str, max_pixels: int) -> tuple[ClipFacts, np.ndarray]:
    """The clip's facts and its first frame (uint8 RGB), decoding nothing else; ImageError
    (one line, naming `path`) where FFmpeg cannot read it or its frames are too large."""
    try:
        with warnings.catch_warnings(), av.open(str(path), format=demuxer) as container:
            warnings.simplefilter("ignore")
            if not container.streams.video:
                raise ImageError(f"video {path} has no frames (no video stream in it)")
            stream = container.streams.video[0]
            facts = _facts(path, container, stream, max_pixels)
            first = next(container.decode(stream), None)
            if first is None:
                raise ImageError(f"video {path} has no frames: check the file")
            picture = first.to_ndarray(format="rgb24")
    except ImageError:
        raise
    except (av.FFmpegError, OSError, ValueError, MemoryError) as error:
        why = error.strerror if isinstance(error, av.FFmpegError) and error.strerror else None
        raise ImageError(
            f"cannot read video {path}: {why or first_line(error)}; the file is damaged, "
            "incomplete or not a video: export or download it again"
        ) from None
    return facts, picture


def _facts(path: Path, container, stream, max_pixels: int) -> ClipFacts:
    """What the headers say (the frame size checked before any frame is decoded)."""
    context = stream.codec_context
    if context is None:
        raise ImageError(
            f"video {path} uses a codec this FFmpeg (PyAV's) cannot decode: convert it to H.264 mp4"
        )
    width, height = context.width, context.height
    if width * height > max_pixels:
        raise ImageError(
            f"video {path} has frames of {width} × {height} pixels; the studio takes at most "
            f"{max_pixels / 1e6:g} megapixels a frame: make it smaller first"
        )
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    else:
        duration = container.duration / av.time_base if container.duration else None
    fps = float(stream.average_rate) if stream.average_rate else None
    frames = stream.frames or _count_packets(container, stream)
    container.seek(0)  # counting read to the end; the first frame is decoded next
    return ClipFacts(width, height, frames, duration, fps)


def _count_packets(container, stream) -> int:
    """The video packets of a container that keeps no frame count (Matroska): one a frame;
    demuxed only, nothing decoded."""
    return sum(1 for packet in container.demux(stream) if packet.size)
