"""Local colour operations: what a pixel becomes depends on its neighbourhood (or on where it is in the
photo), so the paper's local styles (its Table 1: Foreground Pop-out, Local Xpro, Watercolor) can be
rendered from any photos, and so can Lightroom's Clarity, Texture, Dehaze, vignette and grain.

Same contract as :mod:`lumastyle.actions.ops`: sRGB tensors (*, 3, H, W) in [0, 1], identity defaults,
float32 maths (float64 stays), clamped result in the input's dtype, bad parameters raise
:class:`LumastyleError`. Sizes (blur radii) are fractions of the photo's long side, so a look renders
the same at any resolution; and because the result depends on the whole photo, a look containing
one of these is rendered on the whole photo before a training crop is cut (``Action.per_pixel``).

- ``clarity``: local contrast, the luminance's detail against a blurred copy of itself, amplified.
- ``watercolor``: SLIC superpixels (scikit-image) each taking its mean colour, a flat painted look.
- ``dehaze``: a veil estimated from the dark channel (He et al.'s prior) removed, or added.
- ``vignette``: corners darkened or lightened (Lightroom's post-crop vignette); depends on position.
- ``grain``: film grain, seeded noise (deterministic); no colour map can learn it, so training targets
  leave it out (:meth:`lumastyle.actions.Action.for_training`).
- ``popout``: a saliency estimate that needs no download (each pixel's Lab distance, after a light blur,
  from the photo's mean colour, Achanta et al.'s frequency-tuned saliency, or from its blurred
  surroundings, a centre-surround difference); the salient part gains saturation and contrast, the
  rest loses saturation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from lumastyle.actions.ops import checked_number, finish_image, luminance, prepare_image
from lumastyle.actions.registry import operation
from lumastyle.color import rgb_to_lab
from lumastyle.geometry import blur, flat_batch, smooth
from lumastyle.superpixels import region_means, slic_labels


@operation("clarity", whole_photo=True)
def clarity(image: Tensor, amount: float = 0.0, radius: float = 0.03) -> Tensor:
    """Local contrast: the luminance's detail (luminance minus its blur) is amplified by ``amount``.

    Args:
        amount: -1 (flatten the detail away) to 2; 0 changes nothing.
        radius: blur sigma as a fraction of the photo's long side (what counts as "local").
    """
    x = prepare_image(image)
    amount = checked_number(amount, "amount", -1.0, 2.0)
    radius = checked_number(radius, "radius", 1e-4, 0.5)
    y = luminance(x)
    detail = y - smooth(y, radius)
    # brighten/darken each pixel by its amplified detail, keeping its chroma ratios (near black: adding)
    target_y = (y + amount * detail).clamp(0.0, 1.0)
    out = torch.where(y > 1e-4, x * (target_y / y.clamp_min(1e-4)), x + (target_y - y))
    return finish_image(out, image)


@operation("watercolor", whole_photo=True)
def watercolor(image: Tensor, segments: int = 0, compactness: float = 10.0, mix: float = 1.0) -> Tensor:
    """A flat painted look: SLIC superpixels (scikit-image), each region taking its mean colour.

    Args:
        segments: about how many regions per photo (0 changes nothing).
        compactness: SLIC's balance of colour against space (higher: rounder regions).
        mix: 1 paints every region flat; between 0 and 1 blends the flat regions with the photo.

    SLIC runs in numpy on the CPU (its labels are not differentiable); the region means and the blend
    are torch, so gradients reach the photo through the colour averages.
    """
    x = prepare_image(image)
    segments = int(checked_number(segments, "segments", 0, 100_000))
    compactness = checked_number(compactness, "compactness", 1e-3, 1000.0)
    mix = checked_number(mix, "mix", 0.0, 1.0)
    if segments == 0 or mix == 0:
        return finish_image(x, image)
    flat, lead = flat_batch(x)
    out = torch.empty_like(flat)
    for i, photo in enumerate(flat):
        painted = region_means(photo, slic_labels(photo, segments, compactness))
        out[i] = photo + mix * (painted - photo)
    return finish_image(out.reshape(*lead, *out.shape[-3:]), image)


def saliency(image: Tensor, radius: float = 0.01, surround: float = math.inf, scale: float = 0.0) -> Tensor:
    """A saliency estimate in [0, 1] that needs no trained model and no download: (*, 3, H, W) ->
    (*, 1, H, W). Each pixel's Lab distance, after a light blur (``radius``), from its surround:

    - ``surround`` inf: the photo's mean colour (Achanta et al. 2009's frequency-tuned saliency), a
      whole-photo statistic;
    - a finite ``surround``: the photo blurred with that sigma (a fraction of the long side), a
      centre-surround difference in the manner of Itti et al. 1998: a region is salient when it differs
      from the region around it, whatever lies elsewhere in the photo.

    ``scale`` 0 divides by the most salient pixel of the photo (so the map reaches 1 in every photo);
    a positive ``scale`` is the Lab distance at which a pixel is fully salient (clamped to 1), the
    same for every photo.
    """
    x = prepare_image(image)
    radius = checked_number(radius, "radius", 0.0, 0.5)
    surround = checked_number(surround, "surround", 1e-3, math.inf)
    scale = checked_number(scale, "scale", 0.0, 1000.0)
    lab = rgb_to_lab(x)
    around = lab.mean(dim=(-2, -1), keepdim=True) if math.isinf(surround) else smooth(lab, surround)
    distance = (smooth(lab, radius) - around).norm(dim=-3, keepdim=True)
    return _unit(distance) if scale == 0 else (distance / scale).clamp(max=1.0)


def _unit(mask: Tensor) -> Tensor:
    """``mask`` divided by its photo's maximum."""
    return mask / mask.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-6)


@operation("popout", whole_photo=True)
def popout(
    image: Tensor,
    saturation: float = 0.0,
    contrast: float = 0.0,
    background_saturation: float = 0.0,
    softness: float = 0.05,
    surround: float = math.inf,
    scale: float = 0.0,
) -> Tensor:
    """Foreground pop-out: salient regions gain saturation and contrast, the rest loses saturation.

    Args:
        saturation: extra saturation of the salient part (-1 to 2; 0.5 = half as much colour again).
        contrast: extra contrast of the salient part around mid-grey (-1 to 2).
        background_saturation: saturation change of the rest (-1 = grey, 0 = unchanged).
        softness: blur of the saliency mask, as a fraction of the long side (soft edges).
        surround: what a region is compared with (:func:`saliency`): inf, the photo's mean colour;
            a blur sigma (fraction of the long side), its surroundings.
        scale: Lab distance at which a region is fully popped out; 0: the photo's most salient region
            (the mask is then rescaled to reach 1 after the softening too).
    """
    x = prepare_image(image)
    saturation = checked_number(saturation, "saturation", -1.0, 2.0)
    contrast = checked_number(contrast, "contrast", -1.0, 2.0)
    background_saturation = checked_number(background_saturation, "background_saturation", -1.0, 2.0)
    softness = checked_number(softness, "softness", 0.0, 0.5)
    mask = saliency(x, surround=surround, scale=scale)  # checks surround and scale first
    if saturation == contrast == background_saturation == 0:
        return finish_image(x, image)
    if softness > 0:
        mask = smooth(mask, softness)
    if scale == 0:
        mask = _unit(mask)
    y = luminance(x)
    foreground = y + (x - y) * (1 + saturation)
    foreground = 0.5 + (foreground - 0.5) * (1 + contrast)
    background = y + (x - y) * (1 + background_saturation)
    return finish_image(background + mask * (foreground - background), image)


@operation("dehaze", whole_photo=True)
def dehaze(image: Tensor, amount: float = 0.0, radius: float = 0.02) -> Tensor:
    """Remove (``amount`` > 0) or add (< 0) haze, after the dark channel prior (He, Sun and Tang 2009):
    the haze at a pixel is the darkest channel's minimum over its neighbourhood, the airlight the
    brightest colour where that haze is thickest; removing it restores contrast and colour where it
    lay thick. (A photo with no haze-only region, such as sky, underestimates the airlight.)

    Args:
        amount: -1..1; 1 removes 90 % of the estimated veil, -1 adds a veil of half the airlight.
        radius: the neighbourhood, as a fraction of the long side (the minimum filter and its blur).
    """
    x = prepare_image(image)
    amount = checked_number(amount, "amount", -1.0, 1.0)
    radius = checked_number(radius, "radius", 1e-4, 0.5)
    if amount == 0:
        return finish_image(x, image)
    flat, lead = flat_batch(x)
    k = 2 * max(1, round(radius * max(flat.shape[-2:]) / 2)) + 1
    dark = -F.max_pool2d(-flat.amin(dim=-3, keepdim=True), k, stride=1, padding=k // 2)
    dark = smooth(dark, radius)
    # the airlight: the brightest colour among the 0.1 % of pixels with the thickest haze (He et al.)
    thick = dark >= torch.quantile(dark.flatten(1), 0.999, dim=1).view(-1, 1, 1, 1)
    airlight = (
        torch.where(thick, flat, torch.zeros_like(flat)).amax(dim=(-2, -1), keepdim=True).clamp_min(0.05)
    )
    if amount > 0:
        transmission = (1 - 0.9 * amount * dark / airlight).clamp_min(0.1)
        out = (flat - airlight) / transmission + airlight
    else:
        out = flat + 0.5 * -amount * (airlight - flat)
    return finish_image(out.reshape(*lead, *out.shape[-3:]), image)


def _frame_radius(h: int, w: int, roundness: float, ref: Tensor) -> Tensor:
    """Each pixel's distance from the centre, 1 at the corners: elliptical with the frame at roundness
    0, a circle at 1, nearly the frame's rectangle at -1. (1, H, W)."""
    ys = torch.linspace(-1, 1, h, dtype=ref.dtype, device=ref.device).view(h, 1)
    xs = torch.linspace(-1, 1, w, dtype=ref.dtype, device=ref.device).view(1, w)
    if roundness > 0:  # towards a circle: the long axis's coordinates are stretched
        aspect = max(h, w) / min(h, w)
        ys, xs = (
            (ys * (1 + (aspect - 1) * roundness), xs) if h > w else (ys, xs * (1 + (aspect - 1) * roundness))
        )
    p = 2.0 + 6.0 * max(0.0, -roundness)
    r = (ys.abs() ** p + xs.abs() ** p) ** (1 / p)
    return (r / r.amax()).unsqueeze(0)


@operation("vignette", whole_photo=True)
def vignette(
    image: Tensor, amount: float = 0.0, midpoint: float = 0.5, feather: float = 0.5, roundness: float = 0.0
) -> Tensor:
    """Darken (``amount`` < 0) or lighten (> 0) towards the corners (Lightroom's post-crop vignette).

    Args:
        amount: -1 (black corners) .. 1 (white corners).
        midpoint: 0..1, how far from the centre the vignette begins (higher: only the corners).
        feather: 0..1, the width of its soft edge.
        roundness: -1 (rectangular) .. 1 (a circle); 0 follows the frame's proportions.
    """
    x = prepare_image(image)
    amount = checked_number(amount, "amount", -1.0, 1.0)
    midpoint = checked_number(midpoint, "midpoint", 0.0, 1.0)
    feather = checked_number(feather, "feather", 0.0, 1.0)
    roundness = checked_number(roundness, "roundness", -1.0, 1.0)
    if amount == 0:
        return finish_image(x, image)
    h, w = x.shape[-2:]
    r = _frame_radius(h, w, roundness, x)
    start, width = 0.25 + 0.6 * midpoint, 0.02 + 0.9 * feather
    t = ((r - start) / width).clamp(0, 1)
    mask = t * t * (3 - 2 * t)
    out = x * (1 + amount * mask) if amount < 0 else x + amount * mask * (1 - x)
    return finish_image(out, image)


@operation("grain", whole_photo=True, learnable=False)
def grain(
    image: Tensor, amount: float = 0.0, size: float = 0.25, roughness: float = 0.5, seed: int = 0
) -> Tensor:
    """Film grain: luminance noise, the same on every channel, from a seeded generator (so a look
    renders the same photo the same way every time).

    Args:
        amount: 0..1, the noise's standard deviation is 0.08 times this.
        size: 0..1, the grain's size (a blur of 0.5 to 2.5 pixels).
        roughness: 0..1, how much of a second, coarser grain is mixed in (clumping).
        seed: the generator's seed.
    """
    x = prepare_image(image)
    amount = checked_number(amount, "amount", 0.0, 1.0)
    size = checked_number(size, "size", 0.0, 1.0)
    roughness = checked_number(roughness, "roughness", 0.0, 1.0)
    if amount == 0:
        return finish_image(x, image)
    g = torch.Generator().manual_seed(int(seed))
    shape = (*x.shape[:-3], 1, *x.shape[-2:])
    fine = blur(torch.randn(shape, generator=g, dtype=x.dtype), 0.5 + 2.0 * size)
    coarse = blur(torch.randn(shape, generator=g, dtype=x.dtype), 2.0 + 6.0 * size)
    noise = (
        fine / fine.std().clamp_min(1e-6) * (1 - roughness)
        + coarse / coarse.std().clamp_min(1e-6) * roughness
    )
    noise = noise / noise.std().clamp_min(1e-6)
    return finish_image(x + 0.08 * amount * noise.to(x.device), image)
