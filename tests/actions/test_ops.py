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
    "levels": {"in_black": 0.1, "in_white": 0.9, "gamma": 1.3},
    "brightness_contrast": {"brightness": 0.1, "contrast": 0.3},
    "exposure": {"stops": 0.7},
    "hue_saturation": {"hue": 20, "saturation": 0.4, "ranges": [{"center": 120, "saturation": -0.5}]},
    "vibrance": {"amount": 0.6},
    "color_balance": {"shadows": [0.3, 0, -0.3], "highlights": [0, 0.2, 0]},
    "channel_mixer": {"matrix": [[0.8, 0.2, 0], [0, 1, 0], [0.1, 0, 0.9]], "offset": [0.02, 0, 0]},
    "photo_filter": {"density": 0.4},
    "split_toning": {"highlight_hue": 45, "highlight_saturation": 0.6, "shadow_hue": 220, "shadow_saturation": 0.5},
    "lut3d": {"table": identity_lut(5) ** 1.5},
    "lut1d": {"table": torch.linspace(0, 1, 9).view(9, 1).expand(9, 3) ** 0.8},
}
IDENTITY_EXTRA = {"lut3d": {"table": identity_lut(5)}, "lut1d": {"table": torch.linspace(0, 1, 4).view(4, 1).expand(4, 3)}}


def image(*shape, dtype=torch.float32):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(0)).to(dtype) * 0.9 + 0.05


@pytest.mark.parametrize("name", sorted(NON_IDENTITY))
class TestEveryOperation:
    def fn(self, name):
        return getattr(ops, name)

    @pytest.mark.parametrize("shape", [(3, 5, 6), (2, 3, 5, 6)])
    def test_shape(self, name, shape):
        assert self.fn(name)(image(*shape), **NON_IDENTITY[name]).shape == shape

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
    def test_dtype(self, name, dtype):
        x = image(2, 3, 4, 4, dtype=dtype)
        out = self.fn(name)(x, **NON_IDENTITY[name])
        assert out.dtype == dtype
        assert out.min() >= 0 and out.max() <= 1

    def test_identity_defaults(self, name):
        x = image(2, 3, 6, 7)
        assert torch.allclose(self.fn(name)(x, **IDENTITY_EXTRA.get(name, {})), x, atol=1e-5)

    def test_changes_the_image(self, name):
        x = image(2, 3, 6, 7)
        assert (self.fn(name)(x, **NON_IDENTITY[name]) - x).abs().mean() > 1e-3

    def test_batched_equals_unbatched(self, name):
        x = image(2, 3, 4, 5)
        batched = self.fn(name)(x, **NON_IDENTITY[name])
        assert torch.allclose(batched[1], self.fn(name)(x[1], **NON_IDENTITY[name]), atol=1e-6)

    def test_gradients_flow(self, name):
        x = image(1, 3, 4, 4).requires_grad_()
        self.fn(name)(x, **NON_IDENTITY[name]).sum().backward()
        assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0

    def test_bad_input_shape(self, name):
        with pytest.raises(ValueError, match="3, H, W"):
            self.fn(name)(torch.rand(4, 4), **NON_IDENTITY[name])


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

    def test_monotone(self):
        xs = torch.linspace(0, 1, 500)
        out = ops.monotone_curve(xs, [[0, 0], [0.1, 0.5], [0.2, 0.52], [1, 1]])
        assert (out[1:] - out[:-1]).min() >= -1e-7

    def test_per_channel_only_touches_its_channel(self):
        x = image(3, 4, 4)
        out = ops.curves(x, r=[[0, 0.2], [1, 1]])
        assert torch.equal(out[1:], x[1:]) and not torch.equal(out[0], x[0])

    @pytest.mark.parametrize("bad", [[[0, 0]], [[0, 0], [0, 1]], [[0, 0], [1, 1.5]], [[0, "a"], [1, 1]]])
    def test_bad_points(self, bad):
        with pytest.raises(LumastyleError, match="master"):
            ops.curves(image(3, 2, 2), master=bad)

    def test_gradcheck(self):
        x = image(1, 3, 2, 2, dtype=torch.float64).requires_grad_()
        assert gradcheck(lambda t: ops.curves(t, master=[[0, 0], [0.5, 0.6], [1, 1]]), (x,))


class TestLevels:
    def test_reference(self):
        x = torch.tensor([0.1, 0.5, 0.9]).view(1, 1, 3).expand(3, 1, 3)
        out = ops.levels(x, in_black=0.1, in_white=0.9, gamma=2.0, out_black=0.2, out_white=0.8)
        t = ((torch.tensor([0.1, 0.5, 0.9]) - 0.1) / 0.8) ** 0.5
        assert torch.allclose(out[0, 0], 0.2 + 0.6 * t, atol=1e-5)

    def test_per_channel(self):
        out = ops.levels(torch.full((3, 1, 1), 0.5), out_white=[1.0, 0.5, 1.0])
        assert torch.allclose(out.flatten(), torch.tensor([0.5, 0.25, 0.5]))

    def test_bad(self):
        with pytest.raises(LumastyleError, match="in_white > in_black"):
            ops.levels(image(3, 2, 2), in_black=0.8, in_white=0.2)


class TestExposure:
    def test_one_stop_doubles_linear_light(self):
        x = torch.full((3, 1, 1), 0.3)
        lin = torch.from_numpy(skcolor.rgb2xyz(np.full((1, 1, 3), 0.3)))  # independent sRGB decoding
        out = ops.exposure(x, stops=1.0)
        out_lin = torch.from_numpy(skcolor.rgb2xyz(out.permute(1, 2, 0).double().numpy()))
        assert torch.allclose(out_lin, 2 * lin, rtol=1e-3)


class TestHueSaturation:
    def test_range_only_touches_its_hue(self):
        red, green = torch.tensor([0.8, 0.2, 0.2]), torch.tensor([0.2, 0.8, 0.2])
        x = torch.stack([red, green], dim=1).view(3, 1, 2)
        out = ops.hue_saturation(x, ranges=[{"center": 120, "width": 40, "feather": 20, "saturation": -1.0}])
        assert torch.allclose(out[:, 0, 0], red, atol=1e-6)  # red untouched
        assert torch.allclose(out[:, 0, 1], torch.full((3,), 0.8), atol=1e-6)  # green fully desaturated

    def test_desaturate_matches_value_grey(self):
        x = image(3, 4, 4)
        out = ops.hue_saturation(x, saturation=-1.0)
        assert torch.allclose(out, x.max(dim=0, keepdim=True).values.expand(3, 4, 4), atol=1e-5)

    def test_hue_rotation_reference(self):
        x = image(3, 3, 3, dtype=torch.float64)
        ref = skcolor.rgb2hsv(x.permute(1, 2, 0).numpy())
        ref[..., 0] = (ref[..., 0] + 60 / 360) % 1.0
        expected = torch.from_numpy(skcolor.hsv2rgb(ref)).permute(2, 0, 1)
        assert torch.allclose(ops.hue_saturation(x, hue=60), expected, atol=1e-6)

    def test_bad_range(self):
        with pytest.raises(LumastyleError, match="center"):
            ops.hue_saturation(image(3, 2, 2), ranges=[{"width": 30}])


class TestVibrance:
    def test_boosts_muted_more_than_saturated(self):
        muted, vivid = torch.tensor([0.5, 0.45, 0.4]), torch.tensor([0.9, 0.1, 0.1])
        x = torch.stack([muted, vivid], 1).view(3, 1, 2)
        out = ops.vibrance(x, amount=1.0)
        sat = lambda c: (c.max() - c.min()) / c.max()  # noqa: E731
        gain_muted = sat(out[:, 0, 0]) / sat(muted)
        gain_vivid = sat(out[:, 0, 1]) / sat(vivid)
        assert gain_muted > gain_vivid > 1.0


class TestLuminosityPreserving:
    @pytest.mark.parametrize(
        "fn", [lambda x: ops.photo_filter(x, density=0.5), lambda x: ops.color_balance(x, midtones=[0.5, 0, -0.5])]
    )
    def test_keeps_luminance(self, fn):
        x = image(3, 4, 4) * 0.6 + 0.2
        assert torch.allclose(ops.luminance(fn(x)), ops.luminance(x), atol=1e-4)


class TestChannelMixer:
    def test_reference(self):
        x = image(3, 2, 2)
        m = torch.tensor([[0.5, 0.3, 0.2], [0.0, 1.0, 0.0], [0.1, 0.1, 0.8]])
        out = ops.channel_mixer(x, matrix=m.tolist())
        assert torch.allclose(out, torch.einsum("ck,khw->chw", m, x).clamp(0, 1), atol=1e-6)

    def test_monochrome(self):
        out = ops.channel_mixer(image(3, 2, 2), matrix=[[0.3, 0.6, 0.1], [0, 1, 0], [0, 0, 1]], monochrome=True)
        assert torch.allclose(out[0], out[1]) and torch.allclose(out[1], out[2])


class TestLut:
    def test_lut3d_reference_on_lattice_points(self):
        table = torch.rand(4, 4, 4, 3, generator=torch.Generator().manual_seed(1))
        b, g, r = 1, 2, 3
        x = torch.tensor([r / 3, g / 3, b / 3]).view(3, 1, 1)
        assert torch.allclose(ops.lut3d(x, table).flatten(), table[b, g, r], atol=1e-6)

    def test_lut3d_trilinear_midpoint(self):
        table = identity_lut(2) ** 2  # corners only: the midpoint is the mean of the 8 corners' values
        out = ops.lut3d(torch.full((3, 1, 1), 0.5), table)
        assert torch.allclose(out.flatten(), torch.full((3,), 0.5), atol=1e-6)

    def test_lut1d_linear(self):
        table = torch.tensor([[0.0, 0.0, 0.0], [0.2, 0.5, 0.8], [1.0, 1.0, 1.0]])
        out = ops.lut1d(torch.full((3, 1, 1), 0.25), table)
        assert torch.allclose(out.flatten(), torch.tensor([0.1, 0.25, 0.4]), atol=1e-6)

    def test_bad_table(self):
        with pytest.raises(LumastyleError, match="N, N, N, 3"):
            ops.lut3d(image(3, 2, 2), torch.rand(4, 4, 3))
