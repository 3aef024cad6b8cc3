"""Hald CLUT images: a 3D LUT stored as the pixels of a square image (.png, .tif).

A level-L Hald image is L^3 pixels square and holds a LUT of L^2 points per axis; read row by row, its
pixels are the table's entries with red changing fastest, then green, then blue (the layout of
G'MIC, RawTherapee and darktable). An identity Hald (:func:`identity_hald`) with a look applied in
any editor becomes that look's LUT. 8- and 16-bit files are read as stored (no colour profile).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

from lumastyle.actions.action import Action
from lumastyle.actions.registry import register_look_format
from lumastyle.errors import LumastyleError
from lumastyle.io import read_image

_LEVELS = range(2, 17)


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
