"""Per-photo operations: corrections computed from each photo's own statistics, as the per-photo
edits of a real catalogue are (exposure, white balance and contrast set photo by photo, then a fixed
look on top). The same parameters give every photo its own correction: a bluish photo is warmed, a
yellowish one cooled; a dark one brightened, a bright one darkened.

A per-photo operation follows the contract of :mod:`lumastyle.actions.ops`: sRGB tensors (*, 3, H, W)
in [0, 1], identity defaults (``amount: 0``), float32 maths (float64 stays float64), the result
clamped to [0, 1] in the input's dtype, bad parameters raising a one-line :class:`LumastyleError`
naming the parameter. Its statistics are taken per photo over (H, W), never across a batch, so a
batch renders as its photos one by one; and because the result depends on the whole photo, each is
registered ``whole_photo`` (a training target is rendered on the whole photo before a crop is cut).

- ``auto_white_balance``: channel gains in linear RGB (where a light's colour acts as per-channel
  gains), from the grey-world assumption (the photo's average colour is grey; G. Buchsbaum, "A spatial
  processor model for object colour perception", J. Franklin Inst. 1980) or the white patch (max-RGB:
  its brightest colours are white; E. Land's retinex theory, Land and McCann 1971, Land 1977).
- ``auto_exposure``: one gain in linear RGB taking the photo's median (or mean) luminance to a target.
- ``auto_levels``: each channel stretched between its own dark and bright percentiles, as Photoshop's
  Auto Levels ("Enhance Per Channel Contrast"); neutralises casts in the extremes, changes colour.
- ``auto_contrast``: one black and one white point for all three channels, as Photoshop's Auto
  Contrast ("Enhance Monochromatic Contrast"); keeps the colour balance.

Percentiles are exact order statistics (:func:`exact_percentile`, numpy's default linear
interpolation), taken with ``torch.kthvalue`` (a selection, no size limit; ``torch.quantile`` sorts,
and many torch versions refuse its inputs over 2**24 elements, pytorch/pytorch#64947) on at most
:data:`MAX_SAMPLES` pixels per photo: a bigger photo (a 12 MP one) is sampled with an even stride
over its pixels in raster order, a stride that depends on the photo's size only (batched still
equals per photo). Means use every pixel.
"""

from __future__ import annotations

import math

import torch
from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb
from torch import Tensor

from lumastyle.actions.ops import checked_number, finish_image, luminance, prepare_image
from lumastyle.actions.registry import operation
from lumastyle.color import LUMA_WEIGHTS
from lumastyle.errors import LumastyleError

#: Percentiles of a photo are taken on at most this many of its pixels (2 MP: a 1920x1080 frame whole).
MAX_SAMPLES = 2**21
#: The range channel gains of ``auto_white_balance`` are clamped to (two stops either way).
GAIN_RANGE = (0.25, 4.0)


def _choice(value: str, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise LumastyleError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _pixels(x: Tensor) -> Tensor:
    """(*, C, H, W) -> (*, C, n): each photo's pixels in raster order, every ``ceil(H W / MAX_SAMPLES)``-th
    one (all of them up to :data:`MAX_SAMPLES`)."""
    flat = x.flatten(-2)
    stride = math.ceil(flat.shape[-1] / MAX_SAMPLES)
    return flat[..., ::stride] if stride > 1 else flat


def exact_percentile(values: Tensor, q: float) -> Tensor:
    """The ``q``-th percentile (0..100) of ``values`` along its last dimension, interpolated linearly
    between the neighbouring order statistics (numpy's default), exact at any size (``kthvalue``)."""
    n = values.shape[-1]
    pos = q / 100.0 * (n - 1)
    k = math.floor(pos)
    below = values.kthvalue(k + 1, dim=-1).values
    if pos == k:
        return below
    above = values.kthvalue(k + 2, dim=-1).values
    return below + (pos - k) * (above - below)


def _photo_percentile(x: Tensor, q: float) -> Tensor:
    """Per photo and channel percentile of (*, C, H, W) -> (*, C, 1, 1)."""
    return exact_percentile(_pixels(x), q)[..., None, None]


@operation("auto_white_balance", whole_photo=True)
def auto_white_balance(
    image: Tensor, method: str = "grey_world", amount: float = 0.0, percentile: float = 99.0
) -> Tensor:
    """Automatic white balance: per-channel gains in linear RGB that make a neutral reference neutral.

    Args:
        image: sRGB image (*, 3, H, W) in [0, 1].
        method: ``grey_world`` (Buchsbaum 1980): the reference is the photo's mean linear colour m,
            and gain_c = Y(m) / m_c, where Y(m) = 0.2126 m_r + 0.7152 m_g + 0.0722 m_b is its Rec. 709
            luminance: the mean becomes the grey of its own luminance (the photo's mean luminance is
            kept). ``white_patch`` (max-RGB, Land's retinex): the reference p is each channel's
            ``percentile``-th percentile in linear RGB, gain_c = Y(p) / p_c: the photo's brightest
            colour becomes a neutral of its own luminance (exposure is left to ``auto_exposure``).
        amount: 0..1, gains blended linearly towards 1 (1 + amount (gain - 1)); 0 changes nothing.
        percentile: ``white_patch``'s percentile (50..100; 100 is the maximum, noise and all).

    Gains are clamped to [0.25, 4] (:data:`GAIN_RANGE`); a channel without light (mean or percentile
    0) keeps gain 1.
    """
    x = prepare_image(image)
    method = _choice(method, "method", ("grey_world", "white_patch"))
    amount = checked_number(amount, "amount", 0.0, 1.0)
    q = checked_number(percentile, "percentile", 50.0, 100.0)
    if amount == 0:
        return finish_image(x, image)
    lin = rgb_to_linear_rgb(x)
    ref = lin.mean(dim=(-2, -1), keepdim=True) if method == "grey_world" else _photo_percentile(lin, q)
    weights = torch.tensor(LUMA_WEIGHTS, dtype=x.dtype, device=x.device).view(3, 1, 1)
    grey = (ref * weights).sum(dim=-3, keepdim=True)
    gains = torch.where(ref > 1e-6, grey / ref.clamp_min(1e-6), torch.ones_like(ref)).clamp(*GAIN_RANGE)
    gains = 1 + amount * (gains - 1)
    return finish_image(linear_rgb_to_rgb((lin * gains).clamp(0, 1)), image)


def _srgb_to_linear(v: float) -> float:
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


@operation("auto_exposure", whole_photo=True)
def auto_exposure(
    image: Tensor,
    amount: float = 0.0,
    target: float = 0.45,
    statistic: str = "median",
    max_stops: float = 2.0,
) -> Tensor:
    """Automatic exposure: one gain in linear RGB taking the photo's median (or mean) luminance to ``target``.

    Args:
        image: sRGB image (*, 3, H, W) in [0, 1].
        amount: 0..1, the fraction of the correction applied, in stops; 0 changes nothing.
        target: the sRGB-encoded grey (0.01..0.99) the statistic is taken to (0.45: a little above
            the middle, as a camera's metering places an average scene).
        statistic: ``median`` or ``mean`` of the photo's linear Rec. 709 luminance.
        max_stops: 0..10, the correction is clamped to this many stops either way.

    The gain is 2**(amount * s), s = log2(linear(target) / statistic) clamped to [-max_stops,
    max_stops]; linear light above 1 is clipped (a brightened highlight goes white).
    """
    x = prepare_image(image)
    amount = checked_number(amount, "amount", 0.0, 1.0)
    target = checked_number(target, "target", 0.01, 0.99)
    statistic = _choice(statistic, "statistic", ("median", "mean"))
    max_stops = checked_number(max_stops, "max_stops", 0.0, 10.0)
    if amount == 0:
        return finish_image(x, image)
    lin = rgb_to_linear_rgb(x)
    y = luminance(lin)
    level = y.mean(dim=(-2, -1), keepdim=True) if statistic == "mean" else _photo_percentile(y, 50.0)
    stops = torch.log2(_srgb_to_linear(target) / level.clamp_min(1e-6)).clamp(-max_stops, max_stops)
    return finish_image(linear_rgb_to_rgb((lin * torch.exp2(amount * stops)).clamp(0, 1)), image)


def _check_clip(low: float, high: float) -> tuple[float, float]:
    lo = checked_number(low, "low", 0.0, 50.0)
    hi = checked_number(high, "high", 50.0, 100.0)
    if hi <= lo:
        raise LumastyleError(f"high must be above low, got low {lo} and high {hi}")
    return lo, hi


def _stretch(x: Tensor, black: Tensor, white: Tensor, amount: float) -> Tensor:
    """``x`` mapped from [black, white] to [0, 1], blended with ``x`` by ``amount``; a reference with no
    range (white - black below 1/255: a flat channel or photo) is left as it is."""
    span = white - black
    flat = span < 1 / 255
    stretched = torch.where(flat, x, (x - black) / span.clamp_min(1 / 255))
    return x + amount * (stretched - x)


@operation("auto_levels", whole_photo=True)
def auto_levels(image: Tensor, amount: float = 0.0, low: float = 0.5, high: float = 99.5) -> Tensor:
    """Auto Levels (Photoshop's "Enhance Per Channel Contrast"): each channel stretched on its own so
    its ``low``-th percentile becomes 0 and its ``high``-th percentile 1, in the sRGB values (as
    Photoshop's Levels are applied). Contrast rises, and a cast in the shadows or highlights goes,
    so the colour changes.

    Args:
        image: sRGB image (*, 3, H, W) in [0, 1].
        amount: 0..1, blend of the stretched photo with the photo; 0 changes nothing.
        low: the percentile (0..50) clipped to black (a few noisy pixels should not set the black
            point, as the clip percentages of Photoshop's Auto Color Correction Options).
        high: the percentile (50..100, above ``low``) clipped to white.
    """
    x = prepare_image(image)
    amount = checked_number(amount, "amount", 0.0, 1.0)
    lo, hi = _check_clip(low, high)
    if amount == 0:
        return finish_image(x, image)
    return finish_image(_stretch(x, _photo_percentile(x, lo), _photo_percentile(x, hi), amount), image)


@operation("auto_contrast", whole_photo=True)
def auto_contrast(image: Tensor, amount: float = 0.0, low: float = 0.5, high: float = 99.5) -> Tensor:
    """Auto Contrast (Photoshop's "Enhance Monochromatic Contrast"): all three channels stretched by
    one black point and one white point, so the colour balance is kept. The black point is the
    ``low``-th percentile of each pixel's darkest channel, the white point the ``high``-th percentile
    of its brightest channel (not of the luminance: a saturated colour's brightest channel is far
    above its luminance and would clip).

    Args:
        image: sRGB image (*, 3, H, W) in [0, 1].
        amount: 0..1, blend of the stretched photo with the photo; 0 changes nothing.
        low: the percentile (0..50) of the darkest channels that becomes black.
        high: the percentile (50..100, above ``low``) of the brightest channels that becomes white.
    """
    x = prepare_image(image)
    amount = checked_number(amount, "amount", 0.0, 1.0)
    lo, hi = _check_clip(low, high)
    if amount == 0:
        return finish_image(x, image)
    black = _photo_percentile(x.amin(dim=-3, keepdim=True), lo)
    white = _photo_percentile(x.amax(dim=-3, keepdim=True), hi)
    return finish_image(_stretch(x, black, white, amount), image)
