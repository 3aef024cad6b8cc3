"""Local colour operations: what a pixel becomes depends on its neighbourhood, so the paper's local
styles (its Table 1: Foreground Pop-out, Local Xpro, Watercolor) can be rendered from any photos.

Same contract as :mod:`lumastyle.actions.ops`: sRGB tensors (*, 3, H, W) in [0, 1], identity defaults,
float32 maths (float64 stays), clamped result in the input's dtype, bad parameters raise
:class:`LumastyleError`. Sizes (blur radii) are fractions of the photo's long side, so a look renders
the same at any resolution; and because the result depends on the whole photo, a look containing
one of these is rendered on the whole photo before a training crop is cut (``Action.per_pixel``).

- ``clarity``: local contrast, the luminance's detail against a blurred copy of itself, amplified.
- ``watercolor``: SLIC superpixels (scikit-image) each taking its mean colour, a flat painted look.
- ``popout``: a saliency estimate that needs no download (each pixel's Lab distance, after a light blur,
  from the photo's mean colour, Achanta et al.'s frequency-tuned saliency, or from its blurred
  surroundings, a centre-surround difference); the salient part gains saturation and contrast, the
  rest loses saturation.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from lumastyle.actions.ops import _finish, _number, _prepare, luminance
from lumastyle.color import rgb_to_lab
from lumastyle.context import flat_batch, smooth

#: operations here need the whole photo (the others in ops.py are per pixel)
LOCAL_OPERATIONS = ("clarity", "watercolor", "popout")


def clarity(image: Tensor, amount: float = 0.0, radius: float = 0.03) -> Tensor:
    """Local contrast: the luminance's detail (luminance minus its blur) is amplified by ``amount``.

    Args:
        amount: -1 (flatten the detail away) to 2; 0 changes nothing.
        radius: blur sigma as a fraction of the photo's long side (what counts as "local").
    """
    x = _prepare(image)
    amount = _number(amount, "amount", -1.0, 2.0)
    radius = _number(radius, "radius", 1e-4, 0.5)
    y = luminance(x)
    detail = y - smooth(y, radius)
    # brighten/darken each pixel by its amplified detail, keeping its chroma ratios (near black: adding)
    target_y = (y + amount * detail).clamp(0.0, 1.0)
    out = torch.where(y > 1e-4, x * (target_y / y.clamp_min(1e-4)), x + (target_y - y))
    return _finish(out, image)


def watercolor(image: Tensor, segments: int = 0, compactness: float = 10.0, mix: float = 1.0) -> Tensor:
    """A flat painted look: SLIC superpixels (scikit-image), each region taking its mean colour.

    Args:
        segments: about how many regions per photo (0 changes nothing).
        compactness: SLIC's balance of colour against space (higher: rounder regions).
        mix: 1 paints every region flat; between 0 and 1 blends the flat regions with the photo.

    SLIC runs in numpy on the CPU (its labels are not differentiable); the region means and the blend
    are torch, so gradients reach the photo through the colour averages.
    """
    x = _prepare(image)
    segments = int(_number(segments, "segments", 0, 100_000))
    compactness = _number(compactness, "compactness", 1e-3, 1000.0)
    mix = _number(mix, "mix", 0.0, 1.0)
    if segments == 0 or mix == 0:
        return _finish(x, image)
    from skimage.segmentation import slic  # the one dependency here that is not torch

    flat, lead = flat_batch(x)
    out = torch.empty_like(flat)
    for i, photo in enumerate(flat):
        hwc = photo.detach().permute(1, 2, 0).cpu().double().numpy()
        labels = slic(hwc, n_segments=segments, compactness=compactness, start_label=0, channel_axis=2)
        index = torch.from_numpy(labels.astype(np.int64)).to(photo.device).flatten()
        n = int(index.max()) + 1
        colours = photo.flatten(1)  # (3, H*W)
        sums = torch.zeros(3, n, dtype=photo.dtype, device=photo.device).index_add(1, index, colours)
        counts = torch.bincount(index, minlength=n).to(photo.dtype)
        painted = (sums / counts)[:, index].view_as(photo)
        out[i] = photo + mix * (painted - photo)
    return _finish(out.reshape(*lead, *out.shape[-3:]), image)


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
    x = _prepare(image)
    radius = _number(radius, "radius", 0.0, 0.5)
    surround = _number(surround, "surround", 1e-3, math.inf)
    scale = _number(scale, "scale", 0.0, 1000.0)
    lab = rgb_to_lab(x)
    around = lab.mean(dim=(-2, -1), keepdim=True) if math.isinf(surround) else smooth(lab, surround)
    distance = (smooth(lab, radius) - around).norm(dim=-3, keepdim=True)
    return _unit(distance) if scale == 0 else (distance / scale).clamp(max=1.0)


def _unit(mask: Tensor) -> Tensor:
    """``mask`` divided by its photo's maximum."""
    return mask / mask.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-6)


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
    x = _prepare(image)
    saturation = _number(saturation, "saturation", -1.0, 2.0)
    contrast = _number(contrast, "contrast", -1.0, 2.0)
    background_saturation = _number(background_saturation, "background_saturation", -1.0, 2.0)
    softness = _number(softness, "softness", 0.0, 0.5)
    mask = saliency(x, surround=surround, scale=scale)  # checks surround and scale first
    if saturation == contrast == background_saturation == 0:
        return _finish(x, image)
    if softness > 0:
        mask = smooth(mask, softness)
    if scale == 0:
        mask = _unit(mask)
    y = luminance(x)
    foreground = y + (x - y) * (1 + saturation)
    foreground = 0.5 + (foreground - 0.5) * (1 + contrast)
    background = y + (x - y) * (1 + background_saturation)
    return _finish(background + mask * (foreground - background), image)
