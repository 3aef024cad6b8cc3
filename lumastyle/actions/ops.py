"""Global colour operations, one pure function each, on sRGB tensors (*, 3, H, W) in [0, 1].

Every function's default parameters are the identity. Computation is in float32 (float64 stays), the
result is clamped to [0, 1] and returned in the input's dtype. Everything is torch, batched and
differentiable almost everywhere, so actions can render targets on a GPU.

These are the adjustments of photo editors (Photoshop actions, Lightroom presets). Their exact
formulas are proprietary; the ones here follow the documented behaviour and are written by hand
where no library provides them (kornia provides the colour-space conversions).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from kornia.color import hsv_to_rgb, linear_rgb_to_rgb, rgb_to_hsv, rgb_to_linear_rgb
from torch import Tensor

from lumastyle.errors import LumastyleError

Points = Sequence[Sequence[float]]
PerChannel = float | Sequence[float]
_LUMA = (0.2126, 0.7152, 0.0722)  # Rec. 709 / sRGB luminance weights


def _prepare(image: Tensor) -> Tensor:
    if not isinstance(image, Tensor) or image.ndim < 3 or image.shape[-3] != 3:
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise ValueError(f"expected an image tensor of shape (*, 3, H, W), got {shape}")
    return image if image.dtype == torch.float64 else image.float()


def _finish(out: Tensor, like: Tensor) -> Tensor:
    return out.clamp(0.0, 1.0).to(like.dtype)


def _per_channel(value: PerChannel, ref: Tensor, name: str) -> Tensor:
    t = torch.as_tensor(value, dtype=ref.dtype, device=ref.device)
    if t.ndim == 0:
        t = t.expand(3)
    if t.shape != (3,):
        raise LumastyleError(f"{name} must be a number or three numbers [r, g, b], got {value!r}")
    return t.view(3, 1, 1)


def luminance(image: Tensor) -> Tensor:
    """Rec. 709 luma of (*, 3, H, W) -> (*, 1, H, W)."""
    w = torch.tensor(_LUMA, dtype=image.dtype, device=image.device).view(3, 1, 1)
    return (image * w).sum(dim=-3, keepdim=True)


# -- curves ----------------------------------------------------------------------------------------


def _check_points(points: Points, name: str) -> tuple[list[float], list[float]]:
    try:
        pts = sorted((float(x), float(y)) for x, y in points)
    except (TypeError, ValueError):
        raise LumastyleError(f"{name}: curve points must be pairs [x, y], got {points!r}") from None
    if len(pts) < 2:
        raise LumastyleError(f"{name}: a curve needs at least two points, got {len(pts)}")
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    if any(b <= a for a, b in itertools.pairwise(xs)):
        raise LumastyleError(f"{name}: curve x values must be distinct, got {xs}")
    if min(xs + ys) < 0 or max(xs + ys) > 1:
        raise LumastyleError(f"{name}: curve points must lie in [0, 1], got {pts}")
    return xs, ys


def monotone_curve(x: Tensor, points: Points, name: str = "curve") -> Tensor:
    """Evaluate the monotone cubic (Fritsch-Carlson / PCHIP) interpolant through ``points`` at ``x``.

    Outside the first and last control points the curve is flat (as in photo editors).
    """
    xs_l, ys_l = _check_points(points, name)
    xs = torch.tensor(xs_l, dtype=x.dtype, device=x.device)
    ys = torch.tensor(ys_l, dtype=x.dtype, device=x.device)
    h = xs[1:] - xs[:-1]
    delta = (ys[1:] - ys[:-1]) / h
    n = len(xs_l)
    if n == 2:
        d = torch.stack([delta[0], delta[0]])
    else:
        # PCHIP interior slopes: weighted harmonic mean of neighbouring secants, 0 at extrema
        w1 = 2 * h[1:] + h[:-1]
        w2 = h[1:] + 2 * h[:-1]
        same_sign = (delta[:-1] * delta[1:]) > 0
        harmonic = (w1 + w2) / (
            w1 / delta[:-1].where(same_sign, torch.ones_like(delta[:-1]))
            + w2 / delta[1:].where(same_sign, torch.ones_like(delta[1:]))
        )
        interior = torch.where(same_sign, harmonic, torch.zeros_like(harmonic))

        def end_slope(h0: Tensor, h1: Tensor, d0: Tensor, d1: Tensor) -> Tensor:
            s = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
            s = torch.where(torch.sign(s) != torch.sign(d0), torch.zeros_like(s), s)
            return torch.where((torch.sign(d0) != torch.sign(d1)) & (s.abs() > 3 * d0.abs()), 3 * d0, s)

        first = end_slope(h[0], h[1], delta[0], delta[1])
        last = end_slope(h[-1], h[-2], delta[-1], delta[-2])
        d = torch.cat([first.view(1), interior, last.view(1)])
    xc = x.clamp(xs[0], xs[-1])
    idx = torch.searchsorted(xs, xc.detach().contiguous(), right=True).clamp(1, n - 1) - 1
    x0, y0, hk = xs[idx], ys[idx], h[idx]
    t = (xc - x0) / hk
    t2, t3 = t * t, t * t * t
    h00, h10, h01, h11 = 2 * t3 - 3 * t2 + 1, t3 - 2 * t2 + t, -2 * t3 + 3 * t2, t3 - t2
    return h00 * y0 + h10 * hk * d[idx] + h01 * ys[idx + 1] + h11 * hk * d[idx + 1]


def curves(
    image: Tensor,
    master: Points | None = None,
    r: Points | None = None,
    g: Points | None = None,
    b: Points | None = None,
) -> Tensor:
    """Tone curves: per-channel curves (r, g, b) then the master curve, points [[x, y], ...] in [0, 1]."""
    x = _prepare(image)
    channels = list(x.unbind(-3))
    for i, pts in enumerate((r, g, b)):
        if pts is not None:
            channels[i] = monotone_curve(channels[i], pts, "rgb"[i])
    out = torch.stack(channels, dim=-3)
    if master is not None:
        out = monotone_curve(out, master, "master")
    return _finish(out, image)


# -- tone ------------------------------------------------------------------------------------------


def levels(
    image: Tensor,
    in_black: PerChannel = 0.0,
    in_white: PerChannel = 1.0,
    gamma: PerChannel = 1.0,
    out_black: PerChannel = 0.0,
    out_white: PerChannel = 1.0,
) -> Tensor:
    """Levels: map [in_black, in_white] to [0, 1], apply 1/gamma, then map to [out_black, out_white]."""
    x = _prepare(image)
    ib, iw = _per_channel(in_black, x, "in_black"), _per_channel(in_white, x, "in_white")
    gm = _per_channel(gamma, x, "gamma")
    if torch.any(iw <= ib) or torch.any(gm <= 0):
        raise LumastyleError(
            f"levels: need in_white > in_black and gamma > 0, got {in_black}, {in_white}, {gamma}"
        )
    t = ((x - ib) / (iw - ib)).clamp(0, 1)
    t = t.clamp_min(1e-8).pow(1.0 / gm) if torch.any(gm != 1) else t
    ob, ow = _per_channel(out_black, x, "out_black"), _per_channel(out_white, x, "out_white")
    return _finish(ob + t * (ow - ob), image)


def brightness_contrast(image: Tensor, brightness: float = 0.0, contrast: float = 0.0) -> Tensor:
    """Brightness adds ``brightness`` (-1..1); contrast scales around mid-grey by (1 + contrast)."""
    x = _prepare(image)
    return _finish((x + brightness - 0.5) * (1.0 + contrast) + 0.5, image)


def exposure(image: Tensor, stops: float = 0.0, offset: float = 0.0, gamma: float = 1.0) -> Tensor:
    """Exposure in linear light: multiply by 2**stops, add ``offset``, then apply 1/gamma."""
    x = _prepare(image)
    lin = rgb_to_linear_rgb(x) * (2.0**stops) + offset
    if gamma != 1.0:
        lin = lin.clamp_min(1e-8).pow(1.0 / gamma)
    return _finish(linear_rgb_to_rgb(lin.clamp(0, 1)), image)


# -- colour ----------------------------------------------------------------------------------------


def _hue_weight(hue_deg: Tensor, center: float, width: float, feather: float) -> Tensor:
    """1 within ``width``/2 degrees of ``center``, falling linearly to 0 over ``feather`` more degrees."""
    dist = ((hue_deg - center + 180.0) % 360.0 - 180.0).abs()
    inner = width / 2.0
    if feather <= 0:
        return (dist <= inner).to(hue_deg.dtype)
    return (1.0 - (dist - inner) / feather).clamp(0.0, 1.0)


def hue_saturation(
    image: Tensor,
    hue: float = 0.0,
    saturation: float = 0.0,
    lightness: float = 0.0,
    ranges: Sequence[dict] = (),
) -> Tensor:
    """Hue/saturation/lightness, master and per hue range.

    ``hue`` shifts hue in degrees, ``saturation`` scales saturation by (1 + s), ``lightness`` (-1..1)
    blends towards black or white. Each entry of ``ranges`` ({center, width, feather, hue,
    saturation, lightness}; degrees) applies its own adjustment with a soft weight around its centre.
    """
    x = _prepare(image)
    hsv = rgb_to_hsv(x)  # h in radians [0, 2pi), s, v in [0, 1]
    h_deg = hsv[..., 0:1, :, :] * (180.0 / torch.pi)
    s, v = hsv[..., 1:2, :, :], hsv[..., 2:3, :, :]
    shift = torch.full_like(h_deg, float(hue))
    sat = torch.full_like(s, 1.0 + float(saturation))
    light = torch.full_like(s, float(lightness))
    for i, rng in enumerate(ranges):
        unknown = set(rng) - {"center", "width", "feather", "hue", "saturation", "lightness"}
        if unknown or "center" not in rng:
            raise LumastyleError(
                f"hue_saturation.ranges[{i}]: needs 'center' and takes width, feather, hue, saturation, "
                f"lightness; got {sorted(rng)}"
            )
        w = _hue_weight(
            h_deg, float(rng["center"]), float(rng.get("width", 60)), float(rng.get("feather", 30))
        )
        w = w * (s > 1e-6)  # greys have no hue
        shift = shift + w * float(rng.get("hue", 0.0))
        sat = sat * (1.0 + w * float(rng.get("saturation", 0.0)))
        light = light + w * float(rng.get("lightness", 0.0))
    h_new = ((h_deg + shift) % 360.0) * (torch.pi / 180.0)
    out = hsv_to_rgb(torch.cat([h_new, (s * sat).clamp(0, 1), v], dim=-3))
    out = torch.where(light > 0, out + (1 - out) * light, out * (1 + light))
    return _finish(out, image)


def vibrance(image: Tensor, amount: float = 0.0) -> Tensor:
    """Saturation change weighted towards muted colours: s' = s * (1 + amount * (1 - s))."""
    x = _prepare(image)
    hsv = rgb_to_hsv(x)
    s = hsv[..., 1:2, :, :]
    s_new = (s * (1.0 + amount * (1.0 - s))).clamp(0, 1)
    return _finish(hsv_to_rgb(torch.cat([hsv[..., :1, :, :], s_new, hsv[..., 2:, :, :]], dim=-3)), image)


def _preserve_luminosity(out: Tensor, original: Tensor) -> Tensor:
    ratio = luminance(original) / luminance(out).clamp_min(1e-6)
    return out * ratio


def color_balance(
    image: Tensor,
    shadows: Sequence[float] = (0.0, 0.0, 0.0),
    midtones: Sequence[float] = (0.0, 0.0, 0.0),
    highlights: Sequence[float] = (0.0, 0.0, 0.0),
    preserve_luminosity: bool = True,
) -> Tensor:
    """Colour balance: per tonal range, [cyan-red, magenta-green, yellow-blue] shifts in -1..1.

    Shadows weigh (1 - luma)^2, highlights luma^2, midtones 4 luma (1 - luma); a shift of 1 moves
    the channel by 0.25 at full weight.
    """
    x = _prepare(image)
    y = luminance(x)
    weights = ((1 - y) ** 2, 4 * y * (1 - y), y**2)
    out = x
    for name, shift, w in zip(
        ("shadows", "midtones", "highlights"), (shadows, midtones, highlights), weights, strict=True
    ):
        out = out + 0.25 * w * _per_channel(shift, x, f"color_balance.{name}")
    if preserve_luminosity:
        out = _preserve_luminosity(out, x)
    return _finish(out, image)


def channel_mixer(
    image: Tensor,
    matrix: Sequence[Sequence[float]] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    offset: Sequence[float] = (0.0, 0.0, 0.0),
    monochrome: bool = False,
) -> Tensor:
    """Channel mixer: out_c = sum_k matrix[c][k] * in_k + offset[c]; ``monochrome`` uses row 0 for all."""
    x = _prepare(image)
    m = torch.as_tensor(matrix, dtype=x.dtype, device=x.device)
    if m.shape != (3, 3):
        raise LumastyleError(f"channel_mixer.matrix must be 3x3, got {matrix!r}")
    if monochrome:
        m = m[:1].expand(3, 3)
    out = torch.einsum("ck,...khw->...chw", m, x) + _per_channel(offset, x, "channel_mixer.offset")
    return _finish(out, image)


def photo_filter(
    image: Tensor,
    color: Sequence[float] = (0.93, 0.54, 0.09),
    density: float = 0.0,
    preserve_luminosity: bool = True,
) -> Tensor:
    """Photo filter: multiply by ``color`` with strength ``density`` (0..1), keeping luminance if asked."""
    x = _prepare(image)
    tint = _per_channel(color, x, "photo_filter.color")
    out = x * (1 - density + density * tint)
    if preserve_luminosity:
        out = _preserve_luminosity(out, x)
    return _finish(out, image)


def _hue_color(hue_deg: float, ref: Tensor) -> Tensor:
    hsv = torch.tensor([hue_deg % 360.0 * torch.pi / 180.0, 1.0, 1.0], dtype=ref.dtype, device=ref.device)
    return hsv_to_rgb(hsv.view(3, 1, 1))


def split_toning(
    image: Tensor,
    highlight_hue: float = 0.0,
    highlight_saturation: float = 0.0,
    shadow_hue: float = 0.0,
    shadow_saturation: float = 0.0,
    balance: float = 0.0,
) -> Tensor:
    """Split toning: tint highlights and shadows with a hue (degrees) at a saturation (0..1), luma kept.

    ``balance`` (-1..1) moves the split point between shadows and highlights.
    """
    x = _prepare(image)
    y = luminance(x)
    w_high = torch.sigmoid((y - 0.5 + 0.5 * balance) * 8.0)
    out = x
    for hue, sat, w in (
        (highlight_hue, highlight_saturation, w_high),
        (shadow_hue, shadow_saturation, 1 - w_high),
    ):
        if sat:
            tint = _hue_color(hue, x)
            out = out + float(sat) * 0.3 * w * (tint - luminance(tint))
    return _finish(
        _preserve_luminosity(out, x) if (highlight_saturation or shadow_saturation) else out, image
    )


# -- lookup tables ---------------------------------------------------------------------------------


def lut3d(image: Tensor, table: Tensor, domain_min: PerChannel = 0.0, domain_max: PerChannel = 1.0) -> Tensor:
    """Apply a 3D LUT ``table[b, g, r] -> rgb`` of shape (N, N, N, 3) with trilinear interpolation."""
    x = _prepare(image)
    table = torch.as_tensor(table, dtype=x.dtype, device=x.device)
    if table.ndim != 4 or table.shape[-1] != 3 or len(set(table.shape[:3])) != 1:
        raise LumastyleError(f"lut3d: the table must have shape (N, N, N, 3), got {tuple(table.shape)}")
    lo, hi = _per_channel(domain_min, x, "domain_min"), _per_channel(domain_max, x, "domain_max")
    t = ((x - lo) / (hi - lo)).clamp(0, 1) * 2 - 1  # grid_sample coordinates, align_corners=True
    lead, (h, w) = x.shape[:-3], x.shape[-2:]
    flat = t.reshape(-1, 3, h * w).transpose(1, 2)  # (B, HW, 3) as (r, g, b) = grid (x, y, z)
    volume = (
        table.permute(3, 0, 1, 2).unsqueeze(0).expand(flat.shape[0], -1, -1, -1, -1)
    )  # (B, 3, Nb, Ng, Nr)
    out = F.grid_sample(
        volume, flat.view(-1, 1, 1, h * w, 3), mode="bilinear", padding_mode="border", align_corners=True
    )
    return _finish(out.view(*lead, 3, h, w), image)


def lut1d(image: Tensor, table: Tensor, domain_min: PerChannel = 0.0, domain_max: PerChannel = 1.0) -> Tensor:
    """Apply a 1D LUT of shape (N, 3) (one curve per channel) with linear interpolation."""
    x = _prepare(image)
    table = torch.as_tensor(table, dtype=x.dtype, device=x.device)
    if table.ndim != 2 or table.shape[1] != 3 or table.shape[0] < 2:
        raise LumastyleError(f"lut1d: the table must have shape (N, 3) with N >= 2, got {tuple(table.shape)}")
    lo, hi = _per_channel(domain_min, x, "domain_min"), _per_channel(domain_max, x, "domain_max")
    pos = ((x - lo) / (hi - lo)).clamp(0, 1) * (table.shape[0] - 1)
    i0 = pos.detach().floor().long().clamp(0, table.shape[0] - 2)
    frac = pos - i0
    channels = []
    for c in range(3):
        col = table[:, c]
        channels.append(
            col[i0[..., c, :, :]] * (1 - frac[..., c, :, :]) + col[i0[..., c, :, :] + 1] * frac[..., c, :, :]
        )
    return _finish(torch.stack(channels, dim=-3), image)
