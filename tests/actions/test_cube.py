"""Adobe .cube LUT tests: read, write, identity round trip, baking an action, malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lumastyle.actions import bake_lut, load_action, read_cube, write_cube
from lumastyle.actions.cube import identity_lut
from lumastyle.errors import LumastyleError


def test_identity_round_trip(tmp_path: Path):
    write_cube(tmp_path / "id.cube", identity_lut(17))
    action = load_action(str(tmp_path / "id.cube"))
    x = torch.rand(2, 3, 8, 8)
    assert (action(x) - x).abs().max() < 1e-4


def test_red_changes_fastest(tmp_path: Path):
    (tmp_path / "tiny.cube").write_text(
        "# a comment\nTITLE \"tiny\"\nLUT_3D_SIZE 2\n"
        + "\n".join(f"{r} {g} {b}" for b in (0, 1) for g in (0, 1) for r in (0, 1))
        + "\n"
    )
    lut = read_cube(tmp_path / "tiny.cube")
    assert lut.title == "tiny" and lut.is_3d
    assert torch.equal(lut.table[0, 0, 1], torch.tensor([1.0, 0.0, 0.0]))  # [b, g, r]: r index 1 is red
    assert torch.equal(lut.table[1, 0, 0], torch.tensor([0.0, 0.0, 1.0]))


def test_baked_lut_reproduces_action(tmp_path: Path):
    action = load_action("cold")
    write_cube(tmp_path / "cold.cube", bake_lut(action, size=33), title="cold")
    x = torch.rand(1, 3, 16, 16)
    assert (load_action(str(tmp_path / "cold.cube"))(x) - action(x)).abs().mean() < 5e-3


def test_domain_and_1d(tmp_path: Path):
    (tmp_path / "d.cube").write_text("LUT_1D_SIZE 3\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 2 2 2\n0 0 0\n0.5 0.5 0.5\n1 1 1\n")
    x = torch.full((3, 1, 1), 0.5)
    assert torch.allclose(load_action(str(tmp_path / "d.cube"))(x), torch.full((3, 1, 1), 0.25), atol=1e-6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("LUT_3D_SIZE 2\n0 0 0\n1 1 1\n", "expected 8 table rows, found 2"),
        ("LUT_3D_SIZE 2\n" + "0 0\n" * 8, "line 2: expected 3 numbers, got 2"),
        ("LUT_3D_SIZE 2\n" + "a b c\n" * 8, "line 2: cannot parse"),
        ("0 0 0\n", "exactly one of LUT_1D_SIZE or LUT_3D_SIZE"),
        ("LUT_3D_SIZE 999\n", "outside 2..256"),
        ("LUT_1D_SIZE 2\nDOMAIN_MIN 1 1 1\nDOMAIN_MAX 0 0 0\n0 0 0\n1 1 1\n", "DOMAIN_MIN must be below"),
        ("LUT_1D_SIZE 2\n0 0 0\nnan 1 1\n", "non-finite"),
    ],
)
def test_malformed(tmp_path: Path, text, message):
    (tmp_path / "bad.cube").write_text(text)
    with pytest.raises(LumastyleError, match=message) as info:
        read_cube(tmp_path / "bad.cube")
    assert "bad.cube" in str(info.value) and "\n" not in str(info.value)


def test_binary_garbage(tmp_path: Path):
    (tmp_path / "bin.cube").write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(LumastyleError, match=r"bin\.cube"):
        read_cube(tmp_path / "bin.cube")
