"""The pixel limit: the largest photo lumastyle decodes, a guard against decompression bombs (a small
file that decodes to gigabytes).

Every reader (:mod:`lumastyle.io`, :mod:`lumastyle.decoders`) checks a photo's size from its header
with :func:`check_pixels` before decoding it. The limit is an argument (the DataModules' and
``stylize``'s ``max_pixels``), else ``LUMASTYLE_MAX_PIXELS``, else :data:`DEFAULT_MAX_PIXELS`; it is
never written to the environment.
"""

from __future__ import annotations

import operator
import os
from pathlib import Path

from lumastyle.errors import BadFileError, LumastyleError

#: The largest photo read, in pixels, unless ``LUMASTYLE_MAX_PIXELS`` says otherwise: photos from
#: today's cameras (up to ~100 MP) open, a decompression bomb does not.
DEFAULT_MAX_PIXELS = 200_000_000


def max_pixels(limit: int | None = None) -> int:
    """The pixel limit in force: ``limit`` when given, else ``LUMASTYLE_MAX_PIXELS``, else
    :data:`DEFAULT_MAX_PIXELS`. A limit below 1 is a one-line LumastyleError."""
    if limit is not None:
        if limit < 1:
            raise LumastyleError(f"max_pixels must be a positive number of pixels, got {limit}")
        return int(limit)
    value = os.environ.get("LUMASTYLE_MAX_PIXELS", "")
    return int(value) if value.strip().isdigit() else DEFAULT_MAX_PIXELS


def check_pixels(path: Path, width: int, height: int, limit: int | None = None) -> None:
    """Raise :class:`BadFileError` naming ``path`` when ``width`` x ``height`` is above the limit in
    force (:func:`max_pixels`); a ValueError when the size is not a positive integer pair (a malformed header)."""
    try:
        width, height = operator.index(width), operator.index(height)
    except TypeError:
        raise ValueError(f"invalid image size {width!r}x{height!r}") from None
    if width < 1 or height < 1:
        raise ValueError(f"invalid image size {width}x{height}")
    limit = max_pixels(limit)
    if width * height > limit:
        raise BadFileError(
            path,
            f"{width}x{height} is {width * height / 1e6:.3g} MP, above the {limit / 1e6:.3g} MP limit "
            "(a guard against decompression bombs); if the photo is genuine, raise it with --max_pixels N "
            "(or LUMASTYLE_MAX_PIXELS=N)"
        )
