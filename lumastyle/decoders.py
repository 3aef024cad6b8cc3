"""Decoders for photos Pillow and tifffile do not read: HEIC/HEIF (iPhones) and camera RAW files.

Contract (issue 29): :func:`decode` turns a file whose suffix is in :data:`SUFFIXES` into a
:class:`Decoded`: upright pixels (orientation applied), the embedded ICC profile and the metadata
blobs, so that :mod:`lumastyle.io` treats it like any other photo (profile conversion, metadata
carried into the output). :func:`size` reads (width, height) after orientation without decoding
pixels where the format allows. Every failure is a :class:`~lumastyle.errors.BadFileError` naming
the file.

THIS FILE IS A PLACEHOLDER FOR THE CONTRACT; the implementation is being written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Suffixes (lower case) this module decodes; :data:`lumastyle.io.IMAGE_SUFFIXES` includes them.
SUFFIXES: tuple[str, ...] = ()


@dataclass
class Decoded:
    """A decoded photo as it was stored.

    Attributes:
        array: (H, W, 3) or (H, W, 4) uint8 or uint16 pixels, upright, in the space ``icc_profile``
            describes (sRGB when it is None).
        icc_profile: the embedded ICC profile's bytes, or None.
        exif: the EXIF block as Pillow's ``Image.info["exif"]`` holds it (``Exif\\0\\0`` + TIFF
            structure), or None.
        xmp: the XMP packet's bytes, or None.
    """

    array: np.ndarray
    icc_profile: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None


def decode(path: Path, max_pixels: int | None = None) -> Decoded:
    """Decode ``path`` (its suffix is in :data:`SUFFIXES`)."""
    raise NotImplementedError(path)


def size(path: Path, max_pixels: int | None = None) -> tuple[int, int]:
    """(width, height) of ``path`` after orientation."""
    raise NotImplementedError(path)
