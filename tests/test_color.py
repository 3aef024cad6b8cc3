"""Colour layer tests, one class per function (smoke, shape, dtype, exception, reference, round trip, gradcheck)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from kornia.color import rgb_to_linear_rgb
from skimage import color as skcolor
from torch.autograd import gradcheck

from lumastyle.color import (
    LabToRGB,
    RGBToLab,
    affine_basis,
    apply_color_transform,
    denormalize_lab,
    fit_color_map,
    fit_local_color_map,
    lab_distance,
    lab_to_levels,
    lab_to_rgb,
    levels_to_lab,
    linear_to_levels,
    normalize_lab,
    prophoto_to_srgb,
    prophoto_to_xyz,
    quadratic_basis,
    rgb_to_lab,
    xyz_to_lab,
)
from lumastyle.inference import to_8bit


class TestRgbToLab:
    def test_smoke(self):
        lab = rgb_to_lab(torch.rand(3, 4, 5))
        assert lab.shape == (3, 4, 5)

    @pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 5), (2, 2, 3, 1, 1)])
    def test_shape(self, shape):
        assert rgb_to_lab(torch.rand(shape)).shape == shape

    def test_dtype(self, dtype):
        assert rgb_to_lab(torch.rand(2, 3, 4, 4, dtype=dtype)).dtype == dtype

    def test_bf16_input_computed_in_float32(self):
        rgb = torch.rand(1, 3, 8, 8)
        lab = rgb_to_lab(rgb.bfloat16())
        assert lab.dtype == torch.float32
        assert torch.allclose(lab, rgb_to_lab(rgb.bfloat16().float()), atol=1e-4)

    def test_float32_under_autocast(self):
        rgb = torch.rand(1, 3, 8, 8)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            lab = rgb_to_lab(rgb)
        assert lab.dtype == torch.float32
        assert torch.allclose(lab, rgb_to_lab(rgb), atol=1e-5)

    @pytest.mark.parametrize("bad", [torch.rand(4, 4), torch.rand(2, 4, 4, 4)])
    def test_exception(self, bad):
        with pytest.raises(ValueError, match="3, H, W"):
            rgb_to_lab(bad)

    def test_reference_skimage(self):
        rgb = torch.rand(3, 6, 7, dtype=torch.float64)
        expected = skcolor.rgb2lab(rgb.permute(1, 2, 0).numpy(), illuminant="D65", observer="2")
        got = rgb_to_lab(rgb).permute(1, 2, 0).numpy()
        np.testing.assert_allclose(got, expected, atol=2e-2)

    def test_known_values(self):
        white = rgb_to_lab(torch.ones(3, 1, 1)).flatten()
        black = rgb_to_lab(torch.zeros(3, 1, 1)).flatten()
        assert torch.allclose(white, torch.tensor([100.0, 0.0, 0.0]), atol=0.05)
        assert torch.allclose(black, torch.zeros(3), atol=1e-4)

    def test_round_trip(self):
        rgb = torch.rand(2, 3, 16, 16)
        rgb[0, :, 0, 0] = 0.0  # pure black
        rgb[0, :, 0, 1] = 1.0  # pure white
        assert (lab_to_rgb(rgb_to_lab(rgb)) - rgb).abs().max() < 1e-3

    def test_gradient_finite_at_black(self):
        rgb = torch.zeros(1, 3, 2, 2, requires_grad=True)
        rgb_to_lab(rgb).sum().backward()
        assert torch.isfinite(rgb.grad).all()

    def test_gradcheck(self):
        rgb = (torch.rand(1, 3, 2, 2, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
        assert gradcheck(rgb_to_lab, (rgb,))

    def test_module(self):
        rgb = torch.rand(1, 3, 4, 4)
        assert torch.equal(RGBToLab()(rgb), rgb_to_lab(rgb))


class TestLabToRgb:
    def test_shape_and_dtype(self, dtype):
        lab = rgb_to_lab(torch.rand(2, 3, 4, 5, dtype=dtype))
        out = lab_to_rgb(lab)
        assert out.shape == (2, 3, 4, 5) and out.dtype == dtype

    def test_clip(self):
        lab = torch.tensor([150.0, 90.0, -120.0]).view(3, 1, 1)
        assert lab_to_rgb(lab, clip=True).max() <= 1.0
        assert lab_to_rgb(lab, clip=False).max() > 1.0

    def test_reference_skimage(self):
        lab = rgb_to_lab(torch.rand(3, 5, 5, dtype=torch.float64))
        expected = skcolor.lab2rgb(lab.permute(1, 2, 0).numpy(), illuminant="D65", observer="2")
        np.testing.assert_allclose(lab_to_rgb(lab).permute(1, 2, 0).numpy(), expected, atol=2e-3)

    def test_gradcheck(self):
        lab = rgb_to_lab(torch.rand(1, 3, 2, 2, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
        assert gradcheck(lambda x: lab_to_rgb(x, clip=False), (lab,))

    def test_module(self):
        lab = rgb_to_lab(torch.rand(1, 3, 4, 4))
        assert torch.equal(LabToRGB()(lab), lab_to_rgb(lab))


def many_8bit_colours() -> torch.Tensor:
    """2^20 8-bit sRGB colours (3, 1024, 1024) uint8: every grey and every level of each channel with the
    others at 0 and 255 (the first rows), the rest seeded at random (all 2^24 agree too, in a scratch
    run; too slow for the suite)."""
    colours = torch.randint(0, 256, (3, 1024, 1024), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    level = torch.arange(256, dtype=torch.uint8)
    colours[:, 0, :256] = level
    for c in range(3):
        for row, other in ((1 + c, 0), (4 + c, 255)):
            colours[:, row, :256] = other
            colours[c, row, :256] = level
    return colours


class TestEightBit:
    """8-bit sRGB levels to Lab and back by table (what stylize does to a JPEG's tiles)."""

    def test_levels_to_lab_is_rgb_to_lab_of_8bit_colours(self):
        levels = many_8bit_colours()
        lab = levels_to_lab(levels)
        assert lab.dtype == torch.float32 and lab.shape == levels.shape
        assert (lab - rgb_to_lab(levels.float() / 255)).abs().max() < 1e-4  # 0 where kornia's pow is the same

    def test_8bit_colours_come_back_to_their_levels(self):
        levels = many_8bit_colours()
        assert torch.equal(lab_to_levels(levels_to_lab(levels)), levels)

    def test_lab_to_levels_rounds_as_the_float_path_is_written(self):
        """Inside and far outside sRGB (clipped), the levels of lab_to_rgb rounded as the writer rounds:
        the same but at a float32 tie between two levels (a few samples in 10^6), one level off there."""
        g = torch.Generator().manual_seed(0)
        lab = torch.randn(2, 3, 500, 1000, generator=g) * torch.tensor([40.0, 80, 80]).view(3, 1, 1)
        lab += torch.tensor([50.0, 0, 0]).view(3, 1, 1)
        got, expected = lab_to_levels(lab), to_8bit(lab_to_rgb(lab))
        assert got.dtype == torch.uint8 and got.shape == lab.shape
        off = (got.int() - expected.int()).abs()
        assert off.max() <= 1 and (off > 0).float().mean() < 1e-5

    def test_linear_to_levels_at_the_midpoints(self):
        """A value just below the linear value of a midpoint between two levels takes the lower one, the
        midpoint itself the upper; the ends clip and a NaN writes 0, as the float path writes them."""
        between = ((torch.arange(1, 256) - 0.5) / 255).view(1, -1, 1).expand(3, -1, -1)
        midpoint = rgb_to_linear_rgb(between)[0, :, 0]
        below = torch.nextafter(midpoint, torch.zeros(()))
        above = torch.nextafter(midpoint, torch.ones(()))
        levels = torch.arange(1, 256)
        as_image = lambda x: x.view(1, -1, 1).expand(3, -1, -1)  # noqa: E731
        assert torch.equal(linear_to_levels(as_image(below))[0, :, 0].long(), levels - 1)
        assert torch.equal(linear_to_levels(as_image(above))[0, :, 0].long(), levels)
        ends = torch.tensor([-0.5, 0.0, 1.0, 7.0, float("nan")])
        assert linear_to_levels(as_image(ends))[0, :, 0].tolist() == [0, 0, 255, 255, 0]


class TestNormalizeLab:
    def test_range(self):
        lab = rgb_to_lab(torch.rand(1, 3, 32, 32))
        assert normalize_lab(lab).abs().max() <= 1.2

    def test_round_trip(self, dtype):
        lab = rgb_to_lab(torch.rand(2, 3, 4, 4, dtype=dtype))
        assert torch.allclose(denormalize_lab(normalize_lab(lab)), lab, atol=1e-5)


class TestQuadraticBasis:
    def test_values(self):
        c = torch.tensor([2.0, 3.0, 5.0]).view(3, 1, 1)
        expected = torch.tensor([4.0, 9.0, 25.0, 6.0, 10.0, 15.0, 2.0, 3.0, 5.0, 1.0])
        assert torch.equal(quadratic_basis(c).flatten(), expected)

    @pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 5)])
    def test_shape(self, shape):
        out = quadratic_basis(torch.rand(shape))
        assert out.shape == (*shape[:-3], 10, *shape[-2:])

    def test_gradcheck(self):
        c = torch.rand(1, 3, 2, 2, dtype=torch.float64, requires_grad=True)
        assert gradcheck(quadratic_basis, (c,))

    def test_affine_basis(self):
        c = torch.tensor([2.0, 3.0, 5.0]).view(3, 1, 1)
        assert torch.equal(affine_basis(c).flatten(), torch.tensor([2.0, 3.0, 5.0, 1.0]))


class TestApplyColorTransform:
    def test_identity(self):
        c = torch.rand(2, 3, 4, 4)
        phi = torch.zeros(2, 3, 10, 4, 4)
        for i in range(3):
            phi[:, i, 6 + i] = 1.0
        out = apply_color_transform(phi.flatten(1, 2), quadratic_basis(c))
        assert torch.allclose(out, c)

    def test_matches_matrix_product(self):
        c = torch.rand(3, 1, 1)
        phi = torch.randn(3, 10)
        expected = phi @ quadratic_basis(c).flatten()
        out = apply_color_transform(phi.reshape(30, 1, 1), quadratic_basis(c))
        assert torch.allclose(out.flatten(), expected, atol=1e-6)

    def test_exception(self):
        with pytest.raises(ValueError, match="30 channels"):
            apply_color_transform(torch.rand(1, 12, 2, 2), quadratic_basis(torch.rand(1, 3, 2, 2)))

    def test_gradcheck(self):
        phi = torch.randn(1, 30, 2, 2, dtype=torch.float64, requires_grad=True)
        basis = quadratic_basis(torch.rand(1, 3, 2, 2, dtype=torch.float64))
        assert gradcheck(apply_color_transform, (phi, basis))


def test_lab_distance_is_euclidean():
    a = torch.zeros(1, 3, 1, 2)
    b = torch.tensor([3.0, 4.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 1, 2)
    assert torch.allclose(lab_distance(a, b), torch.full((1, 1, 2), 5.0))


class TestFitColorMap:
    def test_recovers_a_quadratic_map_exactly(self):
        """Targets made by a known 3x10 map on the quadratic basis give that map back."""
        g = torch.Generator().manual_seed(0)
        matrix = torch.randn(3, 10, generator=g, dtype=torch.float64)
        sources = [torch.rand(3, 7, 9, generator=g, dtype=torch.float64) * 2 - 1 for _ in range(3)]
        pairs = [(s, apply_color_transform(matrix.reshape(30, 1, 1), quadratic_basis(s))) for s in sources]
        assert torch.allclose(fit_color_map(pairs), matrix, atol=1e-8)

    def test_matches_numpy_least_squares_over_all_pixels(self):
        g = torch.Generator().manual_seed(1)
        pairs = [(torch.rand(2, 3, 5, 6, generator=g), torch.rand(2, 3, 5, 6, generator=g)) for _ in range(2)]
        v = np.concatenate(
            [quadratic_basis(s.double()).permute(0, 2, 3, 1).reshape(-1, 10) for s, _ in pairs]
        )
        y = np.concatenate([t.double().permute(0, 2, 3, 1).reshape(-1, 3).numpy() for _, t in pairs])
        expected = np.linalg.lstsq(v, y, rcond=None)[0].T
        assert np.allclose(fit_color_map(pairs).numpy(), expected, atol=1e-8)

    def test_grey_photos_leave_the_colour_terms_at_zero(self):
        """Grey photos do not determine the a, b terms: the minimum-norm answer leaves them 0."""
        grey = torch.zeros(3, 4, 4)
        grey[0] = torch.linspace(-1, 1, 16).view(4, 4)
        matrix = fit_color_map([(grey, grey * 0.5)], affine_basis)
        assert torch.allclose(matrix[:, 1:3], torch.zeros(3, 2, dtype=matrix.dtype), atol=1e-9)
        assert matrix[0, 0] == pytest.approx(0.5)

    def test_needs_a_pair(self):
        with pytest.raises(ValueError, match="at least one"):
            fit_color_map([])


class TestFitLocalColorMap:
    """The colour map linear in per-pixel context (what a ``low_level_linear`` head starts from)."""

    @staticmethod
    def triples(g, matrix=None, photos=3, channels=2):
        out = []
        for _ in range(photos):
            s = torch.rand(3, 6, 7, generator=g, dtype=torch.float64) * 2 - 1
            ctx = torch.rand(channels, 6, 7, generator=g, dtype=torch.float64)
            t = torch.rand(3, 6, 7, generator=g, dtype=torch.float64)
            if matrix is not None:  # target = sum_k V_k (M[:, k, 0] + sum_c M[:, k, 1 + c] ctx_c)
                v = quadratic_basis(s)
                t = torch.einsum("okc,khw,chw->ohw", matrix, v, torch.cat([torch.ones_like(ctx[:1]), ctx]))
            out.append((s, t, ctx))
        return out

    def test_recovers_a_local_map_exactly(self):
        g = torch.Generator().manual_seed(2)
        matrix = torch.randn(3, 10, 3, generator=g, dtype=torch.float64)
        assert torch.allclose(fit_local_color_map(self.triples(g, matrix)), matrix, atol=1e-7)

    def test_matches_numpy_least_squares_on_the_products(self):
        g = torch.Generator().manual_seed(3)
        triples = self.triples(g)
        rows, ys = [], []
        for s, t, ctx in triples:
            v = quadratic_basis(s).reshape(10, -1).T.numpy()  # (pixels, 10)
            f = np.concatenate([np.ones((v.shape[0], 1)), ctx.reshape(2, -1).T.numpy()], axis=1)
            rows.append((v[:, :, None] * f[:, None, :]).reshape(v.shape[0], -1))  # term k, feature c
            ys.append(t.reshape(3, -1).T.numpy())
        expected = np.linalg.lstsq(np.concatenate(rows), np.concatenate(ys), rcond=None)[0].T.reshape(
            3, 10, 3
        )
        assert np.allclose(fit_local_color_map(triples).numpy(), expected, atol=1e-8)

    def test_without_context_it_is_the_global_map(self):
        g = torch.Generator().manual_seed(4)
        triples = self.triples(g)
        local = fit_local_color_map((s, t, None) for s, t, _ in triples)
        assert local.shape == (3, 10, 1)
        assert torch.allclose(local[..., 0], fit_color_map((s, t) for s, t, _ in triples), atol=1e-10)

    def test_a_large_ridge_leaves_the_global_map(self):
        """The ridge penalises the context terms only: very large, they vanish and the global terms
        are the global fit's."""
        g = torch.Generator().manual_seed(5)
        triples = self.triples(g)
        local = fit_local_color_map(triples, ridge=1e9)
        assert local[..., 1:].abs().max() < 1e-6
        assert torch.allclose(local[..., 0], fit_color_map((s, t) for s, t, _ in triples), atol=1e-6)


class TestProPhoto:
    """The Uniform set's conversions (its authors' reader): gamma 1.8, ProPhoto -> XYZ D50, Bradford to
    D65, Lab. Reference: colour-science, and scikit-image for XYZ -> Lab."""

    def test_xyz_to_lab_matches_scikit_image(self, dtype):
        xyz = torch.rand(3, 6, 7, dtype=dtype) * torch.tensor([0.95, 1.0, 1.09], dtype=dtype).view(3, 1, 1)
        xyz[:, 0, 0] = 0.001  # the linear part near black
        expected = skcolor.xyz2lab(xyz.permute(1, 2, 0).double().numpy(), illuminant="D65")
        got = xyz_to_lab(xyz).permute(1, 2, 0).double().numpy()
        assert np.allclose(got, expected, atol=1e-3 if dtype == torch.float32 else 1e-9)

    def test_prophoto_to_lab_matches_colour_science(self):
        colour = pytest.importorskip("colour")
        rgb = torch.rand(3, 5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        d65 = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"]
        linear = rgb.permute(1, 2, 0).numpy() ** 1.8
        xyz = colour.RGB_to_XYZ(
            linear, "ProPhoto RGB", illuminant=d65, chromatic_adaptation_transform="Bradford",
            apply_cctf_decoding=False,
        )  # fmt: skip
        expected = colour.XYZ_to_Lab(xyz, d65)
        got = xyz_to_lab(prophoto_to_xyz(rgb)).permute(1, 2, 0).numpy()
        # the two use the primaries' matrix to 4 and 7 decimals: within 0.05 Lab units
        assert np.abs(got - expected).max() < 0.05

    def test_white_and_black(self):
        white, black = torch.ones(3, 1, 1, dtype=torch.float64), torch.zeros(3, 1, 1, dtype=torch.float64)
        assert torch.allclose(
            xyz_to_lab(prophoto_to_xyz(white)).flatten(), torch.tensor([100.0, 0, 0]).double(), atol=0.05
        )
        assert torch.allclose(
            xyz_to_lab(prophoto_to_xyz(black)).flatten(), torch.zeros(3).double(), atol=1e-9
        )

    def test_to_srgb_agrees_with_lab_inside_the_srgb_gamut(self):
        """A ProPhoto colour inside sRGB keeps its Lab through prophoto_to_srgb (then kornia's rgb_to_lab)."""
        srgb = torch.tensor([0.6, 0.5, 0.4], dtype=torch.float64).view(3, 1, 1)
        lab = rgb_to_lab(srgb)
        # find the ProPhoto value of that colour by inverting the matrices, then encode with gamma 1.8
        from kornia.color import rgb_to_linear_rgb, rgb_to_xyz

        from lumastyle.color import _BRADFORD_D50_TO_D65, _PROPHOTO_TO_XYZ_D50

        xyz = rgb_to_xyz(rgb_to_linear_rgb(srgb)).flatten()
        m = torch.tensor(_BRADFORD_D50_TO_D65, dtype=torch.float64) @ torch.tensor(
            _PROPHOTO_TO_XYZ_D50, dtype=torch.float64
        )
        prophoto = (torch.linalg.solve(m, xyz).clamp(0, 1) ** (1 / 1.8)).view(3, 1, 1)
        assert torch.allclose(rgb_to_lab(prophoto_to_srgb(prophoto)), lab, atol=0.05)
