"""Colour profiles: a photo's pixels in its embedded ICC profile's space <-> the sRGB the network works in.

The network works in sRGB (float tensors in [0, 1], :mod:`lumastyle.io`). A photo that embeds an RGB
ICC profile (Adobe RGB, ProPhoto, Display P3, a camera's or a scanner's) is converted from that
profile to sRGB when it is read, and its stylized output is converted back and written with the
same profile embedded (``stylize --output_profile srgb`` writes sRGB instead). A photo with no
profile is sRGB, as before, and its pixels pass unchanged; so does a profile that is sRGB to within
:data:`SRGB_TOLERANCE` (most cameras' and editors' sRGB profiles), so an sRGB-tagged photo reads
exactly as an untagged one. Profiles of other colour spaces (gray, CMYK) are not used: the photo is
read as before, as sRGB, and its output embeds no profile.

The conversions are ICC relative colorimetric (the white maps to the white; matrix/TRC profiles
have no other intent), computed by LittleCMS (through imagecodecs, the codec library of tifffile's
author; Pillow's ImageCms works on 8-bit images only). They keep 16-bit precision: for a matrix/TRC
profile (the RGB working spaces photographers use, and anything that behaves like one), LittleCMS's
own float transform is sampled once per profile at the 65536 16-bit codes of each channel, and a
photo is converted by exact lookups of its codes, one 3x3 matrix and tables in torch
(written by hand: LittleCMS's 16-bit transform of a whole photo is optimised into a coarse grid, off
by up to 10% near black on ProPhoto, and its exact float transform takes ~2.5 s a 12 MP photo on one
core). A profile that does not behave like a matrix/TRC profile (a LUT-based one) is converted by
LittleCMS's float transform at every pixel.

Colours outside sRGB: the network clamps its input to [0, 1] (its colour layer is CIELab from sRGB
in [0, 1], :func:`lumastyle.color.rgb_to_lab`) and writes sRGB in [0, 1], so a wide-gamut photo's
colours outside sRGB are clipped when it is read (per channel, in linear light), and the output,
written back in the photo's own profile, holds the network's sRGB colours. Colours inside sRGB (the
great majority of real photos' pixels) come back within a fraction of a ΔE.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

#: A profile whose transform to sRGB moves no colour by more than this (in [0, 1] units: 1.5 8-bit
#: steps) is taken as sRGB, and the pixels pass unchanged: sRGB profiles differ that much from one
#: another (colord's and Ghostscript's from LittleCMS's by up to 1.4 steps, in the red of a pure
#: green, where sRGB's curve is steepest), and a photo tagged with any of them is sRGB.
SRGB_TOLERANCE = 1.5 / 255
#: ``stylize --output_profile`` values: ``input`` (the input's profile, embedded; an untagged input
#: stays untagged sRGB) and ``srgb`` (sRGB pixels with an sRGB profile embedded).
OUTPUT_PROFILES = ("input", "srgb")
#: How far LittleCMS's own transform may be from the sampled curves and matrix (linear light) for a
#: profile to be converted through them.
_SEPARABLE_TOLERANCE = 2e-5
_CODES = 65536
# steps of the sRGB encode/decode tables and of each inverse curve's (uniform in the square root of
# the value): the nearest entry is at most ~6e-6 off (sRGB's steepest slope, 12.92, times half a step)
_TABLE = 1 << 20


def _cms() -> Any:
    return importlib.import_module("imagecodecs")


@functools.cache
def srgb_profile() -> bytes:
    """A compact sRGB ICC profile (LittleCMS's built-in, 588 bytes), embedded by ``--output_profile srgb``."""
    return bytes(_cms().cms_profile("srgb"))


@functools.cache
def _linear_srgb() -> bytes:
    # sRGB's primaries and D65 white with a linear curve: the profile LittleCMS samples into
    return bytes(
        _cms().cms_profile(
            "rgb",
            whitepoint=[0.3127, 0.3290, 1.0],
            primaries=[0.64, 0.33, 1.0, 0.30, 0.60, 1.0, 0.15, 0.06, 1.0],
            gamma=1.0,
        )
    )


def _lcms(rgb: np.ndarray, source: bytes, target: bytes) -> np.ndarray:
    """LittleCMS's float transform (unbounded, relative colorimetric, unoptimised) of (..., 3) values."""
    cms = _cms()
    flat = np.ascontiguousarray(rgb, dtype=np.float32).reshape(1, -1, 3)
    out = cms.cms_transform(
        flat,
        source,
        target,
        colorspace="rgb",
        outcolorspace="rgb",
        intent=cms.CMS.INTENT.RELATIVE_COLORIMETRIC,
        flags=cms.CMS.FLAGS.NOOPTIMIZE,
    )
    return np.asarray(out, dtype=np.float64).reshape(rgb.shape)


def is_rgb_profile(icc: bytes | None) -> bool:
    """True when ``icc`` looks like an ICC profile of an RGB colour space (its header says so)."""
    return icc is not None and len(icc) >= 132 and icc[36:40] == b"acsp" and icc[16:20] == b"RGB "


def srgb_decode(v: np.ndarray) -> np.ndarray:
    """sRGB's tone curve (IEC 61966-2-1): encoded values in [0, 1] -> linear light."""
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def srgb_encode(u: np.ndarray) -> np.ndarray:
    """The inverse of :func:`srgb_decode`: linear light -> encoded sRGB values."""
    return np.where(u <= 0.0031308, u * 12.92, 1.055 * np.maximum(u, 0.0031308) ** (1 / 2.4) - 0.055)


@functools.cache
def _srgb_tables() -> tuple[torch.Tensor, torch.Tensor]:
    """(decode, encode) tables of sRGB's curve at ``_TABLE + 1`` points of [0, 1]."""
    x = np.linspace(0.0, 1.0, _TABLE + 1)
    return torch.from_numpy(srgb_decode(x)).float(), torch.from_numpy(srgb_encode(x)).float()


def _lookup(table: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``table`` sampled at ``len - 1`` equal steps of [0, 1], its nearest entry to each ``x`` (clamped)."""
    index = x.clamp(0.0, 1.0).mul_(table.numel() - 1).round_().int()
    return table.index_select(0, index.reshape(-1)).view_as(x)


@dataclass(frozen=True, eq=False)
class Converter:
    """Converts between one RGB ICC profile's space and sRGB (make one with :func:`converter`).

    Attributes:
        icc: the profile's bytes.
        srgb: the profile is sRGB to within :data:`SRGB_TOLERANCE`; pixels pass unchanged.
        curves: (3, 65536) float64: each channel's curve at its 16-bit codes (0 at code 0, 1 at the
            top), or None for a profile converted by LittleCMS at every pixel.
        matrix: (3, 3): curve values -> linear sRGB (D65), less ``offset``.
        offset: (3,): linear sRGB of the profile's black.
    """

    icc: bytes
    srgb: bool
    curves: np.ndarray | None
    matrix: np.ndarray
    offset: np.ndarray

    def to_srgb(self, image: torch.Tensor) -> torch.Tensor:
        """(3, H, W) float values in [0, 1] in this profile's space -> sRGB in [0, 1] (float32)."""
        if self.srgb:
            return image
        if self.curves is None:
            hwc = image.permute(1, 2, 0).cpu().numpy()
            out = np.clip(_lcms(hwc, self.icc, srgb_profile()), 0.0, 1.0)
            return torch.from_numpy(out.astype(np.float32)).permute(2, 0, 1).contiguous()
        curves = _torch_curves(self)
        values = torch.stack([_lookup(curves[c], image[c].float()).reshape(-1) for c in range(3)])
        matrix = torch.from_numpy(self.matrix).float()
        offset = torch.from_numpy(self.offset).float()[:, None]
        linear = torch.addmm(offset, matrix, values).view_as(image)
        del values
        return _lookup(_srgb_tables()[1], linear)  # clamps to [0, 1]: the network's gamut

    def from_srgb(self, image: torch.Tensor) -> torch.Tensor:
        """(3, H, W) sRGB in [0, 1] -> this profile's values in [0, 1] (float32), to be quantised."""
        if self.srgb:
            return image
        if self.curves is None:
            hwc = image.float().clamp(0.0, 1.0).permute(1, 2, 0).cpu().numpy()
            out = np.clip(_lcms(hwc, srgb_profile(), self.icc), 0.0, 1.0)
            return torch.from_numpy(out.astype(np.float32)).permute(2, 0, 1).contiguous()
        linear = _lookup(_srgb_tables()[0], image.float()).reshape(3, -1)
        inverse = torch.from_numpy(np.linalg.inv(self.matrix)).float()
        offset = torch.from_numpy(self.offset).float()[:, None]
        values = (inverse @ (linear - offset)).clamp_(0.0, 1.0).sqrt_()
        del linear
        tables = _inverse_tables(self)
        return torch.stack([_lookup(tables[c], values[c]) for c in range(3)]).view_as(image)


@functools.lru_cache(maxsize=16)
def _torch_curves(conv: Converter) -> torch.Tensor:
    assert conv.curves is not None
    return torch.from_numpy(conv.curves).float()


@functools.lru_cache(maxsize=16)
def _inverse_tables(conv: Converter) -> torch.Tensor:
    """Each curve's inverse at ``(k / _TABLE) ** 2`` (a table uniform in the square root of the value,
    so steep curves near black, such as a gamma's inverse, are followed closely).."""
    assert conv.curves is not None
    codes = np.arange(_CODES) / (_CODES - 1)
    targets = np.linspace(0.0, 1.0, _TABLE + 1) ** 2
    return torch.from_numpy(np.stack([np.interp(targets, curve, codes) for curve in conv.curves])).float()


def _sample(icc: bytes) -> Converter:
    """Sample the profile's transform to linear sRGB and check that curves and a matrix describe it."""
    codes = np.arange(_CODES) / (_CODES - 1)
    ramps = np.zeros((3, _CODES, 3))
    for c in range(3):
        ramps[c, :, c] = codes
    black = _lcms(np.zeros((1, 3)), icc, _linear_srgb())[0]
    ramp_out = _lcms(ramps, icc, _linear_srgb()) - black  # (3 ramps, codes, rgb)
    matrix = ramp_out[:, -1, :].T  # column c: channel c at its top code
    curves = np.einsum("cki,ic->ck", ramp_out, np.linalg.pinv(matrix).T)
    # the curves and the matrix must reproduce LittleCMS's transform: each ramp on its column, and
    # mixed colours as the sum of their channels
    rng = np.random.default_rng(0)
    mixed = np.round(rng.random((4096, 3)) * (_CODES - 1)).astype(np.intp)
    expected = _lcms(mixed / (_CODES - 1), icc, _linear_srgb())
    model = black + np.stack([curves[c][mixed[:, c]] for c in range(3)], axis=1) @ matrix.T
    ramp_model = curves[:, :, None] * matrix.T[:, None, :]
    fits = (
        np.isfinite(curves).all()
        and np.linalg.cond(matrix) < 1e6
        and np.abs(model - expected).max() < _SEPARABLE_TOLERANCE
        and np.abs(ramp_model - ramp_out).max() < _SEPARABLE_TOLERANCE
        and (np.diff(curves, axis=1) >= -1e-9).all()  # increasing: the inverse is a lookup
    )
    if not fits:
        return Converter(icc, False, None, np.eye(3), np.zeros(3))
    curves = np.maximum.accumulate(np.clip(curves, 0.0, None), axis=1)
    # sRGB itself: every code of every colour on the diagonal within the tolerance, in sRGB units
    srgb = (
        np.abs(srgb_encode(np.clip(model, 0, 1)) - mixed / (_CODES - 1)).max() < SRGB_TOLERANCE
        and np.abs(srgb_encode(np.clip(black + ramp_model, 0, 1)) - _srgb_ramps()).max() < SRGB_TOLERANCE
    )
    return Converter(icc, bool(srgb), curves, matrix, black)


@functools.cache
def _srgb_ramps() -> np.ndarray:
    ramps = np.zeros((3, _CODES, 3))
    for c in range(3):
        ramps[c, :, c] = np.arange(_CODES) / (_CODES - 1)
    return ramps


@functools.lru_cache(maxsize=16)
def converter(icc: bytes) -> Converter | None:
    """The :class:`Converter` of an RGB ICC profile, or None when ``icc`` is not one or LittleCMS
    cannot read it (the caller reads the photo as sRGB). Cached: a folder of photos with one profile
    samples it once (~0.2 s)."""
    if not is_rgb_profile(icc):
        return None
    try:
        return _sample(bytes(icc))
    except (RuntimeError, ValueError, np.linalg.LinAlgError):  # imagecodecs' CmsError is a RuntimeError
        return None

