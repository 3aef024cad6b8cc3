"""Photoshop .acv curves tests: files written byte by byte in the test."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import torch

from lumastyle.actions import load_action
from lumastyle.actions.acv import read_acv, write_acv
from lumastyle.errors import LumastyleError

IDENTITY = [(0, 0), (255, 255)]


def acv_bytes(curves: list[list[tuple[int, int]]], version: int = 4) -> bytes:
    """Photoshop layout: version, count, then per curve the count and (output, input) pairs; points given as (x, y)."""
    out = struct.pack(">HH", version, len(curves))
    for points in curves:
        out += struct.pack(">H", len(points))
        for x, y in points:
            out += struct.pack(">HH", y, x)
    return out


def test_reads_composite_and_channels(tmp_path: Path):
    data = acv_bytes([[(0, 0), (128, 160), (255, 255)], [(0, 20), (255, 255)], IDENTITY, IDENTITY, IDENTITY])
    (tmp_path / "c.acv").write_bytes(data)  # 5 curves: the fifth (e.g. CMYK extra) is ignored
    action = load_action(str(tmp_path / "c.acv"))
    ((name, params),) = action.steps
    assert name == "curves" and set(params) == {"master", "r"}  # identity curves are left out
    assert params["master"] == [[0.0, 0.0], [128 / 255, 160 / 255], [1.0, 1.0]]  # input 128 -> output 160
    assert params["r"] == [[0.0, 20 / 255], [1.0, 1.0]]
    out = action(torch.full((3, 1, 1), 128 / 255))
    assert torch.allclose(out[1:], torch.full((2, 1, 1), 160 / 255), atol=1e-5)


def test_version_1_and_fewer_curves(tmp_path: Path):
    (tmp_path / "v1.acv").write_bytes(acv_bytes([[(0, 30), (255, 225)]], version=1))
    ((_, params),) = read_acv(tmp_path / "v1.acv").steps
    assert params == {"master": [[0.0, 30 / 255], [1.0, 225 / 255]]}


def test_writer_round_trip(tmp_path: Path):
    curves = {"master": [[0.0, 0.0], [0.4, 0.5], [1.0, 1.0]], "b": [[0.0, 0.1], [1.0, 0.9]]}
    write_acv(tmp_path / "w.acv", curves)
    ((_, params),) = load_action(str(tmp_path / "w.acv")).steps
    assert set(params) == set(curves)
    for key, pts in curves.items():
        assert torch.allclose(torch.tensor(params[key]), torch.tensor(pts), atol=1 / 255)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "truncated"),
        (b"\x00\x04", "truncated"),
        (acv_bytes([IDENTITY])[:-2], "truncated"),
        (acv_bytes([IDENTITY, IDENTITY])[:-1], "truncated"),
        (struct.pack(">HH", 9, 1), "not a Photoshop curves file"),
        (struct.pack(">HH", 4, 0), "not a Photoshop curves file"),
        (acv_bytes([[(0, 0)]]), "curve 'master' has 1 points"),
        (acv_bytes([IDENTITY, [(0, 0), (300, 255)]]), "curve 'r' has a value above 255"),
        (acv_bytes([[(0, 0), (200, 100), (100, 200), (255, 255)]]), "inputs are not increasing"),
    ],
)
def test_malformed(tmp_path: Path, data, message):
    (tmp_path / "bad.acv").write_bytes(data)
    with pytest.raises(LumastyleError, match=message) as info:
        load_action(str(tmp_path / "bad.acv"))
    assert "bad.acv" in str(info.value) and "\n" not in str(info.value)
