"""Operation tests, one class per function: smoke, shape, dtype, identity, reference values, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.interpolate import PchipInterpolator
from skimage import color as skcolor
from torch.autograd import gradcheck

from lumastyle.actions import ops
from lumastyle.actions.cube import identity_lut
from lumastyle.errors import LumastyleError

# every operation with a non-identity setting, used by the shared checks below
NON_IDENTITY = {
    "curves": {"master": [[0, 0], [0.5, 0.65], [1, 1]], "g": [[0, 0.1], [1, 0.9]]},
    "levels": {"in_black": 0.1, "in_white": 0.9, "gamma": 1.3, "out_black": [0.0, 0.05, 0.1]},
    "brightness_contrast": {"brightness": 0.1, "contrast": 0.3},
    "exposure": {"stops": 0.7},
    "hue_saturation": {
        "hue_shift": 20,
        "saturation": 0.4,
        "lightness": 0.1,
        "ranges": [{"hue": 120, "width": 60, "feather": 30, "saturation": -0.5, "hue_shift": 10}],
    },
    "vibrance": {"amount": 0.6},
    "color_balance": {"shadows": [0.3, 0, -0.3], "highlights": [0, 0.2, 0]},
    "channel_mixer": {"matrix": [[0.8, 0.2, 0], [0, 1, 0], [0.1, 0, 0.9]], "offset": [0.02, 0, 0]},
    "photo_filter": {"density": 0.4},
    "split_toning": {
        "highlight_hue": 45,
        "highlight_saturation": 0.6,
        "shadow_hue": 220,
        "shadow_saturation": 0.5,
    },
    "lut3d": {"table": identity_lut(5) ** 1.5},
    "lut1d": {"table": torch.linspace(0, 1, 9).view(9, 1).expand(9, 3) ** 0.8},
}
IDENTITY_EXTRA = {
    "lut3d": {"table": identity_lut(5)},
    "lut1d": {"table": torch.linspace(0, 1, 4).view(4, 1).expand(4, 3)},
}


def image(*shape, dtype=torch.float32, seed=0):
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 0.9 + 0.05).to(dtype)


def pixels(*colours) -> torch.Tensor:
    """A (3, 1, N) image of the given [r, g, b] colours."""
    return torch.tensor(colours, dtype=torch.float64).T.reshape(3, 1, len(colours))


@pytest.mark.parametrize("name", sorted(NON_IDENTITY))
class TestEveryOperation:
    def fn(self, name):
        return getattr(ops, name)

    def test_smoke(self, name):
        out = self.fn(name)(image(3, 4, 4), **NON_IDENTITY[name])
        assert isinstance(out, torch.Tensor) and torch.isfinite(out).all()

    @pytest.mark.parametrize("shape", [(3, 5, 6), (2, 3, 5, 6), (2, 2, 3, 4, 4)])
    def test_shape(self, name, shape):
        assert self.fn(name)(image(*shape), **NON_IDENTITY[name]).shape == shape

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
    def test_dtype(self, name, dtype):
        x = image(2, 3, 4, 4, dtype=dtype)
        out = self.fn(name)(x, **NON_IDENTITY[name])
        assert out.dtype == dtype
        assert out.min() >= 0 and out.max() <= 1
        reference = self.fn(name)(x.float(), **NON_IDENTITY[name])
        assert torch.allclose(out.float(), reference, atol=1e-2)

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_identity_defaults(self, name, dtype):
        x = image(2, 3, 6, 7, dtype=dtype)
        assert torch.allclose(self.fn(name)(x, **IDENTITY_EXTRA.get(name, {})), x, atol=1e-5)

    def test_changes_the_image(self, name):
        x = image(2, 3, 6, 7)
        assert (self.fn(name)(x, **NON_IDENTITY[name]) - x).abs().mean() > 1e-3

    def test_batched_equals_unbatched(self, name):
        x = image(2, 3, 4, 5)
        batched = self.fn(name)(x, **NON_IDENTITY[name])
        assert torch.allclose(batched[1], self.fn(name)(x[1], **NON_IDENTITY[name]), atol=1e-6)

    def test_does_not_modify_input(self, name):
        x = image(3, 4, 4)
        before = x.clone()
        self.fn(name)(x, **NON_IDENTITY[name])
        assert torch.equal(x, before)

    def test_gradcheck(self, name):
        x = image(1, 3, 2, 2, dtype=torch.float64, seed=3).requires_grad_()
        assert gradcheck(lambda t: self.fn(name)(t, **NON_IDENTITY[name]), (x,), eps=1e-6, atol=1e-4)

    def test_bad_input_shape(self, name):
        with pytest.raises(ValueError, match="3, H, W"):
            self.fn(name)(torch.rand(4, 4), **NON_IDENTITY[name])

    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
    def test_cuda(self, name):
        x = image(2, 3, 4, 4)
        out = self.fn(name)(x.cuda(), **NON_IDENTITY[name])
        assert out.is_cuda and torch.allclose(out.cpu(), self.fn(name)(x, **NON_IDENTITY[name]), atol=1e-5)


class TestLuminance:
    def test_matches_skimage(self):
        x = image(3, 4, 4, dtype=torch.float64)
        ref = skcolor.rgb2gray(x.permute(1, 2, 0).numpy())  # 0.2125 R + 0.7154 G + 0.0721 B
        np.testing.assert_allclose(ops.luminance(x)[0].numpy(), ref, atol=1e-3)


class TestCurves:
    def test_hits_control_points(self):
        pts = [[0.0, 0.0], [0.2, 0.35], [0.6, 0.7], [1.0, 1.0]]
        x = torch.tensor([p[0] for p in pts]).view(1, 1, 4).expand(3, 1, 4)
        out = ops.curves(x, master=pts)
        assert torch.allclose(out[0, 0], torch.tensor([p[1] for p in pts]), atol=1e-6)

    def test_matches_scipy_pchip(self):
        pts = [[0.0, 0.05], [0.3, 0.2], [0.5, 0.6], [0.8, 0.7], [1.0, 0.95]]
        xs = torch.linspace(0, 1, 101, dtype=torch.float64)
        ours = ops.monotone_curve(xs, pts)
        ref = PchipInterpolator([p[0] for p in pts], [p[1] for p in pts])(xs.numpy())
        np.testing.assert_allclose(ours.numpy(), ref, atol=1e-9)

    def test_matches_scipy_on_a_non_monotone_curve(self):
        pts = [[0.0, 0.2], [0.2, 0.6], [0.45, 0.3], [0.7, 0.9], [0.85, 0.4], [1.0, 1.0]]
        xs = torch.linspace(0, 1, 97, dtype=torch.float64)
        ref = PchipInterpolator([p[0] for p in pts], [p[1] for p in pts])(xs.numpy())
        np.testing.assert_allclose(ops.monotone_curve(xs, pts).numpy(), ref, atol=1e-9)

    def test_monotone_without_overshoot(self):
        xs = torch.linspace(0, 1, 500)
        out = ops.monotone_curve(xs, [[0, 0], [0.1, 0.5], [0.2, 0.52], [1, 1]])
        assert (out[1:] - out[:-1]).min() >= -1e-7 and out.min() >= 0 and out.max() <= 1

    def test_flat_outside_the_points(self):
        out = ops.monotone_curve(torch.tensor([0.0, 0.1, 0.95, 1.0]), [[0.2, 0.3], [0.9, 0.8]])
        assert torch.allclose(out, torch.tensor([0.3, 0.3, 0.8, 0.8]))

    def test_unsorted_points_are_sorted(self):
        x = image(3, 4, 4)
        a = ops.curves(x, master=[[1, 1], [0, 0], [0.5, 0.6]])
        assert torch.equal(a, ops.curves(x, master=[[0, 0], [0.5, 0.6], [1, 1]]))

    def test_per_channel_only_touches_its_channel(self):
        x = image(3, 4, 4)
        out = ops.curves(x, r=[[0, 0.2], [1, 1]])
        assert torch.equal(out[1:], x[1:]) and not torch.equal(out[0], x[0])

    def test_channel_curve_then_master(self):
        x = image(3, 4, 4, dtype=torch.float64)
        master, red = [[0, 0], [0.5, 0.7], [1, 1]], [[0, 0.1], [1, 0.9]]
        expected = ops.monotone_curve(ops.monotone_curve(x[0], red), master)
        assert torch.allclose(ops.curves(x, master=master, r=red)[0], expected)

    @pytest.mark.parametrize("bad", [[[0, 0]], [[0, 0], [0, 1]], [[0, 0], [1, 1.5]], [[0, "a"], [1, 1]], 3])
    def test_bad_points(self, bad):
        with pytest.raises(LumastyleError, match="master"):
            ops.curves(image(3, 2, 2), master=bad)


class TestLevels:
    def test_reference(self):
        x = torch.tensor([0.1, 0.5, 0.9]).view(1, 1, 3).expand(3, 1, 3)
        out = ops.levels(x, in_black=0.1, in_white=0.9, gamma=2.0, out_black=0.2, out_white=0.8)
        t = ((torch.tensor([0.1, 0.5, 0.9]) - 0.1) / 0.8) ** 0.5
        assert torch.allclose(out[0, 0], 0.2 + 0.6 * t, atol=1e-5)

    def test_clips_outside_the_input_range(self):
        out = ops.levels(pixels([0.05, 0.5, 0.95]), in_black=0.1, in_white=0.9)
        assert torch.allclose(out.flatten(), torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))

    def test_per_channel(self):
        out = ops.levels(torch.full((3, 1, 1), 0.5), out_white=[1.0, 0.5, 1.0])
        assert torch.allclose(out.flatten(), torch.tensor([0.5, 0.25, 0.5]))

    @pytest.mark.parametrize(
        ("params", "message"),
        [({"in_black": 0.8, "in_white": 0.2}, "in_white > in_black"), ({"gamma": [1, 2]}, "gamma must be")],
    )
    def test_bad(self, params, message):
        with pytest.raises(LumastyleError, match=message):
            ops.levels(image(3, 2, 2), **params)


class TestBrightnessContrast:
    def test_reference(self):
        x = pixels([0.2, 0.5, 0.7])
        out = ops.brightness_contrast(x, brightness=0.1, contrast=0.5)
        expected = ((torch.tensor([0.2, 0.5, 0.7], dtype=torch.float64) + 0.1 - 0.5) * 1.5 + 0.5).clamp(0, 1)
        assert torch.allclose(out.flatten(), expected)

    def test_full_negative_contrast_is_grey(self):
        assert torch.allclose(
            ops.brightness_contrast(image(3, 3, 3), contrast=-1.0), torch.full((3, 3, 3), 0.5)
        )

    def test_bad(self):
        with pytest.raises(LumastyleError, match="brightness"):
            ops.brightness_contrast(image(3, 2, 2), brightness="high")


class TestExposure:
    def test_one_stop_doubles_linear_light(self):
        x = torch.full((3, 1, 1), 0.3, dtype=torch.float64)
        lin = skcolor.rgb2xyz(np.full((1, 1, 3), 0.3))  # independent sRGB decoding; XYZ is linear
        out = ops.exposure(x, stops=1.0)
        out_lin = skcolor.rgb2xyz(out.permute(1, 2, 0).numpy())
        np.testing.assert_allclose(out_lin, 2 * lin, rtol=1e-3)

    def test_offset_then_gamma_in_linear_light(self):
        x = torch.full((3, 1, 1), 0.3, dtype=torch.float64)
        lin = skcolor.rgb2xyz(np.full((1, 1, 3), 0.3))[..., 1]  # Y of a grey is its linear value
        out = ops.exposure(x, offset=0.05, gamma=2.0)
        out_lin = skcolor.rgb2xyz(out.permute(1, 2, 0).numpy())[..., 1]
        np.testing.assert_allclose(out_lin, (lin + 0.05) ** 0.5, rtol=1e-3)

    def test_minus_stops_darken(self):
        x = image(3, 4, 4)
        assert (ops.exposure(x, stops=-1.0) < x).all()


class TestHueSaturation:
    def test_range_only_touches_its_hue(self):
        red, green, blue = [0.8, 0.2, 0.2], [0.2, 0.8, 0.2], [0.2, 0.2, 0.8]
        x = pixels(red, green, blue)
        out = ops.hue_saturation(x, ranges=[{"hue": 120, "width": 40, "feather": 20, "saturation": -1.0}])
        assert torch.allclose(out[:, 0, 0], x[:, 0, 0]) and torch.allclose(out[:, 0, 2], x[:, 0, 2])
        assert torch.allclose(out[:, 0, 1], torch.full((3,), 0.8, dtype=torch.float64))  # green desaturated

    def test_feathered_edge_is_partial(self):
        # hue 150 lies half-way through the feather of a range centred at 120 (inner half-width 20, feather 20)
        x = skcolor.hsv2rgb(np.array([[[150 / 360, 0.8, 0.8]]]))
        out = ops.hue_saturation(
            torch.from_numpy(x).permute(2, 0, 1),
            ranges=[{"hue": 120, "width": 40, "feather": 20, "saturation": -1.0}],
        )
        s = skcolor.rgb2hsv(out.permute(1, 2, 0).numpy())[0, 0, 1]
        assert s == pytest.approx(0.4, abs=1e-6)

    def test_range_wraps_around_red(self):
        x = torch.from_numpy(skcolor.hsv2rgb(np.array([[[350 / 360, 0.8, 0.8], [10 / 360, 0.8, 0.8]]])))
        out = ops.hue_saturation(x.permute(2, 0, 1), ranges=[{"hue": 0, "width": 40, "saturation": -1.0}])
        assert torch.allclose(out.std(dim=0), torch.zeros(1, 2, dtype=torch.float64), atol=1e-6)

    def test_range_hue_shift(self):
        x = pixels([0.2, 0.8, 0.2])  # pure-ish green, hue 120
        out = ops.hue_saturation(x, ranges=[{"hue": 120, "hue_shift": 120}])
        assert torch.allclose(out.flatten(), torch.tensor([0.2, 0.2, 0.8], dtype=torch.float64))

    def test_greys_are_untouched_by_ranges(self):
        x = pixels([0.4, 0.4, 0.4])
        assert torch.equal(ops.hue_saturation(x, ranges=[{"hue": 0, "width": 360, "saturation": 1.0}]), x)

    def test_desaturate_gives_value_grey(self):
        x = image(3, 4, 4)
        out = ops.hue_saturation(x, saturation=-1.0)
        assert torch.allclose(out, x.max(dim=0, keepdim=True).values.expand(3, 4, 4), atol=1e-5)

    def test_hue_rotation_matches_skimage(self):
        x = image(3, 3, 3, dtype=torch.float64)
        ref = skcolor.rgb2hsv(x.permute(1, 2, 0).numpy())
        ref[..., 0] = (ref[..., 0] + 60 / 360) % 1.0
        expected = torch.from_numpy(skcolor.hsv2rgb(ref)).permute(2, 0, 1)
        assert torch.allclose(ops.hue_saturation(x, hue_shift=60), expected, atol=1e-6)

    def test_lightness(self):
        x = image(3, 3, 3)
        assert torch.allclose(ops.hue_saturation(x, lightness=1.0), torch.ones_like(x), atol=1e-6)
        assert torch.allclose(ops.hue_saturation(x, lightness=-0.5), x * 0.5, atol=1e-6)

    @pytest.mark.parametrize(
        "bad", [[{"width": 30}], [{"hue": 0, "centre": 3}], ["red"], [{"hue": 0, "width": -5}], {"hue": 0}]
    )
    def test_bad_range(self, bad):
        with pytest.raises(LumastyleError, match="ranges"):
            ops.hue_saturation(image(3, 2, 2), ranges=bad)


class TestVibrance:
    def test_boosts_muted_more_than_saturated(self):
        muted, vivid = [0.5, 0.45, 0.4], [0.9, 0.1, 0.1]
        x = pixels(muted, vivid)
        out = ops.vibrance(x, amount=1.0)
        hsv_in = skcolor.rgb2hsv(x.permute(1, 2, 0).numpy())[0]
        hsv_out = skcolor.rgb2hsv(out.permute(1, 2, 0).numpy())[0]
        gain = hsv_out[:, 1] / hsv_in[:, 1]
        assert gain[0] > gain[1] > 1.0
        np.testing.assert_allclose(hsv_out[:, [0, 2]], hsv_in[:, [0, 2]], atol=1e-6)  # hue and value kept

    def test_reference(self):
        x = pixels([0.8, 0.6, 0.4])  # s = 0.5
        out = ops.vibrance(x, amount=0.5)
        s_out = skcolor.rgb2hsv(out.permute(1, 2, 0).numpy())[0, 0, 1]
        assert s_out == pytest.approx(0.5 * (1 + 0.5 * 0.5))

    def test_greys_unchanged(self):
        x = pixels([0.3, 0.3, 0.3], [0.7, 0.7, 0.7])
        assert torch.allclose(ops.vibrance(x, amount=1.0), x)


class TestColorBalance:
    def test_reference_without_luminosity(self):
        x = image(3, 4, 4, dtype=torch.float64)
        y = (x * torch.tensor([0.2126, 0.7152, 0.0722], dtype=torch.float64).view(3, 1, 1)).sum(
            0, keepdim=True
        )
        shift = torch.tensor([0.4, -0.2, 0.1], dtype=torch.float64).view(3, 1, 1)
        expected = (x + 0.25 * (1 - y) ** 2 * shift).clamp(0, 1)
        out = ops.color_balance(x, shadows=shift.flatten().tolist(), preserve_luminosity=False)
        assert torch.allclose(out, expected)

    def test_shadows_move_dark_pixels_more(self):
        x = pixels([0.1, 0.1, 0.1], [0.9, 0.9, 0.9])
        out = ops.color_balance(x, shadows=[0.0, 0.0, 1.0], preserve_luminosity=False)
        delta = (out - x)[2, 0]
        assert delta[0] > 5 * delta[1] > 0

    def test_keeps_luminance(self):
        x = image(3, 4, 4) * 0.6 + 0.2
        out = ops.color_balance(x, midtones=[0.5, 0, -0.5])
        assert torch.allclose(ops.luminance(out), ops.luminance(x), atol=1e-4)

    def test_bad(self):
        with pytest.raises(LumastyleError, match="midtones"):
            ops.color_balance(image(3, 2, 2), midtones=[0.1, 0.2])


class TestChannelMixer:
    def test_reference(self):
        x = image(3, 2, 2)
        m = torch.tensor([[0.5, 0.3, 0.2], [0.0, 1.0, 0.0], [0.1, 0.1, 0.8]])
        out = ops.channel_mixer(x, matrix=m.tolist(), offset=[0.0, 0.1, 0.0])
        expected = torch.einsum("ck,khw->chw", m, x) + torch.tensor([0.0, 0.1, 0.0]).view(3, 1, 1)
        assert torch.allclose(out, expected.clamp(0, 1), atol=1e-6)

    def test_monochrome(self):
        out = ops.channel_mixer(
            image(3, 2, 2), matrix=[[0.3, 0.6, 0.1], [0, 1, 0], [0, 0, 1]], monochrome=True
        )
        assert torch.allclose(out[0], out[1]) and torch.allclose(out[1], out[2])
        x = image(3, 2, 2)
        grey = ops.channel_mixer(x, matrix=[[0.3, 0.6, 0.1], [0, 1, 0], [0, 0, 1]], monochrome=True)[0]
        assert torch.allclose(
            grey, (0.3 * x[0] + 0.6 * x[1] + 0.1 * x[2]).clamp(0, 1), atol=1e-6
        )  # the first row

    def test_swap_channels(self):
        x = image(3, 2, 2)
        out = ops.channel_mixer(x, matrix=[[0, 0, 1], [0, 1, 0], [1, 0, 0]])
        assert torch.equal(out, x.flip(0))

    def test_bad(self):
        with pytest.raises(LumastyleError, match="matrix must be 3x3"):
            ops.channel_mixer(image(3, 2, 2), matrix=[[1, 0], [0, 1]])


class TestPhotoFilter:
    def test_reference_without_luminosity(self):
        x = image(3, 4, 4)
        out = ops.photo_filter(x, color=[1.0, 0.5, 0.0], density=0.5, preserve_luminosity=False)
        assert torch.allclose(out, x * torch.tensor([1.0, 0.75, 0.5]).view(3, 1, 1), atol=1e-6)

    def test_keeps_luminance_and_tints(self):
        x = image(3, 4, 4) * 0.6 + 0.2
        out = ops.photo_filter(x, color=[0.2, 0.4, 1.0], density=0.5)
        assert torch.allclose(ops.luminance(out), ops.luminance(x), atol=1e-4)
        assert (out[2] - out[0]).mean() > (x[2] - x[0]).mean() + 0.05  # bluer

    def test_bad(self):
        with pytest.raises(LumastyleError, match="density"):
            ops.photo_filter(image(3, 2, 2), density=2.0)


class TestSplitToning:
    def test_tints_highlights_and_shadows(self):
        x = pixels([0.15, 0.15, 0.15], [0.85, 0.85, 0.85])
        out = ops.split_toning(
            x, highlight_hue=30, highlight_saturation=1.0, shadow_hue=220, shadow_saturation=1.0
        )
        dark, bright = out[:, 0, 0], out[:, 0, 1]
        assert bright[0] > bright[2] + 0.05  # warm (orange) highlights
        assert dark[2] > dark[0] + 0.02  # cool (blue) shadows

    def test_keeps_luminance(self):
        x = image(3, 4, 4) * 0.6 + 0.2
        out = ops.split_toning(
            x, highlight_hue=60, highlight_saturation=0.5, shadow_hue=250, shadow_saturation=0.5
        )
        assert torch.allclose(ops.luminance(out), ops.luminance(x), atol=1e-4)

    def test_balance_moves_the_split(self):
        x = pixels([0.5, 0.5, 0.5])
        more_high = ops.split_toning(x, highlight_hue=0, highlight_saturation=1.0, balance=0.8)
        less_high = ops.split_toning(x, highlight_hue=0, highlight_saturation=1.0, balance=-0.8)
        assert (more_high - x).abs().sum() > (less_high - x).abs().sum()


class TestLut:
    def test_lut3d_reference_on_lattice_points(self):
        table = torch.rand(4, 4, 4, 3, generator=torch.Generator().manual_seed(1))
        b, g, r = 1, 2, 3
        x = torch.tensor([r / 3, g / 3, b / 3]).view(3, 1, 1)
        assert torch.allclose(ops.lut3d(x, table).flatten(), table[b, g, r], atol=1e-6)

    def test_lut3d_trilinear_matches_numpy(self):
        table = torch.rand(3, 3, 3, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
        x = image(3, 1, 5, dtype=torch.float64)
        out = ops.lut3d(x, table)
        t = table.numpy()
        for k in range(5):
            r, g, b = (x[:, 0, k].numpy() * 2).tolist()
            r0, g0, b0 = (min(int(v), 1) for v in (r, g, b))
            fr, fg, fb = r - r0, g - g0, b - b0
            ref = sum(
                t[b0 + db, g0 + dg, r0 + dr]
                * (fr if dr else 1 - fr)
                * (fg if dg else 1 - fg)
                * (fb if db else 1 - fb)
                for db in (0, 1)
                for dg in (0, 1)
                for dr in (0, 1)
            )
            np.testing.assert_allclose(out[:, 0, k].numpy(), np.clip(ref, 0, 1), atol=1e-9)

    def test_lut3d_domain(self):
        table = identity_lut(5)  # over the domain [0, 2]: the output is half the input
        out = ops.lut3d(torch.full((3, 1, 1), 0.5), table, domain_min=0.0, domain_max=2.0)
        assert torch.allclose(out.flatten(), torch.full((3,), 0.25), atol=1e-6)

    def test_lut1d_linear(self):
        table = torch.tensor([[0.0, 0.0, 0.0], [0.2, 0.5, 0.8], [1.0, 1.0, 1.0]])
        out = ops.lut1d(torch.full((3, 1, 1), 0.25), table)
        assert torch.allclose(out.flatten(), torch.tensor([0.1, 0.25, 0.4]), atol=1e-6)

    def test_lut1d_matches_numpy_interp(self):
        table = torch.rand(7, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
        x = image(3, 4, 4, dtype=torch.float64)
        out = ops.lut1d(x, table)
        grid = np.linspace(0, 1, 7)
        for c in range(3):
            np.testing.assert_allclose(
                out[c].numpy(), np.interp(x[c].numpy(), grid, table[:, c].numpy()), atol=1e-12
            )

    @pytest.mark.parametrize(
        ("fn", "table", "message"),
        [
            (ops.lut3d, torch.rand(4, 4, 3), "N, N, N, 3"),
            (ops.lut3d, torch.rand(4, 3, 4, 3), "N, N, N, 3"),
            (ops.lut1d, torch.rand(4, 4), "N, 3"),
            (ops.lut1d, torch.full((4, 3), float("nan")), "non-finite"),
        ],
    )
    def test_bad_table(self, fn, table, message):
        with pytest.raises(LumastyleError, match=message):
            fn(image(3, 2, 2), table)
