"""Look-file formats beyond a single .cube table: Resolve's shaper + 3D .cube (against colour-science),
Autodesk .3dl, Hald CLUT images, and formats and operations added through the registry."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from lumastyle.actions import (
    get_operation,
    load_action,
    look_formats,
    operation,
    operations,
    register_look_format,
    register_operation,
)
from lumastyle.actions import registry as _registry
from lumastyle.actions.action import Action
from lumastyle.actions.hald import identity_hald
from lumastyle.errors import LumastyleError
from lumastyle.io import write_image

LOOKS = Path(__file__).resolve().parents[2] / "examples" / "looks"


def ramp_image() -> torch.Tensor:
    """Every level of a 0..1 ramp in each channel, and random colours: (3, 8, 64)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 8, 64, generator=g)
    x[:, 0] = torch.linspace(0, 1, 64)
    return x


def lines(rows) -> str:
    return "\n".join(" ".join(f"{v:.6f}" for v in row) for row in rows) + "\n"


def shaper_cube(tmp_path: Path, range_1d=(0.0, 1.0), range_3d=(0.0, 1.0)) -> Path:
    x1 = np.linspace(0, 1, 16)
    shaper = np.stack([x1**0.5, x1**0.6, x1**0.7], 1)
    a = np.linspace(0, 1, 9)
    b, g, r = np.meshgrid(a, a, a, indexing="ij")
    table = np.stack([0.8 * r + 0.2 * g * b, g**1.5, 0.5 * b + 0.4 * r * r], -1).reshape(-1, 3)
    path = tmp_path / "resolve.cube"
    path.write_text(
        f'TITLE "shaper"\nLUT_1D_SIZE 16\nLUT_1D_INPUT_RANGE {range_1d[0]} {range_1d[1]}\nLUT_3D_SIZE 9\n'
        f"LUT_3D_INPUT_RANGE {range_3d[0]} {range_3d[1]}\n" + lines(shaper) + lines(table)
    )
    return path


@pytest.mark.parametrize(("range_1d", "range_3d"), [((0.0, 1.0), (0.0, 1.0)), ((0.0, 2.0), (0.1, 0.9))])
def test_a_shaper_and_3d_cube_agrees_with_colour_science(tmp_path: Path, range_1d, range_3d):
    colour = pytest.importorskip("colour")
    path = shaper_cube(tmp_path, range_1d, range_3d)
    action = load_action(str(path))
    assert [name for name, _ in action.steps] == ["lut1d", "lut3d"]
    x = ramp_image()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # colour-science's own notices
        expected = colour.read_LUT(str(path)).apply(x.permute(1, 2, 0).double().numpy())
    got = action(x).permute(1, 2, 0).numpy()
    assert np.abs(got - np.clip(expected, 0, 1)).max() < 1 / 255


class TestThreeDL:
    @staticmethod
    def write(tmp_path: Path, fn, n: int = 17, mesh: str = "Mesh 4 12", out_max: int = 4095) -> Path:
        lattice = [round(i * 1023 / (n - 1)) for i in range(n)]
        lattice[-1] = 1023
        a = np.linspace(0, 1, n)
        r, g, b = np.meshgrid(a, a, a, indexing="ij")  # blue fastest: r outer, b inner
        out = np.stack(fn(r, g, b), -1).reshape(-1, 3)
        rows = "\n".join(" ".join(str(round(v * out_max)) for v in row) for row in out)
        path = tmp_path / "look.3dl"
        path.write_text(f"# a test LUT\n3DMESH\n{mesh}\n{' '.join(map(str, lattice))}\n{rows}\n")
        return path

    def test_channels_and_order(self, tmp_path: Path):
        """Red out = blue in and so on: a reader that took red as the fastest axis would swap them."""
        path = self.write(tmp_path, lambda r, g, b: (b, 0.5 * g, r))
        x = ramp_image()
        out = load_action(str(path))(x)
        expected = torch.stack([x[2], 0.5 * x[1], x[0]])
        assert (out - expected).abs().max() < 2 / 4095 + 1e-4

    def test_depth_without_a_mesh_line(self, tmp_path: Path):
        path = self.write(tmp_path, lambda r, g, b: (r, g, b), mesh="", out_max=1023)
        x = ramp_image()
        assert (load_action(str(path))(x) - x).abs().max() < 1e-3

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("0 512 1023\n0 0 0\n", "expected 27 table rows for a 3-point lattice, found 1"),
            ("0 400 1023\n", "evenly spaced"),
            ("0 512 1023\n0 0 x\n", "expected whole numbers"),
            ("Mesh 4\n0 512 1023\n", "'Mesh IN OUT'"),
            ("# nothing\n", "no input lattice"),
            ("0 1023\n" + "0 0\n" * 8, "expected 3 numbers"),
        ],
    )
    def test_malformed(self, tmp_path: Path, text, message):
        (tmp_path / "bad.3dl").write_text(text)
        with pytest.raises(LumastyleError, match=message) as info:
            load_action(str(tmp_path / "bad.3dl"))
        assert "bad.3dl" in str(info.value) and "\n" not in str(info.value)


class TestHald:
    def test_identity(self, tmp_path: Path):
        write_image(tmp_path / "identity.png", identity_hald(4), bit_depth=16)
        x = ramp_image()
        assert (load_action(str(tmp_path / "identity.png"))(x) - x).abs().max() < 1e-4

    def test_a_look_applied_to_an_identity_hald_is_that_look(self, tmp_path: Path):
        """What any editor does with a Hald image: apply the look to the identity, save it."""
        look = load_action("spring")
        write_image(tmp_path / "spring.png", look(identity_hald(6)), bit_depth=16)
        x = ramp_image()
        assert (load_action(str(tmp_path / "spring.png"))(x) - look(x)).abs().mean() < 1 / 255

    def test_a_photo_is_not_a_hald(self, tmp_path: Path):
        write_image(tmp_path / "photo.png", torch.rand(3, 30, 40))
        with pytest.raises(LumastyleError, match=r"photo.png: a 40x30 image is not a Hald CLUT"):
            load_action(str(tmp_path / "photo.png"))


@pytest.fixture
def restore_registry():
    """Leave the registry as the test found it."""
    saved = _registry.snapshot()
    yield
    _registry.restore(saved)


@pytest.mark.usefixtures("restore_registry")
class TestRegistry:
    def test_a_new_format_is_a_reader_registered_for_its_suffix(self, tmp_path: Path):
        @register_look_format(".brightlook")
        def read_bright(path: Path) -> Action:
            return Action([("exposure", {"stops": float(path.read_text())})], str(path))

        assert look_formats()[".brightlook"] is read_bright
        (tmp_path / "x.brightlook").write_text("1.0")
        x = torch.full((3, 2, 2), 0.2)
        assert torch.allclose(
            load_action(str(tmp_path / "x.brightlook"))(x), load_action([{"exposure": {"stops": 1.0}}])(x)
        )
        with pytest.raises(LumastyleError, match="already registered"):
            register_look_format(".cube")(read_bright)

    def test_a_new_operation_is_usable_in_recipes_and_checked_by_its_signature(self):
        def invert(image: torch.Tensor, amount: float = 0.0) -> torch.Tensor:
            return image + amount * (1 - 2 * image)

        register_operation("invert", invert)
        x = torch.rand(3, 4, 4)
        assert torch.allclose(load_action([{"invert": {"amount": 1.0}}])(x), 1 - x)
        with pytest.raises(LumastyleError, match=r"step 1 \(invert\): amount: Expected a float"):
            load_action([{"invert": {"amount": "all"}}])
        with pytest.raises(LumastyleError, match=r"unknown parameter\(s\) strength; it takes: amount"):
            load_action([{"invert": {"strength": 1.0}}])
        with pytest.raises(LumastyleError, match="already registered"):
            register_operation("curves", invert)

    def test_an_operation_registers_itself_with_a_decorator_beside_its_function(self):
        @operation("ripple", whole_photo=True, learnable=False)
        def ripple(image: torch.Tensor, amount: float = 0.0) -> torch.Tensor:
            return image

        assert ripple.__name__ == "ripple"  # the function itself, not a wrapper
        op = get_operation("ripple")
        assert op.function is ripple and op.whole_photo and not op.learnable
        assert "ripple" in operations()
        with pytest.raises(LumastyleError, match=r"'curves' is already registered \(lumastyle\.actions\.ops\.curves\)"):
            operation("curves")(ripple)
        assert get_operation("curves").function is not ripple

    @pytest.mark.parametrize(
        ("suffix", "example", "owner"),
        [
            (".xmp", "faded_2010.xmp", "lumastyle.actions.xmp.read_xmp"),
            (".png", "cross_process.png", "lumastyle.actions.hald.read_hald"),
            (".CUBE", "teal_orange.cube", "lumastyle.actions.cube.read_cube_action"),
            (".yml", None, "lumastyle.actions.recipe.read_recipe"),
        ],
    )
    def test_a_suffix_a_built_in_owns_is_refused_and_the_built_in_keeps_working(self, suffix, example, owner):
        """A plugin's reader for .xmp or .png would break every built-in look: it is refused in one line
        naming the suffix and its owner, none of the reader's suffixes is registered, and the built-in
        reader stays and reads its files as before."""
        path = LOOKS / example if example else "spring"
        x = ramp_image()
        before = load_action(str(path))(x)

        def grab(path: Path) -> Action:
            return Action([], str(path))

        with pytest.raises(LumastyleError) as info:
            register_look_format(".mine", suffix)(grab)
        message = str(info.value)
        assert "\n" not in message and f"'{suffix.lower()}'" in message and owner in message
        assert ".mine" not in look_formats() and grab not in look_formats().values()
        assert f"{look_formats()[suffix.lower()].__module__}.{look_formats()[suffix.lower()].__qualname__}" == owner
        assert torch.equal(load_action(str(path))(x), before)

    def test_a_reader_that_returns_no_action_is_one_line_naming_it(self, tmp_path: Path):
        @register_look_format(".notalook")
        def read_wrong(path: Path):
            return lambda image: image

        (tmp_path / "x.notalook").write_text("")
        with pytest.raises(LumastyleError, match=r"x\.notalook: the \.notalook reader .*read_wrong returned function"):
            load_action(str(tmp_path / "x.notalook"))
