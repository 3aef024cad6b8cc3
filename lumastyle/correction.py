"""Per-photo white balance, exposure and levels before the look: the correction a photographer sets
photo by photo, predicted from what the whole photo looks like.

A catalogue's before/after pairs (and MIT-Adobe FiveK's) are a per-photo correction (exposure, white
balance, black and white points) followed by a consistent look. White balance and exposure are a gain
per channel in linear light, and what sets them is the photo's own light: grey-world white balance
divides by the channel means, auto exposure by the median luminance. In logarithms both are sums, so
:class:`PhotoCorrection` predicts each photo's three log gains from the logarithmic statistics of
:func:`lumastyle.context.photo_statistics` (:data:`~lumastyle.context.LOG_LIGHT_CHANNELS`) with a small
MLP (one tanh layer: a clamp such as "at most one stop" is a bend a linear map cannot make). Levels (a
black and a white point per channel in the sRGB values, as Photoshop's and Lightroom's are set) stretch
a photo's contrast, and what sets them is where its darkest and brightest pixels lie: each black point
is a learned mix of the photo's own dark percentiles (its channel's 1st, the darkest channel's 1st, the
least of the three channels' 1st, a constant), each white point of its bright ones, taken after the
gains (a percentile of a channel moves with that channel's gain). A stretch that keeps colour (one
black point for all channels, at a percentile of each pixel's darkest channel after the gains) lies
between the second and the third, so the mix brackets it. The mix is 24 numbers for all photos, so 15
training scenes fit it without learning the scenes (an MLP predicting the points from the statistics
did: benchmarks/README.md, "Per-photo edits"). Last comes one tone curve per sRGB channel, the same
for every photo (17 knots, piecewise linear): the fixed look's curves, which a quadratic colour map in
Lab cannot bend (SepLUT, Yang et al. ECCV 2022, puts 1D LUTs before its 3D LUT for the same reason).
Everything is applied to every pixel before the head's colour map. The image-adaptive LUT papers'
weight predictors and HDRNet's global path play this part there; "Exposure" (Hu et al., SIGGRAPH
2018) predicts such global filters' parameters from the photo, as here.

Contract:
- :meth:`PhotoCorrection.predict`: statistics (B, PHOTO_CHANNELS) -> parameters (B,
  CORRECTION_PARAMETERS); zero (the identity) until trained or fitted, so a model starts as the one
  without it.
- :func:`correct`: sRGB (*, 3, H, W) and parameters (*, CORRECTION_PARAMETERS, 1, 1), or any shape that
  broadcasts (a map of constant parameters, as sampled context is) -> the corrected sRGB: linear R, G,
  B times the gains, clipped to [0, 1] (as a camera's light is), then each channel mapped from
  [black, white] to [0, 1] and clipped. Plain torch (exportable), float32 at least.
- :func:`apply_correction`: the same on Lab, then a tone curve (:func:`tone_curve`; the correction's own
  with :meth:`PhotoCorrection.correct_lab`); :func:`relight`: the gains alone, on sRGB (what a look's relit
  training copies are decoded with, :class:`lumastyle.data.datasets.Relit`).
- :func:`upgrade_state`: a checkpoint written before the curve loads as it behaved.
- :func:`fit_photo_correction`: the correction and one global colour map on the head's basis, fitted
  together by gradient descent on whole training photos (the image-adaptive part of the closed-form
  start; a least-squares solve cannot reach a gain or a black point inside the basis).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb
from torch import Tensor, nn

from lumastyle.color import (
    apply_color_transform,
    denormalize_lab,
    full_precision,
    lab_to_rgb,
    normalize_lab,
    rgb_to_lab,
)
from lumastyle.context import LEVEL_STATISTICS, LOG_LIGHT_CHANNELS, PHOTO_CHANNELS

#: Log gains are clamped to this many natural-log units either way (about 3 stops).
MAX_LOG_GAIN = 2.0
#: What :meth:`PhotoCorrection.predict` gives a photo: log gains of linear R, G, B; the sRGB value of each
#: channel's black point; each white point's distance below 1 (all zero: the identity).
CORRECTION_PARAMETERS = 9
#: Black points and white points move at most this far from 0 and 1.
MAX_LEVEL_SHIFT = 0.5
#: Knots of the tone curve applied after the levels, the same for all photos.
CURVE_KNOTS = 17


def relight(rgb: Tensor, log_gains: Tensor) -> Tensor:
    """sRGB (*, 3, H, W) -> sRGB with linear R, G, B multiplied by ``exp(log_gains)`` (broadcast),
    clipped to [0, 1] in linear light (a brightened highlight goes white), float32 at least."""
    dtype = torch.promote_types(rgb.dtype, torch.float32)
    linear = rgb_to_linear_rgb(rgb.to(dtype))
    return linear_rgb_to_rgb((linear * log_gains.to(dtype).exp()).clamp(0, 1))


def correct(rgb: Tensor, parameters: Tensor) -> Tensor:
    """sRGB (*, 3, H, W) -> sRGB corrected by ``parameters`` (*, CORRECTION_PARAMETERS, 1, 1) or any shape
    that broadcasts: :func:`relight` by the gains, then each channel's [black, white] stretched to [0, 1]
    and clipped (Levels); float32 at least."""
    gains, black, white = parameters.split(3, dim=-3)
    lit = relight(rgb, gains)
    black = black.to(lit.dtype)
    span = (1 - white.to(lit.dtype) - black).clamp_min(1 / 16)
    return ((lit - black) / span).clamp(0, 1)


def identity_curve(dtype: torch.dtype = torch.float32) -> Tensor:
    """The knots (3, CURVE_KNOTS) of :func:`tone_curve` that leave every channel as it is."""
    return torch.linspace(0, 1, CURVE_KNOTS, dtype=dtype).expand(3, -1).clone()


def tone_curve(rgb: Tensor, knots: Tensor) -> Tensor:
    """sRGB (*, 3, H, W) -> each channel through its own piecewise-linear curve, ``knots`` (3, K) its
    values at K evenly spaced inputs from 0 to 1, clipped to [0, 1]."""
    # the knots as a one-row image per channel, sampled by grid_sample (linear, the ends held): twice
    # as fast on a CPU as gathering the knots by index, and exportable (ONNX GridSample)
    shape = rgb.shape
    channels = rgb.reshape(-1, *shape[-2:]) * 2 - 1  # (N*3, H, W) in grid_sample's [-1, 1]
    grid = torch.stack([channels, torch.zeros_like(channels)], dim=-1)
    table = knots.to(rgb.dtype).repeat(channels.shape[0] // 3, 1)[:, None, None, :]  # (N*3, 1, 1, K)
    out = F.grid_sample(table, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.reshape(shape).clamp(0, 1)


def apply_correction(lab: Tensor, parameters: Tensor, curve: Tensor | None = None) -> Tensor:
    """Lab (B, 3, H, W) -> Lab after :func:`correct` (parameters (B, CORRECTION_PARAMETERS, 1, 1) or any
    shape that broadcasts to (B, CORRECTION_PARAMETERS, H, W)), then ``curve`` (:func:`tone_curve`)."""
    rgb = correct(lab_to_rgb(lab.to(torch.promote_types(lab.dtype, torch.float32))), parameters)
    return rgb_to_lab(rgb if curve is None else tone_curve(rgb, curve))


class PhotoCorrection(nn.Module):
    """Each photo's white balance and exposure gains and its levels from its photo-level statistics.

    Args:
        hidden: width of the gains' one hidden layer (tanh).

    The logarithmic statistics are centred and scaled by :attr:`center` and :attr:`scale` (set from the
    training photos by :func:`fit_photo_correction`, saved with the weights) before the MLP;
    :attr:`levels` (2, 3, 4) weighs, for the black and the white points of each channel, the photo's own
    percentile, the darkest (brightest) channel's, the least (greatest) of the channels' own, and a
    constant; :attr:`curve` (3, CURVE_KNOTS) is the tone curve after them. It does not train with the
    rest of the network: it is fitted once, before the first epoch.
    """

    center: Tensor
    scale: Tensor
    limit: Tensor

    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.register_buffer("center", torch.zeros(LOG_LIGHT_CHANNELS))
        self.register_buffer("scale", torch.ones(LOG_LIGHT_CHANNELS))
        self.register_buffer("limit", torch.tensor([MAX_LOG_GAIN] * 3 + [MAX_LEVEL_SHIFT] * 6), persistent=False)
        self.mlp = nn.Sequential(nn.Linear(LOG_LIGHT_CHANNELS, hidden), nn.Tanh(), nn.Linear(hidden, 3))
        last = self.mlp[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.levels = nn.Parameter(torch.zeros(2, 3, 4))
        self.curve = nn.Parameter(identity_curve())
        # fitted once, before training, on the training photos and their relit copies
        # (fit_photo_correction); trained further on a few photos' crops it would learn them
        self.requires_grad_(False)

    def predict(self, statistics: Tensor) -> Tensor:
        """(B, PHOTO_CHANNELS) photo-level statistics -> (B, CORRECTION_PARAMETERS) (:func:`correct`)."""
        statistics = full_precision(statistics).to(self.center.dtype)
        light = statistics[..., PHOTO_CHANNELS - LOG_LIGHT_CHANNELS :]
        log_gains = self.mlp((light - self.center) / self.scale).clamp(-MAX_LOG_GAIN, MAX_LOG_GAIN)
        # back from [-1, 1]: channels' 99th (:3) and 1st (3:6) percentiles, darkest's 1st (6), brightest's 99th (7)
        srgb = (statistics[..., LEVEL_STATISTICS] + 1) / 2
        # (B, 4, 3) after the gains, in one relight: each channel's own percentiles under its gain, and
        # the darkest (brightest) channel's under each channel's gain, of which the least (most) is kept
        rows = torch.cat([srgb[..., :6].unflatten(-1, (2, 3)), srgb[..., 6:8, None].expand(-1, 2, 3)], dim=-2)
        gained = relight(rows[..., None, None], log_gains[:, None, :, None, None])[..., 0, 0]
        white, black, darkest, brightest = gained.unbind(-2)
        one = torch.ones_like(black)
        # a black point shared by the channels, at the darkest channel's percentile after the gains, lies
        # between the darkest's percentile under the least gain and the least of the channels' own
        least, most = black.amin(dim=-1, keepdim=True), white.amax(dim=-1, keepdim=True)
        darkest, brightest = darkest.amin(dim=-1, keepdim=True), brightest.amax(dim=-1, keepdim=True)
        blacks = torch.stack([black, darkest.expand_as(black), least.expand_as(black), one], dim=-1)
        whites = torch.stack([1 - white, 1 - brightest.expand_as(white), 1 - most.expand_as(white), one], dim=-1)
        points = torch.cat([(self.levels[0] * blacks).sum(-1), (self.levels[1] * whites).sum(-1)], dim=-1)
        parameters = torch.cat([log_gains, points], dim=-1)
        return torch.maximum(torch.minimum(parameters, self.limit), -self.limit)

    def correct_lab(self, lab: Tensor, parameters: Tensor) -> Tensor:
        """:func:`apply_correction` with this correction's tone curve."""
        return apply_correction(lab, parameters, self.curve)

    def correct_normalized(self, lab_n: Tensor, parameters: Tensor) -> Tensor:
        """:meth:`correct_lab` on normalised Lab (what the head's colour basis reads), normalised back."""
        return normalize_lab(self.correct_lab(denormalize_lab(lab_n), parameters))

    def standardize(self, statistics: Tensor) -> None:
        """Centre and scale the MLP's inputs on these (N, PHOTO_CHANNELS) statistics of training photos."""
        light = statistics[..., PHOTO_CHANNELS - LOG_LIGHT_CHANNELS :].float()
        self.center.copy_(light.mean(dim=0))
        spread = light.std(dim=0) if len(light) > 1 else torch.ones_like(self.scale)
        self.scale.copy_(torch.where(spread > 1e-3, spread, torch.ones_like(spread)))


def upgrade_state(state: dict[str, Tensor], prefix: str) -> None:
    """Make a state dict written before the levels read the channels' own extreme percentile and before
    the tone curve (levels (2, 3, 3), no curve) load as it behaved: the new weights zero, the curve the
    identity; ``prefix`` is the correction's (``network.correction.`` in a checkpoint). In place."""
    levels = state.get(prefix + "levels")
    if levels is None:
        return
    if levels.shape[-1] == 3:  # [own, darkest, constant] -> [own, darkest, channels' extreme, constant]
        state[prefix + "levels"] = torch.cat([levels[..., :2], torch.zeros_like(levels[..., :1]), levels[..., 2:]], -1)
    if prefix + "curve" not in state:
        state[prefix + "curve"] = identity_curve(levels.dtype)


def fit_photo_correction(
    correction: PhotoCorrection,
    photos: Sequence[tuple[Tensor, Tensor, Tensor]],
    basis: Callable[[Tensor], Tensor],
    matrix: Tensor,
    *,
    steps: int = 300,
    batch: int = 32,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> Tensor:
    """Fit ``correction`` and a global colour map together on whole photos; returns the map (3, K).

    Args:
        correction: trained in place (its inputs standardised on these photos first).
        photos: per training photo, (normalised Lab (3, h, w), target normalised Lab (3, h, w), its
            photo-level statistics (PHOTO_CHANNELS,)); small copies serve (the fit is global).
        basis: the head's colour basis V(c) ((*, 3, H, W) -> (*, K, H, W)).
        matrix: the global map to start from (3, K), the least-squares one on the uncorrected photos.
        steps, batch, lr, weight_decay: Adam on the mean per-pixel Lab distance of ``batch`` photos
            drawn at random each step, with an L2 penalty ``weight_decay`` on the MLP's weights.
        seed: the seed of the MLP's hidden layer (drawn again here, as ``nn.Linear`` draws it) and of
            the batches: the fit is the same on every process, and whatever else the model drew first
            (a fit ends in different places from different draws: benchmarks/README.md, "Per-photo edits").
    """
    if not photos:
        raise ValueError("no training photos")
    device = correction.center.device  # the network's (a GPU's in a GPU run); the photos are moved there
    photos = [(a.to(device), b.to(device), s.to(device)) for a, b, s in photos]
    stats = torch.stack([s for _, _, s in photos]).float()
    correction.standardize(stats)
    generator = torch.Generator().manual_seed(seed)
    hidden = correction.mlp[0]
    assert isinstance(hidden, nn.Linear)
    bound = hidden.in_features**-0.5  # nn.Linear's default: uniform within 1 / sqrt(fan_in)
    for p in (hidden.weight, hidden.bias):
        p.data.copy_(torch.empty(p.shape).uniform_(-bound, bound, generator=generator))
    colour = matrix.detach().to(device, torch.float64).clone().requires_grad_(True)
    params = list(correction.parameters())
    correction.requires_grad_(True)
    optimizer = torch.optim.Adam([*params, colour], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            chosen = torch.randperm(len(photos), generator=generator)[:batch].tolist()
            loss = torch.zeros((), dtype=torch.float64, device=device)
            for i in chosen:
                source, target, s = photos[i]
                parameters = correction.predict(s[None])[..., None, None]
                corrected = correction.correct_normalized(source[None], parameters).double()
                out = apply_color_transform(colour.reshape(-1, 1, 1), basis(corrected))
                loss = loss + (out - target[None].double()).square().sum(dim=-3).add(1e-12).sqrt().mean()
            loss = loss / len(chosen) + weight_decay * sum(p.square().sum() for p in correction.mlp.parameters() if p.ndim > 1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    correction.requires_grad_(False)
    return colour.detach().float().cpu()
