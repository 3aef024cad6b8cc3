"""Global colour operations, one pure function each, on sRGB tensors (*, 3, H, W) in [0, 1].

Every function's default parameters are the identity. Computation is in float32 (float64 stays
float64), the result is clamped to [0, 1] and returned in the input's dtype. Everything is torch,
batched and differentiable almost everywhere, so actions can render targets on a GPU.

These are the adjustments of photo editors (Photoshop actions, Lightroom presets). Their exact
formulas are proprietary; the ones here follow the documented behaviour, with kornia providing the
colour-space conversions. Bad parameters raise :class:`LumastyleError` naming the parameter.

Recipes give numbers. The numeric parameters of the operations a Lightroom preset maps onto
(``curves``' points as an (N, 2) tensor, ``exposure``, ``hue_saturation``, ``vibrance``,
``color_grading``) also take tensors, and the result is then differentiable in them: this is how
:mod:`lumastyle.actions.preset_fit` fits a preset's settings by gradient descent through the very
functions that render it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import overload

import torch
import torch.nn.functional as F
from kornia.color import hsv_to_rgb, linear_rgb_to_rgb, rgb_to_grayscale, rgb_to_hsv, rgb_to_linear_rgb
from torch import Tensor

from lumastyle.actions.registry import operation
from lumastyle.color import LUMA_WEIGHTS, check_image, full_precision
from lumastyle.errors import LumastyleError

Points = Sequence[Sequence[float]]
PerChannel = float | Sequence[float]
#: The curve that changes nothing, as control points.
IDENTITY_CURVE = [[0.0, 0.0], [1.0, 1.0]]


def prepare_image(image: Tensor) -> Tensor:
    """An operation's input as it computes on it: ``image`` (*, 3, H, W) checked (a one-line
    :class:`LumastyleError` names what is wrong; an integer dtype raises ValueError) and in float32
    (float64 stays). Pair it with :func:`finish_image`."""
    check_image(image, "image")
    if not image.is_floating_point():
        raise ValueError(f"expected a floating point image in [0, 1], got {image.dtype}")
    return full_precision(image)


def finish_image(out: Tensor, like: Tensor) -> Tensor:
    """An operation's result: ``out`` clamped to [0, 1] in the dtype of its input ``like``."""
    return out.clamp(0.0, 1.0).to(like.dtype)


def _per_channel(value: PerChannel, ref: Tensor, name: str) -> Tensor:
    try:
        t = torch.as_tensor(value, dtype=ref.dtype, device=ref.device)
    except (TypeError, ValueError, RuntimeError):
        t = None
    if t is not None and t.ndim == 0:
        t = t.expand(3)
    if t is None or t.shape != (3,) or not torch.isfinite(t).all():
        raise LumastyleError(f"{name} must be a number or three numbers [r, g, b], got {value!r}")
    return t.view(3, 1, 1)


@overload
def checked_number(value: float, name: str, low: float = ..., high: float = ...) -> float: ...
@overload
def checked_number(value: Tensor, name: str, low: float = ..., high: float = ...) -> Tensor: ...
def checked_number(value: float | Tensor, name: str, low: float = -float("inf"), high: float = float("inf")) -> float | Tensor:
    """Parameter ``name`` as a float within [``low``, ``high``]; anything else (not a number, out of
    range) raises a one-line :class:`LumastyleError` naming the parameter and the range. A one-element
    tensor (a setting being fitted) is checked the same way and returned as it is, keeping its gradient."""
    if isinstance(value, Tensor) and value.numel() == 1:
        checked_number(float(value.detach()), name, low, high)
        return value.reshape(())
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise LumastyleError(f"{name} must be a number, got {value!r}") from None
    if not low <= v <= high:
        raise LumastyleError(f"{name} must be within [{low}, {high}], got {v}")
    return v


def active(value: float | Tensor) -> bool:
    """Whether a parameter changes anything: a number other than 0, or a tensor (a setting being fitted,
    which must stay in the computation even at 0 to receive its gradient)."""
    return isinstance(value, Tensor) or value != 0


def luminance(image: Tensor) -> Tensor:
    """Rec. 709 relative luminance of (*, 3, H, W) values -> (*, 1, H, W)."""
    weights = torch.tensor(LUMA_WEIGHTS, dtype=image.dtype, device=image.device)
    return rgb_to_grayscale(image, rgb_weights=weights)


def _preserve_luminosity(out: Tensor, y: Tensor) -> Tensor:
    """Scale ``out`` so its luminance is ``y`` (the original's), desaturating (not clipping) out-of-range colours."""
    out = out * (y / luminance(out).clamp_min(1e-6))
    # pull colours that left [0, 1] towards their grey: luminance is kept, the hue too
    high, low = out.amax(dim=-3, keepdim=True), out.amin(dim=-3, keepdim=True)
    k_high = torch.where(high > 1, (1 - y) / (high - y).clamp_min(1e-6), torch.ones_like(y))
    k_low = torch.where(low < 0, y / (y - low).clamp_min(1e-6), torch.ones_like(y))
    return y + (out - y) * torch.minimum(k_high, k_low).clamp(0, 1)


# -- curves ----------------------------------------------------------------------------------------


def _check_points(points: Points, name: str) -> tuple[list[float], list[float]]:
    try:
        pts = sorted((float(x), float(y)) for x, y in points)
    except (TypeError, ValueError):
        raise LumastyleError(f"{name}: curve points must be pairs [x, y], got {points!r}") from None
    if len(pts) < 2:
        raise LumastyleError(f"{name}: a curve needs at least two points [x, y], got {len(pts)}")
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    if any(b <= a for a, b in itertools.pairwise(xs)):
        raise LumastyleError(f"{name}: curve x values must be distinct, got {xs}")
    if min(xs + ys) < 0 or max(xs + ys) > 1:
        raise LumastyleError(f"{name}: curve points must lie in [0, 1], got {pts}")
    return xs, ys


def _pchip_end_slope(h0: Tensor, h1: Tensor, d0: Tensor, d1: Tensor) -> Tensor:
    """One-sided three-point end slope, limited to keep the curve shape-preserving."""
    s = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
    s = torch.where(torch.sign(s) != torch.sign(d0), torch.zeros_like(s), s)
    return torch.where((torch.sign(d0) != torch.sign(d1)) & (s.abs() > 3 * d0.abs()), 3 * d0, s)


def _curve_points(points: Points | Tensor, name: str, like: Tensor) -> tuple[Tensor, Tensor]:
    """A curve's control points as (xs, ys) tensors in ``like``'s dtype and device; a tensor of points
    (N, 2) (a curve being fitted) keeps its gradient and must already be in increasing x."""
    if isinstance(points, Tensor):
        plain = points.detach().tolist() if points.ndim == 2 and points.shape[-1] == 2 else None
        if plain is None or _check_points(plain, name)[0] != [p[0] for p in plain]:
            raise LumastyleError(f"{name}: a tensor of curve points must be (N, 2) in increasing x")
        pts = points.to(like)
        return pts[:, 0].contiguous(), pts[:, 1]
    xs_l, ys_l = _check_points(points, name)
    return like.new_tensor(xs_l), like.new_tensor(ys_l)


def monotone_curve(x: Tensor, points: Points | Tensor, name: str = "curve") -> Tensor:
    """Evaluate the monotone cubic (Fritsch-Carlson / PCHIP) interpolant through ``points`` at ``x``.

    Args:
        x: values to map, any shape.
        points: control points [[x, y], ...] in [0, 1] (at least two, distinct x), or an (N, 2)
            tensor of them in increasing x.
        name: the curve's name, for error messages.

    Outside the first and last control points the curve is flat (as in photo editors).
    """
    xs, ys = _curve_points(points, name, x)
    h = xs[1:] - xs[:-1]
    delta = (ys[1:] - ys[:-1]) / h
    n = len(xs)
    if n == 2:
        d = torch.stack([delta[0], delta[0]])
    else:
        # interior slopes: weighted harmonic mean of the neighbouring secants, 0 at local extrema
        w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]
        same_sign = (delta[:-1] * delta[1:]) > 0
        ones = torch.ones_like(delta[:-1])
        harmonic = (w1 + w2) / (
            w1 / delta[:-1].where(same_sign, ones) + w2 / delta[1:].where(same_sign, ones)
        )
        interior = torch.where(same_sign, harmonic, torch.zeros_like(harmonic))
        first = _pchip_end_slope(h[0], h[1], delta[0], delta[1])
        last = _pchip_end_slope(h[-1], h[-2], delta[-1], delta[-2])
        d = torch.cat([first.view(1), interior, last.view(1)])
    xc = x.clamp(xs[0], xs[-1])
    idx = torch.searchsorted(xs, xc.detach().contiguous(), right=True).clamp(1, n - 1) - 1
    x0, y0, hk = xs[idx], ys[idx], h[idx]
    t = (xc - x0) / hk
    t2, t3 = t * t, t * t * t
    h00, h10, h01, h11 = 2 * t3 - 3 * t2 + 1, t3 - 2 * t2 + t, -2 * t3 + 3 * t2, t3 - t2
    return h00 * y0 + h10 * hk * d[idx] + h01 * ys[idx + 1] + h11 * hk * d[idx + 1]


@operation("curves")
def curves(
    image: Tensor,
    master: Points | None = None,
    r: Points | None = None,
    g: Points | None = None,
    b: Points | None = None,
) -> Tensor:
    """Tone curves (Photoshop's Curves): the per-channel curves first, then the master curve.

    Args:
        image: sRGB image (*, 3, H, W) in [0, 1].
        master: control points [[x, y], ...] in [0, 1] applied to all three channels (None: identity).
        r: control points of the red channel's curve (None: identity).
        g: control points of the green channel's curve (None: identity).
        b: control points of the blue channel's curve (None: identity).
    """
    x = prepare_image(image)
    channels = list(x.unbind(-3))
    for i, pts in enumerate((r, g, b)):
        if pts is not None:
            channels[i] = monotone_curve(channels[i], pts, "rgb"[i])
    out = torch.stack(channels, dim=-3)
    if master is not None:
        out = monotone_curve(out, master, "master")
    return finish_image(out, image)


# -- tone ------------------------------------------------------------------------------------------


@operation("levels")
def levels(
    image: Tensor,
    in_black: PerChannel = 0.0,
    in_white: PerChannel = 1.0,
    gamma: PerChannel = 1.0,
    out_black: PerChannel = 0.0,
    out_white: PerChannel = 1.0,
) -> Tensor:
    """Levels: map [in_black, in_white] to [0, 1], raise to 1/gamma, then map to [out_black, out_white].

    Args:
        image: sRGB image (*, 3, H, W) in [0, 1].
        in_black: input value that becomes black; a number (master) or [r, g, b].
        in_white: input value that becomes white; a number or [r, g, b], above ``in_black``.
        gamma: midtone gamma (> 1 brightens, as in Photoshop); a number or [r, g, b].
        out_black: output value for black; a number or [r, g, b].
        out_white: output value for white; a number or [r, g, b].
    """
    x = prepare_image(image)
    ib, iw = _per_channel(in_black, x, "in_black"), _per_channel(in_white, x, "in_white")
    gm = _per_channel(gamma, x, "gamma")
    if torch.any(iw <= ib) or torch.any(gm <= 0):
        raise LumastyleError(
            f"levels: need in_white > in_black and gamma > 0, got {in_black}, {in_white}, {gamma}"
        )
    t = ((x - ib) / (iw - ib)).clamp(0, 1)
    t = t.clamp_min(1e-12).pow(1.0 / gm) if torch.any(gm != 1) else t
    ob, ow = _per_channel(out_black, x, "out_black"), _per_channel(out_white, x, "out_white")
    return finish_image(ob + t * (ow - ob), image)


@operation("brightness_contrast")
def brightness_contrast(image: Tensor, brightness: float = 0.0, contrast: float = 0.0) -> Tensor:
    """Brightness/contrast: add ``brightness``, then scale around mid-grey by (1 + contrast).

    Args:
        image: sRGB image (*, 3, H, W) in [0, 1].
        brightness: value added to every channel (-1..1).
        contrast: contrast change (-1 flat grey .. 0 none .. positive stronger).
    """
    x = prepare_image(image)
    bright = checked_number(brightness, "brightness", -1.0, 1.0)
    gain = 1.0 + checked_number(contrast, "contrast", -1.0, 10.0)
    return finish_image((x + bright - 0.5) * gain + 0.5, image)


@operation("exposure")
def exposure(image: Tensor, stops: float = 0.0, offset: float = 0.0, gamma: float = 1.0) -> Tensor:
    """Exposure in linear light (Photoshop's Exposure): scale by 2**stops, add an offset, apply 1/gamma.

    Args:
        image: sRGB image (*, 3, H, W) in [0, 1].
        stops: exposure change in photographic stops (+1 doubles the linear light).
        offset: value added in linear light (negative darkens the shadows).
        gamma: gamma correction applied after exposure (> 1 brightens).
    """
    x = prepare_image(image)
    stops_v = checked_number(stops, "stops", -20.0, 20.0)
    gamma_v = checked_number(gamma, "gamma", 1e-3, 1e3)
    lin = rgb_to_linear_rgb(x) * (2.0**stops_v) + checked_number(offset, "offset", -1.0, 1.0)
    if gamma_v != 1.0:
        lin = lin.clamp_min(1e-12).pow(1.0 / gamma_v)
    return finish_image(linear_rgb_to_rgb(lin.clamp(0, 1)), image)


# -- colour ----------------------------------------------------------------------------------------


def _hue_weight(hue_deg: Tensor, center: float, width: float, feather: float) -> Tensor:
    """1 within ``width``/2 degrees of ``center``, falling linearly to 0 over ``feather`` more degrees."""
    dist = (torch.remainder(hue_deg - center + 180.0, 360.0) - 180.0).abs()
    inner = width / 2.0
    if feather <= 0:
        return (dist <= inner).to(hue_deg.dtype)
    return (1.0 - (dist - inner) / feather).clamp(0.0, 1.0)


_RANGE_KEYS = ("hue", "width", "feather", "hue_shift", "saturation", "lightness")


def _hue_range(rng: dict, name: str) -> tuple[float, float, dict]:
    """(centre, hue shift, the mapping) of one hue range, checking its keys."""
    if not isinstance(rng, dict) or "hue" not in rng or set(rng) - set(_RANGE_KEYS):
        got = sorted(rng) if isinstance(rng, dict) else rng
        raise LumastyleError(
            f"{name} needs 'hue' (the range centre in degrees) and takes {', '.join(_RANGE_KEYS[1:])}; got {got!r}"
        )
    return (
        checked_number(rng["hue"], f"{name}.hue"),
        checked_number(rng.get("hue_shift", 0.0), f"{name}.hue_shift"),
        rng,
    )


@operation("hue_saturation")
def hue_saturation(
    image: Tensor,
    hue_shift: float = 0.0,
    saturation: float = 0.0,
    lightness: float = 0.0,
    ranges: Sequence[dict] = (),
) -> Tensor:
    """Hue/saturation/lightness for the whole image and per hue range (Photoshop's Hue/Saturation).

    Args:
        image: sRGB image (*, 3, H, W) in [0, 1].
        hue_shift: rotate every hue by this many degrees.
        saturation: scale saturation by (1 + saturation); -1 makes the image grey.
        lightness: blend towards white (> 0) or black (< 0) by this fraction (-1..1).
        ranges: per hue range adjustments ``{hue, width, feather, hue_shift, saturation, lightness}``:
            ``hue`` is the range centre in degrees (0 red, 120 green, 240 blue), ``width`` the fully
            affected span (default 60), ``feather`` the soft edge beyond it on each side (default 30).
    """
    x = prepare_image(image)
    hsv = rgb_to_hsv(x)  # h in radians [0, 2pi), s, v in [0, 1]
    h_deg = hsv[..., 0:1, :, :] * (180.0 / torch.pi)
    s, v = hsv[..., 1:2, :, :], hsv[..., 2:3, :, :]
    shift = torch.zeros_like(h_deg) + checked_number(hue_shift, "hue_shift")
    sat = torch.zeros_like(s) + (1.0 + checked_number(saturation, "saturation", -1.0, 100.0))
    light = torch.zeros_like(s) + checked_number(lightness, "lightness", -1.0, 1.0)
    if not isinstance(ranges, (list, tuple)):
        raise LumastyleError(
            f"ranges must be a list of {{hue, width, feather, ...}} mappings, got {ranges!r}"
        )
    for i, rng in enumerate(ranges):
        name = f"ranges[{i}]"
        center, shift_deg, rng = _hue_range(rng, name)
        weight = _hue_weight(
            h_deg,
            center,
            checked_number(rng.get("width", 60.0), f"{name}.width", 0.0, 360.0),
            checked_number(rng.get("feather", 30.0), f"{name}.feather", 0.0, 180.0),
        )
        weight = weight * (s > 1e-6)  # greys have no hue
        shift = shift + weight * shift_deg
        sat = sat * (
            1.0 + weight * checked_number(rng.get("saturation", 0.0), f"{name}.saturation", -1.0, 100.0)
        )
        light = light + weight * checked_number(rng.get("lightness", 0.0), f"{name}.lightness", -1.0, 1.0)
    h_new = torch.remainder(h_deg + shift, 360.0) * (torch.pi / 180.0)
    out = hsv_to_rgb(torch.cat([h_new, (s * sat).clamp(0, 1), v], dim=-3))
    light = light.clamp(-1.0, 1.0)
    out = torch.where(light > 0, out + (1 - out) * light, out * (1 + light))
    return finish_image(out, image)


@operation("vibrance")
def vibrance(image: Tensor, amount: float = 0.0) -> Tensor:
    """Vibrance: a saturation change weighted towards muted colours, s' = s * (1 + amount * (1 - s)).

    Args:
        image: sRGB image (*, 3, H, W) in [0, 1].
        amount: strength (-1..1 typical); vivid colours change little, greys not at all.
    """
    x = prepare_image(image)
    amount_v = checked_number(amount, "amount", -1.0, 10.0)
    hsv = rgb_to_hsv(x)
    s = hsv[..., 1:2, :, :]
    s_new = (s * (1.0 + amount_v * (1.0 - s))).clamp(0, 1)
    return finish_image(hsv_to_rgb(torch.cat([hsv[..., :1, :, :], s_new, hsv[..., 2:, :, :]], dim=-3)), image)


@operation("color_balance")
def color_balance(
    image: Tensor,
    shadows: Sequence[float] = (0.0, 0.0, 0.0),
    midtones: Sequence[float] = (0.0, 0.0, 0.0),
    highlights: Sequence[float] = (0.0, 0.0, 0.0),
    preserve_luminosity: bool = True,
) -> Tensor:
    """Colour balance (Photoshop's Color Balance): shift colours separately in shadows, midtones, highlights.

    Args:
        image: sRGB image (*, 3, H, W) in [0, 1].
        shadows: [cyan-red, magenta-green, yellow-blue] shifts (-1..1) weighted by (1 - luma)^2.
        midtones: the same shifts weighted by 4 luma (1 - luma).
        highlights: the same shifts weighted by luma^2.
        preserve_luminosity: rescale the result so each pixel keeps its luminance.

    A shift of 1 moves the channel by 0.25 where the tonal range's weight is 1.
    """
    x = prepare_image(image)
    y = luminance(x)
    weights = ((1 - y) ** 2, 4 * y * (1 - y), y**2)
    out = x
    for name, shift, w in zip(
        ("shadows", "midtones", "highlights"), (shadows, midtones, highlights), weights, strict=True
    ):
        out = out + 0.25 * w * _per_channel(shift, x, name)
    if preserve_luminosity:
        out = _preserve_luminosity(out, y)
    return finish_image(out, image)


@operation("channel_mixer")
def channel_mixer(
    image: Tensor,
    matrix: Sequence[Sequence[float]] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    offset: Sequence[float] = (0.0, 0.0, 0.0),
    monochrome: bool = False,
) -> Tensor:
    """Channel mixer: out_c = sum_k matrix[c][k] * in_k + offset[c].

    Args:
        image: sRGB image (*, 3, H, W) in [0, 1].
        matrix: 3x3 mixing matrix, one row [from r, from g, from b] per output channel.
        offset: constant [r, g, b] added to each output channel.
        monochrome: use the first row (and offset) for all three channels, giving a grey image.
    """
    x = prepare_image(image)
    try:
        m = torch.as_tensor(matrix, dtype=x.dtype, device=x.device)
    except (TypeError, ValueError, RuntimeError):
        m = None
    if m is None or m.shape != (3, 3) or not torch.isfinite(m).all():
        raise LumastyleError(
            f"matrix must be 3x3 numbers [[rr, rg, rb], [gr, gg, gb], [br, bg, bb]], got {matrix!r}"
        )
    off = _per_channel(offset, x, "offset")
    if monochrome:
        m, off = m[:1].expand(3, 3), off[:1].expand(3, 1, 1)
    out = torch.einsum("ck,...khw->...chw", m, x) + off
    return finish_image(out, image)


@operation("photo_filter")
def photo_filter(
    image: Tensor,
    color: Sequence[float] = (0.93, 0.54, 0.09),
    density: float = 0.0,
    preserve_luminosity: bool = True,
) -> Tensor:
    """Photo filter: view the image through a coloured filter (Photoshop's Photo Filter).

    Args:
        image: sRGB image (*, 3, H, W) in [0, 1].
        color: the filter's [r, g, b] colour (default: Photoshop's Warming Filter (85)).
        density: filter strength (0 none .. 1 full multiply by ``color``).
        preserve_luminosity: rescale the result so each pixel keeps its luminance.
    """
    x = prepare_image(image)
    tint = _per_channel(color, x, "color")
    dens = checked_number(density, "density", 0.0, 1.0)
    out = x * (1 - dens + dens * tint)
    if preserve_luminosity:
        out = _preserve_luminosity(out, luminance(x))
    return finish_image(out, image)


def _hue_color(hue_deg: float | Tensor, ref: Tensor) -> Tensor:
    """The fully saturated colour of a hue (degrees) as a (3, 1, 1) tensor (differentiable in a tensor hue)."""
    hue = torch.remainder(torch.as_tensor(hue_deg, dtype=ref.dtype, device=ref.device), 360.0)
    hsv = torch.stack([hue * (torch.pi / 180.0), torch.ones_like(hue), torch.ones_like(hue)])
    return hsv_to_rgb(hsv.view(3, 1, 1))


@operation("split_toning")
def split_toning(
    image: Tensor,
    highlight_hue: float = 0.0,
    highlight_saturation: float = 0.0,
    shadow_hue: float = 0.0,
    shadow_saturation: float = 0.0,
    balance: float = 0.0,
) -> Tensor:
    """Split toning: tint highlights and shadows with two hues, keeping each pixel's luminance.

    Args:
        image: sRGB image (*, 3, H, W) in [0, 1].
        highlight_hue: hue of the highlight tint in degrees.
        highlight_saturation: strength of the highlight tint (0..1).
        shadow_hue: hue of the shadow tint in degrees.
        shadow_saturation: strength of the shadow tint (0..1).
        balance: moves the split between shadows and highlights (-1 more shadow tint .. 1 more highlight tint).
    """
    x = prepare_image(image)
    hi_sat = checked_number(highlight_saturation, "highlight_saturation", 0.0, 1.0)
    sh_sat = checked_number(shadow_saturation, "shadow_saturation", 0.0, 1.0)
    bal = checked_number(balance, "balance", -1.0, 1.0)
    hi_hue, sh_hue = checked_number(highlight_hue, "highlight_hue"), checked_number(shadow_hue, "shadow_hue")
    if not (hi_sat or sh_sat):
        return finish_image(x, image)
    y = luminance(x)
    w_high = torch.sigmoid((y - 0.5 + 0.5 * bal) * 8.0)
    out = x
    for hue, sat, w in ((hi_hue, hi_sat, w_high), (sh_hue, sh_sat, 1 - w_high)):
        if sat:
            tint = _hue_color(hue, x)
            out = out + sat * 0.3 * w * (tint - luminance(tint))
    return finish_image(_preserve_luminosity(out, y), image)


#: Lightroom's eight colour bands (HSL, B&W mix) and their hue centres in degrees.
HUE_BANDS = {"red": 0.0, "orange": 30.0, "yellow": 60.0, "green": 120.0, "aqua": 180.0, "blue": 240.0,
             "purple": 270.0, "magenta": 300.0}  # fmt: skip


def _band_values(hue_deg: Tensor, values: dict[str, float], name: str) -> Tensor:
    """Per-band ``values`` (keys of :data:`HUE_BANDS`) interpolated linearly in hue between neighbouring
    band centres, around the hue circle: every hue gets a weighted mean of its two nearest bands."""
    if not isinstance(values, dict) or set(values) - set(HUE_BANDS):
        raise LumastyleError(f"{name} maps colour bands to numbers; the bands are {', '.join(HUE_BANDS)}")
    centres = list(HUE_BANDS.values())
    v = [checked_number(values.get(band, 0.0), f"{name}.{band}", -1.0, 1.0) for band in HUE_BANDS]
    out = torch.zeros_like(hue_deg)
    for i, (c0, v0) in enumerate(zip(centres, v, strict=True)):
        c1, v1 = centres[(i + 1) % len(centres)], v[(i + 1) % len(v)]
        span = (c1 - c0) % 360.0
        t = torch.remainder(hue_deg - c0, 360.0) / span
        inside = t < 1.0
        out = torch.where(inside, v0 + (v1 - v0) * t.clamp(0, 1), out)
    return out


@operation("grayscale")
def grayscale(image: Tensor, amount: float = 0.0, mix: dict[str, float] | None = None) -> Tensor:
    """Black and white with a colour mix (Lightroom's B&W panel): each pixel becomes grey at its
    luminance, made brighter or darker by its colour band's mix value.

    Args:
        image: sRGB image (*, 3, H, W) in [0, 1].
        amount: 1 converts to grey, 0 changes nothing (between: a partial desaturation).
        mix: band (red, orange, yellow, green, aqua, blue, purple, magenta) -> -1..1; a colour of that
            band turns up to one stop darker (-1) or brighter (1), in proportion to its saturation
            (greys are unchanged). Lightroom's formula is not published; this follows its behaviour.
    """
    x = prepare_image(image)
    amount = checked_number(amount, "amount", 0.0, 1.0)
    y = luminance(x)
    if mix:
        hsv = rgb_to_hsv(x)
        band = _band_values(hsv[..., 0:1, :, :] * (180.0 / torch.pi), mix, "mix")
        y = y * torch.exp2(band * hsv[..., 1:2, :, :])
    grey = y.clamp(0, 1).expand_as(x)
    return finish_image(grey * amount + x * (1 - amount), image)  # amount 1: exactly grey


_WHEEL_KEYS = ("hue", "saturation", "luminance")


def _wheel(wheel: dict | None, name: str) -> tuple[float | Tensor, float | Tensor, float | Tensor]:
    if wheel is None:
        return 0.0, 0.0, 0.0
    if not isinstance(wheel, dict) or set(wheel) - set(_WHEEL_KEYS):
        raise LumastyleError(f"{name} takes {', '.join(_WHEEL_KEYS)}; got {wheel!r}")
    return (
        checked_number(wheel.get("hue", 0.0), f"{name}.hue"),
        checked_number(wheel.get("saturation", 0.0), f"{name}.saturation", 0.0, 1.0),
        checked_number(wheel.get("luminance", 0.0), f"{name}.luminance", -1.0, 1.0),
    )


def tonal_weights(
    y: Tensor, blending: float | Tensor = 0.5, balance: float | Tensor = 0.0
) -> tuple[Tensor, Tensor, Tensor]:
    """Shadow, midtone and highlight weights of luminance ``y`` (they sum to 1).

    The shadows end and the highlights begin a quarter of the range either side of a split point
    (0.5, moved down by up to 0.25 for ``balance`` 1: more of the photo counts as highlights), with
    smooth transitions whose width grows with ``blending`` (0..1).
    """
    split = 0.5 - 0.25 * balance
    width = 0.05 + 0.2 * blending

    def rise(edge: float | Tensor) -> Tensor:
        t = ((y - edge) / width * 0.5 + 0.5).clamp(0, 1)
        return t * t * (3 - 2 * t)  # smoothstep

    shadows, highlights = 1 - rise(split - 0.25), rise(split + 0.25)
    return shadows, 1 - shadows - highlights, highlights


@operation("color_grading")
def color_grading(
    image: Tensor,
    shadows: dict[str, float] | None = None,
    midtones: dict[str, float] | None = None,
    highlights: dict[str, float] | None = None,
    overall: dict[str, float] | None = None,
    blending: float = 0.5,
    balance: float = 0.0,
) -> Tensor:
    """Colour grading wheels (Lightroom's Color Grading, successor of split toning): a tint and a
    brightness change for shadows, midtones, highlights and the whole photo.

    Args:
        image: sRGB image (*, 3, H, W) in [0, 1].
        shadows: ``{hue, saturation, luminance}``: the tint's hue in degrees, its strength (0..1)
            and a brightness change (-1..1), weighted by :func:`tonal_weights`' shadow weight.
        midtones: the same for the midtones.
        highlights: the same for the highlights.
        overall: the same for every pixel (Lightroom's Global wheel).
        blending: how much the three ranges overlap (0..1; Lightroom's default 50 is 0.5).
        balance: -1..1, more of the photo counts as highlights for positive values.

    Tints keep each pixel's luminance (as split toning does); a luminance of 1 brightens a fully
    weighted pixel by a quarter of the range (multiplying its colour, so hues are kept).
    """
    x = prepare_image(image)
    wheels = [_wheel(w, n) for w, n in ((shadows, "shadows"), (midtones, "midtones"),
                                        (highlights, "highlights"), (overall, "overall"))]  # fmt: skip
    blending = checked_number(blending, "blending", 0.0, 1.0)
    balance = checked_number(balance, "balance", -1.0, 1.0)
    if not any(active(sat) or active(lum) for _, sat, lum in wheels):
        return finish_image(x, image)
    y = luminance(x)
    weights = (*tonal_weights(y, blending, balance), torch.ones_like(y))
    out, lift = x, torch.zeros_like(y)
    for (hue, sat, lum), w in zip(wheels, weights, strict=True):
        if active(sat):
            tint = _hue_color(hue, x)
            out = out + sat * 0.4 * w * (tint - luminance(tint))
        lift = lift + 0.25 * lum * w
    out = _preserve_luminosity(out, y)
    target = (y + lift).clamp(0, 1)
    out = torch.where(y > 1e-4, out * (target / y.clamp_min(1e-4)), out + (target - y))
    return finish_image(out, image)


# -- lookup tables ---------------------------------------------------------------------------------


def _domain(domain_min: PerChannel, domain_max: PerChannel, x: Tensor) -> tuple[Tensor, Tensor]:
    lo, hi = _per_channel(domain_min, x, "domain_min"), _per_channel(domain_max, x, "domain_max")
    if torch.any(hi <= lo):
        raise LumastyleError(f"domain_max must be above domain_min, got {domain_min} and {domain_max}")
    return lo, hi


def _table(table: Tensor | Sequence, x: Tensor) -> Tensor:
    try:
        t = torch.as_tensor(table, dtype=x.dtype, device=x.device)
    except (TypeError, ValueError, RuntimeError):
        raise LumastyleError("table must be a tensor or nested lists of numbers") from None
    if not torch.isfinite(t).all():
        raise LumastyleError("table holds non-finite values")
    return t


@operation("lut3d")
def lut3d(image: Tensor, table: Tensor, domain_min: PerChannel = 0.0, domain_max: PerChannel = 1.0) -> Tensor:
    """Apply a 3D lookup table with trilinear interpolation.

    Args:
        image: sRGB image (*, 3, H, W) in [0, 1].
        table: (N, N, N, 3) output colours indexed ``table[b, g, r]`` (red changes fastest, as in .cube files).
        domain_min: input value mapped to the table's first entry; a number or [r, g, b].
        domain_max: input value mapped to the table's last entry; a number or [r, g, b].
    """
    x = prepare_image(image)
    table = _table(table, x)
    if table.ndim != 4 or table.shape[-1] != 3 or len(set(table.shape[:3])) != 1 or table.shape[0] < 2:
        raise LumastyleError(f"table must have shape (N, N, N, 3) with N >= 2, got {tuple(table.shape)}")
    lo, hi = _domain(domain_min, domain_max, x)
    t = ((x - lo) / (hi - lo)).clamp(0, 1) * 2 - 1  # grid_sample coordinates, align_corners=True
    lead, (h, w) = x.shape[:-3], x.shape[-2:]
    grid = t.reshape(-1, 3, h * w).transpose(1, 2)  # (B, HW, 3): (r, g, b) = grid (x, y, z) = (W, H, D)
    volume = (
        table.permute(3, 0, 1, 2).unsqueeze(0).expand(grid.shape[0], -1, -1, -1, -1)
    )  # (B, 3, Nb, Ng, Nr)
    out = F.grid_sample(
        volume, grid.reshape(-1, 1, 1, h * w, 3), mode="bilinear", padding_mode="border", align_corners=True
    )
    return finish_image(out.reshape(*lead, 3, h, w), image)


@operation("lut1d")
def lut1d(image: Tensor, table: Tensor, domain_min: PerChannel = 0.0, domain_max: PerChannel = 1.0) -> Tensor:
    """Apply a 1D lookup table (one curve per channel) with linear interpolation.

    Args:
        image: sRGB image (*, 3, H, W) in [0, 1].
        table: (N, 3) table, column c is channel c's output at N evenly spaced inputs.
        domain_min: input value mapped to the first row; a number or [r, g, b].
        domain_max: input value mapped to the last row; a number or [r, g, b].
    """
    x = prepare_image(image)
    table = _table(table, x)
    if table.ndim != 2 or table.shape[1] != 3 or table.shape[0] < 2:
        raise LumastyleError(f"table must have shape (N, 3) with N >= 2, got {tuple(table.shape)}")
    lo, hi = _domain(domain_min, domain_max, x)
    pos = ((x - lo) / (hi - lo)).clamp(0, 1) * (table.shape[0] - 1)
    i0 = pos.detach().floor().long().clamp(0, table.shape[0] - 2)
    frac = pos - i0
    channels = []
    for c in range(3):
        col, i, f = table[:, c], i0[..., c, :, :], frac[..., c, :, :]
        channels.append(col[i] * (1 - f) + col[i + 1] * f)
    return finish_image(torch.stack(channels, dim=-3), image)
