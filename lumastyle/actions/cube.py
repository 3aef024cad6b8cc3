"""Adobe/Resolve ``.cube`` LUTs: read (1D and 3D), write, and bake any action into one.

Format (Adobe Cube LUT Specification 1.0): keywords TITLE, LUT_1D_SIZE or LUT_3D_SIZE, DOMAIN_MIN,
DOMAIN_MAX, then one "r g b" line per entry with red changing fastest; '#' starts a comment.
DaVinci Resolve's variant, which OpenColorIO reads too, may hold both LUT_1D_SIZE and LUT_3D_SIZE: a
1D shaper (its rows first) whose output is the 3D table's input, with LUT_1D_INPUT_RANGE and
LUT_3D_INPUT_RANGE giving each table's input range (DOMAIN_MIN/MAX then give the shaper's).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lumastyle.actions.action import Action, Spec, read_look_text
from lumastyle.actions.registry import register_look_format
from lumastyle.errors import LumastyleError
from lumastyle.io import atomic_path

_MAX_3D = 256  # the specification's limit on LUT_3D_SIZE
_MAX_1D = 65536  # and on LUT_1D_SIZE
_FIX = "fix or re-export the LUT"


@dataclass
class CubeLUT:
    """A parsed .cube file.

    Args:
        table: (N, 3) for 1D LUTs, (N, N, N, 3) indexed [b, g, r] for 3D LUTs.
        domain_min: input [r, g, b] mapped to the first entry.
        domain_max: input [r, g, b] mapped to the last entry.
        title: the TITLE line ("" when absent).
        shaper: a 1D LUT applied before this (3D) one, whose output is this table's input (Resolve).
    """

    table: Tensor
    domain_min: tuple[float, float, float] = (0.0, 0.0, 0.0)
    domain_max: tuple[float, float, float] = (1.0, 1.0, 1.0)
    title: str = ""
    shaper: CubeLUT | None = None

    @property
    def is_3d(self) -> bool:
        """True for a 3D LUT, False for a 1D LUT."""
        return self.table.ndim == 4


def _numbers(words: list[str], count: int, what: str, where: str) -> list[float]:
    if len(words) != count:
        raise LumastyleError(f"{where}: {what} expects {count} number(s), got {len(words)}; {_FIX}")
    try:
        return [float(w) for w in words]
    except ValueError:
        raise LumastyleError(
            f"{where}: {what} has a value that is not a number ({' '.join(words)[:40]}); {_FIX}"
        ) from None


def _size(words: list[str], keyword: str, limit: int, where: str) -> int:
    if len(words) != 1 or not words[0].isdigit():
        raise LumastyleError(
            f"{where}: {keyword} expects one whole number, got {' '.join(words)[:40]!r}; {_FIX}"
        )
    size = int(words[0])
    if not 2 <= size <= limit:
        raise LumastyleError(f"{where}: {keyword} {size} is outside 2..{limit}; {_FIX}")
    return size


def read_cube(path: str | os.PathLike) -> CubeLUT:
    """Parse a .cube file; a malformed one raises a one-line :class:`LumastyleError` naming the file and line."""
    path = Path(path)
    text = read_look_text(path, ".cube", _FIX)
    size_1d = size_3d = None
    title = ""
    domains: dict[str, list[list[float]]] = {}  # "file" (DOMAIN_*), "1d", "3d" (Resolve's ranges)
    values: list[list[float]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        where = f"{path}: line {number}"
        stripped = raw.strip()
        if stripped.startswith("TITLE"):  # the quoted title may hold '#'
            quoted = re.match(r'TITLE\s+"([^"]*)"', stripped)
            title = quoted.group(1) if quoted else stripped[5:].split("#", 1)[0].strip()
            continue
        line = stripped.split("#", 1)[0].strip()
        if not line:
            continue
        keyword, *words = line.split()
        if keyword == "LUT_1D_SIZE":
            size_1d = _size(words, keyword, _MAX_1D, where)
        elif keyword == "LUT_3D_SIZE":
            size_3d = _size(words, keyword, _MAX_3D, where)
        elif keyword in ("DOMAIN_MIN", "DOMAIN_MAX"):
            domain = domains.setdefault("file", [[0.0] * 3, [1.0] * 3])
            domain[keyword == "DOMAIN_MAX"] = _numbers(words, 3, keyword, where)
        elif keyword in ("LUT_1D_INPUT_RANGE", "LUT_3D_INPUT_RANGE"):
            start, stop = _numbers(words, 2, keyword, where)
            domains[keyword[4:6].lower()] = [[start] * 3, [stop] * 3]
        elif keyword[0].isalpha() and keyword.replace("_", "").isalnum() and keyword.isupper():
            continue  # other keywords carry nothing lumastyle uses
        else:
            row = line.split()
            if len(row) != 3:
                raise LumastyleError(f"{where}: expected 3 numbers, got {len(row)}; {_FIX}")
            try:
                values.append([float(v) for v in row])
            except ValueError:
                raise LumastyleError(f"{where}: cannot parse {line[:40]!r} as 3 numbers; {_FIX}") from None
    if size_1d is None and size_3d is None:
        raise LumastyleError(f"{path}: needs LUT_1D_SIZE or LUT_3D_SIZE, found neither; {_FIX}")
    expected = (size_1d or 0) + (size_3d or 0) ** 3
    if len(values) != expected:
        raise LumastyleError(
            f"{path}: expected {expected} table rows, found {len(values)} (truncated file?); {_FIX}"
        )
    table = torch.tensor(values, dtype=torch.float32)
    if not torch.isfinite(table).all():
        raise LumastyleError(f"{path}: the table holds non-finite values (nan or inf); {_FIX}")
    first = domains.get("file")
    tables: dict[str, CubeLUT] = {}
    if size_1d is not None:
        lo, hi = domains.get("1d") or first or [[0.0] * 3, [1.0] * 3]
        tables["1d"] = CubeLUT(table[:size_1d], *_checked_domain(lo, hi, path), title)
    if size_3d is not None:  # red fastest: 3D rows are [b][g][r]
        lo, hi = domains.get("3d") or (None if size_1d else first) or [[0.0] * 3, [1.0] * 3]
        cube = table[size_1d or 0 :].view(size_3d, size_3d, size_3d, 3)
        tables["3d"] = CubeLUT(cube, *_checked_domain(lo, hi, path), title, tables.get("1d"))
    return tables.get("3d") or tables["1d"]


def _checked_domain(
    lo: list[float], hi: list[float], path: Path
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """The domain's [r, g, b] minimum and maximum (each list holds 3 numbers)."""
    if any(a >= b for a, b in zip(lo, hi, strict=True)):
        raise LumastyleError(
            f"{path}: a table's input minimum must be below its maximum in every channel, got {lo} and "
            f"{hi}; {_FIX}"
        )
    return (lo[0], lo[1], lo[2]), (hi[0], hi[1], hi[2])


@register_look_format(".cube")
def read_cube_action(path: str | os.PathLike) -> Action:
    """A .cube file as an action: ``lut3d`` or ``lut1d``, after a ``lut1d`` shaper when it has one.

    The shaper's output is rescaled to the 3D table's input range, so the 3D step reads it on [0, 1]
    (the same result: both clamp to that range)."""
    lut = read_cube(path)
    steps = []
    if lut.shaper is not None:
        lo = torch.tensor(lut.domain_min)
        hi = torch.tensor(lut.domain_max)
        shaper = (lut.shaper.table - lo) / (hi - lo)
        steps.append(("lut1d", _lut_params(shaper, lut.shaper.domain_min, lut.shaper.domain_max)))
        steps.append(("lut3d", _lut_params(lut.table, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))))
    else:
        steps.append(
            ("lut3d" if lut.is_3d else "lut1d", _lut_params(lut.table, lut.domain_min, lut.domain_max))
        )
    return Action(steps, str(path))


def _lut_params(table: Tensor, lo: Sequence[float], hi: Sequence[float]) -> dict[str, Any]:
    return {"table": table, "domain_min": list(lo), "domain_max": list(hi)}


def identity_lut(size: int = 33) -> Tensor:
    """The identity 3D LUT: a (size, size, size, 3) float32 table indexed [b, g, r]."""
    axis = torch.linspace(0, 1, size)
    b, g, r = torch.meshgrid(axis, axis, axis, indexing="ij")
    return torch.stack([r, g, b], dim=-1)


def bake_lut(action: Action | Spec, size: int = 33) -> Tensor:
    """Render an action onto an identity lattice: its (size, size, size, 3) 3D LUT, indexed [b, g, r].

    Args:
        action: an :class:`Action`, or anything :meth:`Action.from_spec` accepts (preset, file, recipe).
        size: lattice points per axis (2..256; 33 is the usual choice of grading tools).
    """
    if not 2 <= size <= _MAX_3D:
        raise LumastyleError(f"bake_lut: size {size} is outside 2..{_MAX_3D}; use 17, 33 or 65")
    action = Action.from_spec(action)
    lattice = identity_lut(size)  # (b, g, r, 3)
    image = lattice.reshape(size * size, size, 3).permute(2, 0, 1)  # a (3, size^2, size) image
    with torch.no_grad():
        out = action(image)
    return out.float().permute(1, 2, 0).reshape(size, size, size, 3)


def _checked_table(table: Tensor | Sequence) -> tuple[Tensor, str, int]:
    table = torch.as_tensor(table).detach().float().cpu()
    if table.ndim == 4 and table.shape[-1] == 3 and len(set(table.shape[:3])) == 1:
        kind, limit = "3D", _MAX_3D
    elif table.ndim == 2 and table.shape[1] == 3:
        kind, limit = "1D", _MAX_1D
    else:
        raise ValueError(f"lut must be (N, N, N, 3) or (N, 3), got {tuple(table.shape)}")
    if not 2 <= table.shape[0] <= limit or not torch.isfinite(table).all():
        raise ValueError(
            f"lut must hold finite values and 2..{limit} entries per axis, got {tuple(table.shape)}"
        )
    return table, kind, table.shape[0]


def _rows(table: Tensor) -> str:
    return "\n".join(f"{r:.6f} {g:.6f} {b:.6f}" for r, g, b in table.reshape(-1, 3).tolist())


def write_cube(path: str | os.PathLike, lut: Tensor | CubeLUT, title: str = "lumastyle") -> Path:
    """Write a LUT as a .cube file (atomically) and return its path.

    Args:
        path: the file to write.
        lut: a (N, N, N, 3) [b, g, r]-indexed 3D table, a (N, 3) 1D table, or a :class:`CubeLUT` (its
            domain is kept; one with a 1D shaper is written in Resolve's layout, with both sizes and
            LUT_1D_INPUT_RANGE / LUT_3D_INPUT_RANGE, which need the same range in every channel).
        title: the TITLE line.
    """
    path = Path(path)
    lo, hi = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    shaper = None
    if isinstance(lut, CubeLUT):
        lo, hi, table, shaper = lut.domain_min, lut.domain_max, lut.table, lut.shaper
    else:
        table = lut
    table, kind, size = _checked_table(table)
    title = " ".join(title.replace('"', "'").split())
    head = f'TITLE "{title}"\n# written by lumastyle; red changes fastest\n'
    if shaper is None:
        head += (
            f"LUT_{kind}_SIZE {size}\n"
            f"DOMAIN_MIN {' '.join(f'{v:g}' for v in lo)}\nDOMAIN_MAX {' '.join(f'{v:g}' for v in hi)}\n"
        )
        body = _rows(table)
    else:
        shaper_table, shaper_kind, shaper_size = _checked_table(shaper.table)
        ranges = (shaper.domain_min, shaper.domain_max, lo, hi)
        if kind != "3D" or shaper_kind != "1D" or any(len(set(r)) != 1 for r in ranges):
            raise ValueError("a shaper .cube is a 1D shaper before a 3D table, each with one input range")
        head += (
            f"LUT_1D_SIZE {shaper_size}\nLUT_1D_INPUT_RANGE {shaper.domain_min[0]:g} {shaper.domain_max[0]:g}\n"
            f"LUT_3D_SIZE {size}\nLUT_3D_INPUT_RANGE {lo[0]:g} {hi[0]:g}\n"
        )
        body = _rows(shaper_table) + "\n" + _rows(table)
    with atomic_path(path) as tmp:
        tmp.write_text(head + body + "\n", encoding="utf-8")
    return path
