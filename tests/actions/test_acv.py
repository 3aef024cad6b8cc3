"""Photoshop .acv curves tests: files written byte by byte in the test."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import torch

from lumastyle.actions import load_action
from lumastyle.actions.acv import write_acv
from lumastyle.errors import LumastyleError


def acv_bytes(curves: list[list[tuple[int, int]]]) -> bytes:
    """Photoshop layout: version 4, count, then per curve the count and (output, input) pairs."""
    out = struct.pack(">HH", 4, len(curves))
    for points in curves:
        out += struct.pack(">H", len(points))
        for x, y in points:
            out += struct.pack(">HH", y, x)
    return out


def test_reads_composite_and_channels(tmp_path: Path):
    identity = [(0, 0), (255, 255)]
    data = acv_bytes([[(0, 0), (128, 160), (255, 255)], [(0, 20), (255, 255)], identity, identity, identity])
    (tmp_path / "c.acv").write_bytes(data)
    action = load_action(str(tmp_path / "c.acv"))
    (name, params), = action.steps
    assert name == "curves" and set(params) == {"master", "r"}
    assert params["master"][1] == [128 / 255, 160 / 255]  # input 128 -> output 160 (output stored first)
    x = torch.full((3, 1, 1), 128 / 255)
    out = action(x)
    assert torch.allclose(out[1:], torch.full((2, 1, 1), 160 / 255), atol=1e-5)


def test_writer_round_trip(tmp_path: Path):
    curves = {"master": [[0.0, 0.0], [0.4, 0.5], [1.0, 1.0]], "b": [[0.0, 0.1], [1.0, 0.9]]}
    write_acv(tmp_path / "w.acv", curves)
    (_, params), = load_action(str(tmp_path / "w.acv")).steps
    for key, pts in curves.items():
        assert torch.allclose(torch.tensor(params[key]), torch.tensor(pts), atol=1 / 255)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x04", "truncated"),
        (acv_bytes([[(0, 0), (255, 255)]])[:-2], "truncated"),
        (struct.pack(">HH", 9, 1), "not a Photoshop curves file"),
        (acv_bytes([[(0, 0)]]), "has 1 points"),
        (acv_bytes([[(0, 0), (300, 255)]]), "above 255"),
    ],
)
def test_malformed(tmp_path: Path, data, message):
    (tmp_path / "bad.acv").write_bytes(data)
    with pytest.raises(LumastyleError, match=message) as info:
        load_action(str(tmp_path / "bad.acv"))
    assert "bad.acv" in str(info.value)
