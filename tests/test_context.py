"""Two-scale context tests: padding, geometry of the resampling, tiles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lumastyle.backbone import STRIDE, DilatedVGG16
from lumastyle.context import TwoScaleContext, sample_context
from lumastyle.geometry import reflect_pad


class TestReflectPad:
    def test_matches_torch_for_small_pads(self):
        x = torch.rand(1, 3, 10, 12)
        expected = torch.nn.functional.pad(x, (2, 3, 4, 5), mode="reflect")
        assert torch.equal(reflect_pad(x, 4, 5, 2, 3), expected)

    def test_pad_larger_than_image(self):
        x = torch.rand(1, 3, 5, 4)
        out = reflect_pad(x, 20, 21, 30, 9)
        assert out.shape == (1, 3, 5 + 41, 4 + 39)
        assert torch.equal(out[..., 20:25, 30:34], x)

    @pytest.mark.parametrize("pads", [(20, 21, 30, 9), (3, 0, 0, 7), (13, 13, 1, 2)])
    def test_matches_numpy_mirror_for_any_pad(self, pads):
        """numpy's 'reflect' repeats the mirror for pads larger than the image, as the context needs."""
        import numpy as np

        x = torch.rand(1, 2, 5, 4)
        top, bottom, left, right = pads
        expected = np.pad(x.numpy(), ((0, 0), (0, 0), (top, bottom), (left, right)), mode="reflect")
        assert torch.equal(reflect_pad(x, *pads), torch.from_numpy(expected))

    def test_one_pixel_image(self):
        x = torch.rand(1, 3, 1, 1)
        out = reflect_pad(x, 2, 2, 2, 2)
        assert out.shape == (1, 3, 5, 5) and torch.all(out == x)


class TestSampleContext:
    @pytest.mark.parametrize(("scale", "pad"), [(1.0, 0), (1.0, 16), (2.0, 8), (0.5, 24)])
    def test_geometry(self, scale, pad):
        """A map whose value is its own row/column coordinate is read back at each pixel's exact position."""
        out_h, out_w = 48, 40
        scaled = (round(out_h * scale), round(out_w * scale))
        fh, fw = (scaled[0] + 2 * pad + 7) // STRIDE, (scaled[1] + 2 * pad + 7) // STRIDE
        rows = torch.arange(fh, dtype=torch.float32).view(1, 1, fh, 1).expand(1, 1, fh, fw)
        cols = torch.arange(fw, dtype=torch.float32).view(1, 1, 1, fw).expand(1, 1, fh, fw)
        sampled = sample_context(torch.cat([rows, cols], 1), scaled, pad, (out_h, out_w))
        y = (torch.arange(out_h) + 0.5) * scaled[0] / out_h
        x = (torch.arange(out_w) + 0.5) * scaled[1] / out_w
        expect_y = ((y + pad) / STRIDE - 0.5).clamp(0, fh - 1)
        expect_x = ((x + pad) / STRIDE - 0.5).clamp(0, fw - 1)
        assert torch.allclose(sampled[0, 0, :, 0], expect_y, atol=1e-4)
        assert torch.allclose(sampled[0, 1, 0, :], expect_x, atol=1e-4)

    def test_bf16_autocast_samples_the_float32_positions(self):
        """Under bf16 autocast the positions stay float32: a 6000-pixel photo whose context was capped
        to 1024 pixels reads each pixel's exact feature coordinate (bf16 positions were off by up to a
        quarter of a cell, about 6 output pixels)."""
        out_w, scaled_w, pad = 6000, 1024, 32
        fw = (scaled_w + 2 * pad) // STRIDE
        cols = torch.arange(fw, dtype=torch.float32).view(1, 1, 1, fw).expand(1, 1, 2, fw).contiguous()
        exact = sample_context(cols, (2, scaled_w), pad, (2, out_w))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            auto = sample_context(cols.bfloat16(), (2, scaled_w), pad, (2, out_w))
        assert auto.dtype == torch.float32
        # the features themselves are bf16 (integers up to 136 are exact), so only positions could differ
        assert (auto - exact).abs().max() < 1e-3

    def test_rows_are_a_slice_of_the_whole(self):
        feat = torch.rand(2, 5, 7, 9)
        whole = sample_context(feat, (50, 66), 3, (33, 41))
        part = sample_context(feat, (50, 66), 3, (33, 41), rows=(10, 21))
        assert torch.allclose(part, whole[:, :, 10:21], atol=1e-6)


class TestTwoScaleContext:
    def test_maps_per_scale(self):
        ctx = TwoScaleContext(
            [DilatedVGG16(width=1 / 16), DilatedVGG16(width=1 / 16)], scales=(1.0, 2.0), pad=8
        )
        maps = ctx(torch.rand(1, 3, 30, 41))
        assert [m.scaled_hw for m in maps] == [(30, 41), (60, 82)]
        for m in maps:
            h, w = m.scaled_hw
            assert m.features.shape[-2:] == (-(-(h + 16) // STRIDE), -(-(w + 16) // STRIDE))

    def test_shared_backbone(self):
        net = DilatedVGG16(width=1 / 16)
        ctx = TwoScaleContext([net], scales=(1.0, 2.0))
        assert ctx.backbone(0) is ctx.backbone(1) is net
        with pytest.raises(ValueError):
            TwoScaleContext([net, net, net], scales=(1.0, 2.0))


class TestLowLevelContext:
    def test_geometry_reads_back_a_ramp(self):
        """Cell averages of a linear ramp, sampled back at the pixels, give the ramp (away from borders)."""
        from lumastyle.context import LowLevelContext

        h, w = 40, 61
        ramp = torch.linspace(-1, 1, w).view(1, 1, 1, w).expand(1, 3, h, w).contiguous()
        m = LowLevelContext([0.5])(ramp)
        assert m.features.shape == (1, 3, -(-h // STRIDE), -(-w // STRIDE)) and m.pad == 0
        sampled = sample_context(m.features, m.scaled_hw, m.pad, (h, w))
        # (the last cell holds reflected pixels past the edge; the blur also bends the ramp at the borders)
        assert torch.allclose(sampled[..., 12:48], ramp[..., 12:48], atol=1e-4)

    def test_blurs_at_each_radius(self):
        from lumastyle.context import LowLevelContext
        from lumastyle.geometry import blur

        x = torch.rand(1, 3, 32, 32)
        m = LowLevelContext([2.0, 8.0])(x)
        assert m.features.shape[1] == 6
        expected = torch.nn.functional.avg_pool2d(blur(x, 8.0), STRIDE)
        assert torch.allclose(m.features[:, 3:], expected, atol=1e-6)
        with pytest.raises(ValueError, match="positive"):
            LowLevelContext([0.0])

    def test_contrast_is_the_distance_between_blurred_copies(self):
        """With ``contrast``, after the 3 channels of each radius comes one channel per pair of radii:
        the cell mean of the per-pixel Lab distance between those two blurred copies."""
        from lumastyle.context import LowLevelContext
        from lumastyle.geometry import blur

        x = torch.rand(2, 3, 40, 48)
        plain = LowLevelContext([2.0, 6.0, 18.0])(x)
        m = LowLevelContext([2.0, 6.0, 18.0], contrast=True)(x)
        assert m.features.shape[1] == 9 + 3
        assert torch.equal(m.features[:, :9], plain.features)  # the blurred copies are unchanged
        b = [blur(x, r) for r in (2.0, 6.0, 18.0)]
        for channel, (i, j) in zip(range(9, 12), [(0, 1), (0, 2), (1, 2)], strict=True):
            expected = torch.nn.functional.avg_pool2d((b[i] - b[j]).norm(dim=1, keepdim=True), STRIDE)
            assert torch.allclose(m.features[:, channel : channel + 1], expected, atol=1e-6)

    def test_contrast_sees_a_region_that_differs_from_its_surroundings(self):
        """Zero on a flat photo and unchanged by a colour shift of the whole photo (a distance, not a
        colour); a patch that differs from its surroundings stands out, wherever it is."""
        from lumastyle.context import LowLevelContext

        low = LowLevelContext([2.0, 12.0], contrast=True)
        flat = torch.full((1, 3, 64, 64), 0.3)
        assert low(flat).features[:, 6].abs().max() < 1e-6
        photo = flat.clone()
        photo[..., 8:16, 40:48] = 0.9
        contrast = low(photo).features[0, 6]  # (8, 8) cells
        assert contrast[1:2, 5:6].item() > 10 * contrast[6:, :3].max().item()
        shifted = low(photo + torch.tensor([0.2, -0.1, 0.05]).view(1, 3, 1, 1)).features[0, 6]
        assert torch.allclose(shifted, contrast, atol=1e-5)

    def test_regions_are_superpixel_means_at_full_resolution(self):
        """Region context: after the blurred copies, each pixel's mean Lab over its superpixel, at
        full resolution (stride 1). On a photo of two flat halves with a little noise it is each half's
        own mean right up to the edge, where a blur of the same size mixes the two."""
        from lumastyle.color import normalize_lab, rgb_to_lab
        from lumastyle.context import LowLevelContext

        g = torch.Generator().manual_seed(0)
        rgb = torch.empty(1, 3, 32, 48)
        rgb[..., :24] = torch.tensor([0.8, 0.3, 0.2]).view(1, 3, 1, 1)
        rgb[..., 24:] = torch.tensor([0.2, 0.4, 0.8]).view(1, 3, 1, 1)
        lab_n = normalize_lab(rgb_to_lab((rgb + 0.02 * torch.rand(rgb.shape, generator=g)).clamp(0, 1)))
        m = LowLevelContext([8.0], regions=[8.0])(lab_n)
        assert m.stride == 1 and m.features.shape == (1, 6, 32, 48)
        regions, blurred = m.features[0, 3:], m.features[0, :3]
        for side in (slice(0, 24), slice(24, 48)):
            half_mean = lab_n[0, :, :, side].mean(dim=(-2, -1))[:, None, None]
            assert (regions[:, :, side] - half_mean).norm(dim=0).max() < 0.02
        edge = (blurred[:, :, 23] - regions[:, :, 23]).norm(dim=0)  # the column left of the edge
        assert edge.min() > 0.1

    def test_shifted_seed_grids_make_region_means_follow_the_content(self):
        """Averaged over shifted seed grids, the region map of a photo shifted by a few pixels is nearly
        the shifted map; one grid's regions depend on where its seeds fall, so it changes more."""
        from lumastyle.color import normalize_lab, rgb_to_lab
        from lumastyle.context import LowLevelContext
        from lumastyle.geometry import blur

        g = torch.Generator().manual_seed(1)
        rgb = blur(torch.rand(1, 3, 72, 72, generator=g), 2.0)
        rgb = (rgb - rgb.amin()) / (rgb.amax() - rgb.amin())
        lab_n = normalize_lab(rgb_to_lab(rgb))
        change = {}
        for shifts in (1, 3):
            low = LowLevelContext([1.0], regions=[8.0], shifts=shifts)
            whole = low(lab_n).features[..., 3:, 4:, 4:]
            shifted = low(lab_n[..., 4:, 4:]).features[..., 3:, :, :]
            change[shifts] = (whole - shifted)[..., 8:-8, 8:-8].norm(dim=1).mean().item()
        assert change[3] < 0.6 * change[1], change

    def test_saliency_is_the_frequency_tuned_map_of_scikit_image_lab(self):
        """Each saliency channel is Achanta et al.'s frequency-tuned saliency: the CIELab distance of the
        lightly blurred photo from its mean colour, smoothed at the channel's radius and divided by its
        maximum. Reference: scikit-image's Lab and scipy's Gaussian filter (mirror padding, 3 sigma)."""
        from scipy.ndimage import gaussian_filter
        from skimage.color import rgb2lab

        from lumastyle.color import normalize_lab, rgb_to_lab
        from lumastyle.context import SALIENCY_LIGHT_BLUR, LowLevelContext

        g = torch.Generator().manual_seed(3)
        rgb = torch.rand(1, 3, 40, 48, generator=g, dtype=torch.float64) * 0.3 + 0.35
        rgb[..., 10:22, 28:40] = torch.tensor([0.9, 0.2, 0.15], dtype=torch.float64).view(1, 3, 1, 1)
        low = LowLevelContext([], saliency=[2.0, 4.0])
        m = low(normalize_lab(rgb_to_lab(rgb)))
        assert m.features.shape == (1, 2, 5, 6) and low.out_channels == 2

        lab = rgb2lab(rgb[0].permute(1, 2, 0).numpy())
        light = np.stack([gaussian_filter(lab[..., c], SALIENCY_LIGHT_BLUR, mode="mirror", truncate=3) for c in range(3)], -1)
        distance = np.linalg.norm(light - lab.mean(axis=(0, 1)), axis=-1)
        for channel, radius in enumerate((2.0, 4.0)):
            smoothed = gaussian_filter(distance, radius, mode="mirror", truncate=3)
            expected = torch.nn.functional.avg_pool2d(torch.from_numpy(smoothed / smoothed.max())[None, None], STRIDE)
            assert torch.allclose(m.features[0, channel], expected[0, 0], atol=2e-3)

    def test_saliency_is_relative_to_the_photos_most_salient_region(self):
        """The map is divided by its photo's maximum: a patch twice as far from the photo's mean colour
        gives the same map, and an even shift of every colour changes nothing. The patch covers a quarter
        of the photo, so the mean colour is a quarter of the way to it: the background is a third as far
        from the mean as the patch, which reads 1, whatever its colour."""
        from lumastyle.context import LowLevelContext

        low = LowLevelContext([], saliency=[3.0])
        maps = []
        for strength in (0.2, 0.4):
            lab_n = torch.zeros(1, 3, 64, 64)
            lab_n[:, 1, 8:40, 24:56] = strength
            maps.append(low(lab_n).features[0, 0])
        assert torch.allclose(maps[0], maps[1], atol=1e-5)
        assert torch.allclose(maps[0][2:4, 4:6], torch.tensor(1.0), atol=2e-3)
        assert torch.allclose(maps[0][6:, :2], torch.tensor(1 / 3), atol=2e-3)
        lab_n[:, 0] += 0.3
        assert torch.allclose(low(lab_n).features[0, 0], maps[1], atol=1e-5)
        with pytest.raises(ValueError, match="saliency radii must be positive and finite"):
            LowLevelContext([], saliency=[math.inf])

    def test_saliency_of_a_flat_photo_is_zero_and_bf16_changes_nothing(self):
        """A photo with nothing salient gives a map near 0, not its rounding noise scaled up to 1; under
        bf16 autocast (stylize's bf16 paths) the map is the float32 one, as the cache computes it."""
        from lumastyle.color import normalize_lab, rgb_to_lab
        from lumastyle.context import LowLevelContext

        low = LowLevelContext([], saliency=[3.0, 8.0])
        flat = normalize_lab(rgb_to_lab(torch.full((1, 3, 40, 48), 0.5)))
        assert low(flat).features.abs().max() < 1e-3
        g = torch.Generator().manual_seed(4)
        lab_n = normalize_lab(rgb_to_lab(0.45 + 0.1 * torch.rand(1, 3, 40, 48, generator=g)))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            reduced = low(lab_n).features
        assert torch.equal(reduced, low(lab_n).features)

    def test_infinite_radius_is_the_photos_mean_colour(self):
        from lumastyle.context import LowLevelContext

        x = torch.rand(2, 3, 20, 36)
        m = LowLevelContext([math.inf])(x)
        expected = x.mean(dim=(-2, -1), keepdim=True).expand(-1, -1, *m.features.shape[-2:])
        assert torch.allclose(m.features, expected, atol=1e-6)


def test_sampling_a_full_resolution_map():
    """A stride-1 map (region context) sampled at its own size is itself, and at twice its size it is
    torch's bilinear resize (half-pixel centres, borders clamped)."""
    x = torch.rand(2, 5, 9, 13)
    assert torch.allclose(sample_context(x, (9, 13), 0, (9, 13), stride=1), x, atol=1e-6)
    up = sample_context(x, (9, 13), 0, (18, 26), stride=1)
    expected = torch.nn.functional.interpolate(x, size=(18, 26), mode="bilinear", align_corners=False)
    assert torch.allclose(up, expected, atol=1e-5)
    rows = sample_context(x, (9, 13), 0, (18, 26), rows=(5, 11), stride=1)
    assert torch.allclose(rows, expected[..., 5:11, :], atol=1e-5)
