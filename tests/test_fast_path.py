"""The fast path of :mod:`lumastyle.inference` (issue 28): a colour-only network baked into a LUT, any
other network's head split into coefficients predicted on the context copy's grid and interpolated
at every pixel; ``bf16-context`` precision."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import smooth_photo

from lumastyle import inference
from lumastyle.color import lab_distance, rgb_to_lab
from lumastyle.heads import LUTBlendHead, QuadraticHead
from lumastyle.inference import (
    apply_lut,
    apply_lut_8bit,
    bake_lut,
    lut_8bit,
    resolve_precision,
    slice_coefficients,
    stylize_tensor,
    to_8bit,
)
from lumastyle.network import StyleNetwork

SMALL = {"backbone_width": 1 / 16, "context_pad": 8}


def network(seed: int = 0, **kwargs) -> StyleNetwork:
    torch.manual_seed(seed)
    net = StyleNetwork(**{**SMALL, **kwargs}).eval()
    for p in net.head.parameters():  # away from the identity start, so the head does something
        p.data.add_(torch.randn_like(p), alpha=0.05)
    return net


def delta_e(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return lab_distance(rgb_to_lab(a), rgb_to_lab(b)).flatten()


def test_apply_lut_is_trilinear_interpolation():
    """The two-slice 2D reads equal torch's 3D trilinear sampler, and the identity table is exact."""
    torch.manual_seed(0)
    lut, rgb = torch.rand(2, 3, 9, 9, 9), torch.rand(2, 3, 17, 23)
    rgb[0, :, 0, :3] = torch.tensor([[0.0, 1.0, 1.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.5]])  # corners and edges
    grid = rgb.permute(0, 2, 3, 1).unsqueeze(1) * 2 - 1
    expected = F.grid_sample(lut, grid, mode="bilinear", padding_mode="border", align_corners=True)[:, :, 0]
    assert torch.allclose(apply_lut(lut, rgb), expected, atol=1e-5)
    axis = torch.linspace(0, 1, 5)
    b, g, r = torch.meshgrid(axis, axis, axis, indexing="ij")
    identity = torch.stack([r, g, b]).unsqueeze(0)
    assert torch.allclose(apply_lut(identity, rgb[:1]), rgb[:1], atol=1e-6)



def test_the_8bit_table_is_apply_lut_at_every_8bit_colour():
    """lut_8bit's table read by apply_lut_8bit gives apply_lut's output rounded to 8 bits (a level off
    at most, where float rounding lands on a half), each photo from its own table; the identity is exact."""
    torch.manual_seed(0)
    axis = torch.linspace(0, 1, 9)
    b, g, r = torch.meshgrid(axis, axis, axis, indexing="ij")
    identity = torch.stack([r, g, b]).unsqueeze(0)
    levels = torch.randint(0, 256, (2, 3, 40, 50), dtype=torch.uint8)
    levels[0, :, 0, :4] = torch.tensor([[0, 255, 255, 0], [0, 255, 0, 128], [0, 255, 128, 255]])
    assert torch.equal(apply_lut_8bit(lut_8bit(identity), levels[:1]), levels[:1])
    lut = torch.rand(2, 3, 9, 9, 9)
    out = apply_lut_8bit(lut_8bit(lut), levels)
    expected = to_8bit(apply_lut(lut, levels.float() / 255))
    difference = (out.int() - expected.int()).abs()
    assert out.dtype == torch.uint8 and difference.max() <= 1 and (difference == 0).float().mean() > 0.99
    assert torch.equal(apply_lut_8bit(lut_8bit(lut[1:]), levels[1:]), out[1:])  # the second photo's own table


@pytest.mark.parametrize(
    ("kwargs", "cap", "fast"),
    [({}, None, False), ({}, 32, True), ({"scales": (), "photo_context": True, "low_level_linear": True}, None, True)],
)
def test_an_8bit_photo_stylizes_to_the_levels_its_float_photo_is_written_as(kwargs, cap, fast):
    """stylize_tensor on uint8 levels gives exactly what the same photo as floats gives, rounded as the
    writer rounds it: on the exact path, the sliced one and a per-photo LUT, at strength 1 and 0.5."""
    net = network(**kwargs)
    if "photo_context" in kwargs:
        net.head.low_linear.weight.data.normal_(0, 0.05)
    levels = to_8bit(torch.stack([smooth_photo(60, 90, seed=5), smooth_photo(60, 90, seed=6)]))
    for strength in (1.0, 0.5):
        out = stylize_tensor(net, levels, cap, fast=fast, lut_points=9, strength=strength)
        floats = stylize_tensor(net, levels.float() / 255, cap, fast=fast, lut_points=9, strength=strength)
        assert out.dtype == torch.uint8 and torch.equal(out, to_8bit(floats))
        assert (out.float() - levels.float()).abs().mean() > 2  # the look does something


def test_a_colour_only_network_reads_8bit_photos_from_one_table(monkeypatch):
    """A colour-only network's 8-bit photos read one table of every 8-bit colour, built once for a
    catalogue: within a level of the float fast path, never made float (no context copy)."""
    net = network(scales=())
    built, baked = [], []
    monkeypatch.setattr(inference, "lut_8bit", lambda lut: built.append(1) or lut_8bit(lut))
    monkeypatch.setattr(inference, "bake_lut", lambda *a, **k: baked.append(1) or bake_lut(*a, **k))
    levels = to_8bit(smooth_photo(80, 100, seed=1))
    floats = stylize_tensor(net, levels.float() / 255, fast=True, lut_points=9)
    out = stylize_tensor(net, levels, fast=True, lut_points=9)
    assert len(baked) == 1  # the 8-bit table is made from the float LUT already kept
    assert out.dtype == torch.uint8 and ((out.int() - to_8bit(floats).int()).abs().max() <= 1)
    assert torch.equal(stylize_tensor(net, levels.flip(-1), fast=True, lut_points=9), out.flip(-1))
    both = stylize_tensor(net, torch.stack([levels, levels.flip(-1)]), fast=True, lut_points=9)  # a batch
    assert torch.equal(both[0], out) and torch.equal(both[1], out.flip(-1))
    assert len(built) == 1
    monkeypatch.setattr(inference, "context_copy", lambda *a: pytest.fail("a context copy was made"))
    stylize_tensor(net, levels, fast=True, lut_points=9)

@pytest.mark.parametrize(
    ("kwargs", "free"),
    [
        ({"scales": ()}, True),
        ({"scales": (), "photo_context": True, "low_level_linear": True}, True),
        ({"scales": (), "low_level": (float("inf"),)}, True),
        ({"scales": (), "low_level": (4.0,)}, False),
        ({}, False),
    ],
)
def test_position_free(kwargs, free):
    assert StyleNetwork(**{**SMALL, **kwargs}).position_free is free


def test_colour_only_network_is_baked_into_a_lut():
    net = network(scales=())
    points = 9
    lut = bake_lut(net, net.encode_context(torch.rand(1, 3, 8, 8)), points, 1, torch.device("cpu"))
    # at the lattice points the table is the network's own output for those colours
    axis = torch.linspace(0, 1, points)
    lattice = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij")[::-1]).reshape(1, 3, points, -1)
    assert torch.allclose(lut.reshape(1, 3, points, -1), stylize_tensor(net, lattice), atol=1e-5)
    photo = smooth_photo(80, 100, seed=1)
    exact = stylize_tensor(net, photo)
    fast = stylize_tensor(net, photo, fast=True, lut_points=17)
    assert delta_e(exact, photo).mean() > 3  # the look does something
    d = delta_e(fast, exact)
    assert 0 < d.mean() < 0.3 and d.max() < 3
    assert delta_e(stylize_tensor(net, photo, fast=True, lut_points=9), exact).mean() > d.mean()
    # a photo with fewer pixels than the lattice takes the exact path
    assert torch.equal(stylize_tensor(net, photo, fast=True, lut_points=33), exact)
    # a batch of photos shares the one map of a colour-only network
    both = torch.stack([photo, photo.flip(-1)])
    assert torch.allclose(stylize_tensor(net, both, fast=True, lut_points=17)[1], fast.flip(-1), atol=1e-6)


def test_a_colour_only_networks_lut_is_baked_once_and_again_when_a_weight_changes(monkeypatch):
    """A catalogue bakes a colour-only network's one map once; an in-place weight change (a training
    step) or another strength bakes it again, and the output follows."""
    net = network(scales=())
    baked = []
    monkeypatch.setattr(inference, "bake_lut", lambda *a, **k: baked.append(1) or bake_lut(*a, **k))
    photo = smooth_photo(40, 50, seed=4)
    first = stylize_tensor(net, photo, fast=True, lut_points=9)
    assert torch.equal(stylize_tensor(net, photo.flip(-1), fast=True, lut_points=9), first.flip(-1))
    assert len(baked) == 1
    stylize_tensor(net, photo, fast=True, lut_points=9, strength=0.5)
    assert len(baked) == 2
    with torch.no_grad():
        next(net.head.parameters()).add_(0.05)
    changed = stylize_tensor(net, photo, fast=True, lut_points=9)
    assert len(baked) == 3 and not torch.allclose(changed, first, atol=1e-3)
    assert torch.allclose(changed, stylize_tensor(net, photo), atol=0.05)  # the new weights' map


def test_photo_level_network_gets_one_lut_per_photo():
    net = network(scales=(), photo_context=True, low_level_linear=True)
    net.head.low_linear.weight.data.normal_(0, 0.05)  # the photo's statistics change its map
    photos = torch.stack([smooth_photo(60, 90, seed=2), smooth_photo(60, 90, seed=3) * 0.5])
    exact, fast = stylize_tensor(net, photos), stylize_tensor(net, photos, fast=True, lut_points=33)
    lut = bake_lut(net, net.encode_context(photos), 9, 2, torch.device("cpu"))
    assert not torch.allclose(lut[0], lut[1], atol=1e-2)
    for i in range(2):
        assert delta_e(fast[i], exact[i]).mean() < 0.3


def test_sliced_head_is_close_to_the_exact_path_and_exact_on_its_grid():
    net = network()
    photo = smooth_photo(96, 128, seed=4)
    # the context copy is the photo: the grid is every pixel, the fast path is the exact one
    assert torch.equal(stylize_tensor(net, photo, fast=True), stylize_tensor(net, photo))
    exact, fast = stylize_tensor(net, photo, 32), stylize_tensor(net, photo, 32, fast=True)
    assert delta_e(exact, photo).mean() > 1
    d = delta_e(fast, exact)
    assert 0 < d.mean() < 0.5 and torch.quantile(d, 0.99) < 2.5
    # tiles do not change it: each row band interpolates the same grid
    assert torch.allclose(stylize_tensor(net, photo, 32, tile_pixels=300, fast=True), fast, atol=1e-5)


def test_slicing_interpolates_the_grid_at_pixel_centres():
    """Rows of the interpolated coefficients equal one bilinear resize of the whole grid."""
    grid = torch.rand(2, 30, 5, 7)
    whole = F.interpolate(grid, size=(23, 31), mode="bilinear", align_corners=False)
    assert torch.allclose(slice_coefficients(grid, (23, 31), (6, 15)), whole[:, :, 6:15], atol=1e-6)


@pytest.mark.parametrize("head", [QuadraticHead, LUTBlendHead])
def test_heads_split_into_coefficients_and_their_application(head):
    net = network(head=head, low_level=(4.0,), low_level_linear=True)
    lab_n = torch.rand(2, 3, 6, 7) * 2 - 1
    context = [torch.randn(2, c.in_channels, 6, 7) for c in net.head.context_in]
    if net.head.factorize:
        context = [net.head.encode_context(i, torch.randn(2, n, 6, 7)) for i, n in enumerate(
            [net.head.context_channels] * net.head.num_scales + [net.head.low_level_channels])]
    coefficients = net.head.coefficients(lab_n, context)
    assert coefficients is not None
    assert torch.allclose(net.head.apply_coefficients(lab_n, coefficients), net.head(lab_n, context), atol=1e-6)


def test_auto_precision_takes_the_bf16_context_only_on_a_cpu_faster_in_bf16(monkeypatch):
    """On a CPU with bf16 the context runs in it where a convolution timed there runs faster in it: not
    where it is slower (an Intel Xeon with avx512_bf16 but no AMX ran the context 1.4x slower), and
    never without bf16 (not even timed)."""
    cpu = torch.device("cpu")
    monkeypatch.setattr(inference, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(inference, "cpu_bf16_speedup", lambda: 1.9)
    assert resolve_precision("auto", cpu) == "bf16-context"
    monkeypatch.setattr(inference, "cpu_bf16_speedup", lambda: 0.6)
    assert resolve_precision("auto", cpu) == "32"
    monkeypatch.setattr(inference, "cpu_has_bf16", lambda: False)
    monkeypatch.setattr(inference, "cpu_bf16_speedup", lambda: pytest.fail("timed without bf16"))
    assert resolve_precision("auto", cpu) == "32"
    assert resolve_precision("bf16", cpu) == "bf16"


def test_the_bf16_timing_is_a_ratio_of_this_cpu_taken_once():
    inference.cpu_bf16_speedup.cache_clear()
    ratio = inference.cpu_bf16_speedup()
    assert 0 < ratio < math.inf
    assert inference.cpu_bf16_speedup() == ratio  # kept for the process


def test_bf16_context_changes_the_output_little():
    net = network()
    photo = smooth_photo(48, 64, seed=5)
    exact = stylize_tensor(net, photo)
    reduced = stylize_tensor(net, photo, precision="bf16-context")
    d = delta_e(reduced, exact)
    assert 0 < d.mean() < 0.5


def test_stylize_takes_the_fast_path_and_fast_false_the_exact_one(quick_checkpoint, tmp_path):
    from lumastyle.cli import main
    from lumastyle.io import read_image, write_image
    from lumastyle.model import LumaStyle

    photo = smooth_photo(48, 64, seed=6)
    write_image(tmp_path / "in" / "p.png", photo, bit_depth=16)
    photo = read_image(tmp_path / "in" / "p.png")[0]
    stylize = ["stylize", "--ckpt", str(quick_checkpoint), "--input", str(tmp_path / "in"), "--context_long_side", "16"]
    main([*stylize, "--output", str(tmp_path / "fast")])
    main([*stylize, "--output", str(tmp_path / "exact"), "--fast", "false"])
    model = LumaStyle.from_checkpoint(quick_checkpoint)
    for folder, fast in (("fast", True), ("exact", False)):
        expected = model.stylize(photo, 16, fast=fast)
        assert torch.allclose(read_image(tmp_path / folder / "p.png")[0], expected, atol=1 / 65535), folder
    assert not torch.equal(read_image(tmp_path / "fast" / "p.png")[0], read_image(tmp_path / "exact" / "p.png")[0])
