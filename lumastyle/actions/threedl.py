"""Autodesk ``.3dl`` 3D LUTs (Lustre, Flame, Nuke), integer tables.

Layout: '#' comments; optional ``3DMESH`` and ``Mesh IN OUT`` lines (Lustre; OUT is the output bit
depth); one line of N integers, the input lattice (evenly spaced from 0, such as ``0 64 ... 1023``);
then N^3 lines of three integers, the output colour, with **blue changing fastest** (red slowest, the
opposite of .cube). Without a ``Mesh`` line the bit depths are inferred as OpenColorIO infers them: the
smallest even depth of 8 to 16 bits whose code range, with 10 % slack, holds the largest value (so a
12-bit table whose values stay below 1127 would read as 10-bit: give it a ``Mesh`` line).

What other readers take (measured, tests/test_export_luts.py): OpenColorIO ignores ``3DMESH`` and
``Mesh`` lines and always infers the depths; ffmpeg's ``lut3d`` filter (5.1) reads no header at all: it
skips the first line that is not a comment as the lattice and reads 17^3 rows divided by 4096, so it
takes only 17-point tables of 12-bit codes without ``3DMESH``/``Mesh`` lines (:func:`write_3dl` with
``mesh=False``, what ``lumastyle export --format 3dl`` writes).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

from lumastyle.actions.action import Action, read_look_text
from lumastyle.actions.registry import register_look_format
from lumastyle.errors import LumastyleError
from lumastyle.io import atomic_path

_FIX = "fix or re-export the LUT"
_MAX_SIZE = 129


def likely_bit_depth(largest: int) -> int:
    """The bit depth a table whose largest code is ``largest`` was most likely written with."""
    for bits in range(8, 17, 2):
        if largest <= int(2**bits * 1.1 - 1):
            return bits
    return 16


def _integers(line: str, where: str) -> list[int]:
    try:
        return [int(w) for w in line.split()]
    except ValueError:
        raise LumastyleError(f"{where}: expected whole numbers, got {line[:40]!r}; {_FIX}") from None


@register_look_format(".3dl")
def read_3dl(path: str | os.PathLike) -> Action:
    """A .3dl file as a one-step ``lut3d`` action; a malformed one raises a one-line error naming it."""
    path = Path(path)
    text = read_look_text(path, ".3dl", _FIX)
    lattice: list[int] | None = None
    out_bits = None
    rows: list[list[int]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        where = f"{path}: line {number}"
        line = raw.split("#", 1)[0].strip()
        if not line or line.upper() == "3DMESH":
            continue
        if line.lower().startswith("mesh"):
            words = _integers(line[4:], where)
            if len(words) != 2 or not 8 <= words[1] <= 16:
                raise LumastyleError(f"{where}: 'Mesh IN OUT' needs two bit depths, OUT 8..16; {_FIX}")
            out_bits = words[1]
            continue
        if line[0].isalpha():  # other keywords (LUT8, gamma, ...) change nothing here
            continue
        values = _integers(line, where)
        if lattice is None:
            lattice = values
            n = len(lattice)
            # evenly spaced up to rounding: 0 64 ... 960 1023 is the usual 17-point 10-bit lattice
            even = (
                n >= 2
                and lattice[-1] > 0
                and all(abs(v - i * lattice[-1] / (n - 1)) <= 1 for i, v in enumerate(lattice))
            )
            if not 2 <= n <= _MAX_SIZE or lattice[0] != 0 or not even:
                raise LumastyleError(
                    f"{where}: the input lattice must be 2..{_MAX_SIZE} evenly spaced whole numbers from 0; {_FIX}"
                )
        elif len(values) != 3:
            raise LumastyleError(f"{where}: expected 3 numbers, got {len(values)}; {_FIX}")
        else:
            rows.append(values)
    if lattice is None:
        raise LumastyleError(f"{path}: no input lattice line and no table; not a .3dl LUT ({_FIX})")
    n = len(lattice)
    if len(rows) != n**3:
        raise LumastyleError(
            f"{path}: expected {n**3} table rows for a {n}-point lattice, found {len(rows)} (truncated file?); {_FIX}"
        )
    table = torch.tensor(rows, dtype=torch.float32)
    if (table < 0).any():
        raise LumastyleError(f"{path}: the table holds negative codes; {_FIX}")
    out_max = 2 ** (out_bits or likely_bit_depth(int(table.max()))) - 1
    in_max = 2 ** likely_bit_depth(lattice[-1]) - 1
    table = (table / out_max).view(n, n, n, 3).permute(2, 1, 0, 3).contiguous()  # [r][g][b] -> [b][g][r]
    params = {"table": table, "domain_min": [0.0] * 3, "domain_max": [lattice[-1] / in_max] * 3}
    return Action([("lut3d", params)], str(path))


def write_3dl(path: str | os.PathLike, table: Tensor, out_bits: int = 12, mesh: bool = True) -> Path:
    """Write a (N, N, N, 3) [b, g, r]-indexed 3D table (values in 0..1) as a .3dl file, atomically:
    a 10-bit input lattice and ``out_bits`` integer output codes.

    Args:
        path: the file to write.
        table: the table, clamped to 0..1.
        out_bits: the output codes' bit depth (8..16).
        mesh: write Lustre's ``3DMESH`` and ``Mesh IN OUT`` lines, which say the depths; without them
            (the layout ffmpeg reads, see the module docstring) readers infer the output depth from the
            largest code, so a table whose largest code would read as another depth raises ValueError.
    """
    path = Path(path)
    table = torch.as_tensor(table).detach().float().cpu()
    n = table.shape[0]
    if table.shape != (n, n, n, 3) or not 2 <= n <= _MAX_SIZE or not 8 <= out_bits <= 16:
        raise ValueError(f"table must be (N, N, N, 3) with N in 2..{_MAX_SIZE}, out_bits 8..16")
    lattice = " ".join(str(round(i * 1023 / (n - 1))) for i in range(n))
    codes = (table.clamp(0, 1) * (2**out_bits - 1)).round().int().permute(2, 1, 0, 3).reshape(-1, 3)
    head = "# written by lumastyle; blue changes fastest\n"
    if mesh:
        head += f"3DMESH\nMesh {max(1, (n - 1).bit_length())} {out_bits}\n"
    elif likely_bit_depth(int(codes.max())) != out_bits:
        raise ValueError(
            f"the table's largest value, {float(table.max()):.3f}, reads as {likely_bit_depth(int(codes.max()))}-bit "
            f"codes without a Mesh line, not {out_bits}-bit"
        )
    rows = "\n".join(f"{r} {g} {b}" for r, g, b in codes.tolist())
    with atomic_path(path) as tmp:
        tmp.write_text(f"{head}{lattice}\n{rows}\n")
    return path
