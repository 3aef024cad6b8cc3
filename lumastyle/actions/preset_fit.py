"""Fit a Lightroom / Camera Raw preset to a colour map: the settings whose rendering comes closest.

Given photos and what a look makes of them (a trained model's output, or another preset's), find
the crs settings of :func:`lumastyle.actions.xmp.write_xmp` whose rendering by lumastyle comes
closest in CIELab (mean ΔE76). The rendering is lumastyle's own, the one ``action apply`` and the
look DataModule use: :func:`lumastyle.actions.xmp.preset_steps` and the operations it maps onto,
given tensors for the settings being fitted, so gradient descent runs through the very code that
renders the written file. No library fits Lightroom settings; this module is lumastyle's own.

What is fitted, in the order Lightroom applies it (and :func:`preset_steps` renders it):
- point curves, master and red, green, blue, at :data:`CURVE_X` (the basic tone sliders and
  Exposure add nothing a master curve cannot hold, so they stay at 0);
- HSL: hue, saturation and luminance of the eight colour bands, Saturation and Vibrance (a colour
  preset), or the black-and-white mix of the eight bands (``ConvertToGrayscale``);
- Color Grading: the shadow, midtone, highlight and global wheels (hue, saturation, luminance),
  Blending and Balance. A wheel is fitted as a point in the unit disc (its angle the hue, its radius
  the saturation), so no hue is ever stuck at a boundary;
- then the post-crop vignette's amount and midpoint, on whole (small) photos, since it depends on
  where a pixel is: kept only where it brings the preset closer.

Besides the vignette, only colour-to-colour settings are fitted: a preset cannot hold what depends
on a pixel's surroundings or on the photo (local or per-photo edits; clarity and dehaze are not fitted), and the fit's error says
how much of the look that leaves out. Settings are kept in Lightroom's ranges and rounded to its
whole-number steps before the error is measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from lumastyle.actions.action import Action
from lumastyle.actions.ops import HUE_BANDS
from lumastyle.actions.registry import get_operation
from lumastyle.actions.xmp import RANGES, preset_steps
from lumastyle.color import rgb_to_lab

#: The inputs (0..255) of the fitted point curves' control points.
CURVE_X = (0, 32, 64, 96, 128, 160, 192, 224, 255)
#: targets with a mean Lab chroma below this may be a (toned) black and white: both kinds are fitted
GREY_CHROMA = 8.0
CURVES = ("ToneCurvePV2012", "ToneCurvePV2012Red", "ToneCurvePV2012Green", "ToneCurvePV2012Blue")
_BANDS = tuple(band.capitalize() for band in HUE_BANDS)
_HSL = tuple(f"{kind}Adjustment{band}" for kind in ("Hue", "Saturation", "Luminance") for band in _BANDS)
_MIX = tuple(f"GrayMixer{band}" for band in _BANDS)
#: each wheel's crs hue and saturation settings (Lightroom keeps the shadow and highlight wheels in
#: the split-toning settings) and its luminance setting
_WHEELS = (
    ("SplitToningShadowHue", "SplitToningShadowSaturation", "ColorGradeShadowLum"),
    ("ColorGradeMidtoneHue", "ColorGradeMidtoneSat", "ColorGradeMidtoneLum"),
    ("SplitToningHighlightHue", "SplitToningHighlightSaturation", "ColorGradeHighlightLum"),
    ("ColorGradeGlobalHue", "ColorGradeGlobalSat", "ColorGradeGlobalLum"),
)


@dataclass
class PresetFit:
    """A fitted preset: ``settings`` and ``curves`` as :func:`lumastyle.actions.xmp.write_xmp` takes
    them (whole numbers in Lightroom's units and ranges), and the mean ΔE76 between the written
    preset rendered by lumastyle and the targets (``error``, on every pixel given)."""

    settings: dict[str, float]
    curves: dict[str, list[tuple[int, int]]]
    grayscale: bool
    error: float
    history: list[float] = field(default_factory=list)  # the fitting loss every 50 steps

    def crs(self) -> dict[str, object]:
        """The settings as a preset file holds them (what :func:`preset_steps` reads)."""
        out: dict[str, object] = {k: float(v) for k, v in self.settings.items()}
        out.update({k: [f"{x}, {y}" for x, y in pts] for k, pts in self.curves.items()})
        if self.grayscale:
            out["ConvertToGrayscale"] = "True"
        return out

    def action(self, source: str = "fitted preset") -> Action:
        """lumastyle's rendering of the preset (what reading the written file gives)."""
        return Action(preset_steps(self.crs(), source), source)


class _Settings(nn.Module):
    """The fitted settings in normalised units, each kept in its range by :meth:`project`."""

    def __init__(self, grayscale: bool) -> None:
        super().__init__()
        self.grayscale = grayscale
        self.sliders = _MIX if grayscale else (*_HSL, "Saturation", "Vibrance")
        x = torch.tensor(CURVE_X, dtype=torch.float32) / 255
        self.curve_y = nn.Parameter(x.repeat(len(CURVES), 1))  # the identity
        self.slider = nn.Parameter(torch.zeros(len(self.sliders)))  # -1..1
        # a wheel at the centre has no hue to follow; start each just off it
        self.wheel = nn.Parameter(torch.tensor([[1e-2, 0.0]]).repeat(len(_WHEELS), 1))
        self.lum = nn.Parameter(torch.zeros(len(_WHEELS)))  # -1..1
        self.blending = nn.Parameter(torch.tensor(0.5))  # 0..1
        self.balance = nn.Parameter(torch.tensor(0.0))  # -1..1
        self.curve_x: Tensor = x * 255  # fixed: only the outputs are fitted

    @torch.no_grad()
    def project(self) -> None:
        self.curve_y.clamp_(0, 1)
        self.slider.clamp_(-1, 1)
        radius = self.wheel.norm(dim=1, keepdim=True)
        self.wheel.mul_(1 / radius.clamp_min(1.0))
        self.lum.clamp_(-1, 1)
        self.blending.clamp_(0, 1)
        self.balance.clamp_(-1, 1)

    def crs(self) -> dict[str, object]:
        """The settings in Lightroom's units, as tensors (curves: (N, 2) in 0..255)."""
        out: dict[str, object] = {
            key: torch.stack([self.curve_x, 255 * y], dim=1)
            for key, y in zip(CURVES, self.curve_y, strict=True)
        }
        out.update({key: 100 * v for key, v in zip(self.sliders, self.slider, strict=True)})
        for (hue, sat, lum), (a, b), level in zip(_WHEELS, self.wheel, self.lum, strict=True):
            out[hue] = torch.remainder(torch.rad2deg(torch.atan2(b, a)), 360.0)
            out[sat] = 100 * torch.sqrt(a * a + b * b + 1e-12).clamp(max=1.0)
            out[lum] = 100 * level
        out["ColorGradeBlending"] = 100 * self.blending
        out["SplitToningBalance"] = 100 * self.balance
        if self.grayscale:
            out["ConvertToGrayscale"] = "True"
        return out

    def rounded(self) -> tuple[dict[str, float], dict[str, list[tuple[int, int]]]]:
        """The settings as whole numbers in their ranges (``write_xmp``'s sliders and curves)."""
        settings: dict[str, float] = {}
        curves: dict[str, list[tuple[int, int]]] = {}
        for key, value in self.crs().items():
            if isinstance(value, Tensor) and value.ndim == 2:
                curves[key] = [(round(float(x)), round(float(y))) for x, y in value.detach()]
            elif isinstance(value, Tensor):
                low, high = RANGES[key]
                number = float(value.detach())
                if key.endswith("Hue"):
                    number = round(number) % 360 if round(number) % 360 <= high else 0.0
                settings[key] = float(min(max(round(number), low), high))
        return settings, curves


def _render(settings: dict[str, object], pixels: Tensor) -> Tensor:
    """lumastyle's rendering of ``settings`` (tensors) onto ``pixels`` (1, 3, 1, P): the operations
    :func:`preset_steps` maps them onto, called as :class:`Action` calls them."""
    for name, params in preset_steps(settings, "fitted preset"):
        pixels = get_operation(name).function(pixels, **params)
    return pixels


def _delta_e(rgb: Tensor, target_lab: Tensor) -> Tensor:
    """Per-pixel ΔE76 between sRGB ``rgb`` and Lab ``target_lab``; eps keeps the gradient finite at 0."""
    return ((rgb_to_lab(rgb) - target_lab).pow(2).sum(dim=-3) + 1e-8).sqrt()


def _pixels(images: Sequence[Tensor]) -> Tensor:
    """(3, H, W) images as one row of pixels (1, 3, 1, P): every fitted setting maps pixels one by one."""
    return torch.cat([im.reshape(3, -1).float() for im in images], dim=1)[None, :, None, :]


def fit_preset(
    photos: Sequence[Tensor],
    targets: Sequence[Tensor],
    grayscale: bool | None = None,
    steps: int = 400,
    samples: int = 1 << 15,
    seed: int = 0,
    progress: bool = False,
    vignette: bool = True,
) -> PresetFit:
    """The preset whose rendering by lumastyle comes closest to ``targets`` on ``photos``.

    Args:
        photos: sRGB images (3, H, W) in [0, 1].
        targets: the look's result on each photo, same sizes.
        grayscale: fit a black-and-white preset (True), a colour one (False), or decide (None): a
            colour preset, and also a black-and-white one, keeping the closer, when the targets are
            nearly grey (mean Lab chroma below :data:`GREY_CHROMA`: a toned black and white).
        steps: Adam steps over the sampled pixels.
        samples: pixels drawn (seeded) from all photos to fit on; the error is measured on all.
        seed: the sampling seed.
        progress: show a progress bar of the steps (on stderr).
        vignette: also fit Lightroom's post-crop vignette (kept where it brings the preset closer).
    """
    if len(photos) != len(targets) or not photos:
        raise ValueError("fit_preset needs as many targets as photos, and at least one")
    for p, t in zip(photos, targets, strict=True):
        if p.shape != t.shape or p.ndim != 3 or p.shape[0] != 3:
            raise ValueError(
                f"photos and targets must be matching (3, H, W) images, got {p.shape} and {t.shape}"
            )
    x_all, y_all = _pixels(photos), _pixels(targets)
    generator = torch.Generator().manual_seed(seed)
    pick = torch.randperm(x_all.shape[-1], generator=generator)[:samples]
    x, y_lab = x_all[..., pick], rgb_to_lab(y_all[..., pick])
    if grayscale is None:
        chroma = y_lab[:, 1:].norm(dim=1).mean()
        choices: tuple[bool, ...] = (False, True) if chroma < GREY_CHROMA else (False,)
    else:
        choices = (grayscale,)
    fits = [_fit(x, y_lab, grey, steps, progress) for grey in choices]
    fit = min(fits, key=lambda f: f.error)
    if vignette:
        _fit_vignette(fit, photos, targets)
    with torch.no_grad():  # the error of the preset as written, on every pixel of every photo
        pixels = sum(p[0].numel() for p in photos)
        distances = (
            _delta_e(fit.action()(p[None]), rgb_to_lab(t[None])).sum()
            for p, t in zip(photos, targets, strict=True)
        )
        fit.error = float(sum(distances) / pixels)
    return fit


#: the vignette amounts (crs, -100..100) and midpoints (0..100) tried; feather and roundness stay at
#: Lightroom's defaults (50, 0)
_VIGNETTE_AMOUNTS = range(-60, 61, 5)
_VIGNETTE_MIDPOINTS = (20, 35, 50, 65, 80)
_VIGNETTE_SIDE = 128  # the long side the vignette is chosen at (it is smooth)
_VIGNETTE_GAIN = 0.05  # kept only when it brings the preset this much closer (mean ΔE76)


def _fit_vignette(fit: PresetFit, photos: Sequence[Tensor], targets: Sequence[Tensor]) -> None:
    """Add Lightroom's post-crop vignette to ``fit`` where it brings the preset closer: the colour
    settings rendered once on small copies, then every amount and midpoint of a grid tried on them
    (two numbers, so a grid is enough; it depends on position, which the per-pixel fit cannot see)."""
    from lumastyle.actions.local import vignette
    from lumastyle.geometry import capped_size, resize

    def small(image: Tensor) -> Tensor:
        size = capped_size(image.shape[-2], image.shape[-1], _VIGNETTE_SIDE)
        return resize(image[None].float(), size, antialias=True).clamp(0, 1)

    with torch.no_grad():
        action = fit.action()
        base = [action(small(p)) for p in photos]
        want = [rgb_to_lab(small(t)) for t in targets]

        def error(amount: float, midpoint: float) -> float:
            outs = (vignette(b, amount / 100, midpoint / 100) for b in base)
            return float(torch.stack([_delta_e(o, w).mean() for o, w in zip(outs, want, strict=True)]).mean())

        none = error(0.0, 50.0)
        best = min((error(a, m), a, m) for a in _VIGNETTE_AMOUNTS if a for m in _VIGNETTE_MIDPOINTS)
    if best[0] < none - _VIGNETTE_GAIN:
        fit.settings["PostCropVignetteAmount"] = float(best[1])
        fit.settings["PostCropVignetteMidpoint"] = float(best[2])


def _fit(x: Tensor, y_lab: Tensor, grayscale: bool, steps: int, progress: bool) -> PresetFit:
    module = _Settings(grayscale)
    optimizer = torch.optim.Adam(module.parameters(), lr=0.02)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(steps, 1), eta_min=1e-3)
    history = []
    kind = "black-and-white" if grayscale else "colour"
    for step in tqdm(range(steps), desc=f"fitting a {kind} preset", unit="step", disable=not progress):
        optimizer.zero_grad(set_to_none=True)
        loss = _delta_e(_render(module.crs(), x), y_lab).mean()
        loss.backward()
        optimizer.step()
        scheduler.step()
        module.project()
        if step % 50 == 0 or step == steps - 1:
            history.append(float(loss.detach()))
    settings, curves = module.rounded()
    fit = PresetFit(settings, curves, grayscale, math.nan, history)
    with torch.no_grad():  # on the pixels it was fitted on: which of the colour and B&W fits is closer
        fit.error = float(_delta_e(fit.action()(x), y_lab).mean())
    return fit
