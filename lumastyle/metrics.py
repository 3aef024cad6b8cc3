"""Evaluation metrics as the paper and its peers report them, on the images a user gets.

- ``lab_distance``: the paper's error, the mean per-pixel Euclidean CIELab distance over every pixel of
  every test photo (:class:`torchmetrics.MeanMetric` over pixels).
- ``delta_e76`` and ``ciede2000``: mean colour difference per photo, averaged over photos, as the
  FiveK protocol of the image-adaptive LUT papers reports ΔE (CIE76 is the Euclidean Lab distance;
  CIEDE2000 weighs lightness, chroma and hue differences as the eye perceives them).
- ``psnr`` and ``ssim``: on sRGB in [0, 1], per photo, averaged over photos (torchmetrics'
  PeakSignalNoiseRatio and StructuralSimilarityIndexMeasure: Gaussian window 11, sigma 1.5).
- ``psnr_8bit`` and ``delta_e76_8bit`` (test only): the image-adaptive LUT papers' protocol, which scores
  the 8-bit files a model writes: output and target rounded to 0..255 first, then per photo
  10·log10(255² / MSE) and the mean CIE76 ΔE of their Lab, averaged over photos (their MATLAB
  ``psnr(im2double(out), im2double(gt))`` and ``rgb2lab``). A photo matching its target exactly counts
  100 dB (the MSE is floored at 1e-10 of the range², where the papers' script would give infinity).

Every metric keeps sums that torchmetrics reduces across processes, so the values are exact under DDP.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from lumastyle.color import check_image, lab_distance, rgb_to_lab


def ciede2000(lab1: Tensor, lab2: Tensor) -> Tensor:
    """CIEDE2000 colour difference (kL = kC = kH = 1) per pixel: (*, 3, H, W) Lab pairs -> (*, H, W).

    Written by hand: kornia and torchmetrics have no CIEDE2000. The formula is Sharma, Wu and Dalal's
    ("The CIEDE2000 colour-difference formula: implementation notes", 2005), hue angles in degrees;
    tested against scikit-image's ``deltaE_ciede2000``. Computed in float64 (float32 inputs return
    float32). Not meant for gradients (square roots at zero chroma).
    """
    check_image(lab1, "lab1")
    check_image(lab2, "lab2")
    dtype = torch.promote_types(lab1.dtype, lab2.dtype)
    L1, a1, b1 = lab1.double().unbind(-3)
    L2, a2, b2 = lab2.double().unbind(-3)
    c_bar7 = ((torch.hypot(a1, b1) + torch.hypot(a2, b2)) / 2) ** 7
    g = 0.5 * (1 - torch.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = torch.hypot(a1p, b1), torch.hypot(a2p, b2)
    h1p = torch.rad2deg(torch.atan2(b1, a1p)).remainder(360)
    h2p = torch.rad2deg(torch.atan2(b2, a2p)).remainder(360)
    chroma = c1p * c2p
    dh = h2p - h1p
    dh = torch.where(dh > 180, dh - 360, torch.where(dh < -180, dh + 360, dh))
    dh = torch.where(chroma == 0, torch.zeros_like(dh), dh)
    d_l, d_c = L2 - L1, c2p - c1p
    d_h = 2 * torch.sqrt(chroma) * torch.sin(torch.deg2rad(dh) / 2)
    l_bar, c_bar = (L1 + L2) / 2, (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = torch.where(
        (h1p - h2p).abs() <= 180, h_sum / 2, torch.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)
    )
    h_bar = torch.where(chroma == 0, h_sum, h_bar)

    def cos_deg(x: Tensor) -> Tensor:
        return torch.cos(torch.deg2rad(x))

    t = 1 - 0.17 * cos_deg(h_bar - 30) + 0.24 * cos_deg(2 * h_bar) + 0.32 * cos_deg(3 * h_bar + 6)
    t = t - 0.20 * cos_deg(4 * h_bar - 63)
    d_theta = 30 * torch.exp(-(((h_bar - 275) / 25) ** 2))
    c_bar7p = c_bar**7
    r_c = 2 * torch.sqrt(c_bar7p / (c_bar7p + 25.0**7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / torch.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * c_bar
    s_h = 1 + 0.015 * c_bar * t
    r_t = -torch.sin(torch.deg2rad(2 * d_theta)) * r_c
    terms = (d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (d_c / s_c) * (d_h / s_h)
    return torch.sqrt(terms.clamp_min(0)).to(torch.promote_types(dtype, torch.float32))


def to_8bit(rgb: Tensor) -> Tensor:
    """sRGB in [0, 1] as an 8-bit file holds it (values k / 255), still in [0, 1]."""
    return (rgb.clamp(0, 1) * 255).round() / 255


def psnr_per_photo(written: Tensor, target: Tensor) -> Tensor:
    """PSNR (dB) of each photo of a (B, 3, H, W) batch in [0, 1], the MSE over all its pixels and
    channels, floored at 1e-10 (100 dB for an exact match)."""
    mse = (written.double() - target.double()).square().flatten(1).mean(dim=1)
    return -10 * torch.log10(mse.clamp_min(1e-10))


class PhotoMean(MeanMetric):
    """Mean over photos of a per-pixel difference's mean per photo (the FiveK protocol's averaging)."""

    def update_pixels(self, per_pixel: Tensor) -> None:
        """``per_pixel`` (B, H, W): one mean per photo enters the average."""
        self.update(per_pixel.flatten(1).mean(dim=1))


class StyleMetrics(nn.Module):
    """Every metric of one stage, updated from (written sRGB, target sRGB) batches (B, 3, H, W).

    Args:
        full: also ΔE76, CIEDE2000, SSIM and the 8-bit PSNR and ΔE76 (the test report); False keeps
            the paper's Lab distance and PSNR only (cheap enough for every validation).
    """

    def __init__(self, full: bool = True) -> None:
        super().__init__()
        self.lab_distance = MeanMetric()
        self.psnr = PeakSignalNoiseRatio(data_range=1.0, reduction="elementwise_mean", dim=(1, 2, 3))
        self.full = full
        if full:
            self.delta_e76 = PhotoMean()
            self.ciede2000 = PhotoMean()
            self.ssim = StructuralSimilarityIndexMeasure(data_range=1.0)
            self.psnr_8bit = MeanMetric()
            self.delta_e76_8bit = PhotoMean()

    def update(self, written: Tensor, target: Tensor) -> Tensor:
        """Update with a batch; returns the per-pixel Lab distance (B, H, W)."""
        lab_written, lab_target = rgb_to_lab(written), rgb_to_lab(target)
        per_pixel = lab_distance(lab_written, lab_target)
        self.lab_distance.update(per_pixel)  # every pixel of every photo weighs the same (the paper)
        self.psnr.update(written, target)
        if self.full:
            self.delta_e76.update_pixels(per_pixel)
            self.ciede2000.update_pixels(ciede2000(lab_written, lab_target))
            if min(written.shape[-2:]) >= 11:  # the Gaussian window needs 11 pixels a side
                self.ssim.update(written, target)
            written8, target8 = to_8bit(written), to_8bit(target)
            self.psnr_8bit.update(psnr_per_photo(written8, target8))
            self.delta_e76_8bit.update_pixels(lab_distance(rgb_to_lab(written8), rgb_to_lab(target8)))
        return per_pixel

    def items(self) -> list[tuple[str, Metric]]:
        """(name, metric) pairs to log; SSIM only once it has seen a photo."""
        full = ["delta_e76", "ciede2000", "ssim", "psnr_8bit", "delta_e76_8bit"]
        names = ["lab_distance", "psnr"] + (full if self.full else [])
        return [(n, getattr(self, n)) for n in names if n != "ssim" or self.ssim.update_count > 0]
