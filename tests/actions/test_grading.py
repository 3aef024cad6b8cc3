"""The operations Lightroom presets map onto: black and white with a colour mix, colour grading wheels,
dehaze, vignette and grain; each against an independent computation or the property it promises."""

from __future__ import annotations

import warnings

import pytest
import torch

from lumastyle.actions import load_action, local, ops
from lumastyle.actions.ops import luminance
from lumastyle.errors import LumastyleError


def grey_ramp(n: int = 21) -> torch.Tensor:
    return torch.linspace(0, 1, n).view(1, 1, n).expand(3, 1, n).clone()


def patch(*rgb: float) -> torch.Tensor:
    return torch.tensor(rgb).view(3, 1, 1).expand(3, 4, 4).clone()


class TestGrayscale:
    def test_black_and_white_has_equal_channels(self):
        x = torch.rand(3, 8, 9, generator=torch.Generator().manual_seed(0))
        out = ops.grayscale(x, amount=1.0, mix={"red": 0.5, "blue": -0.3})
        assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])
        assert torch.allclose(ops.grayscale(x, amount=1.0)[0], luminance(x)[0], atol=1e-6)

    def test_the_mix_is_a_stop_per_band_at_full_saturation(self):
        red = patch(0.4, 0.0, 0.0)  # hue 0, saturation 1
        y = 0.2126 * 0.4
        assert ops.grayscale(red, 1.0, {"red": 1.0})[0, 0, 0] == pytest.approx(2 * y, rel=1e-4)
        assert ops.grayscale(red, 1.0, {"red": -1.0})[0, 0, 0] == pytest.approx(y / 2, rel=1e-4)
        assert ops.grayscale(red, 1.0, {"blue": 1.0})[0, 0, 0] == pytest.approx(y, rel=1e-4)

    def test_bands_interpolate_between_their_centres(self):
        """Hue 15 lies halfway between red (0) and orange (30): it gets half of red's mix value."""
        x = patch(0.6, 0.15, 0.0)  # HSV hue (0.15 / 0.6) * 60 = 15 degrees, saturation 1
        y = float(luminance(x)[0, 0, 0])
        assert ops.grayscale(x, 1.0, {"red": 1.0})[0, 0, 0] == pytest.approx(y * 2**0.5, rel=1e-4)

    def test_greys_ignore_the_mix(self):
        x = grey_ramp()
        assert torch.allclose(ops.grayscale(x, 1.0, {"red": 1.0, "green": -1.0}), x, atol=1e-6)

    def test_bad_band(self):
        with pytest.raises(LumastyleError, match="the bands are red, orange"):
            load_action([{"grayscale": {"amount": 1, "mix": {"cyan": 0.5}}}])


class TestColorGrading:
    def test_a_shadow_wheel_tints_only_the_shadows(self):
        x = grey_ramp()
        out = ops.color_grading(x, shadows={"hue": 240, "saturation": 1.0})
        dark, bright = slice(0, 5), slice(17, 21)  # luminance <= 0.2, >= 0.85
        assert (out[2, 0, dark][1:] > out[0, 0, dark][1:] + 0.02).all()  # blue shadows (black stays black)
        assert torch.allclose(out[:, :, bright], x[:, :, bright], atol=1e-3)
        assert torch.allclose(luminance(out), luminance(x), atol=1e-3)  # a tint keeps the luminance

    def test_a_highlight_wheel_tints_only_the_highlights(self):
        x = grey_ramp()
        out = ops.color_grading(x, highlights={"hue": 40, "saturation": 1.0})
        assert torch.allclose(out[:, :, :5], x[:, :, :5], atol=1e-3)
        assert (out[0, 0, 14:20] > out[2, 0, 14:20] + 0.02).all()  # warm highlights

    def test_luminance_and_the_global_wheel(self):
        x = grey_ramp()[:, :, 1:-4]  # up to 0.8: room to brighten
        assert (ops.color_grading(x, overall={"luminance": 0.5}) > x + 0.1).all()
        lifted = ops.color_grading(x, shadows={"luminance": 0.5})
        assert (lifted[:, :, :3] > x[:, :, :3]).all() and torch.allclose(
            lifted[:, :, -3:], x[:, :, -3:], atol=1e-3
        )

    def test_weights_sum_to_one_and_balance_moves_the_split(self):
        y = torch.linspace(0, 1, 101)
        for blending in (0.0, 0.5, 1.0):
            s, m, h = ops.tonal_weights(y, blending)
            assert torch.allclose(s + m + h, torch.ones_like(y)) and (m >= 0).all()
        mid = torch.tensor([0.7])
        assert ops.tonal_weights(mid, 0.5, 1.0)[2] > ops.tonal_weights(mid, 0.5, -1.0)[2]


class TestDehaze:
    def hazy(self):
        g = torch.Generator().manual_seed(1)
        scene = (torch.rand(3, 24, 32, generator=g) * 0.6).clamp(0, 1)
        scene[:, :4] = 1.0  # a band of sky: haze alone
        return scene, 0.55 * scene + 0.45 * 0.95  # a veil of bright airlight over the scene

    def test_removing_haze_restores_contrast(self):
        scene, hazy = self.hazy()
        out = local.dehaze(hazy, amount=1.0)
        assert out.std() > 1.3 * hazy.std()
        assert (out - scene).abs().mean() < (hazy - scene).abs().mean()

    def test_negative_amounts_add_haze(self):
        _, hazy = self.hazy()
        assert local.dehaze(hazy, amount=-1.0).std() < 0.8 * hazy.std()


class TestVignette:
    def test_darkens_the_corners_not_the_centre(self):
        x = torch.full((3, 31, 41), 0.6)
        out = local.vignette(x, amount=-0.6)
        assert torch.allclose(out[:, 15, 20], x[:, 15, 20]) and (out[:, 0, 0] < 0.35).all()
        assert (local.vignette(x, amount=0.6)[:, 0, 0] > 0.8).all()

    def test_a_higher_midpoint_leaves_more_of_the_photo(self):
        x = torch.full((3, 31, 41), 0.6)
        changed = [(local.vignette(x, -0.6, midpoint=m) < 0.599).float().mean() for m in (0.2, 0.8)]
        assert changed[1] < changed[0]


class TestGrain:
    def test_seeded_luminance_noise(self):
        x = torch.full((3, 64, 64), 0.5)
        a, b = local.grain(x, amount=0.5), local.grain(x, amount=0.5)
        assert torch.equal(a, b) and not torch.equal(a, local.grain(x, amount=0.5, seed=1))
        noise = a - x
        assert torch.allclose(noise[0], noise[1]) and torch.allclose(noise[1], noise[2])
        assert float(noise.std()) == pytest.approx(0.04, rel=0.1) and abs(float(noise.mean())) < 0.01

    def test_training_targets_leave_it_out_and_say_so(self):
        look = load_action([{"exposure": {"stops": 0.3}}, {"grain": {"amount": 0.4}}])
        with pytest.warns(UserWarning, match=r"left out of the training targets: grain") as record:
            target = look.for_training()
        assert len(record) == 1 and [n for n, _ in target.steps] == ["exposure"]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert target.for_training() is target

    def test_a_look_datamodule_trains_on_it_without_grain(self):
        from lumastyle.data.actions import LookDataModule

        with pytest.warns(UserWarning, match="grain"):
            dm = LookDataModule(action=[{"exposure": {"stops": 0.3}}, {"grain": {"amount": 0.4}}])
        assert [n for n, _ in dm.action.steps] == ["exposure"] and dm.action.per_pixel
