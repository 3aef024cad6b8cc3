"""Two-scale context: the backbone on the (reflection-padded) image and on its 2x upsampled copy.

Each backbone copy returns a map at 1/8 of its padded input. ``sample_context`` reads such a map back
at the pixel positions of the full-resolution photo (bilinear, geometry exact: padding and the
scale factor are undone), for any block of rows, so the per-pixel head can run in tiles.

Training on crops with a context computed on the whole photo (the feature cache, :mod:`lumastyle.cache`)
uses windows: :func:`window_origin` and :func:`take_window` cut from a whole photo's map the cells a
crop's pixels read (plus the cells conv6 reaches, zeros beyond the map, as conv6's own padding), and
:func:`sample_window` samples them at the crop's pixels. The result equals sampling the whole map
(the border clamping is done on the whole map's coordinates), so a head trained on crops reads what
``stylize`` gives it on the whole photo.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import NamedTuple, cast

import torch
import torch.nn.functional as F
from kornia.color import rgb_to_linear_rgb
from torch import Tensor, nn

from lumastyle.backbone import STRIDE, DilatedVGG16
from lumastyle.color import LUMA_WEIGHTS, denormalize_lab, full_precision, lab_to_rgb
from lumastyle.geometry import blur, flat_batch, reflect_pad, resize, scaled_size
from lumastyle.superpixels import region_means, slic_labels


class ContextMap(NamedTuple):
    """A low-resolution context map and where it came from."""

    features: Tensor  #: (B, C, h, w) at 1/stride of the padded, scaled image
    scaled_hw: tuple[int, int]  #: size of the scaled image before padding
    pad: int  #: reflection padding (pixels) on the top and left of the scaled image
    stride: int = STRIDE  #: pixels of the padded, scaled image per map cell (1: a full-resolution map)


class ContextWindow(NamedTuple):
    """Windows of whole-photo context maps around a batch of crops; every field is batched."""

    features: Tensor  #: (B, C, L, L) cells of the map, from cell ``offset`` on
    offset: Tensor  #: (B, 2) map cell (row, column) of the window's first cell
    map_hw: Tensor  #: (B, 2) size of the whole map in cells (sampling clamps to it)
    scaled_hw: Tensor  #: (B, 2) size of the scaled photo the map was computed on, before padding
    pad: Tensor  #: (B,) its reflection padding in pixels
    stride: Tensor  #: (B,) pixels of the padded, scaled photo per map cell


def _cell(position: Tensor, scaled: Tensor, photo: Tensor, pad: Tensor, stride: Tensor | int) -> Tensor:
    """Feature coordinate (cell centres at integers) of pixel ``position`` of a ``photo``-long axis."""
    return ((position + 0.5) * (scaled / photo) + pad) / stride - 0.5


def window_length(crop: int, scale: float, stride: int = STRIDE) -> int:
    """Cells a window needs to cover every pixel of a ``crop``-pixel axis on a map of this scale,
    with the bilinear neighbour of the last one (one cell of slack for the rounding of scaled sizes)."""
    return math.ceil(crop * scale / stride) + 3


def window_origin(
    scaled_hw: tuple[int, int],
    pad: int,
    map_hw: tuple[int, int],
    photo_hw: tuple[int, int],
    top_left: tuple[int, int],
    stride: int = STRIDE,
) -> tuple[int, int]:
    """The map cell (row, column) a window over a crop whose first pixel is ``top_left`` starts at."""
    out = []
    for axis in range(2):
        u = _cell(
            torch.tensor(float(top_left[axis])),
            torch.tensor(float(scaled_hw[axis])),
            torch.tensor(float(photo_hw[axis])),
            torch.tensor(float(pad)),
            stride,
        )
        out.append(int(u.clamp(0, map_hw[axis] - 1).floor().item()))
    return out[0], out[1]


def take_window(features: Tensor, top: int, left: int, height: int, width: int) -> Tensor:
    """Cells [top, top+height) x [left, left+width) of a (C, h, w) map; zeros where they fall outside it."""
    c, h, w = features.shape
    out = features.new_zeros(c, height, width)
    y0, y1 = max(top, 0), min(top + height, h)
    x0, x1 = max(left, 0), min(left + width, w)
    if y0 < y1 and x0 < x1:
        out[:, y0 - top : y1 - top, x0 - left : x1 - left] = features[:, y0:y1, x0:x1]
    return out


def sample_window(
    window: ContextWindow, origin: Tensor, photo_hw: Tensor, crop_hw: tuple[int, int]
) -> Tensor:
    """Sample ``window`` at the pixels of each crop: rows/columns from ``origin`` (B, 2) on, ``crop_hw``
    of them, in a photo of ``photo_hw`` (B, 2) pixels. Equals :func:`sample_context` on the whole map
    at those pixels; float32 like it."""
    features = full_precision(window.features)
    device = features.device
    size = torch.tensor(features.shape[-2:], device=device, dtype=torch.float32)
    stride = window.stride[:, None].float()
    grids = []
    for axis in range(2):
        pos = torch.arange(crop_hw[axis], device=device, dtype=torch.float32)
        pos = origin[:, axis, None].float() + pos  # (B, n)
        u = _cell(
            pos,
            window.scaled_hw[:, axis, None].float(),
            photo_hw[:, axis, None].float(),
            window.pad[:, None].float(),
            stride,
        )
        # grid_sample's border padding clamps to the map's edge cells: do it on the whole map's cells
        u = torch.minimum(u.clamp_min(0), window.map_hw[:, axis, None].float() - 1)
        local = u - window.offset[:, axis, None].float()
        grids.append((2 * local + 1) / size[axis] - 1)
    gy, gx = grids
    grid = torch.stack(
        [gx[:, None, :].expand(-1, crop_hw[0], -1), gy[:, :, None].expand(-1, -1, crop_hw[1])], dim=-1
    ).to(features.dtype)
    with torch.autocast(device.type, enabled=False):
        return F.grid_sample(features, grid, mode="bilinear", padding_mode="border", align_corners=False)


class TwoScaleContext(nn.Module):
    """Context features of an image at several scales (the paper: 1x and 2x), one backbone copy each.

    Args:
        backbones: one backbone per scale, or a single one shared by all scales.
        scales: upsampling factor of each scale's input copy.
        pad: reflection padding, in pixels of each scaled copy, added on every side before the backbone.
    """

    def __init__(
        self, backbones: Sequence[DilatedVGG16], scales: Sequence[float] = (1.0, 2.0), pad: int = 32
    ) -> None:
        super().__init__()
        if len(backbones) not in (1, len(scales)):
            raise ValueError(f"need 1 or {len(scales)} backbones, got {len(backbones)}")
        self.backbones = nn.ModuleList(backbones)
        self.scales = tuple(float(s) for s in scales)
        self.pad = int(pad)

    def backbone(self, index: int) -> DilatedVGG16:
        """The backbone of scale ``index`` (the shared one when there is one)."""
        # the ModuleList holds only the DilatedVGG16s __init__ takes; it is kept for the state dict's keys
        return cast(DilatedVGG16, self.backbones[index if len(self.backbones) > 1 else 0])

    def all_backbones(self) -> list[DilatedVGG16]:
        """Every backbone once: one per scale, or the one shared by all scales."""
        return [self.backbone(i) for i in range(len(self.backbones))]

    def forward(self, rgb: Tensor) -> list[ContextMap]:
        """sRGB (B, 3, H, W) -> one ContextMap per scale (conv7 maps)."""
        return self.upper(self.lower(rgb))

    def upper(self, maps: Sequence[ContextMap]) -> list[ContextMap]:
        """conv5 maps (from :meth:`lower`) -> conv7 maps."""
        return [m._replace(features=self.backbone(i).upper(m.features)) for i, m in enumerate(maps)]

    def lower(self, rgb: Tensor) -> list[ContextMap]:
        """sRGB (B, 3, H, W) -> one conv5 map per scale: what a frozen lower backbone caches."""
        maps = []
        h, w = rgb.shape[-2:]
        for i, s in enumerate(self.scales):
            # branches on the configured scale only, never on the image size (the network exports
            # for any size)
            hw = (h, w) if s == 1.0 else scaled_size((h, w), s)
            x = rgb if s == 1.0 else resize(rgb, hw, antialias=s < 1.0)
            # pad by `pad` on every side, plus enough bottom/right to make the size a multiple of STRIDE,
            # so that feature cell j covers exactly pixels [STRIDE*j, STRIDE*(j+1)) of the padded copy
            extra_h = -(hw[0] + 2 * self.pad) % STRIDE
            extra_w = -(hw[1] + 2 * self.pad) % STRIDE
            x = reflect_pad(x, self.pad, self.pad + extra_h, self.pad, self.pad + extra_w)
            maps.append(ContextMap(self.backbone(i).lower(x), hw, self.pad))
        return maps


#: Percentiles of the photo's lightness and of its sRGB channels in :func:`photo_statistics`.
PHOTO_PERCENTILES = (0.01, 0.5, 0.99)
#: The last channels of :func:`photo_statistics`, in linear light and as logarithms: the linear RGB
#: channels' means, the Rec. 709 luminance's mean and its value at each of :data:`PHOTO_PERCENTILES`,
#: and the channels' 99th percentiles. An exposure or white-balance gain is multiplicative in linear
#: light, so it is additive in these (what :class:`lumastyle.correction.PhotoCorrection` reads). Each
#: is ``1 + ln(max(x, LOG_LIGHT_FLOOR)) / ln(1 / sqrt(LOG_LIGHT_FLOOR))``: [floor, 1] maps to [-1, 1],
#: the range of the other statistics.
LOG_LIGHT_CHANNELS = 3 + 1 + len(PHOTO_PERCENTILES) + 3
#: Channels :func:`photo_statistics` gives: mean L, a, b; L at each of :data:`PHOTO_PERCENTILES`; the
#: sRGB channels' means, their 99th and their 1st percentiles, the darkest channel's 1st percentile and
#: the brightest channel's 99th; then the :data:`LOG_LIGHT_CHANNELS`.
PHOTO_CHANNELS = 3 + len(PHOTO_PERCENTILES) + 3 + 3 + 3 + 2 + LOG_LIGHT_CHANNELS
#: Where :func:`photo_statistics` holds the levels' statistics (mapped to [-1, 1]): the sRGB channels'
#: 99th percentiles (3), their 1st percentiles (3), the darkest channel's 1st and the brightest's 99th.
LEVEL_STATISTICS = slice(3 + len(PHOTO_PERCENTILES) + 3, 3 + len(PHOTO_PERCENTILES) + 3 + 3 + 3 + 2)
#: The light blur (sigma, pixels) before the frequency-tuned saliency's distance from the mean colour:
#: Achanta et al. 2009 blur with a 5x5 binomial kernel, whose sigma is 1 pixel.
SALIENCY_LIGHT_BLUR = 1.0
#: The least maximum (CIELab units) a saliency map is divided by: a photo whose most salient region is
#: closer than this to its mean colour (about a just-noticeable difference) is not normalised up to 1,
#: so a flat photo's map is its rounding noise divided by this, near 0, on any backend and precision.
SALIENCY_FLOOR = 1.0
#: Linear light below this counts as this in the logarithms (a black photo's logs stay finite).
LOG_LIGHT_FLOOR = 1e-4


def _percentiles(x: Tensor, qs: Sequence[float]) -> Tensor:
    """Nearest-rank percentiles of ``x`` (B, C, N) along N: (B, C, len(qs)). Written with a sort and
    a gather rather than ``torch.quantile``, which ONNX cannot express (the network is exported)."""
    ordered = x.sort(dim=-1).values
    n = x.shape[-1]
    index = (torch.tensor(qs, dtype=torch.float32, device=x.device) * (n - 1)).round().long()
    return ordered.index_select(-1, index)


def photo_statistics(lab_n: Tensor) -> Tensor:
    """What the whole photo looks like, as :data:`PHOTO_CHANNELS` numbers a photo: normalised Lab
    (B, 3, h, w) of the context copy -> (B, PHOTO_CHANNELS) float32.

    The photo's mean Lab (its colour cast and brightness, what grey-world white balance and mean-based
    exposure read), its lightness at the 1st, 50th and 99th percentiles (black point, median and white
    point: what auto exposure and auto levels read), its sRGB channels' means, 99th and 1st percentiles
    (white patch and per-channel levels), and the 1st percentile of each pixel's darkest channel and the
    99th of its brightest (the black and white points of a contrast stretch that keeps colour), the sRGB
    ones mapped to [-1, 1] like the normalised Lab; then the same kinds of numbers in linear light, as
    logarithms (:data:`LOG_LIGHT_CHANNELS`), where exposure and white balance are sums. Each is a few
    pixels' worth of a statistic the image-adaptive LUT papers' weight predictors and HDRNet's global
    path learn from a thumbnail; what each group is worth is measured in benchmarks/README.md
    ("Per-photo edits"). They do not change when the photo is flipped, and they are computed on the copy
    the context is (the training scale, the context cap), so a training crop, ``stylize`` and an export
    read the same numbers for a photo.
    """
    lab_n = full_precision(lab_n)
    flat = lab_n.flatten(-2)  # (B, 3, N)
    srgb = lab_to_rgb(denormalize_lab(lab_n))
    rgb = srgb.flatten(-2) * 2 - 1
    linear = rgb_to_linear_rgb(srgb).flatten(-2)
    luma = (linear * linear.new_tensor(LUMA_WEIGHTS)[:, None]).sum(dim=-2, keepdim=True)
    light = [
        linear.mean(dim=-1),
        luma.mean(dim=-1),
        _percentiles(luma, PHOTO_PERCENTILES)[..., 0, :],
        _percentiles(linear, (0.99,))[..., 0],
    ]
    parts = [
        flat.mean(dim=-1),
        _percentiles(flat[..., :1, :], PHOTO_PERCENTILES)[..., 0, :],
        rgb.mean(dim=-1),
        _percentiles(rgb, (0.99, 0.01)).transpose(-1, -2).flatten(-2),
        _percentiles(rgb.amin(dim=-2, keepdim=True), (0.01,))[..., 0],
        _percentiles(rgb.amax(dim=-2, keepdim=True), (0.99,))[..., 0],
        1 + torch.cat(light, dim=-1).clamp_min(LOG_LIGHT_FLOOR).log() / (-0.5 * math.log(LOG_LIGHT_FLOOR)),
    ]
    return torch.cat(parts, dim=-1).float()


class LowLevelContext(nn.Module):
    """Cheap low-level context the paper lacks: the normalised Lab image blurred at a few radii, as a
    map at 1/STRIDE resolution (the backbone maps' geometry with no padding), so regional colour and
    local contrast are one linear step away for the head.

    Args:
        radii: blur sigmas in pixels of the context image (each gives 3 channels; ``inf``: the
            photo's mean colour, a global statistic the local maps lack). Pixels, not
            fractions: a training crop and the photo ``stylize`` caps to the training scale have the
            same pixel scale, so the head sees the same blur in both.
        contrast: also, for every two radii, the (normalised) Lab distance between the two blurred
            copies, one channel each: a centre-surround difference (Itti, Koch and Niebur 1998), how
            much a region stands out from its surroundings. A distance is not linear in the blurred
            colours, so neither the closed-form start nor the head's first layer could form it.
        saliency: also, for each radius (pixels), a frequency-tuned saliency map (Achanta, Hemami, Estrada
            and Süsstrunk 2009): each pixel's CIELab distance, after a light blur
            (:data:`SALIENCY_LIGHT_BLUR`), from the photo's mean colour, smoothed at that radius and divided
            by its photo's maximum, one channel each. How far a region stands out from the whole photo,
            relative to the photo's most salient region (at least :data:`SALIENCY_FLOOR`): a photo-wide
            normalisation no local blur shows, so a pop-out whose strength follows the whole photo is one
            linear step away. Distances are in CIELab units (not the normalised Lab the other channels
            use), as the paper computes them.
            The mean and the maximum are those of the image given: the whole photo for ``stylize``, the
            context cache and the closed-form start; a crop's own in training without the cache.
        regions: also, for each size (pixels), the mean Lab of each pixel's SLIC superpixel of about
            that side (:mod:`lumastyle.superpixels`), 3 channels each: regional colour that stops at
            edges, which a blur smears across them, so a look that flattens regions is one linear step
            away. The map is then kept at full resolution (stride 1: region edges are sharp), and
            the network cannot be exported (SLIC is scikit-image's, in numpy).
        compactness: SLIC's balance of colour against space for ``regions`` (scikit-image's default 10).
        photo: also the photo-level statistics (:func:`photo_statistics`, :data:`PHOTO_CHANNELS`
            channels), the same at every pixel: what the whole photo looks like, so a colour map linear in
            this context differs from photo to photo (image-adaptive, as the 3D-LUT papers' weight
            predictors and HDRNet's global path). Given to :meth:`forward` for a crop, they are its
            whole photo's.
        shifts: each region size's means are averaged over ``shifts`` x ``shifts`` SLIC seed grids,
            offset by 1/``shifts`` of a region in each axis. One grid's regions depend on where its seeds
            fall: shifting a photo by 4 pixels changes a one-grid painting by 4-6 Lab units, about two
            thirds of what the painting changes at all (benchmarks/README.md); averaged, the map is a
            function of the photo's content, nearly the same wherever it is cropped.
    """

    def __init__(
        self,
        radii: Sequence[float],
        contrast: bool = False,
        regions: Sequence[float] = (),
        compactness: float = 10.0,
        shifts: int = 2,
        photo: bool = False,
        saliency: Sequence[float] = (),
    ) -> None:
        super().__init__()
        if not (radii or regions or photo or saliency) or any(r <= 0 for r in radii):
            raise ValueError(f"low-level context radii must be positive, got {list(radii)}")
        if any(not 1 <= r < math.inf for r in regions) or compactness <= 0 or shifts < 1:
            raise ValueError(
                f"region sizes must be finite and >= 1 pixel, compactness > 0, shifts >= 1, got {list(regions)}"
            )
        self.shifts = int(shifts)
        self.radii = tuple(float(r) for r in radii)
        self.contrast = bool(contrast)
        self.regions = tuple(float(r) for r in regions)
        self.compactness = float(compactness)
        self.pairs = list(itertools.combinations(range(len(self.radii)), 2)) if self.contrast else []
        if any(not 0 < r < math.inf for r in saliency):
            raise ValueError(f"saliency radii must be positive and finite, got {list(saliency)}")
        self.saliency = tuple(float(r) for r in saliency)
        self.photo = bool(photo)
        self.out_channels = (
            3 * len(self.radii)
            + len(self.pairs)
            + len(self.saliency)
            + 3 * len(self.regions)
            + (PHOTO_CHANNELS if self.photo else 0)
        )
        self.stride = 1 if self.regions else STRIDE

    @staticmethod
    def _blurred(lab_n: Tensor, radius: float) -> Tensor:
        if math.isinf(radius):  # the photo's mean colour everywhere
            return lab_n.mean(dim=(-2, -1), keepdim=True).expand_as(lab_n)
        return blur(lab_n, radius)

    def _saliency(self, lab_n: Tensor) -> list[Tensor]:
        """The frequency-tuned saliency maps of normalised Lab (B, 3, h, w), one (B, 1, h, w) per radius;
        float32 also under autocast (divided by its maximum, a bf16 map moves by up to 0.02), as the
        cache and the closed-form start compute it."""
        with torch.autocast(lab_n.device.type, enabled=False):
            lab = denormalize_lab(full_precision(lab_n))
            mean = lab.mean(dim=(-2, -1), keepdim=True)
            distance = (blur(lab, SALIENCY_LIGHT_BLUR) - mean).norm(dim=-3, keepdim=True)
            maps = []
            for radius in self.saliency:
                smoothed = blur(distance, radius)
                peak = smoothed.amax(dim=(-2, -1), keepdim=True).clamp_min(SALIENCY_FLOOR)
                maps.append((smoothed / peak).to(lab_n.dtype))
        return maps

    def _region_means(self, flat: Tensor, rgb: Tensor, size: float) -> Tensor:
        """Each pixel's superpixel mean of ``flat`` (N, 3, h, w; its sRGB ``rgb`` is what SLIC segments),
        regions of about ``size`` pixels a side, averaged over ``shifts`` x ``shifts`` SLIC seed grids
        offset by fractions of a region (the photo is mirror-padded on the top and left by the offset,
        segmented, and cut back)."""
        offsets = [round(i * size / self.shifts) for i in range(self.shifts)]
        out = torch.zeros_like(flat)
        for b in range(flat.shape[0]):
            for dy, dx in itertools.product(offsets, offsets):
                shifted = reflect_pad(torch.stack([flat[b], rgb[b].to(flat)]), dy, 0, dx, 0)
                segments = round(shifted.shape[-2] * shifted.shape[-1] / size**2)
                labels = slic_labels(shifted[1].float(), segments, self.compactness)
                out[b] += region_means(shifted[0], labels)[:, dy:, dx:]
        return out / len(offsets) ** 2

    def forward(self, lab_n: Tensor, photo: Tensor | None = None) -> ContextMap:
        """Normalised Lab (B, 3, h, w) of the context image -> its blurred copies (then their
        distances, its saliency maps, its region means, then the photo-level statistics) at 1/``stride``.
        ``photo``: the (B, PHOTO_CHANNELS) statistics to use instead of ``lab_n``'s own (a crop's
        whole photo's)."""
        h, w = lab_n.shape[-2:]
        blurred = [self._blurred(lab_n, r) for r in self.radii]
        distances = [(blurred[i] - blurred[j]).norm(dim=-3, keepdim=True) for i, j in self.pairs]
        regions = []
        if self.regions:
            flat, lead = flat_batch(lab_n)
            rgb = lab_to_rgb(denormalize_lab(flat.float()))  # once for every size
            regions = [
                self._region_means(flat, rgb, s).reshape(*lead, *flat.shape[-3:]) for s in self.regions
            ]
        constant = []
        if self.photo:
            stats = photo_statistics(lab_n) if photo is None else photo.to(lab_n)
            constant = [stats[..., None, None].expand(*stats.shape, h, w).to(lab_n.dtype)]
        salient = self._saliency(lab_n) if self.saliency else []
        maps = torch.cat(blurred + distances + salient + regions + constant, dim=-3)
        if self.stride == 1:
            return ContextMap(maps, (h, w), 0, 1)
        # pad to whole cells so cell j covers pixels [STRIDE*j, STRIDE*(j+1)), as the backbone's do
        padded = reflect_pad(maps, 0, -h % STRIDE, 0, -w % STRIDE)
        return ContextMap(F.avg_pool2d(padded, STRIDE), (h, w), 0)


def taps(
    first: int, last: int, scaled: int, out: int, pad: int, cells: int, device: torch.device, stride: int
) -> tuple[Tensor, Tensor, Tensor]:
    """For output pixels ``first..last-1`` along one axis: the two feature cells each reads and the
    weight of the second. Pixel i sits at feature coordinate ((i + 0.5) * scaled / out + pad) / stride
    - 0.5, clamped to the map (as grid_sample's border padding does); float32, also under autocast."""
    i = torch.arange(first, last, device=device, dtype=torch.float32)
    u = (((i + 0.5) * (scaled / out) + pad) / stride - 0.5).clamp(0, cells - 1)
    lo = u.floor()
    return lo.long(), (lo.long() + 1).clamp(max=cells - 1), u - lo


def _weights(lo: Tensor, hi: Tensor, w: Tensor, cells: int, dtype: torch.dtype) -> Tensor:
    """The (outputs, cells) linear-interpolation matrix of :func:`taps`' cells and weights."""
    index = torch.arange(cells, device=lo.device)
    return ((index == lo[:, None]) * (1 - w)[:, None] + (index == hi[:, None]) * w[:, None]).to(dtype)


def sample_context(
    features: Tensor,
    scaled_hw: tuple[int, int],
    pad: int,
    out_hw: tuple[int, int],
    rows: tuple[int, int] | None = None,
    stride: int = STRIDE,
) -> Tensor:
    """Bilinearly sample a context map at the pixel centres of an ``out_hw`` image (rows ``[r0, r1)``).

    Output pixel (y, x) sits at ((y + 0.5) * scaled_h / out_h + pad) in the padded scaled copy, which
    is feature coordinate that / ``stride`` - 0.5 (cell centres at integers), clamped to the map. Returns
    (B, C, r1 - r0, W), float32 (float64 stays), in channels-last memory (the head's 1x1 layers run
    2-3x faster on it).

    Bilinear weights on a regular grid are separable: the few feature rows the output rows read are
    interpolated along x to the output's width, then along y, each as one matrix product with a
    matrix of two weights a row (BLAS writes each output value once, pixel-major), instead of
    grid_sample's per-value coordinate arithmetic and four gathers: the same values up to float
    rounding, ~5x faster for a 12 MP photo's tile. Written by hand: torch resamples an affine
    pixel-to-cell mapping only through grid_sample. Positions and weights are float32, also under autocast: in bfloat16 a position in a
    6000-pixel photo is off by up to a quarter of a feature cell.
    """
    _, _, fh, fw = features.shape
    out_h, out_w = out_hw
    r0, r1 = rows if rows is not None else (0, out_h)
    device = features.device
    features = full_precision(features)
    y0, y1, wy = taps(r0, r1, scaled_hw[0], out_h, pad, fh, device, stride)
    x0, x1, wx = taps(0, out_w, scaled_hw[1], out_w, pad, fw, device, stride)
    if torch.compiler.is_compiling() or r1 <= r0:  # exported: no data-dependent sizes
        first, n = 0, fh
    else:  # the few feature rows these output rows read (positions grow with the row)
        first = int(y0[0])
        n = int(y1[-1]) - first + 1
    across_x = _weights(x0, x1, wx, fw, features.dtype)  # (W, fw)
    along_y = _weights(y0 - first, y1 - first, wy, n, features.dtype)  # (rows, n)
    band = features[:, :, first : first + n].permute(0, 2, 3, 1)  # (B, n, fw, C)
    with torch.autocast(device.type, enabled=False):
        across = torch.matmul(across_x, band)  # (B, n, W, C)
        down = torch.matmul(along_y, across.flatten(2))  # (B, rows, W * C)
    return down.unflatten(2, (out_w, features.shape[1])).permute(0, 3, 1, 2)  # (B, C, rows, W)
