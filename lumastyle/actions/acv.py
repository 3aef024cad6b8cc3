"""Photoshop ``.acv`` curves files.

Layout (big-endian uint16): version, curve count, then for each curve a point count followed by
(output, input) pairs in 0..255 (output first). Curves are composite (RGB), red, green, blue; files
may hold more (e.g. CMYK) which are ignored.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from lumastyle.actions.action import Action
from lumastyle.errors import LumastyleError


def read_acv(path: str | os.PathLike) -> Action:
    """A .acv file as a one-step ``curves`` action; a malformed file raises a one-line error."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise LumastyleError(f"{path}: cannot read ({err.strerror or err})") from None
    pos = 0

    def take(n: int) -> tuple[int, ...]:
        nonlocal pos
        if pos + 2 * n > len(data):
            raise LumastyleError(
                f"{path}: truncated .acv file (ends at byte {len(data)}, needed {pos + 2 * n})"
            )
        values = struct.unpack_from(f">{n}H", data, pos)
        pos += 2 * n
        return values

    version, count = take(2)
    if version not in (1, 4) or not 1 <= count <= 16:
        raise LumastyleError(f"{path}: not a Photoshop curves file (version {version}, {count} curves)")
    params = {}
    for name in ("master", "r", "g", "b")[: min(count, 4)]:
        (n_points,) = take(1)
        if not 2 <= n_points <= 19:  # Photoshop allows 2..19 points per curve
            raise LumastyleError(f"{path}: curve '{name}' has {n_points} points; expected 2 to 19")
        raw = take(2 * n_points)
        points = [[raw[i + 1] / 255.0, raw[i] / 255.0] for i in range(0, len(raw), 2)]  # (output, input)
        if any(v > 1 for pt in points for v in pt):
            raise LumastyleError(f"{path}: curve '{name}' has a value above 255")
        if points != [[0.0, 0.0], [1.0, 1.0]]:
            params[name] = points
    return Action([("curves", params)], str(path))


def write_acv(path: str | os.PathLike, curves: dict[str, list[list[float]]]) -> Path:
    """Write ``{master|r|g|b: [[x, y], ...]}`` (0..1) as a .acv file (absent curves are the identity)."""
    out = struct.pack(">HH", 4, 4)
    for name in ("master", "r", "g", "b"):
        pts = curves.get(name, [[0.0, 0.0], [1.0, 1.0]])
        out += struct.pack(">H", len(pts))
        for x, y in pts:
            out += struct.pack(">HH", round(y * 255), round(x * 255))
    Path(path).write_bytes(out)
    return Path(path)
