"""Adobe/Resolve ``.cube`` LUTs: read (1D and 3D), write, and bake any action into one.

Format (Adobe Cube LUT Specification 1.0): keywords TITLE, LUT_1D_SIZE or LUT_3D_SIZE, DOMAIN_MIN,
DOMAIN_MAX (Resolve's LUT_1D_INPUT_RANGE / LUT_3D_INPUT_RANGE are read as the domain), then one
"r g b" line per entry with red changing fastest; '#' starts a comment.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from lumastyle.actions.action import Action, Spec, read_look_file
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
    """

    table: Tensor
    domain_min: tuple[float, float, float] = (0.0, 0.0, 0.0)
    domain_max: tuple[float, float, float] = (1.0, 1.0, 1.0)
    title: str = ""

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
    try:
        text = read_look_file(path).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LumastyleError(f"{path}: not a text .cube file (undecodable bytes); {_FIX}") from None
    size_1d = size_3d = None
    title = ""
    domain_min, domain_max = [0.0] * 3, [1.0] * 3
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
        elif keyword == "DOMAIN_MIN":
            domain_min = _numbers(words, 3, keyword, where)
        elif keyword == "DOMAIN_MAX":
            domain_max = _numbers(words, 3, keyword, where)
        elif keyword in ("LUT_1D_INPUT_RANGE", "LUT_3D_INPUT_RANGE"):
            lo, hi = _numbers(words, 2, keyword, where)
            domain_min, domain_max = [lo] * 3, [hi] * 3
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
    if (size_1d is None) == (size_3d is None):
        found = "both" if size_1d else "neither"
        raise LumastyleError(
            f"{path}: needs exactly one of LUT_1D_SIZE or LUT_3D_SIZE, found {found}; {_FIX}"
        )
    if any(a >= b for a, b in zip(domain_min, domain_max, strict=True)):
        raise LumastyleError(
            f"{path}: DOMAIN_MIN must be below DOMAIN_MAX in every channel, got {domain_min} and {domain_max}; {_FIX}"
        )
    if size_3d is not None:
        expected, shape = size_3d**3, (size_3d, size_3d, size_3d, 3)
    else:
        assert size_1d is not None
        expected, shape = size_1d, (size_1d, 3)
    if len(values) != expected:
        raise LumastyleError(
            f"{path}: expected {expected} table rows, found {len(values)} (truncated file?); {_FIX}"
        )
    table = torch.tensor(values, dtype=torch.float32).view(shape)  # red fastest: 3D rows are [b][g][r]
    if not torch.isfinite(table).all():
        raise LumastyleError(f"{path}: the table holds non-finite values (nan or inf); {_FIX}")
    return CubeLUT(table, tuple(domain_min), tuple(domain_max), title)  # type: ignore[arg-type]


def read_cube_action(path: str | os.PathLike) -> Action:
    """A .cube file as a one-step action (``lut3d`` or ``lut1d``)."""
    lut = read_cube(path)
    op = "lut3d" if lut.is_3d else "lut1d"
    params = {"table": lut.table, "domain_min": list(lut.domain_min), "domain_max": list(lut.domain_max)}
    return Action([(op, params)], str(path))


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


def write_cube(path: str | os.PathLike, lut: Tensor | CubeLUT, title: str = "lumastyle") -> Path:
    """Write a LUT as a .cube file (atomically) and return its path.

    Args:
        path: the file to write.
        lut: a (N, N, N, 3) [b, g, r]-indexed 3D table, a (N, 3) 1D table, or a :class:`CubeLUT` (its domain is kept).
        title: the TITLE line.
    """
    path = Path(path)
    lo, hi = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    if isinstance(lut, CubeLUT):
        lo, hi, table = lut.domain_min, lut.domain_max, lut.table
    else:
        table = lut
    table = torch.as_tensor(table).detach().float().cpu()
    if table.ndim == 4 and table.shape[-1] == 3 and len(set(table.shape[:3])) == 1:
        header, limit = f"LUT_3D_SIZE {table.shape[0]}", _MAX_3D
    elif table.ndim == 2 and table.shape[1] == 3:
        header, limit = f"LUT_1D_SIZE {table.shape[0]}", _MAX_1D
    else:
        raise ValueError(f"lut must be (N, N, N, 3) or (N, 3), got {tuple(table.shape)}")
    if not 2 <= table.shape[0] <= limit or not torch.isfinite(table).all():
        raise ValueError(
            f"lut must hold finite values and 2..{limit} entries per axis, got {tuple(table.shape)}"
        )
    title = " ".join(title.replace('"', "'").split())
    rows = "\n".join(f"{r:.6f} {g:.6f} {b:.6f}" for r, g, b in table.reshape(-1, 3).tolist())
    head = (
        f'TITLE "{title}"\n# written by lumastyle; red changes fastest\n{header}\n'
        f"DOMAIN_MIN {' '.join(f'{v:g}' for v in lo)}\nDOMAIN_MAX {' '.join(f'{v:g}' for v in hi)}\n"
    )
    with atomic_path(path) as tmp:
        tmp.write_text(head + rows + "\n", encoding="utf-8")
    return path
