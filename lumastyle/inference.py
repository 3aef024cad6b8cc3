"""Inference: a trained network applied to photos of any size. The one path ``stylize``, ``predict``,
validation/test metrics and the benchmarks all take, so they give the same pixels.

- **Context cap**: the backbone sees a copy of the photo no larger than ``context_long_side`` pixels
  (antialiased), so objects look the size the model learned them at and a 12 MP photo's context costs
  what a 1 MP photo's does. The per-pixel transform still runs at full resolution.
- **Tiles**: the head runs over blocks of rows of at most ``tile_pixels`` pixels, written into one
  preallocated output, so memory stays bounded for any photo size; the result equals the untiled one.
  The default 2^16 keeps a tile's intermediates (~4 MB a channel-group) in a CPU's last-level cache:
  a 12 MP photo's per-pixel part is twice as fast as with 2^18 on 2 cores (benchmarks/README.md).
- **Precision**: ``bf16`` (or ``16``) runs the backbone and head under autocast; the colour layer,
  the sampling positions and the output stay float32. ``bf16-context`` runs only the context (the
  backbone, at the context copy's size) in bfloat16 and every per-pixel step in float32: what
  ``--precision auto`` takes on a CPU with native bfloat16 (avx512_bf16 or AMX) where a convolution
  timed once a process runs faster in it (on an AMD EPYC the context then ran 1.9x faster; an Intel
  Xeon with avx512_bf16 but no AMX ran it 1.4x slower: benchmarks/README.md).
- **Fast path** (``fast=True``, what ``lumastyle stylize`` and ``predict`` take by default; the exact
  path is ``--fast false``), chosen by measurement (benchmarks/README.md, issue 28):

  * a network whose output at a pixel depends on the pixel's colour only (no backbone context and no
    local colour context; photo-level statistics allowed, being the same at every pixel) is baked into
    a ``lut_points``-point 3D LUT of each photo's colour map, applied by trilinear interpolation in
    sRGB: no Lab conversion and no head at full resolution (:func:`bake_lut`, :func:`apply_lut`); a
    photo with fewer pixels than the lattice takes the exact path, which is then cheaper. An 8-bit photo
    of a colour-only network (one map for every photo) reads a table of every 8-bit colour instead, one
    lookup a pixel (:func:`lut_8bit`, :func:`apply_lut_8bit`; what the LUT gives, rounded);
  * otherwise the head is split (:meth:`lumastyle.heads.Head.coefficients`) as HDRNet slices its
    bilateral grid: its coefficients (the 3x10 matrices) are predicted at the pixels of the context
    copy, from that copy's colours and context, and interpolated bilinearly at every pixel of the
    photo, where they are applied to the pixel's own colour (:func:`slice_coefficients`). Where the
    photo is no larger than the context copy the grid is the photo and the fast path is the exact one.

  Neither is exact: the benchmarks state their mean and 99th-percentile ΔE76 from the exact path on
  real photos.
- **8-bit photos** (uint8 levels, as :func:`lumastyle.io.read_photo` reads an 8-bit sRGB photo for
  ``stylize``) give 8-bit outputs, rounded as :func:`lumastyle.io.write_image` rounds a float image:
  the same levels as the float photo's output written, without making the whole photo float. The
  head's paths convert each tile from its levels to Lab and back by table
  (:func:`lumastyle.color.levels_to_lab`, :func:`lumastyle.color.lab_to_levels`: no power a sample;
  the same Lab, and the same levels but where a value lies within float32 rounding of the midpoint
  between two, about one sample in 10^5, which may round either way).
- **Strength** (``strength``, ``stylize --strength``): the look's amount, as Lightroom's profile Amount:
  the output moved that far from the photo in CIELab (:func:`lumastyle.color.blend_strength`; 0 the
  photo, 1 the look, up to :data:`MAX_STRENGTH` to exaggerate it). 1 skips the blend (the output is
  bit-identical to one without it). On the fast path's LUT the blend is baked into the table (each
  lattice colour blended once) instead of converting every pixel; on the other paths each pixel's
  output is blended with its input.
"""

from __future__ import annotations

import functools
import math
import time
import weakref
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from lumastyle.color import (
    blend_strength,
    denormalize_lab,
    lab_to_levels,
    lab_to_rgb,
    levels_to_lab,
    normalize_lab,
    rgb_to_lab,
)
from lumastyle.context import ContextMap, sample_context, taps
from lumastyle.errors import LumastyleError
from lumastyle.geometry import fit_long_side, image_hw
from lumastyle.network import StyleNetwork

Precision = Literal["32", "bf16", "16", "bf16-context"]
#: Lattice points a side of the LUT a colour-only network is baked into on the fast path (65: 0.05 mean
#: and 0.45 99th-percentile ΔE76 from the exact path on real photos, against 0.15 and 1.1 at 33;
#: benchmarks/README.md).
LUT_POINTS = 65
#: Pixels that go through the head at once by default (2^16 keeps a tile's intermediates in a CPU's
#: last-level cache; see the module docstring).
TILE_PIXELS = 1 << 16
_AUTOCAST = {"bf16": torch.bfloat16, "16": torch.float16}
#: The largest look's amount (``--strength``): twice the learned look, as far as Lightroom's profile
#: Amount goes (200).
MAX_STRENGTH = 2.0


def check_strength(strength: float) -> float:
    """``strength`` if it is a look's amount from 0 to :data:`MAX_STRENGTH`, else a one-line
    :class:`LumastyleError` naming ``--strength``."""
    if isinstance(strength, bool) or not isinstance(strength, int | float) or not 0 <= strength <= MAX_STRENGTH:
        raise LumastyleError(
            f"--strength {strength!r} is outside 0..{MAX_STRENGTH:g}; use 0 (the photo) to 1 (the learned look), "
            f"or up to {MAX_STRENGTH:g} to exaggerate it"
        )
    return float(strength)


def context_copy(rgb: Tensor, context_long_side: int | None) -> Tensor:
    """``rgb`` (B, 3, H, W) shrunk so its long side is at most ``context_long_side`` (None: as is):
    :func:`lumastyle.geometry.fit_long_side`, the size :func:`~lumastyle.geometry.capped_size` gives
    (what an exported :class:`lumastyle.export.Stylizer` computes too)."""
    return fit_long_side(rgb, context_long_side)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (avx512_bf16 or AMX), as oneDNN reports it."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


#: How much faster than float32 a CPU must run :func:`cpu_bf16_speedup`'s convolution in bfloat16 for
#: ``--precision auto`` to run the context in bfloat16 (a margin over the timing's noise).
BF16_MIN_SPEEDUP = 1.2


@functools.cache
def cpu_bf16_speedup() -> float:
    """float32 time / bfloat16 time of a convolution like the context's (256 channels, 3x3, on a 36x48
    map; alternating, the best of 3 each after a warm-up: ~0.1 s, once a process). A CPU that reports
    bf16 is not always faster in it: measured, the context ran 1.9x faster in bf16 on an AMD EPYC
    (Zen 4) and 0.5-0.7x as fast on an Intel Xeon with avx512_bf16 but no AMX (benchmarks/README.md)."""
    x, weight = torch.randn(1, 256, 36, 48), torch.randn(256, 256, 3, 3) / 48
    inputs = {dtype: (x.to(dtype), weight.to(dtype)) for dtype in (torch.float32, torch.bfloat16)}
    best = dict.fromkeys(inputs, math.inf)
    with torch.no_grad():
        for round_ in range(4):  # round 0 warms each up (oneDNN builds its kernels) and is not kept
            for dtype, (image, kernel) in inputs.items():
                start = time.perf_counter()
                F.conv2d(image, kernel, padding=1)
                if round_:
                    best[dtype] = min(best[dtype], time.perf_counter() - start)
    return best[torch.float32] / best[torch.bfloat16]


def resolve_precision(precision: Literal["auto"] | Precision, device: torch.device) -> Precision:
    """``auto``: bf16 on a GPU that supports it; on a CPU, the context alone in bf16 where the CPU has it
    (:func:`cpu_has_bf16`; there the per-pixel part would be slower in bf16) and runs a convolution at
    least :data:`BF16_MIN_SPEEDUP` times faster in it (:func:`cpu_bf16_speedup`), else 32."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "32"
    faster = device.type == "cpu" and cpu_has_bf16() and cpu_bf16_speedup() >= BF16_MIN_SPEEDUP
    return "bf16-context" if faster else "32"


@torch.no_grad()
def stylize_tensor(
    network: StyleNetwork,
    rgb: Tensor,
    context_long_side: int | None = None,
    tile_pixels: int = TILE_PIXELS,
    precision: Precision = "32",
    fast: bool = False,
    lut_points: int = LUT_POINTS,
    strength: float = 1.0,
) -> Tensor:
    """Stylize sRGB ``rgb`` (3, H, W) or (B, 3, H, W) in [0, 1]: the image a user gets, float32 in [0, 1];
    or 8-bit ``rgb`` (uint8 levels) -> 8-bit, rounded as :func:`lumastyle.io.write_image` writes (the same
    levels as the float photo's output written, but at a float32 tie between two levels; the fast path's
    LUT then reads every 8-bit colour from one table, :func:`lut_8bit`).

    Args:
        network: the network (its device is used; its mode is left as it is).
        rgb: the photo(s), any size.
        context_long_side: long side of the copy the context is computed on (None: the photo itself).
        tile_pixels: at most this many pixels go through the head at once.
        precision: ``32``, ``bf16``/``16`` for autocast (keeps any autocast the caller set up), or
            ``bf16-context``: the context alone in bfloat16.
        fast: the fast path (the module docstring): a LUT for a colour-only network, else the head's
            coefficients sliced from the context copy's grid. False: the exact path.
        lut_points: lattice points a side of the fast path's LUT.
        strength: the look's amount, 0..2 (:func:`lumastyle.color.blend_strength`: 0 the photo, 1 the
            look, bit-identical to no blend, 2 twice the look); outside 0..2 a one-line LumastyleError.
    """
    strength = check_strength(strength)
    single = rgb.ndim == 3
    batch = rgb.unsqueeze(0) if single else rgb
    b, _, h, w = batch.shape
    eight_bit = batch.dtype == torch.uint8
    out = torch.empty(b, 3, h, w, dtype=torch.uint8 if eight_bit else torch.float32, device=batch.device)
    step = max(1, tile_pixels // max(1, w * b))
    whole = _AUTOCAST.get(precision)
    context_dtype = torch.bfloat16 if precision == "bf16-context" else whole
    # a colour-only network reads no context copy (so an 8-bit photo is never made float whole)
    small = None if network.colour_only else context_copy(_as_float(batch), context_long_side)
    with torch.autocast(batch.device.type, dtype=context_dtype, enabled=context_dtype is not None):
        maps = [] if small is None else network.encode_context(small)
    with torch.autocast(batch.device.type, dtype=whole, enabled=whole is not None):
        if fast and network.position_free and h * w > lut_points**3:  # else the lattice costs more than the photo
            # an 8-bit photo reads a table of every 8-bit colour where it is baked once (one map for every
            # photo) or costs less than the photo's pixels
            table = eight_bit and (network.colour_only or h * w >= 1 << 24)
            lut = _shared_lut(network, maps, lut_points, b, batch.device, strength, whole, table)
            atlas = None if table else lut_atlas(lut)  # once for every band of rows
            for r0 in range(0, h, step):
                band = slice(r0, min(h, r0 + step))
                if table:
                    out[..., band, :] = apply_lut_8bit(lut, batch[..., band, :])
                else:
                    styled = apply_lut(lut, _as_float(batch[..., band, :]), atlas)
                    out[..., band, :] = to_8bit(styled) if eight_bit else styled
            return out[0] if single else out
        grid = slice_grid(network, small, maps, (h, w)) if fast and small is not None else None
        for r0 in range(0, h, step):
            rows = (r0, min(h, r0 + step))
            tile = batch[..., rows[0] : rows[1], :]
            # an 8-bit tile converts from and to its levels by table (the same Lab; the same levels but
            # at a float32 tie between two, about one sample in 10^5: lumastyle.color)
            lab = levels_to_lab(tile) if eight_bit else rgb_to_lab(tile)
            if grid is None:
                new = network.transform(lab, maps, (h, w), rows)
            else:
                lab_n = normalize_lab(lab)
                coefficients = slice_coefficients(grid, (h, w), rows)
                new = denormalize_lab(network.apply_head_coefficients(lab_n, coefficients))
            if strength != 1:
                styled = blend_strength(_as_float(tile), lab_to_rgb(new), strength)
                out[..., rows[0] : rows[1], :] = to_8bit(styled) if eight_bit else styled
            else:
                out[..., rows[0] : rows[1], :] = lab_to_levels(new) if eight_bit else lab_to_rgb(new)
    return out[0] if single else out


def _as_float(rgb: Tensor) -> Tensor:
    """sRGB as float: an 8-bit photo's levels / 255 (as :func:`lumastyle.io.read_photo` reads them)."""
    return rgb.float().div_(255) if rgb.dtype == torch.uint8 else rgb


def to_8bit(rgb: Tensor) -> Tensor:
    """sRGB in [0, 1] -> 8-bit levels, clipped and rounded as :func:`lumastyle.io.write_image` writes them."""
    return rgb.float().clamp(0, 1).mul_(255).round_().to(torch.uint8)


# -- the fast path --------------------------------------------------------------------------------


def bake_lut(
    network: StyleNetwork,
    maps: list[ContextMap],
    points: int,
    batch: int,
    device: torch.device,
    strength: float = 1.0,
) -> Tensor:
    """Each photo's colour map as a ``points``-point 3D LUT (``batch``, 3, points, points, points): the
    sRGB output for the input sRGB at lattice point (r, g, b) is ``lut[:, :, b, g, r]``, blended with
    that colour at ``strength`` (:func:`lumastyle.color.blend_strength`; 1: the map itself). Only for a
    :attr:`~lumastyle.network.StyleNetwork.position_free` network, whose maps are the same everywhere
    (a colour-only network has none: one map for every photo)."""
    axis = torch.linspace(0, 1, points, device=device)
    blue, green, red = torch.meshgrid(axis, axis, axis, indexing="ij")
    lattice = torch.stack([red, green, blue]).reshape(1, 3, points, points * points)
    lattice = lattice.expand(maps[0].features.shape[0] if maps else 1, -1, -1, -1)
    lab = rgb_to_lab(lattice)
    new = blend_strength(lattice, lab_to_rgb(network.transform(lab, maps, image_hw(lab))), strength)
    return new.reshape(-1, 3, points, points, points).expand(batch, -1, -1, -1, -1)


#: The last LUT (float, and as the 8-bit table) of each colour-only network (one map for every photo),
#: with what it was baked from: a catalogue bakes it once, not once a photo (0.13 s a photo on a CPU).
_LUTS: weakref.WeakKeyDictionary[StyleNetwork, dict[bool, tuple[tuple, Tensor]]] = weakref.WeakKeyDictionary()


def _shared_lut(
    network: StyleNetwork,
    maps: list[ContextMap],
    points: int,
    batch: int,
    device: torch.device,
    strength: float,
    autocast: torch.dtype | None,
    eight_bit: bool = False,
) -> Tensor:
    """:func:`bake_lut` (with ``eight_bit``, expanded by :func:`lut_8bit`), kept for the next photo when
    ``maps`` is empty (the network's map is the same for every photo). The key holds every parameter's
    and buffer's version counter, so a weight changed in place (a training step, ``load_state_dict``)
    bakes it again."""
    if maps:
        lut = bake_lut(network, maps, points, batch, device, strength)
        return lut_8bit(lut) if eight_bit else lut
    tensors = [*network.parameters(), *network.buffers()]
    key = (points, device, strength, autocast, tuple((id(t), t._version) for t in tensors))
    kept = _LUTS.setdefault(network, {})  # the LUT and its 8-bit table (a catalogue can hold both kinds)
    if eight_bit not in kept or kept[eight_bit][0] != key:
        float_lut = kept.get(False)  # the 8-bit table is made from the float LUT when it is kept already
        if float_lut is not None and float_lut[0] == key:
            lut = float_lut[1]
        else:
            lut = bake_lut(network, maps, points, 1, device, strength)
        kept[eight_bit] = (key, lut_8bit(lut) if eight_bit else lut)
    table = kept[eight_bit][1]
    return table.expand(batch, *table.shape[1:])


def lut_8bit(lut: Tensor) -> Tensor:
    """:func:`bake_lut`'s tables (B, 3, P, P, P) at every 8-bit colour, as :func:`apply_lut_8bit` reads them:
    (B, 2^24) int32, the entry at ``blue << 16 | green << 8 | red`` holding the output's 8-bit red,
    green and blue as its first three bytes in memory (the fourth is 0).

    Trilinear interpolation at the 256 levels of each channel is linear interpolation along each axis in
    turn, each level's position on the lattice being exactly where :func:`apply_lut` reads it, so each
    entry is that function's output at that colour, rounded as :func:`to_8bit` rounds it.
    """
    b = lut.shape[0]
    x = lut.float().flatten(0, 1)  # (B*3, blue, green, red)

    def along_last(t: Tensor) -> Tensor:  # the last axis from P lattice points to 256 levels
        flat = F.interpolate(t.flatten(1, -2), size=256, mode="linear", align_corners=True)
        return flat.unflatten(1, t.shape[1:-1])

    x = along_last(x.permute(0, 2, 3, 1))  # (., green, red, blue 256)
    x = along_last(x.permute(0, 2, 3, 1)).permute(0, 2, 3, 1)  # (., blue 256, green 256, red)
    table = torch.zeros(b, 256, 256, 256, 4, dtype=torch.uint8, device=lut.device)  # (blue, green, red, RGB0)
    for b0 in range(0, 256, _BLUE_ROWS):  # red last, a few blue levels at a time (bounded memory)
        rows = to_8bit(along_last(x[:, b0 : b0 + _BLUE_ROWS]))  # (B*3, rows, green, red)
        table[:, b0 : b0 + _BLUE_ROWS, ..., :3] = rows.unflatten(0, (b, 3)).permute(0, 2, 3, 4, 1)
    return table.view(torch.int32).reshape(b, -1)


#: Blue levels of :func:`lut_8bit`'s table interpolated at once (32: 25 MB of float32 for one photo).
_BLUE_ROWS = 32


def apply_lut_8bit(table: Tensor, rgb: Tensor) -> Tensor:
    """8-bit sRGB ``rgb`` (B, 3, h, W) through :func:`lut_8bit`'s tables (B, 2^24): one lookup a pixel,
    the 8-bit output :func:`apply_lut` gives rounded (by hand: no library maps packed 8-bit colours)."""
    b, _, h, w = rgb.shape
    channels = rgb.to(torch.int32)
    index = channels[:, 2] << 16 | channels[:, 1] << 8 | channels[:, 0]
    if table.stride(0) == 0 or b == 1:  # one table for every photo (expanded): read it, never copied
        flat = table[0]
    else:  # each photo its own table, one after another
        flat = table.reshape(-1)
        index += torch.arange(b, dtype=torch.int32, device=rgb.device).view(b, 1, 1) << 24
    found = flat.index_select(0, index.reshape(-1))
    return found.view(torch.uint8).view(b, h, w, 4)[..., :3].permute(0, 3, 1, 2)


def lut_atlas(lut: Tensor) -> Tensor:
    """:func:`bake_lut`'s tables (B, 3, P, P, P) as :func:`apply_lut` reads them: the P blue slices side
    by side, each padded by one column (B, 3, P green, P * (P + 1))."""
    b, _, p = lut.shape[:3]
    atlas = torch.cat([lut, lut[..., -1:]], dim=-1)  # (B, 3, P blue, P green, P + 1 red)
    return atlas.permute(0, 1, 3, 2, 4).reshape(b, 3, p, p * (p + 1))  # green rows, blue-major columns


def apply_lut(lut: Tensor, rgb: Tensor, atlas: Tensor | None = None) -> Tensor:
    """Trilinear interpolation of :func:`bake_lut`'s tables (B, 3, P, P, P) at sRGB ``rgb`` (B, 3, h, W)
    (``atlas``: :func:`lut_atlas` of ``lut``, made once for a photo's bands of rows; else made here).

    Written by hand: torch's one LUT sampler, a 3D ``grid_sample``, is ~6x slower on a CPU than its 2D
    path, so each of the two blue slices around a pixel is read with one 2D ``grid_sample`` from an
    atlas of the P blue slices side by side (each padded by one column, so a slice's bilinear reads
    never cross into the next), and the two are blended by the pixel's blue position.
    """
    p = lut.shape[2]
    atlas = lut_atlas(lut) if atlas is None else atlas
    x = rgb.float().clamp(0, 1) * (p - 1)
    blue = x[:, 2]
    lo = blue.floor().clamp(max=p - 2)
    frac = (blue - lo).unsqueeze(1)
    width = p * (p + 1) - 1
    y = x[:, 1] / (p - 1) * 2 - 1

    def read(slice_index: Tensor) -> Tensor:
        column = slice_index * (p + 1) + x[:, 0]
        grid = torch.stack([column / width * 2 - 1, y], dim=-1)
        return F.grid_sample(atlas, grid, mode="bilinear", padding_mode="border", align_corners=True)

    with torch.autocast(rgb.device.type, enabled=False):
        low = read(lo)
        return low.add_(read(lo + 1).sub_(low).mul_(frac))


def slice_grid(
    network: StyleNetwork, small: Tensor, maps: list[ContextMap], out_hw: tuple[int, int]
) -> Tensor | None:
    """The head's coefficients (B, C, gh, gw) at the pixels of the context copy ``small`` (B, 3, gh, gw) of an
    ``out_hw`` photo: each from the copy's colour there and the context sampled there (the copy's
    pixel centres in the photo's coordinates). None when the head cannot be split
    (:meth:`~lumastyle.heads.Head.coefficients`) or the copy is the photo (the exact path is as fast)."""
    grid_hw = image_hw(small)
    if grid_hw == out_hw:
        return None
    context = [sample_context(m.features, m.scaled_hw, m.pad, grid_hw, None, m.stride) for m in maps]
    coefficients = network.head_coefficients(normalize_lab(rgb_to_lab(small)), context)
    return None if coefficients is None else coefficients.float()


def slice_coefficients(coefficients: Tensor, out_hw: tuple[int, int], rows: tuple[int, int]) -> Tensor:
    """:func:`slice_grid`'s coefficients interpolated bilinearly at the pixel centres of rows ``rows`` of an
    ``out_hw`` photo (B, C, r1 - r0, W): along y by hand (the two grid rows of each photo row), along x
    by ``interpolate`` (linear, whose half-pixel mapping is the same)."""
    gh = coefficients.shape[-2]
    y0, y1, wy = taps(rows[0], rows[1], gh, out_hw[0], 0, gh, coefficients.device, 1)
    wy = wy.view(1, 1, -1, 1)
    band = torch.lerp(coefficients[:, :, y0], coefficients[:, :, y1], wy)  # (B, C, rows, gw)
    # along x, each row alone: 1D linear (bilinear's x pass, without its y pass of weight 1: faster)
    flat = F.interpolate(band.flatten(1, 2), size=out_hw[1], mode="linear", align_corners=False)
    return flat.unflatten(1, band.shape[1:3])
