"""Image geometry: the sizes, resampling, blur and padding that data, inference, export, the network's
context and the looks all use, written (and rounded) once, at the bottom of lumastyle's imports.

Contract:

- Images are tensors (*, C, H, W) (a single (C, H, W) image included) unless a function says (N, C, H, W).
- A size is computed in integer arithmetic only, with ``torch.sym_max``/``torch.sym_min`` for max and
  min: on plain ints the result is a plain int, and while ``torch.export`` traces the network H and W
  are symbolic (SymInt) and the same code gives a symbolic size, so an exported graph keeps H and W
  dynamic (ONNX cannot round a symbolic float). Apart from :func:`fit_long_side`'s early return for a
  photo that already fits (never used in an exported graph), nothing here branches on an image's size.
- One rounding rule for every scaled size, **half up** in integers, at least 1 pixel: ``n * p / q``
  becomes ``max(1, (n * p + q // 2) // q)``. :func:`capped_size` (a long side capped at ``cap``) and
  :func:`scaled_length` (a side times a scale factor) both use it.

Why half up and not Python's ``round`` (half to even): it is what one floor division of integers gives,
so ``stylize`` and an exported ONNX/pt2 file compute the same size for every photo (before this module
the Python paths rounded half to even and the export half up, and a 681x1024 photo at cap 512 got a
340-row context copy in one and 341 in the other); it is exact, where ``round(h * cap / max(h, w))``
first rounds the ratio to a float; and half to even would need a parity test of the quotient that an
exported graph would have to carry too.
"""

from __future__ import annotations

import math
import operator
from fractions import Fraction
from typing import cast

import torch
import torch.nn.functional as F
from kornia.filters import get_gaussian_kernel1d
from torch import Tensor

from lumastyle.errors import LumastyleError

_MAX_SIGMA = 4.0  # blur sigmas above this many pixels are applied at a lower resolution


def _max(a: int, b: int) -> int:
    """max of two ints or SymInts (symbolic while exporting)."""
    return cast(int, torch.sym_max(a, b))


def _min(a: int, b: int) -> int:
    """min of two ints or SymInts (symbolic while exporting)."""
    return cast(int, torch.sym_min(a, b))


def _scaled(n: int, p: int, q: int) -> int:
    """``n * p / q`` rounded half up, at least 1: the one rounding rule of this module (integers only)."""
    return _max(1, (n * p + q // 2) // q)


def capped_size(h: int, w: int, cap: int | float | None) -> tuple[int, int]:
    """The size (h', w') of an ``h`` x ``w`` image whose long side is capped at ``cap`` pixels.

    The long side becomes ``min(max(h, w), cap)`` exactly; the other side keeps the aspect ratio,
    ``n * cap / max(h, w)`` rounded half up (681x1024 at cap 512 -> 341x512), never 0 and never
    enlarged (an image that fits comes back as it is). ``cap`` None or 0: no cap; a float ``cap`` (a
    config's ``512.0``) must be a whole number. ``h`` and ``w`` (at least 1) may be SymInts while
    ``torch.export`` traces: the size is then symbolic, with no branch on it.

    Raises:
        LumastyleError: ``cap`` is negative or not a whole number.
    """
    if not cap:
        return h, w
    if isinstance(cap, float):
        if not cap.is_integer():
            raise LumastyleError(f"a long-side cap must be a whole number of pixels, got {cap!r}")
        cap = int(cap)
    try:
        cap = operator.index(cap)
    except TypeError:
        raise LumastyleError(f"a long-side cap must be a whole number of pixels, got {cap!r}") from None
    if cap < 0:
        raise LumastyleError(f"a long-side cap must be a positive number of pixels (0: none), got {cap}")
    m = _max(h, w)
    # for an image that fits (m <= cap) the rounded size is >= n, so min() keeps n: no branch on the size
    return _min(h, _scaled(h, cap, m)), _min(w, _scaled(w, cap, m))


def scaled_length(n: int, factor: float) -> int:
    """``n`` times ``factor``, rounded half up, at least 1; in integer arithmetic (``factor`` as a
    fraction), so an exported graph computes it for any size (ONNX cannot round a symbolic float)."""
    ratio = Fraction(factor).limit_denominator(1 << 16)
    return _scaled(n, ratio.numerator, ratio.denominator)


def scaled_size(hw: tuple[int, int], scale: float) -> tuple[int, int]:
    """``hw`` times ``scale``, rounded half up, at least 1 pixel a side."""
    return (scaled_length(hw[0], scale), scaled_length(hw[1], scale))


def image_hw(image: Tensor) -> tuple[int, int]:
    """The (H, W) of ``image`` (*, C, H, W) as a pair (SymInts while exporting)."""
    return image.shape[-2], image.shape[-1]


def flat_batch(image: Tensor) -> tuple[Tensor, tuple[int, ...]]:
    """(*, C, H, W) -> (N, C, H, W) and the leading shape, for 2D filters that want one batch axis."""
    lead = image.shape[:-3]
    return image.reshape(-1, *image.shape[-3:]), lead


def resize(x: Tensor, hw: tuple[int, int], antialias: bool | None = None) -> Tensor:
    """Bilinear resize of (N, C, H, W) to ``hw`` (pixel centres aligned, ``align_corners=False``).

    ``antialias`` filters before downsampling (torch's antialiased bilinear, a triangle filter as wide
    as the shrink); None: when shrinking either side, and an image already of size ``hw`` comes back
    as it is. Give ``antialias`` explicitly in code that is exported: None branches on the size.
    """
    if antialias is None:
        if tuple(x.shape[-2:]) == tuple(hw):
            return x
        antialias = hw[0] < x.shape[-2] or hw[1] < x.shape[-1]
    return F.interpolate(x, size=hw, mode="bilinear", align_corners=False, antialias=antialias)


def fit_long_side(image: Tensor, cap: int | None) -> Tensor:
    """``image`` (*, C, H, W) shrunk (antialiased bilinear) to :func:`capped_size`: its long side at
    most ``cap`` pixels (None or 0: no cap). Never enlarges: an image that fits is returned itself."""
    h, w = image.shape[-2:]
    size = capped_size(h, w, cap)
    if size == (h, w):
        return image
    flat, lead = flat_batch(image)
    out = resize(flat, size, antialias=True)
    return out.reshape(*lead, *out.shape[-3:])


def _reflect_indices(n: int, before: int, after: int, device: torch.device) -> Tensor:
    """Indices of a mirror extension of a length-``n`` axis by ``before``/``after`` (any amounts).

    The mirror image without edge repetition is periodic with period 2(n - 1), so each padded
    position maps to a source index arithmetically (no loop or branch on sizes; a 1-pixel axis
    has period 1 and is replicated).
    """
    i = torch.arange(-before, n + after, device=device)
    # the period as a tensor: an exported graph's remainder then takes it as an input (ONNX has no
    # remainder by a symbolic scalar)
    period = (i[:1] * 0 + _max(2 * (n - 1), 1)).clamp_min(1)
    i = i.remainder(period)
    return torch.where(i >= n, period - i, i)


def reflect_pad(x: Tensor, top: int, bottom: int, left: int, right: int) -> Tensor:
    """Reflection padding (no edge repetition) of (*, H, W) by any amounts: the reflection repeats
    when the image is smaller than the pad (a 1-pixel axis is replicated)."""
    h, w = x.shape[-2:]
    x = x.index_select(-2, _reflect_indices(h, top, bottom, x.device))
    return x.index_select(-1, _reflect_indices(w, left, right, x.device))


def smooth(x: Tensor, radius: float) -> Tensor:
    """Gaussian blur (*, C, H, W) with sigma ``radius`` times the long side (a blur that looks the
    same at any resolution, as the looks' sizes are fractions of the long side)."""
    return blur(x, radius * max(x.shape[-2:]))


def blur(x: Tensor, sigma: float) -> Tensor:
    """Gaussian blur with sigma ``sigma`` pixels, (*, C, H, W); mirror padding (no edge repetition).

    Sigmas above a few pixels are applied to a shrunk copy and the result enlarged again (bilinear),
    which costs the same at any resolution and matches the full blur to within the blur's own smoothness.
    The kernel depends on ``sigma`` alone and the padding is :func:`reflect_pad`'s, which works for any
    image size, so the blur has no branch on the image's size and exports for any size. (Written here
    because kornia's reflect-padded filters need the image larger than the kernel; the kernel is
    kornia's Gaussian.)
    """
    if sigma <= 0:
        return x
    flat, lead = flat_batch(x)
    h, w = flat.shape[-2:]
    small = flat
    if sigma > _MAX_SIGMA:
        f = _MAX_SIGMA / sigma
        small = resize(flat, (scaled_length(h, f), scaled_length(w, f)), antialias=True)
        sigma = _MAX_SIGMA
    r = math.ceil(3 * sigma)
    kernel = get_gaussian_kernel1d(2 * r + 1, sigma, device=flat.device, dtype=flat.dtype)  # (1, k)
    c = small.shape[-3]
    padded = reflect_pad(small, r, r, r, r)
    blurred = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    blurred = F.conv2d(blurred, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    out = resize(blurred, (h, w), antialias=False) if small is not flat else blurred
    return out.reshape(*lead, *out.shape[-3:])
