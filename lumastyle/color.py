"""Colour maths: differentiable sRGB <-> CIELab (D65), Lab normalisation, the quadratic colour basis,
the Lab blend of a look's amount (:func:`blend_strength`).

Conversions are delegated to kornia.color and always run in float32, even under autocast: the cube
roots and powers in Lab lose too much precision in bf16/fp16. Results are float32 (float64 input stays
float64, for gradcheck). 8-bit sRGB (uint8 levels, what ``stylize`` reads from a JPEG) converts to Lab
and back without a power at every sample (:func:`levels_to_lab`, :func:`lab_to_levels`: kornia's
values, tabulated at the 256 levels).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import NamedTuple

import torch
from kornia.color import lab_to_rgb as _kornia_lab_to_rgb
from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb, rgb_to_xyz, xyz_to_rgb
from kornia.color import rgb_to_lab as _kornia_rgb_to_lab
from torch import Tensor, nn

#: Offsets and scales mapping Lab (L in [0, 100], a/b in about [-110, 110]) to roughly [-1, 1].
LAB_SHIFT = (50.0, 0.0, 0.0)
LAB_SCALE = (50.0, 100.0, 100.0)
#: Rec. 709 / sRGB relative luminance weights of linear R, G, B.
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)


def check_image(image: Tensor, name: str) -> None:
    """Raise TypeError/ValueError unless ``image`` is a tensor of shape (*, 3, H, W)."""
    if not isinstance(image, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(image).__name__}")
    if image.ndim < 3 or image.shape[-3] != 3:
        raise ValueError(f"{name} must have shape (*, 3, H, W), got {tuple(image.shape)}")


def full_precision(x: Tensor) -> Tensor:
    """``x`` as float64 if it is float64, else as float32 (the precision colour maths runs in)."""
    return x if x.dtype == torch.float64 else x.float()


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """sRGB in [0, 1] of shape (*, 3, H, W) -> CIELab (D65), L in [0, 100]; float32 (float64 stays)."""
    check_image(rgb, "rgb")
    with torch.autocast(rgb.device.type, enabled=False):
        return _kornia_rgb_to_lab(full_precision(rgb).clamp(0.0, 1.0))


def lab_to_rgb(lab: Tensor, clip: bool = True) -> Tensor:
    """CIELab (D65) of shape (*, 3, H, W) -> sRGB, float32 (float64 stays); ``clip`` clamps to [0, 1]."""
    check_image(lab, "lab")
    with torch.autocast(lab.device.type, enabled=False):
        return _kornia_lab_to_rgb(full_precision(lab), clip=clip)


def blend_strength(rgb_in: Tensor, rgb_out: Tensor, strength: float) -> Tensor:
    """A look's amount, as Lightroom's profile Amount: sRGB ``rgb_out`` (what the look makes of
    ``rgb_in``; both (*, 3, H, W) in [0, 1]) moved ``strength`` of the way from ``rgb_in`` in CIELab,
    ``lab_in + strength * (lab_out - lab_in)``, back to sRGB clamped to [0, 1]. 0 gives ``rgb_in``
    back (through the Lab round trip: ~1e-6 in float32), 1 gives ``rgb_out`` itself (the very
    tensor, as float32: no round trip), above 1 exaggerates the look (colours it pushes outside sRGB
    are clamped). Float32 (float64 stays); differentiable in both images."""
    if strength == 1:
        return full_precision(rgb_out)
    return lab_to_rgb(torch.lerp(rgb_to_lab(rgb_in), rgb_to_lab(rgb_out), strength))


# ProPhoto (ROMM) RGB primaries to XYZ under D50, and the Bradford adaptation from D50 to D65, as
# B. Lindbloom tabulates them (brucelindbloom.com); the D65 white is kornia's and scikit-image's.
_PROPHOTO_TO_XYZ_D50 = (
    (0.7976749, 0.1351917, 0.0313534),
    (0.2880402, 0.7118741, 0.0000857),
    (0.0000000, 0.0000000, 0.8252100),
)
_BRADFORD_D50_TO_D65 = (
    (0.9555766, -0.0230393, 0.0631636),
    (-0.0282895, 1.0099416, 0.0210077),
    (0.0122982, -0.0204830, 1.3299098),
)
D65_WHITE = (0.95047, 1.0, 1.08883)
#: the gamma with which the Uniform set's ProPhoto TIFFs are decoded (its authors' reader)
PROPHOTO_GAMMA = 1.8


def _channel_matrix(matrix: Tensor, x: Tensor) -> Tensor:
    return torch.einsum("ij,...jhw->...ihw", matrix, x)


def prophoto_to_xyz(rgb: Tensor) -> Tensor:
    """ProPhoto RGB in [0, 1] (gamma-encoded, as 16-bit TIFFs store it / 65535) -> CIE XYZ adapted to
    D65: decoded with gamma 1.8, converted under D50, Bradford-adapted to D65 (*, 3, H, W).

    Hand-written matrix products (kornia converts sRGB only); tested against colour-science.
    """
    check_image(rgb, "rgb")
    x = full_precision(rgb).clamp(0.0, 1.0) ** PROPHOTO_GAMMA
    to_xyz = torch.tensor(_PROPHOTO_TO_XYZ_D50, dtype=x.dtype, device=x.device)
    adapt = torch.tensor(_BRADFORD_D50_TO_D65, dtype=x.dtype, device=x.device)
    return _channel_matrix(adapt @ to_xyz, x)


#: CIELab's f(t) = t^(1/3) above this (6/29)^3, and its slope 1/(3 (6/29)^2) below, both rounded as kornia
#: and scikit-image round them (so :func:`xyz_to_lab` of sRGB's XYZ gives kornia's Lab to the bit)
_LAB_EPSILON, _LAB_SLOPE, _LAB_F_EPSILON = 0.008856, 7.787, 0.2068966


def xyz_to_lab(xyz: Tensor) -> Tensor:
    """CIE XYZ -> CIELab, both relative to the D65 white (*, 3, H, W).

    Written by hand: kornia offers XYZ only through sRGB, which would clip colours outside its gamut;
    tested against scikit-image's ``xyz2lab`` (and against kornia's ``rgb_to_lab`` through sRGB's XYZ,
    which it equals: the same steps and constants).
    """
    check_image(xyz, "xyz")
    xyz = full_precision(xyz)
    white = torch.tensor(D65_WHITE, dtype=xyz.dtype, device=xyz.device).view(3, 1, 1)
    t = torch.div(xyz, white)
    f = torch.where(t > _LAB_EPSILON, t.clamp(min=_LAB_EPSILON).pow(1 / 3.0), _LAB_SLOPE * t + 4.0 / 29.0)
    fx, fy, fz = f.unbind(-3)
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=-3)


def lab_to_xyz(lab: Tensor) -> Tensor:
    """CIELab -> CIE XYZ relative to the D65 white (*, 3, H, W): kornia's ``lab_to_rgb`` before its XYZ ->
    sRGB step (the same steps and constants, so its output to the bit), written out because kornia
    does not expose it (:func:`lab_to_levels` needs linear RGB)."""
    check_image(lab, "lab")
    L, a, b = full_precision(lab).unbind(-3)
    fy = (L + 16.0) / 116.0
    f = torch.stack([(a / 500.0) + fy, fy, (fy - (b / 200.0)).clamp(min=0.0)], dim=-3)
    xyz = torch.where(f > _LAB_F_EPSILON, torch.pow(f, 3.0), (f - 4.0 / 29.0) / _LAB_SLOPE)
    return xyz * torch.tensor(D65_WHITE, dtype=xyz.dtype, device=xyz.device).view(3, 1, 1)


# -- 8-bit sRGB (a JPEG's levels) in and out ----------------------------------------------------------
# By hand around kornia's own functions: kornia converts float images only. Its sRGB decoding is
# evaluated once at the 256 levels and read by index, and the encoding of linear light to a level is a
# search among the 255 decoded midpoints between levels, so neither runs a power at every sample
# (a 12 MP photo's two conversions: benchmarks/README.md, issue 28).


def _levels_decoded(values: Tensor) -> Tensor:
    """kornia's sRGB decoding of a 1D tensor of sRGB values (float32)."""
    return rgb_to_linear_rgb(values.view(1, -1, 1).expand(3, -1, 1))[0, :, 0].contiguous()


#: Bins of :func:`linear_to_levels`' coarse table over linear [0, 1]: narrower than the closest two
#: midpoints (levels 0-1 and 1-2, 1 / (255 * 12.92) apart), so a bin holds at most one.
_LEVEL_BINS = 4096


class _LevelTables(NamedTuple):
    decode: Tensor  #: (256,) linear value of each level
    midpoints: Tensor  #: (256,) linear value halfway (in sRGB) to the next level; inf after the last
    coarse: Tensor  #: (_LEVEL_BINS + 1,) int32: the level of each bin's lower edge


_TABLES: dict[torch.device, _LevelTables] = {}


def _level_tables(device: torch.device) -> _LevelTables:
    if device not in _TABLES:
        levels = torch.arange(256, dtype=torch.float32, device=device)
        midpoints = _levels_decoded((levels[1:] - 0.5) / 255)
        edges = torch.arange(_LEVEL_BINS + 1, dtype=torch.float32, device=device) / _LEVEL_BINS
        _TABLES[device] = _LevelTables(
            _levels_decoded(levels / 255),
            torch.cat([midpoints, midpoints.new_tensor([math.inf])]),
            torch.bucketize(edges, midpoints, right=True).to(torch.int32),
        )
    return _TABLES[device]


def levels_to_lab(levels: Tensor) -> Tensor:
    """8-bit sRGB levels (uint8, (*, 3, H, W)) -> CIELab (float32): :func:`rgb_to_lab` of ``levels / 255``
    (the same values: kornia's decoding read from a table of the 256 levels, then its XYZ and Lab)."""
    check_image(levels, "levels")
    decode = _level_tables(levels.device).decode
    linear = decode.index_select(0, levels.reshape(-1).to(torch.int32)).view(levels.shape)
    with torch.autocast(levels.device.type, enabled=False):
        return xyz_to_lab(rgb_to_xyz(linear))


def linear_to_levels(linear: Tensor) -> Tensor:
    """Linear RGB (*, 3, H, W) -> 8-bit sRGB levels (uint8): the nearest level of its sRGB value clipped
    to [0, 1], found as the number of midpoints between levels at or below it (a coarse table gives
    the level at the bin's edge, one comparison the rest). That is ``round(255 * srgb)`` but at
    values within float32 rounding of a midpoint (about one sample in 10^5), which may go either way."""
    tables = _level_tables(linear.device)
    x = torch.nan_to_num_(full_precision(linear).clamp(0.0, 1.0), 0.0)  # a NaN as the float path writes it
    level = tables.coarse.index_select(0, (x * _LEVEL_BINS).to(torch.int32).reshape(-1)).view(x.shape)
    above = tables.midpoints.index_select(0, level.reshape(-1)).view(x.shape)
    return level.add_(x >= above).to(torch.uint8)


def lab_to_levels(lab: Tensor) -> Tensor:
    """CIELab (*, 3, H, W) -> 8-bit sRGB levels (uint8): :func:`lab_to_rgb` clipped and rounded to 8 bits
    (:func:`linear_to_levels`: one level off it where a value lies within float32 rounding of a
    midpoint between two levels)."""
    check_image(lab, "lab")
    with torch.autocast(lab.device.type, enabled=False):
        return linear_to_levels(xyz_to_rgb(lab_to_xyz(lab)))


def prophoto_to_srgb(rgb: Tensor) -> Tensor:
    """ProPhoto RGB in [0, 1] -> sRGB in [0, 1] (colours outside sRGB are clipped), through XYZ D65."""
    with torch.autocast(rgb.device.type, enabled=False):
        return linear_rgb_to_rgb(xyz_to_rgb(prophoto_to_xyz(rgb)).clamp(0.0, 1.0)).clamp(0.0, 1.0)


def _lab_affine(ref: Tensor) -> tuple[Tensor, Tensor]:
    shape = (3, 1, 1)
    shift = torch.tensor(LAB_SHIFT, dtype=ref.dtype, device=ref.device).view(shape)
    scale = torch.tensor(LAB_SCALE, dtype=ref.dtype, device=ref.device).view(shape)
    return shift, scale


def normalize_lab(lab: Tensor) -> Tensor:
    """Lab in its natural units -> roughly [-1, 1] per channel, so the quadratic basis is well conditioned."""
    check_image(lab, "lab")
    shift, scale = _lab_affine(lab)
    return (lab - shift) / scale


def denormalize_lab(lab_n: Tensor) -> Tensor:
    """Inverse of :func:`normalize_lab`."""
    check_image(lab_n, "lab_n")
    shift, scale = _lab_affine(lab_n)
    return lab_n * scale + shift


def quadratic_basis(c: Tensor) -> Tensor:
    """The paper's basis V(c) = [L², a², b², La, Lb, ab, L, a, b, 1]: (*, 3, H, W) -> (*, 10, H, W)."""
    check_image(c, "c")
    L, a, b = c.unbind(-3)
    terms = (L * L, a * a, b * b, L * a, L * b, a * b, L, a, b, torch.ones_like(L))
    return torch.stack(terms, dim=-3)


def affine_basis(c: Tensor) -> Tensor:
    """Affine basis [L, a, b, 1]: (*, 3, H, W) -> (*, 4, H, W)."""
    check_image(c, "c")
    return torch.cat([c, torch.ones_like(c[..., :1, :, :])], dim=-3)


def apply_color_transform(phi: Tensor, basis: Tensor) -> Tensor:
    """The enhancement layer: per-pixel (3 x K) matrices times the K-dim basis -> (*, 3, H, W).

    ``phi`` has 3*K channels ordered row by row (output channel major), ``basis`` has K channels.
    """
    k = basis.shape[-3]
    if phi.shape[-3] != 3 * k:
        raise ValueError(f"phi must have {3 * k} channels for a {k}-term basis, got {phi.shape[-3]}")
    phi = phi.unflatten(-3, (3, k))
    return (phi * basis.unsqueeze(-4)).sum(dim=-3)


def fit_color_map(
    pairs: Iterable[tuple[Tensor, Tensor]], basis: Callable[[Tensor], Tensor] = quadratic_basis
) -> Tensor:
    """The least-squares global colour map: the (3, K) matrix M minimising the squared error of
    ``target ~ M basis(source)`` over every pixel of every (source, target) pair, each (*, 3, H, W).

    The normal equations are summed photo by photo in float64, so any number of photos fits in
    memory; the solution is the minimum-norm one when the photos do not determine every term (grey
    photos and the a, b terms, say). Raises ValueError when ``pairs`` is empty.
    """
    return fit_local_color_map(((s, t, None) for s, t in pairs), basis)[..., 0]


def _local_terms(source: Tensor, context: Tensor | None, basis: Callable[[Tensor], Tensor]) -> Tensor:
    """The basis terms of ``source`` (*, 3, H, W) times [1, context channels]: (*, K * (1 + C), H, W),
    term k's products consecutive (the layout of a (3, K, 1 + C) local map)."""
    terms = basis(source.double())
    if context is None:
        return terms
    ones = torch.ones_like(terms[..., :1, :, :])
    features = torch.cat([ones, context.double().expand(*terms.shape[:-3], -1, *terms.shape[-2:])], -3)
    return (terms.unsqueeze(-3) * features.unsqueeze(-4)).flatten(-4, -3)


class ColorMapEquations(NamedTuple):
    """The normal equations of a local colour map (:func:`color_map_equations`), solvable for any ridge."""

    gram: Tensor  #: (K * (1 + C), K * (1 + C)) float64
    cross: Tensor  #: (K * (1 + C), 3) float64
    n_basis: int  #: K

    def solve(self, ridge: float = 0.0, last_ridge: float | None = None, last: int = 0) -> Tensor:
        """The (3, K, 1 + C) map. ``ridge`` penalises the context terms alone (times the mean of their
        diagonal), so a context that does not help leaves the global map; ``inf`` is the global map
        itself (context terms 0). With ``last`` > 0, the last ``last`` context channels are a group of
        their own with its own ``last_ridge`` (and its own mean diagonal): the photo-level channels,
        which 15 photos determine far less well than the per-pixel ones. The global terms are never
        penalised; minimum-norm where the photos leave terms undetermined."""
        k = self.n_basis
        per_term = self.gram.shape[0] // k  # 1 + C
        group = torch.zeros(k, per_term, dtype=torch.long)  # 0: global, 1: context, 2: the last channels
        group[:, 1:] = 1
        if last:
            group[:, per_term - last :] = 2
        group = group.flatten()
        ridges = {1: ridge, 2: ridge if last_ridge is None else last_ridge}
        keep = torch.ones_like(group, dtype=torch.bool)
        penalty = torch.zeros(group.shape, dtype=torch.float64)
        for g, r in ridges.items():
            members = group == g
            if not members.any():
                continue
            if math.isinf(r):
                keep &= ~members
            else:
                penalty[members] = r * self.gram.diagonal()[members].mean()
        solution = torch.zeros_like(self.cross)
        gram = self.gram + torch.diag(penalty)
        solution[keep] = torch.linalg.lstsq(gram[keep][:, keep], self.cross[keep], driver="gelsd").solution
        return solution.T.reshape(3, k, per_term)


def color_map_equations(
    triples: Iterable[tuple[Tensor, Tensor, Tensor | None]],
    basis: Callable[[Tensor], Tensor] = quadratic_basis,
) -> ColorMapEquations:
    """The normal equations of the least-squares colour map linear in per-pixel context, summed photo
    by photo in float64 over every pixel of every (source, target, context) triple (see
    :func:`fit_local_color_map`). Raises ValueError when ``triples`` is empty."""
    sums: tuple[Tensor, Tensor] | None = None  # (gram, cross) so far
    k = 0
    for source, target, context in triples:
        check_image(source, "source")
        check_image(target, "target")
        terms = _local_terms(source, context, basis)
        k = basis(source[..., :1, :1].double()).shape[-3]
        v = terms.movedim(-3, -1).reshape(-1, terms.shape[-3])  # (pixels, K*(1+C))
        y = target.double().movedim(-3, -1).reshape(-1, 3)
        g, c = v.T @ v, v.T @ y
        sums = (g, c) if sums is None else (sums[0] + g, sums[1] + c)
    if sums is None:
        raise ValueError("fitting a colour map needs at least one (source, target) pair")
    gram, cross = sums
    return ColorMapEquations(gram.cpu(), cross.cpu(), k)


def fit_local_color_map(
    triples: Iterable[tuple[Tensor, Tensor, Tensor | None]],
    basis: Callable[[Tensor], Tensor] = quadratic_basis,
    ridge: float = 0.0,
) -> Tensor:
    """The least-squares colour map that is linear in per-pixel context: the (3, K, 1 + C) array M
    minimising the squared error of ``target ~ sum_k basis_k(source) (M[:, k, 0] + sum_c M[:, k, 1 + c]
    context_c)`` over every pixel of every (source, target, context) triple; source and target are
    (*, 3, H, W), context (*, C, H, W) (None: C = 0, the global map of :func:`fit_color_map`).
    ``ridge``: see :meth:`ColorMapEquations.solve`. Raises ValueError when ``triples`` is empty.
    """
    return color_map_equations(triples, basis).solve(ridge)


def apply_local_color_map(
    matrix: Tensor,
    source: Tensor,
    context: Tensor | None,
    basis: Callable[[Tensor], Tensor] = quadratic_basis,
) -> Tensor:
    """A (3, K, 1 + C) map of :func:`fit_local_color_map` applied to ``source`` (*, 3, H, W) with its
    ``context`` (*, C, H, W): (*, 3, H, W), float64."""
    terms = _local_terms(source, context, basis)
    return torch.einsum("on,...nhw->...ohw", matrix.double().reshape(3, -1), terms)


def lab_distance(pred_lab: Tensor, target_lab: Tensor) -> Tensor:
    """Per-pixel Euclidean distance in Lab (the paper's error): (*, 3, H, W) -> (*, H, W)."""
    return (pred_lab.float() - target_lab.float()).square().sum(dim=-3).clamp_min(1e-12).sqrt()


class RGBToLab(nn.Module):
    """Module form of :func:`rgb_to_lab` (float32 even under autocast)."""

    def forward(self, rgb: Tensor) -> Tensor:
        return rgb_to_lab(rgb)


class LabToRGB(nn.Module):
    """Module form of :func:`lab_to_rgb`.

    Args:
        clip: clamp the sRGB result to [0, 1].
    """

    def __init__(self, clip: bool = True) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, lab: Tensor) -> Tensor:
        return lab_to_rgb(lab, clip=self.clip)
