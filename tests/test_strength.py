"""The look's amount, ``--strength`` (issue 29): 0 gives the photo back, 1 the learned look (the very
pixels of a run without it), in between a blend in CIELab, up to 2 to exaggerate; the blend function,
every inference path (exact, the fast path's LUT, the sliced head), ``stylize --strength`` and
``export --strength`` (the LUT formats, the preset's targets and the onnx/pt2 program)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import smooth_photo
from skimage import color as skcolor
from torch.autograd import gradcheck

from lumastyle import stylize as stylize_module
from lumastyle.actions.cube import identity_lut, read_cube
from lumastyle.cli import main
from lumastyle.color import blend_strength, lab_distance, lab_to_rgb, rgb_to_lab
from lumastyle.errors import LumastyleError
from lumastyle.export import Stylizer, export
from lumastyle.inference import apply_lut, bake_lut, check_strength, stylize_tensor
from lumastyle.io import read_image, write_image
from lumastyle.model import LumaStyle
from lumastyle.network import StyleNetwork

#: the float32 sRGB -> Lab -> sRGB round trip moves a colour by at most ~3.5e-6 (measured on random
#: colours); strength 0 gives the photo back within this
ROUND_TRIP = 1e-5


def delta_e(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return lab_distance(rgb_to_lab(a), rgb_to_lab(b)).flatten()


def network(seed: int = 0, **kwargs) -> StyleNetwork:
    """A tiny untrained network whose head is moved away from the identity, so the look does something."""
    torch.manual_seed(seed)
    net = StyleNetwork(backbone_width=1 / 16, context_pad=8, **kwargs).eval()
    for p in net.head.parameters():
        p.data.add_(torch.randn_like(p), alpha=0.05)
    return net


# -- the blend -------------------------------------------------------------------------------------


class TestBlendStrength:
    def test_zero_is_the_input_and_one_the_output_itself(self):
        rgb_in, rgb_out = torch.rand(2, 3, 5, 6), torch.rand(2, 3, 5, 6)
        assert (blend_strength(rgb_in, rgb_out, 0.0) - rgb_in).abs().max() < ROUND_TRIP
        assert blend_strength(rgb_in, rgb_out, 1.0) is rgb_out  # no round trip: bit-identical

    @pytest.mark.parametrize("strength", [0.25, 0.5, 1.5])
    def test_reference_scikit_image(self, strength):
        """The Lab blend written with scikit-image's conversions (D65), on colours whose blend stays in sRGB."""
        g = torch.Generator().manual_seed(1)
        rgb_in = torch.rand(3, 6, 7, generator=g, dtype=torch.float64) * 0.6 + 0.2
        rgb_out = (rgb_in + (torch.rand(3, 6, 7, generator=g, dtype=torch.float64) - 0.5) * 0.2).clamp(0, 1)
        to_lab = lambda x: skcolor.rgb2lab(x.permute(1, 2, 0).numpy(), illuminant="D65")  # noqa: E731
        lab = to_lab(rgb_in) + strength * (to_lab(rgb_out) - to_lab(rgb_in))
        expected = skcolor.lab2rgb(lab, illuminant="D65")
        got = blend_strength(rgb_in, rgb_out, strength).permute(1, 2, 0).numpy()
        np.testing.assert_allclose(got, expected, atol=2e-3)

    def test_half_is_the_lab_midpoint(self):
        rgb_in = torch.rand(1, 3, 8, 8) * 0.6 + 0.2
        rgb_out = (rgb_in + (torch.rand(1, 3, 8, 8) - 0.5) * 0.3).clamp(0, 1)
        midpoint = (rgb_to_lab(rgb_in) + rgb_to_lab(rgb_out)) / 2
        assert (rgb_to_lab(blend_strength(rgb_in, rgb_out, 0.5)) - midpoint).abs().max() < 1e-3

    def test_two_exaggerates_within_range(self):
        """Twice the look: saturated colours pushed past sRGB stay finite and are clamped to [0, 1];
        where the result stays inside sRGB it is lab_in + 2 (lab_out - lab_in)."""
        g = torch.Generator().manual_seed(2)
        corners = torch.tensor([[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]]).float()
        far_in, far_out = torch.rand(2, 26, 3, generator=g)  # large changes: mostly pushed outside sRGB
        near = torch.rand(32, 3, generator=g) * 0.6 + 0.2  # small changes of mid colours: they stay inside
        rgb_in = torch.cat([corners, far_in, near]).T.reshape(1, 3, 8, 8)
        rgb_out = torch.cat([corners.flip(0), far_out, near + 0.05]).T.reshape(1, 3, 8, 8)
        got = blend_strength(rgb_in, rgb_out, 2.0)
        assert torch.isfinite(got).all() and got.min() >= 0 and got.max() <= 1
        want = 2 * rgb_to_lab(rgb_out) - rgb_to_lab(rgb_in)
        inside = (lab_to_rgb(want, clip=False) - got).abs().amax(dim=1) < 1e-6
        assert 32 <= inside.sum() < 64  # the near ones stay inside sRGB, others do not
        assert (rgb_to_lab(got) - want).abs().amax(dim=1)[inside].max() < 1e-2

    def test_dtype(self, dtype):
        rgb = torch.rand(3, 4, 4, dtype=dtype)
        assert blend_strength(rgb, rgb.flip(-1), 0.5).dtype == dtype
        assert blend_strength(rgb.bfloat16(), rgb.flip(-1).bfloat16(), 0.5).dtype == torch.float32

    def test_gradcheck(self):
        rgb_in = (torch.rand(1, 3, 2, 2, dtype=torch.float64) * 0.4 + 0.3).requires_grad_()
        rgb_out = (torch.rand(1, 3, 2, 2, dtype=torch.float64) * 0.4 + 0.3).requires_grad_()
        assert gradcheck(lambda a, b: blend_strength(a, b, 0.7), (rgb_in, rgb_out))

    @pytest.mark.parametrize("bad", [-0.1, 2.01, float("nan"), True])
    def test_outside_zero_to_two_is_one_line_naming_strength(self, bad):
        with pytest.raises(LumastyleError, match=r"^--strength .* is outside 0\.\.2") as err:
            check_strength(bad)
        assert "\n" not in str(err.value)
        with pytest.raises(LumastyleError, match="--strength"):
            stylize_tensor(network(scales=()), torch.rand(3, 8, 8), strength=bad)

    def test_ends_of_the_range_are_taken(self):
        assert check_strength(0) == 0.0 and check_strength(2) == 2.0


# -- every inference path ----------------------------------------------------------------------------

#: (network options, stylize_tensor options): the exact path, the fast path's LUT (a colour-only
#: network; 2000 pixels above the 9-point lattice's 729) and the sliced head (a context copy of 16 pixels)
PATHS = {
    "exact": ({}, {"context_long_side": 16}),
    "lut": ({"scales": ()}, {"fast": True, "lut_points": 9}),
    "sliced": ({}, {"context_long_side": 16, "fast": True}),
}


@pytest.mark.parametrize("path", PATHS)
def test_every_path_at_zero_half_and_one(path):
    options, run = PATHS[path]
    net = network(**options)
    photo = smooth_photo(40, 50, seed=3)
    look = stylize_tensor(net, photo, **run)
    assert delta_e(look, photo).mean() > 1  # the look does something
    assert (stylize_tensor(net, photo, **run, strength=0) - photo).abs().max() < ROUND_TRIP
    assert torch.equal(stylize_tensor(net, photo, **run, strength=1.0), look)
    half = stylize_tensor(net, photo, **run, strength=0.5)
    if path == "lut":  # the LUT blends its lattice colours: the exact path's blend, up to its interpolation
        d = delta_e(half, stylize_tensor(net, photo, strength=0.5))
        assert 0 < d.mean() <= delta_e(look, stylize_tensor(net, photo)).mean()  # as close as at 1
    else:  # the Lab midpoint, in sRGB (a midpoint of two sRGB colours can fall outside it: clamped)
        midpoint = (rgb_to_lab(photo) + rgb_to_lab(look)) / 2
        assert (half - lab_to_rgb(midpoint)).abs().max() < 1e-5
        assert lab_distance(rgb_to_lab(half), midpoint).median() < 1e-3


def test_strength_one_is_the_output_without_a_blend():
    """Strength 1 (the default) gives the pixels of the code before strength: the network's forward on
    the exact path, and the LUT of the bare network's colours, applied, on the fast path."""
    net, photo = network(), smooth_photo(24, 30, seed=4)
    assert torch.equal(stylize_tensor(net, photo, tile_pixels=1 << 30, strength=1), net(photo[None])[0])
    net, photo = network(scales=()), smooth_photo(40, 50, seed=5)
    axis = torch.linspace(0, 1, 9)
    blue, green, red = torch.meshgrid(axis, axis, axis, indexing="ij")
    lab = rgb_to_lab(torch.stack([red, green, blue]).reshape(1, 3, 9, 81))
    lut = lab_to_rgb(net.transform(lab, [], (9, 81))).reshape(1, 3, 9, 9, 9)
    got = stylize_tensor(net, photo, fast=True, lut_points=9, strength=1)
    assert torch.equal(got, apply_lut(lut, photo[None])[0])


def test_the_lut_at_zero_is_the_identity_and_exaggeration_stays_in_range():
    net = network(scales=())
    axis = torch.linspace(0, 1, 9)
    identity = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij")[::-1]).unsqueeze(0)
    assert (bake_lut(net, [], 9, 1, torch.device("cpu"), 0.0) - identity).abs().max() < ROUND_TRIP
    twice = bake_lut(net, [], 9, 1, torch.device("cpu"), 2.0)
    assert torch.isfinite(twice).all() and twice.min() >= 0 and twice.max() <= 1
    # twice the look moves colours further from the photo than the look does
    assert (twice - identity).abs().mean() > 1.3 * (bake_lut(net, [], 9, 1, torch.device("cpu")) - identity).abs().mean()


def test_the_exported_program_blends_as_stylize_does():
    """:class:`Stylizer`, the module onnx and pt2 export, at strength 0.5 equals ``stylize_tensor``'s
    (the export then checks its file against that, as at strength 1)."""
    net, photo = network(), smooth_photo(40, 50, seed=6)
    got = Stylizer(net, 16, 0.5)(photo[None])[0]
    assert (got - stylize_tensor(net, photo, 16, 1 << 30, strength=0.5)).abs().max() < 1e-5
    assert delta_e(got, Stylizer(net, 16)(photo[None])[0]).mean() > 0.5
    with pytest.raises(LumastyleError, match="--strength"):
        Stylizer(net, 16, 2.5)


# -- the commands --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(quick_checkpoint, tmp_path_factory):
    """The quick checkpoint (a model with context) with its head moved away from where one epoch left
    it, so the look does something (one epoch of toy pairs barely moves a colour)."""
    state = torch.load(quick_checkpoint, weights_only=True)
    torch.manual_seed(0)
    for name, value in state["state_dict"].items():
        if name.startswith("network.head.") and value.is_floating_point():
            value.add_(torch.randn_like(value), alpha=0.05)
    path = tmp_path_factory.mktemp("strength-ckpt") / "look.ckpt"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory):
    """A 16-bit PNG photo and the pixels lumastyle reads from it."""
    path = tmp_path_factory.mktemp("strength-photo") / "in" / "p.png"
    write_image(path, smooth_photo(48, 64, seed=7), bit_depth=16)
    return path, read_image(path)[0]


def test_stylize_at_zero_half_and_one(checkpoint, photo_file, tmp_path):
    path, photo = photo_file
    run = ["stylize", "--ckpt", str(checkpoint), "--input", str(path.parent), "--context_long_side", "16",
           "--precision", "32"]  # fmt: skip
    for strength in ("0", "0.5", "1"):
        main([*run, "--output", str(tmp_path / strength), "--strength", strength])
    out = {s: read_image(tmp_path / s / "p.png")[0] for s in ("0", "0.5", "1")}
    # 1: the look as stylize renders it without a strength, within the 16-bit PNG's rounding
    look = LumaStyle.from_checkpoint(checkpoint).stylize(photo, 16, fast=True)
    assert (out["1"] - look).abs().max() <= 0.5 / 65535 + 1e-7
    assert delta_e(look, photo).mean() > 1  # the look does something
    # 0: the photo, within the Lab round trip and the 16-bit PNG's rounding
    assert (out["0"] - photo).abs().max() <= 1 / 65535 + ROUND_TRIP
    # 0.5: the Lab midpoint of the photo and the look, in sRGB (clamped), within the 16-bit rounding
    midpoint = (rgb_to_lab(photo) + rgb_to_lab(look)) / 2
    assert (out["0.5"] - lab_to_rgb(midpoint)).abs().max() <= 1 / 65535 + ROUND_TRIP


def test_stylize_refuses_a_strength_outside_zero_to_two(checkpoint, photo_file, tmp_path, capsys, monkeypatch):
    """Before the checkpoint is loaded (a catalogue's first photo is not read for nothing)."""
    path, _ = photo_file

    def not_loaded(*args, **kwargs):
        raise AssertionError("the checkpoint was loaded before --strength was checked")

    monkeypatch.setattr(LumaStyle, "from_checkpoint", not_loaded)
    monkeypatch.setattr(stylize_module, "load_network", not_loaded)
    with pytest.raises(SystemExit) as exit_:
        main(["stylize", "--ckpt", str(checkpoint), "--input", str(path), "--output", str(tmp_path / "o"),
              "--strength", "2.5"])  # fmt: skip
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: --strength 2.5 is outside 0..2")
    assert not list((tmp_path / "o").glob("*.png"))


def test_exported_luts_at_zero_half_and_one(checkpoint, photo_file, tmp_path):
    """A LUT (baked for the reference photo's context) at 0 is the identity, at 0.5 halfway in Lab
    between the identity and the LUT at 1, which is the file written without a strength."""
    path, _ = photo_file
    for strength in ("default", "0", "1"):
        given = {} if strength == "default" else {"strength": float(strength)}
        export(str(checkpoint), "cube", str(tmp_path / strength / "look.cube"), 9, str(path), **given)
    main(["export", str(checkpoint), "--format", "cube", "--size", "9", "--reference", str(path),
          "--output", str(tmp_path / "0.5" / "look.cube"), "--strength", "0.5"])  # fmt: skip
    tables = {s: read_cube(tmp_path / s / "look.cube").table for s in ("0", "0.5", "1")}
    assert (tmp_path / "1" / "look.cube").read_bytes() == (tmp_path / "default" / "look.cube").read_bytes()
    identity = identity_lut(9)
    assert (tables["0"] - identity).abs().max() < 1e-4
    assert (tables["1"] - identity).abs().max() > 0.02  # the look does something
    as_image = lambda t: t.reshape(81, 9, 3).permute(2, 0, 1)  # noqa: E731
    midpoint = (rgb_to_lab(as_image(identity)) + rgb_to_lab(as_image(tables["1"]))) / 2
    assert (as_image(tables["0.5"]) - lab_to_rgb(midpoint)).abs().max() < 1e-5  # the .cube's 6 decimals


def test_the_preset_is_fitted_to_the_blended_look(checkpoint, photo_file, monkeypatch):
    """``--format xmp --strength 0.5``: the targets the preset is fitted to are stylize's at 0.5."""
    import lumastyle.actions.preset_fit as preset_fit

    path, _ = photo_file
    seen = {}

    class Fitted(Exception):
        pass

    def fit(photos, targets, **kwargs):
        seen.update(photos=photos, targets=targets)
        raise Fitted

    monkeypatch.setattr(preset_fit, "fit_preset", fit)
    with pytest.raises(Fitted):
        export(str(checkpoint), "xmp", reference=str(path), context_long_side=16, strength=0.5)
    net = LumaStyle.from_checkpoint(checkpoint).network
    (fitted_on,), (target,) = seen["photos"], seen["targets"]
    assert torch.equal(target, stylize_tensor(net, fitted_on, 16, strength=0.5))
    assert delta_e(target, stylize_tensor(net, fitted_on, 16)).mean() > 0.2


def test_export_refuses_a_strength_outside_zero_to_two(tmp_path):
    """Before the checkpoint is even read."""
    with pytest.raises(LumastyleError, match=r"^--strength -1 is outside 0\.\.2"):
        export(str(tmp_path / "missing.ckpt"), "cube", strength=-1)
