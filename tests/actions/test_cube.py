"""Adobe .cube LUT tests: read, write, identity round trip, baking an action, malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lumastyle.actions import bake_lut, load_action, read_cube, write_cube
from lumastyle.actions.cube import CubeLUT, identity_lut
from lumastyle.errors import LumastyleError


def image(*shape):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(0))


def test_identity_round_trip(tmp_path: Path):
    write_cube(tmp_path / "id.cube", identity_lut(17), title="identity")
    lut = read_cube(tmp_path / "id.cube")
    assert lut.is_3d and lut.title == "identity" and torch.allclose(lut.table, identity_lut(17), atol=1e-6)
    action = load_action(str(tmp_path / "id.cube"))
    x = image(2, 3, 8, 8)
    assert (action(x) - x).abs().max() < 1e-4


def test_red_changes_fastest(tmp_path: Path):
    (tmp_path / "tiny.cube").write_text(
        '# a comment\nTITLE "tiny"\nLUT_3D_SIZE 2\n'
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
    x = image(1, 3, 16, 16)
    diff = (load_action(str(tmp_path / "cold.cube"))(x) - action(x)).abs()
    assert diff.mean() < 2e-3 and diff.max() < 2e-2


def test_bake_lut_takes_specs_and_keeps_lattice_points():
    spec = [{"curves": {"g": [[0, 0.1], [1, 0.9]]}}]
    table = bake_lut(spec, size=5)
    assert table.shape == (5, 5, 5, 3) and table.dtype == torch.float32
    expected = load_action(spec)(identity_lut(5).permute(3, 0, 1, 2).reshape(3, 25, 5)).reshape(3, 5, 5, 5)
    assert torch.allclose(table, expected.permute(1, 2, 3, 0))
    assert torch.allclose(bake_lut([], size=9), identity_lut(9))
    with pytest.raises(LumastyleError, match=r"outside 2\.\.256"):
        bake_lut(spec, size=1)


def test_comments_keywords_and_whitespace(tmp_path: Path):
    rows = "\n".join(f"  {r} {g}\t{b}   # row" for b in (0, 1) for g in (0, 1) for r in (0, 1))
    text = f'# header comment\n\nTITLE "with # hash?"\nLUT_3D_SIZE 2  # size\nLUT_IN_VIDEO_RANGE\n{rows}\n'
    (tmp_path / "c.cube").write_text(text)
    lut = read_cube(tmp_path / "c.cube")
    assert lut.title == "with # hash?" and torch.allclose(lut.table, identity_lut(2))


def test_domain_and_1d(tmp_path: Path):
    (tmp_path / "d.cube").write_text(
        "LUT_1D_SIZE 3\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 2 2 2\n0 0 0\n0.5 0.5 0.5\n1 1 1\n"
    )
    lut = read_cube(tmp_path / "d.cube")
    assert not lut.is_3d and lut.table.shape == (3, 3) and lut.domain_max == (2.0, 2.0, 2.0)
    x = torch.full((3, 1, 1), 0.5)
    assert torch.allclose(load_action(str(tmp_path / "d.cube"))(x), torch.full((3, 1, 1), 0.25), atol=1e-6)


def test_1d_per_channel(tmp_path: Path):
    (tmp_path / "g.cube").write_text("LUT_1D_SIZE 2\n0 0 0.2\n1 0.5 1\n")
    out = load_action(str(tmp_path / "g.cube"))(torch.full((3, 1, 1), 0.5))
    assert torch.allclose(out.flatten(), torch.tensor([0.5, 0.25, 0.6]))


def test_resolve_input_range(tmp_path: Path):
    rows = "\n".join(f"{r} {g} {b}" for b in (0, 2) for g in (0, 2) for r in (0, 2))
    (tmp_path / "r.cube").write_text(f"LUT_3D_SIZE 2\nLUT_3D_INPUT_RANGE 0 2\n{rows}\n")
    lut = read_cube(tmp_path / "r.cube")
    assert lut.domain_min == (0.0, 0.0, 0.0) and lut.domain_max == (2.0, 2.0, 2.0)


def test_write_keeps_domain_and_1d(tmp_path: Path):
    lut = CubeLUT(
        torch.linspace(0, 1, 5).view(5, 1).expand(5, 3) ** 2, (0.0, 0.0, 0.0), (2.0, 2.0, 2.0), "sq"
    )
    write_cube(tmp_path / "w.cube", lut, title="squares")
    back = read_cube(tmp_path / "w.cube")
    assert back.domain_max == (2.0, 2.0, 2.0) and back.title == "squares"
    assert torch.allclose(back.table, lut.table, atol=1e-6)
    with pytest.raises(ValueError, match="N, N, N, 3"):
        write_cube(tmp_path / "x.cube", torch.rand(4, 4))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("LUT_3D_SIZE 2\n0 0 0\n1 1 1\n", "expected 8 table rows, found 2"),
        ("LUT_3D_SIZE 2\n" + "0 0\n" * 8, "line 2: expected 3 numbers, got 2"),
        ("LUT_3D_SIZE 2\n" + "0 0 0 0\n" * 8, "line 2: expected 3 numbers, got 4"),
        ("LUT_3D_SIZE 2\n" + "a b c\n" * 8, "line 2: cannot parse"),
        ("0 0 0\n", "needs LUT_1D_SIZE or LUT_3D_SIZE, found neither"),
        ("LUT_1D_SIZE 2\nLUT_3D_SIZE 2\n0 0 0\n", "expected 10 table rows, found 1"),
        (
            "LUT_1D_SIZE 2\nLUT_3D_SIZE 2\nLUT_3D_INPUT_RANGE 1 0\n" + "0 0 0\n" * 10,
            "input minimum must be below",
        ),
        ("LUT_3D_SIZE 999\n", "outside 2..256"),
        ("LUT_3D_SIZE two\n", "line 1: LUT_3D_SIZE expects one whole number"),
        ("LUT_1D_SIZE 2\nDOMAIN_MIN 0 0\n", "line 2: DOMAIN_MIN expects 3 number"),
        ("LUT_1D_SIZE 2\nDOMAIN_MAX 1 x 1\n", "line 2: DOMAIN_MAX has a value that is not a number"),
        (
            "LUT_1D_SIZE 2\nDOMAIN_MIN 1 1 1\nDOMAIN_MAX 0 0 0\n0 0 0\n1 1 1\n",
            "input minimum must be below its maximum",
        ),
        ("LUT_1D_SIZE 2\n0 0 0\nnan 1 1\n", "non-finite"),
        ("", "found neither"),
    ],
)
def test_malformed(tmp_path: Path, text, message):
    (tmp_path / "bad.cube").write_text(text)
    for read in (read_cube, lambda p: load_action(str(p))):
        with pytest.raises(LumastyleError, match=message) as info:
            read(tmp_path / "bad.cube")
        assert "bad.cube" in str(info.value) and "\n" not in str(info.value)


def test_binary_garbage(tmp_path: Path):
    (tmp_path / "bin.cube").write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(LumastyleError, match=r"bin\.cube: not a text \.cube file"):
        read_cube(tmp_path / "bin.cube")


def test_missing_file(tmp_path: Path):
    with pytest.raises(LumastyleError, match=r"gone\.cube: cannot read"):
        read_cube(tmp_path / "gone.cube")
