"""Photoshop ``.acv`` curves files.

Layout (big-endian uint16): version, curve count, then for each curve a point count followed by
(output, input) pairs in 0..255 (output first). Curves are composite (RGB), red, green, blue; files
may hold more (e.g. CMYK or per-channel extras), which are ignored.
"""

from __future__ import annotations

import itertools
import os
import struct
from pathlib import Path

from lumastyle.actions.action import Action, read_look_file
from lumastyle.actions.ops import IDENTITY_CURVE
from lumastyle.actions.registry import register_look_format
from lumastyle.errors import LumastyleError
from lumastyle.io import atomic_path

CHANNELS = ("master", "r", "g", "b")  # the order of the curves in the file
_MAX_POINTS = 64  # Photoshop writes at most 16; allow some slack for other tools
_FIX = "re-save the curves from Photoshop"


@register_look_format(".acv")
def read_acv(path: str | os.PathLike) -> Action:
    """A .acv file as a one-step ``curves`` action; a malformed file raises a one-line error naming it."""
    path = Path(path)
    data = read_look_file(path)
    pos = 0

    def take(n: int) -> tuple[int, ...]:
        nonlocal pos
        if pos + 2 * n > len(data):
            raise LumastyleError(
                f"{path}: truncated .acv file (it ends at byte {len(data)}, needed {pos + 2 * n}); {_FIX}"
            )
        values = struct.unpack_from(f">{n}H", data, pos)
        pos += 2 * n
        return values

    version, count = take(2)
    if version not in (1, 4) or not 1 <= count <= 32:
        raise LumastyleError(
            f"{path}: not a Photoshop curves file (version {version}, {count} curves; expected version 1 or 4); {_FIX}"
        )
    params = {}
    for name in CHANNELS[: min(count, len(CHANNELS))]:
        (n_points,) = take(1)
        if not 2 <= n_points <= _MAX_POINTS:
            raise LumastyleError(
                f"{path}: curve '{name}' has {n_points} points; expected 2 to {_MAX_POINTS}; {_FIX}"
            )
        raw = take(2 * n_points)
        if max(raw) > 255:
            raise LumastyleError(f"{path}: curve '{name}' has a value above 255 ({max(raw)}); {_FIX}")
        points = [
            [raw[i + 1] / 255.0, raw[i] / 255.0] for i in range(0, len(raw), 2)
        ]  # stored (output, input)
        inputs = [p[0] for p in points]
        if any(b <= a for a, b in itertools.pairwise(inputs)):
            raise LumastyleError(f"{path}: curve '{name}' inputs are not increasing ({raw[1::2]}); {_FIX}")
        if points != IDENTITY_CURVE:
            params[name] = points
    return Action([("curves", params)], str(path))


def write_acv(path: str | os.PathLike, curves: dict[str, list[list[float]]]) -> Path:
    """Write ``{master|r|g|b: [[x, y], ...]}`` (values in 0..1) as a .acv file; absent curves are the identity."""
    out = struct.pack(">HH", 4, len(CHANNELS))
    for name in CHANNELS:
        pts = sorted(curves.get(name, IDENTITY_CURVE))
        out += struct.pack(">H", len(pts))
        for x, y in pts:
            out += struct.pack(">HH", round(y * 255), round(x * 255))
    with atomic_path(path) as tmp:
        tmp.write_bytes(out)
    return Path(path)
