"""Hald CLUT images: a 3D LUT stored as the pixels of a square image (.png, .tif).

A level-L Hald image is L^3 pixels square and holds a LUT of L^2 points per axis; read row by row, its
pixels are the table's entries with red changing fastest, then green, then blue (the layout of
G'MIC, RawTherapee and darktable). An identity Hald (:func:`identity_hald`) with a look applied in
any editor becomes that look's LUT. 8- and 16-bit files are read as stored (no colour profile).
:func:`write_hald` writes a table as one (16-bit by default: ImageMagick's ``-hald-clut`` reads both
depths as lumastyle does, and an 8-bit file moves a strong look by about 0.15 mean ΔE76 more,
tests/test_export_luts.py and benchmarks/README.md).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import Tensor

from lumastyle.actions.action import Action
from lumastyle.actions.registry import register_look_format
from lumastyle.errors import LumastyleError
from lumastyle.io import read_image, write_image

_LEVELS = range(2, 17)
_SUFFIXES = (".png", ".tif", ".tiff")  # lossless, 16-bit capable


def hald_level(points: int) -> int:
    """The Hald level that holds at least ``points`` lattice points per axis: the smallest level L
    with L * L >= points (17 -> 5, 33 -> 6, 64 -> 8), at least 2; ``points`` above 256 raise."""
    level = max(_LEVELS.start, math.isqrt(points - 1) + 1 if points > 1 else 1)
    if level not in _LEVELS:
        raise LumastyleError(
            f"{points} points per axis is more than a Hald CLUT holds (level {_LEVELS.stop - 1}, "
            f"{(_LEVELS.stop - 1) ** 2} points); use at most {(_LEVELS.stop - 1) ** 2}"
        )
    return level


def identity_hald(level: int = 8) -> Tensor:
    """The identity Hald CLUT of a level as an sRGB image (3, L^3, L^3)."""
    if level not in _LEVELS:
        raise LumastyleError(f"Hald level {level} is outside {_LEVELS.start}..{_LEVELS.stop - 1}; use 8")
    n = level * level
    axis = torch.linspace(0, 1, n)
    b, g, r = torch.meshgrid(axis, axis, axis, indexing="ij")
    entries = torch.stack([r, g, b]).reshape(3, -1)  # red fastest
    side = level**3
    return entries.reshape(3, side, side)


@register_look_format(".png", ".tif", ".tiff")
def read_hald(path: str | os.PathLike) -> Action:
    """A Hald CLUT image as a one-step ``lut3d`` action; an image that is not one raises a one-line error."""
    path = Path(path)
    rgb, _ = read_image(path)
    h, w = rgb.shape[-2:]
    level = round(w ** (1 / 3))
    if h != w or level**3 != w or level not in _LEVELS:
        raise LumastyleError(
            f"{path}: a {w}x{h} image is not a Hald CLUT (a square of side level^3 pixels, such as 512x512 "
            "for level 8); give a Hald image made from an identity Hald, or a .cube, .3dl, .xmp file"
        )
    n = level * level
    table = rgb.reshape(3, -1).T.reshape(n, n, n, 3)  # rows in reading order: [b][g][r]
    return Action([("lut3d", {"table": table})], str(path))


def write_hald(path: str | os.PathLike, table: Tensor, bit_depth: int = 16) -> Path:
    """Write a (N, N, N, 3) [b, g, r]-indexed 3D table (values in 0..1) as a Hald CLUT image,
    atomically, and return its path: a level-L image (L^3 pixels square) for N = L * L, red fastest.

    Args:
        path: a .png, .tif or .tiff file.
        table: the table; N must be the square of a level in 2..16 (bake it at :func:`hald_level`'s
            ``L * L`` points).
        bit_depth: 16 (the default; a 16-bit PNG is written by :func:`lumastyle.io.write_image`'s
            own encoder, as Pillow writes no 48-bit RGB PNG) or 8.
    """
    path = Path(path)
    table = torch.as_tensor(table).detach().float().cpu()
    n = table.shape[0]
    level = math.isqrt(n)
    if table.shape != (n, n, n, 3) or level * level != n or level not in _LEVELS:
        raise ValueError(f"table must be (N, N, N, 3) with N = L * L for a level L in 2..16, got {tuple(table.shape)}")
    if path.suffix.lower() not in _SUFFIXES or bit_depth not in (8, 16):
        raise ValueError(f"a Hald CLUT is a {', '.join(_SUFFIXES)} file of 8 or 16 bits, got {path.name}, {bit_depth}")
    side = level**3
    image = table.clamp(0, 1).reshape(-1, 3).T.reshape(3, side, side)  # entries [b][g][r] in reading order
    return write_image(path, image, bit_depth=bit_depth)
