"""Evaluation metrics, checked against scikit-image as the independent reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import color as skcolor
from skimage import metrics as skmetrics

from lumastyle.color import rgb_to_lab
from lumastyle.metrics import StyleMetrics, ciede2000


def random_lab(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    lab = torch.empty(3, n, 1, dtype=torch.float64)
    lab[0] = torch.rand(n, 1, generator=g, dtype=torch.float64) * 100
    lab[1:] = torch.rand(2, n, 1, generator=g, dtype=torch.float64) * 200 - 100
    return lab


class TestCIEDE2000:
    def test_matches_scikit_image(self):
        lab1, lab2 = random_lab(500, 0), random_lab(500, 1)
        lab2[:, :100] = lab1[:, :100] + torch.randn(3, 100, 1, dtype=torch.float64)  # small differences too
        expected = skcolor.deltaE_ciede2000(lab1.permute(1, 2, 0).numpy(), lab2.permute(1, 2, 0).numpy())
        assert np.allclose(ciede2000(lab1, lab2).numpy(), expected, atol=1e-9)

    def test_grey_and_hue_wrap_cases(self):
        """Zero chroma (greys) and hue angles on both sides of 0/360 degrees, where the mean hue wraps."""
        pairs = [
            ([50, 0, 0], [60, 0, 0]),
            ([50, 0, 0], [50, 10, 0]),
            ([50, 30, -1], [50, 30, 1]),
            ([40, -20, -1], [45, -20, 1]),
            ([70, 5, 30], [70, -5, -30]),
        ]
        lab1 = torch.tensor([p[0] for p in pairs], dtype=torch.float64).T.reshape(3, -1, 1)
        lab2 = torch.tensor([p[1] for p in pairs], dtype=torch.float64).T.reshape(3, -1, 1)
        expected = skcolor.deltaE_ciede2000(lab1.permute(1, 2, 0).numpy(), lab2.permute(1, 2, 0).numpy())
        assert np.allclose(ciede2000(lab1, lab2).numpy(), expected, atol=1e-9)

    def test_zero_for_equal_colours_and_symmetric(self):
        lab1, lab2 = random_lab(50, 2), random_lab(50, 3)
        assert torch.allclose(ciede2000(lab1, lab1), torch.zeros(50, 1, dtype=torch.float64))
        assert torch.allclose(ciede2000(lab1, lab2), ciede2000(lab2, lab1))

    def test_batched_float32(self):
        lab1, lab2 = random_lab(12, 4).float().reshape(3, 3, 4), random_lab(12, 5).float().reshape(3, 3, 4)
        batch = ciede2000(torch.stack([lab1, lab2]), torch.stack([lab2, lab1]))
        assert batch.shape == (2, 3, 4) and batch.dtype == torch.float32


def photos(seed: int, hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    written = torch.rand(1, 3, *hw, generator=g)
    target = (written + 0.05 * (seed + 1) * torch.randn(1, 3, *hw, generator=g)).clamp(0, 1)
    return written, target


def computed(batches: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float]:
    """Every test metric over the (written, target) batches."""
    metrics = StyleMetrics(full=True)
    for written, target in batches:
        metrics.update(written, target)
    return {name: float(metric.compute()) for name, metric in metrics.items()}


def test_style_metrics_match_scikit_image():
    """Two photos of different sizes: the paper's distance weighs every pixel, the FiveK metrics every photo."""
    batches = [photos(0, (24, 32)), photos(1, (60, 40))]
    got = computed(batches)

    def hwc(x: torch.Tensor) -> np.ndarray:
        return x[0].permute(1, 2, 0).double().numpy()

    labs = [(skcolor.rgb2lab(hwc(w)), skcolor.rgb2lab(hwc(t))) for w, t in batches]
    e76 = [np.linalg.norm(a - b, axis=-1) for a, b in labs]
    e2000 = [skcolor.deltaE_ciede2000(a, b) for a, b in labs]
    assert got["lab_distance"] == pytest.approx(np.concatenate([e.ravel() for e in e76]).mean(), rel=2e-3)
    assert got["delta_e76"] == pytest.approx(np.mean([e.mean() for e in e76]), rel=2e-3)
    assert got["ciede2000"] == pytest.approx(np.mean([e.mean() for e in e2000]), rel=2e-3)
    psnr = [skmetrics.peak_signal_noise_ratio(hwc(t), hwc(w), data_range=1.0) for w, t in batches]
    assert got["psnr"] == pytest.approx(np.mean(psnr), rel=1e-4)
    ssim = [
        skmetrics.structural_similarity(
            hwc(t), hwc(w), data_range=1.0, channel_axis=2, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False,
        )
        for w, t in batches
    ]  # fmt: skip
    # the two differ only at the borders (torchmetrics pads by reflection, scikit-image crops)
    assert got["ssim"] == pytest.approx(np.mean(ssim), abs=2e-3)
    assert got["lab_distance"] != pytest.approx(got["delta_e76"], rel=1e-3)  # the two averagings differ


def test_metrics_merge_exactly_across_processes():
    """What each process accumulates adds up to the single-process value (the DDP reduction)."""
    batches = [photos(k, (16, 16 + 4 * k)) for k in range(4)]
    whole, first, second = StyleMetrics(), StyleMetrics(), StyleMetrics()
    for k, (written, target) in enumerate(batches):
        whole.update(written, target)
        (first if k % 2 == 0 else second).update(written, target)
    for (name, merged), (_, other), (_, single) in zip(
        first.items(), second.items(), whole.items(), strict=True
    ):
        merged.merge_state(other)
        assert float(merged.compute()) == pytest.approx(float(single.compute()), rel=1e-5), name


def test_validation_metrics_are_the_cheap_ones():
    metrics = StyleMetrics(full=False)
    written, target = photos(0, (8, 8))
    metrics.update(written, target)
    assert [name for name, _ in metrics.items()] == ["lab_distance", "psnr"]
    assert float(metrics.lab_distance.compute()) == pytest.approx(
        float((rgb_to_lab(written) - rgb_to_lab(target)).norm(dim=1).mean()), rel=1e-5
    )


def test_8bit_metrics_follow_the_lut_papers_protocol():
    """psnr_8bit and delta_e76_8bit: output and target rounded to 8 bits first, then per photo
    (scikit-image's peak_signal_noise_ratio and rgb2lab on the uint8 arrays), averaged over photos."""
    batches = [photos(0, (24, 32)), photos(1, (60, 40))]
    got = computed(batches)

    def uint8(x: torch.Tensor) -> np.ndarray:
        return np.round(x[0].permute(1, 2, 0).double().numpy() * 255).astype(np.uint8)

    psnr = [skmetrics.peak_signal_noise_ratio(uint8(t), uint8(w), data_range=255) for w, t in batches]
    assert got["psnr_8bit"] == pytest.approx(np.mean(psnr), rel=1e-6)
    e76 = [
        np.linalg.norm(skcolor.rgb2lab(uint8(w)) - skcolor.rgb2lab(uint8(t)), axis=-1).mean()
        for w, t in batches
    ]
    assert got["delta_e76_8bit"] == pytest.approx(np.mean(e76), rel=2e-3)
    assert got["psnr_8bit"] != pytest.approx(got["psnr"], rel=1e-6)  # the rounding is really applied


def test_8bit_psnr_of_an_exact_match_is_finite_and_validation_leaves_it_out():
    written = torch.rand(1, 3, 8, 8)
    metrics = StyleMetrics(full=True)
    metrics.update(written + 0.4 / 255, written)  # rounds to the same 8-bit values (or one step off)
    assert float(metrics.psnr_8bit.compute()) >= 48
    same = StyleMetrics(full=True)
    same.update(written, written)
    assert float(same.psnr_8bit.compute()) == pytest.approx(100.0)
    assert "psnr_8bit" not in dict(StyleMetrics(full=False).items())
