"""Images in and out: load with Pillow, resize, and turn float arrays back into pixels.

In memory an image is a float32 array (height, width, 3), RGB, values 0..255: the input
contract of the feature extractor, which applies the network's own preprocessing itself.
"""

from __future__ import annotations

import functools
import io
import re
import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError


class ImageError(ValueError):
    """An image that cannot be used; the message names the file and the problem."""


# First bytes of formats people try that Pillow cannot read, for a message that says so.
_FOREIGN_FORMATS = {
    b"%PDF": "a PDF document",
    b"<svg": "an SVG drawing",
    b"<?xml": "an XML file (SVG?)",
    b"ftypheic": "a HEIC photo",
    b"ftypheix": "a HEIC photo",
    b"ftypmif1": "a HEIF photo",
    b"ftypavif": "an AVIF image",
}
_CONVERT_HINT = "give a PNG or JPEG image (or convert it to one)"


def load_image(path: Path, on_note: Callable[[str], None] | None = None) -> np.ndarray:
    """The image at `path` upright (EXIF orientation applied), RGB, float32 0..255.

    Files with several frames (animated GIF, multi-page TIFF) give their first frame and a
    note through `on_note`. Every unusable file raises ImageError naming it and the fix.
    """
    path = Path(path)
    _check_file(path)
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice it; refuse there too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                frames = getattr(image, "n_frames", 1)
                if frames > 1 and on_note is not None:
                    on_note(f"{path} has {frames} frames; using the first")
                image.load()  # decode now, so a damaged file fails here
                upright = ImageOps.exif_transpose(image)
                upright.info.setdefault("icc_profile", image.info.get("icc_profile"))
                return _to_rgb(_sample_format(upright, image), path, on_note)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        size = re.search(r"\((\d+) pixels\)", str(error))
        pixels = f"{int(size[1]) / 1e6:.0f} megapixels" if size else "too many pixels"
        raise ImageError(
            f"image {path} has {pixels}, more than Pillow's safety limit of "
            f"{Image.MAX_IMAGE_PIXELS / 1e6:.0f} (a guard against decompression bombs): "
            f"scale it down first"
        ) from None
    except UnidentifiedImageError:
        raise ImageError(f"image {path} is {_sniff(path)}: {_CONVERT_HINT}") from None
    except PermissionError:
        raise ImageError(f"cannot read image {path}: permission denied") from None
    except MemoryError:
        raise ImageError(f"image {path} is too large to load into memory") from None
    except Exception as error:  # Pillow's decoders raise many kinds for a damaged file
        raise ImageError(
            f"cannot read image {path}: {first_line(error)}; the file is damaged or "
            f"incomplete (truncated?): export or download it again"
        ) from None


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ImageError(f"image {path} does not exist")
    if path.is_dir():
        raise ImageError(f"image {path} is a folder, not an image")
    if not path.is_file():
        raise ImageError(f"image {path} is not a regular file")
    if path.stat().st_size == 0:
        raise ImageError(f"image {path} is an empty file (0 bytes)")


def _sniff(path: Path) -> str:
    """What a file Pillow cannot identify seems to be, from its first bytes."""
    with open(path, "rb") as file:
        head = file.read(64)
    for magic, what in _FOREIGN_FORMATS.items():
        if magic in head[:16].lstrip():
            return f"{what}, a format nst cannot read"
    printable = sum(32 <= byte < 127 or byte in b"\t\r\n" for byte in head)
    if printable >= 0.9 * len(head):
        return "a text file, not an image"
    return "not an image format nst can read (it reads PNG, JPEG, GIF, TIFF, BMP, WebP, ...)"


def first_line(error: BaseException) -> str:
    """The first line of an error's message (its type's name where it has none): what nst's
    one-line messages quote of a library's error."""
    return (str(error).strip().splitlines() or [""])[0] or type(error).__name__


def _sample_format(image: Image.Image, source: Image.Image) -> Image.Image:
    """Remember a TIFF's SampleFormat (1 unsigned, 2 signed, 3 float): Pillow reads unsigned
    32-bit samples into its signed mode I, so they must be reinterpreted."""
    tags = getattr(source, "tag_v2", None)
    sample_format = tags.get(339, 1) if tags is not None else 1
    image.info["nst_sample_format"] = (
        sample_format[0] if isinstance(sample_format, tuple) else sample_format
    )
    return image


def _to_rgb(image: Image.Image, path: Path, on_note: Callable[[str], None] | None) -> np.ndarray:
    try:
        return _pixels_rgb(image, path, on_note)
    except (ValueError, OSError, ImageCms.PyCMSError) as error:  # e.g. "LAB to RGB"
        raise ImageError(
            f"image {path} has the colour mode {image.mode}, which nst cannot turn into RGB "
            f"({first_line(error)}): save it as an RGB PNG or JPEG"
        ) from None


def _pixels_rgb(
    image: Image.Image, path: Path, on_note: Callable[[str], None] | None
) -> np.ndarray:
    """sRGB pixels 0..255: deep and float samples scaled by their range, an embedded ICC
    profile (or a LAB image's own colour space) converted to sRGB, transparency on white."""
    if image.mode == "F" or image.mode.startswith("I"):
        return np.repeat(_scaled_grey(image)[..., None], 3, axis=2)
    icc = image.info.get("icc_profile")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        # Composite in the file's own colour space: its white is white in every profile.
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
        image = image.convert("RGB" if image_bands(icc) != 1 else "L")
    elif image.mode in ("P", "1"):
        image = image.convert("RGB" if image_bands(icc) != 1 else "L")
    if icc or image.mode == "LAB":
        image = _profile_to_srgb(image, icc, path, on_note)
    return np.asarray(image.convert("RGB"), dtype=np.float32)


def image_bands(icc: bytes | None) -> int | None:
    """Number of colour bands an ICC profile describes (1 grey, 3 RGB/LAB, 4 CMYK); None
    without a profile or for one that cannot be read."""
    source = _read_profile(icc)
    if source is None:
        return None
    return {"GRAY": 1, "CMYK": 4}.get(source.profile.xcolor_space.strip(), 3)


def _read_profile(icc: bytes | None) -> ImageCms.ImageCmsProfile | None:
    if not icc:
        return None
    try:
        return ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ImageCms.PyCMSError, TypeError, ValueError):
        return None


def _profile_to_srgb(
    image: Image.Image, icc: bytes | None, path: Path, on_note: Callable[[str], None] | None
) -> Image.Image:
    """`image` converted from its embedded profile (a LAB image: from CIE LAB) to sRGB; a
    profile that is damaged or does not fit the image's mode is ignored, with a note."""
    source = _read_profile(icc) if icc else ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB"))
    if source is None:
        _note(on_note, f"{path} has a damaged colour profile; reading its colours as sRGB")
        return image
    try:
        return ImageCms.profileToProfile(
            image,
            source,
            srgb_profile(),
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            outputMode="RGB",
        )
    except ImageCms.PyCMSError as error:
        if image.mode == "LAB":
            raise ValueError(f"LAB with an unusable profile: {error}") from None
        _note(
            on_note,
            f"{path}: its colour profile does not fit its {image.mode} pixels ({error}); "
            f"reading its colours as sRGB",
        )
        return image


def _note(on_note: Callable[[str], None] | None, text: str) -> None:
    if on_note is not None:
        on_note(text)


def _scaled_grey(image: Image.Image) -> np.ndarray:
    """Grey samples of a deep or float image as 0..255: floats are taken as 0..1 (as TIFF
    writers use them) unless they exceed 1, integers by the smallest of 8, 16 or 32 bits
    that holds their largest value; negative values become 0."""
    grey = np.asarray(image)
    if grey.dtype == np.int32 and image.info.get("nst_sample_format") == 1:
        grey = grey.view(np.uint32)  # Pillow's mode I is signed: unsigned data wrapped
    grey = grey.astype(np.float64)
    finite = grey[np.isfinite(grey)]
    top = float(finite.max()) if finite.size else 0.0
    if image.mode == "F":
        full = 1.0 if top <= 1.0 else 255.0 if top <= 255.0 else top
    elif image.mode.startswith("I;16"):
        full = 65535.0
    else:
        full = next(f for f in (255.0, 65535.0, 2.0**31 - 1, 2.0**32 - 1) if top <= f)
    grey = np.nan_to_num(grey, nan=0.0, posinf=full, neginf=0.0)
    return np.clip(grey * (255.0 / full), 0.0, 255.0).astype(np.float32)


@functools.cache
def srgb_profile() -> ImageCms.ImageCmsProfile:
    """The sRGB colour profile (LittleCMS's built-in), the space of every image nst handles."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def png_bytes(
    pixels: np.ndarray, bit_depth: int = 8, dpi: float | None = None, profile: bytes | None = None
) -> bytes:
    """Float 0..255 (or uint8) RGB pixels as a PNG tagged as sRGB (its ICC profile embedded;
    `profile`: the pixels are in that profile instead, and it is embedded), 8 or 16 bits per
    sample; `dpi`, when given, is written as its print resolution (pHYs).

    16 bits keep the fractional levels of the float result (a smooth sky stays smooth when
    a print's curves stretch it); Pillow holds no 16-bit RGB, so OpenCV encodes those."""
    icc = profile or srgb_profile().tobytes()
    if bit_depth == 16:
        encoded = _png16(pixels)
        name = b"ICC profile" if profile else b"sRGB"
        return _with_chunks(encoded, _iccp_chunk(icc, name), _phys_chunk(dpi))
    if bit_depth != 8:
        raise ValueError(f"bit_depth {bit_depth}: PNG is written with 8 or 16 bits")
    buffer = io.BytesIO()
    picture = Image.fromarray(to_uint8(pixels) if pixels.dtype != np.uint8 else pixels)
    extra = {"dpi": (dpi, dpi)} if dpi else {}
    picture.save(buffer, format="PNG", icc_profile=icc, **extra)
    return buffer.getvalue()


def embedded_profile(path: Path) -> bytes | None:
    """The ICC profile the picture at `path` carries (read with its header), or None: it has
    none, or it cannot be read."""
    try:
        with Image.open(path) as image:
            return image.info.get("icc_profile") or None
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def to_uint16(image: np.ndarray) -> np.ndarray:
    """Float 0..255 pixels -> 0..65535 (255 -> 65535: x 257), rounded and clipped."""
    return np.clip(np.rint(np.asarray(image, np.float64) * 257.0), 0, 65535).astype(np.uint16)


def _png16(pixels: np.ndarray) -> bytes:
    import cv2  # only for 16-bit output: OpenCV loads in ~0.2 s

    samples = pixels.astype(np.uint16) * 257 if pixels.dtype == np.uint8 else to_uint16(pixels)
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(samples[..., ::-1]))  # BGR
    if not ok:
        raise ValueError("OpenCV could not encode a 16-bit PNG")
    return encoded.tobytes()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _iccp_chunk(profile: bytes, name: bytes = b"sRGB") -> bytes:
    """PNG's embedded ICC profile: a name, NUL, compression method 0, the zlib'd profile."""
    return _chunk(b"iCCP", name + b"\0\0" + zlib.compress(profile))


def _phys_chunk(dpi: float | None) -> bytes:
    """PNG's pixel density (pixels per metre, unit 1), or nothing without a dpi."""
    if not dpi:
        return b""
    per_metre = round(dpi / 0.0254)
    return _chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1))


def _with_chunks(png: bytes, *chunks: bytes) -> bytes:
    """`png` with `chunks` right after its header chunk (IHDR: 8 + 25 bytes), where iCCP and
    pHYs must come (before the image data)."""
    header_end = 8 + 12 + struct.unpack(">I", png[8:12])[0]
    return png[:header_end] + b"".join(chunks) + png[header_end:]


def print_size(width: int, height: int, dpi: float) -> str:
    """What a print of width x height pixels measures at `dpi`: '4096x3072 px, at 300 dpi
    34.7x26.0 cm (13.7x10.2 in)' (ASCII: it goes to any terminal)."""
    inches = width / dpi, height / dpi
    return (
        f"{width}x{height} px, at {dpi:g} dpi {inches[0] * 2.54:.1f}x{inches[1] * 2.54:.1f} cm "
        f"({inches[0]:.1f}x{inches[1]:.1f} in)"
    )


def upright_size(path: Path) -> tuple[int, int]:
    """(width, height) of the image at `path` as `load_image` gives it (EXIF rotation
    applied), read from its header without decoding the pixels."""
    with Image.open(path) as image:
        width, height = image.size
        orientation = image.getexif().get(0x0112, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def fit_size(width: int, height: int, max_size: int) -> tuple[int, int]:
    """(width, height) scaled so that the longer side is `max_size`, aspect kept."""
    scale = max_size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """`image` resized to (width, height) with a high-quality (Lanczos) filter."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    channels = [
        Image.fromarray(np.ascontiguousarray(image[..., c], dtype=np.float32)).resize(
            (width, height), Image.Resampling.LANCZOS
        )
        for c in range(image.shape[2])
    ]
    return np.clip(np.stack([np.asarray(c) for c in channels], axis=2), 0.0, 255.0)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float 0..255 pixels -> uint8, rounded and clipped to valid pixels."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def load_pair(
    content_path: Path,
    style_path: Path,
    max_size: int,
    on_note: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The content image with its longer side `max_size`, and the style image resized to the
    content's width and height (stretched, as in the paper)."""
    content = load_image(content_path, on_note)
    width, height = fit_size(content.shape[1], content.shape[0], max_size)
    style = load_image(style_path, on_note)
    return resize(content, width, height), resize(style, width, height)
