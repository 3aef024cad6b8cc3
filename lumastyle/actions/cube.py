"""Adobe/Resolve ``.cube`` LUTs: read (1D and 3D), write, and bake any action into one.

Format (Adobe Cube LUT Specification 1.0): keywords TITLE, LUT_1D_SIZE or LUT_3D_SIZE, DOMAIN_MIN,
DOMAIN_MAX, then one "r g b" line per entry, red changing fastest; '#' starts a comment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from lumastyle.actions.action import Action
from lumastyle.errors import LumastyleError
from lumastyle.io import atomic_path

_MAX_3D = 256  # the specification's limit on LUT_3D_SIZE
_MAX_1D = 65536


@dataclass
class CubeLUT:
    """A parsed .cube file: ``table`` is (N, 3) for 1D LUTs and (N, N, N, 3) indexed [b, g, r] for 3D."""

    table: Tensor
    domain_min: tuple[float, float, float] = (0.0, 0.0, 0.0)
    domain_max: tuple[float, float, float] = (1.0, 1.0, 1.0)
    title: str = ""

    @property
    def is_3d(self) -> bool:
        return self.table.ndim == 4


def read_cube(path: str | os.PathLike) -> CubeLUT:
    """Parse a .cube file; a malformed one raises a one-line LumastyleError naming the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as err:
        raise LumastyleError(
            f"{path}: cannot read this .cube file ({type(err).__name__}); check the file"
        ) from None
    size_1d = size_3d = None
    title = ""
    domain_min, domain_max = [0.0] * 3, [1.0] * 3
    values: list[list[float]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        word = line.split()[0]
        try:
            if word == "TITLE":
                title = line[5:].strip().strip('"')
            elif word == "LUT_1D_SIZE":
                size_1d = int(line.split()[1])
            elif word == "LUT_3D_SIZE":
                size_3d = int(line.split()[1])
            elif word == "DOMAIN_MIN":
                domain_min = [float(v) for v in line.split()[1:4]]
            elif word == "DOMAIN_MAX":
                domain_max = [float(v) for v in line.split()[1:4]]
            elif word[0].isalpha() and word.isupper():
                continue  # other keywords (LUT_1D_INPUT_RANGE, ...) carry nothing we use
            else:
                row = [float(v) for v in line.split()]
                if len(row) != 3:
                    raise LumastyleError(f"{path}: line {number}: expected 3 numbers, got {len(row)}")
                values.append(row)
        except (ValueError, IndexError):
            raise LumastyleError(f"{path}: line {number}: cannot parse {line[:40]!r}") from None
    if (size_1d is None) == (size_3d is None):
        raise LumastyleError(f"{path}: needs exactly one of LUT_1D_SIZE or LUT_3D_SIZE")
    if (
        len(domain_min) != 3
        or len(domain_max) != 3
        or any(a >= b for a, b in zip(domain_min, domain_max, strict=True))
    ):
        raise LumastyleError(f"{path}: DOMAIN_MIN must be below DOMAIN_MAX in every channel")
    if size_3d is not None:
        if not 2 <= size_3d <= _MAX_3D:
            raise LumastyleError(f"{path}: LUT_3D_SIZE {size_3d} is outside 2..{_MAX_3D}")
        expected, shape = size_3d**3, (size_3d, size_3d, size_3d, 3)
    else:
        assert size_1d is not None
        if not 2 <= size_1d <= _MAX_1D:
            raise LumastyleError(f"{path}: LUT_1D_SIZE {size_1d} is outside 2..{_MAX_1D}")
        expected, shape = size_1d, (size_1d, 3)
    if len(values) != expected:
        raise LumastyleError(f"{path}: expected {expected} table rows, found {len(values)} (truncated file?)")
    table = torch.tensor(values, dtype=torch.float32).view(shape)  # red fastest: rows are [b][g][r]
    if not torch.isfinite(table).all():
        raise LumastyleError(f"{path}: the table holds non-finite values")
    return CubeLUT(table, tuple(domain_min), tuple(domain_max), title)


def read_cube_action(path: str | os.PathLike) -> Action:
    """A .cube file as a one-step action (``lut3d`` or ``lut1d``)."""
    lut = read_cube(path)
    op = "lut3d" if lut.is_3d else "lut1d"
    params = {"table": lut.table, "domain_min": list(lut.domain_min), "domain_max": list(lut.domain_max)}
    return Action([(op, params)], str(path))


def identity_lut(size: int = 33) -> Tensor:
    """The identity 3D LUT (size, size, size, 3) indexed [b, g, r]."""
    axis = torch.linspace(0, 1, size)
    b, g, r = torch.meshgrid(axis, axis, axis, indexing="ij")
    return torch.stack([r, g, b], dim=-1)


def bake_lut(action: Action, size: int = 33) -> Tensor:
    """Render ``action`` onto an identity lattice: a (size, size, size, 3) 3D LUT of the look."""
    lattice = identity_lut(size)  # (b, g, r, 3)
    image = lattice.reshape(1, size * size, size, 3).permute(0, 3, 1, 2)  # a (1, 3, size^2, size) image
    out = action(image)
    return out.permute(0, 2, 3, 1).reshape(size, size, size, 3)


def write_cube(path: str | os.PathLike, table: Tensor, title: str = "lumastyle") -> Path:
    """Write a (N, N, N, 3) [b, g, r]-indexed or (N, 3) table as a .cube file (atomically)."""
    path = Path(path)
    table = table.detach().float().cpu()
    if table.ndim == 4:
        header = f"LUT_3D_SIZE {table.shape[0]}"
    elif table.ndim == 2:
        header = f"LUT_1D_SIZE {table.shape[0]}"
    else:
        raise ValueError(f"table must be (N, N, N, 3) or (N, 3), got {tuple(table.shape)}")
    rows = "\n".join(f"{r:.6f} {g:.6f} {b:.6f}" for r, g, b in table.reshape(-1, 3).tolist())
    with atomic_path(path) as tmp:
        tmp.write_text(f'TITLE "{title}"\n{header}\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 1 1 1\n{rows}\n')
    return path
