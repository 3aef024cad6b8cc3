"""The network, in plain torch: photo -> Lab -> two-scale context -> head -> Lab -> photo.

:class:`StyleNetwork` composes the dilated VGG-16 backbone(s) (:mod:`lumastyle.backbone`), the
two-scale context (:mod:`lumastyle.context`), a head (:mod:`lumastyle.heads`) and the kornia colour
layer (:mod:`lumastyle.color`, float32 even under autocast). It has no Lightning in it: the
LightningModule (:mod:`lumastyle.model`) wraps it for training, and :mod:`lumastyle.inference` runs it
on photos of any size (context cap, tiles, precision) for ``stylize``, ``predict`` and the benchmarks.

The context is computed in two steps: :meth:`StyleNetwork.lower_context` (the conv5 maps of each scale
and the low-level map: what a frozen lower backbone makes the same every epoch, so it can be cached
per photo, :mod:`lumastyle.cache`) and :meth:`StyleNetwork.encode_maps` (conv6/conv7 and the head's
encoding). Training on crops from the cache takes windows of the whole photo's maps
(:meth:`StyleNetwork.encode_windows`, :meth:`StyleNetwork.transform_windows`) and gets what the whole
photo's context gives those pixels.

Its forward pass has no Python control flow on tensor sizes (sizes only enter arithmetic), so it can
be exported once for photos of any size (:mod:`lumastyle.export`), low-level context included
(except region context, ``low_level_regions``, which runs scikit-image's SLIC: :attr:`exportable`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator, Sequence

import torch
from torch import Tensor, nn

from lumastyle.backbone import DilatedVGG16, FreezeName, InputNorm
from lumastyle.color import denormalize_lab, fit_color_map, lab_to_rgb, normalize_lab, rgb_to_lab
from lumastyle.context import (
    PHOTO_CHANNELS,
    PHOTO_PERCENTILES,
    SALIENCY_FLOOR,
    SALIENCY_LIGHT_BLUR,
    ContextMap,
    ContextWindow,
    LowLevelContext,
    TwoScaleContext,
    photo_statistics,
    sample_context,
    sample_window,
)
from lumastyle.correction import (
    CORRECTION_PARAMETERS,
    PhotoCorrection,
    fit_photo_correction,
)
from lumastyle.errors import LumastyleError
from lumastyle.fitting import CLOSED_FORM_RIDGES, ClosedForm, Terms, conv5_scales, fit_closed_form
from lumastyle.geometry import capped_size, image_hw, resize
from lumastyle.heads import ColorMapHead, HeadFactory, QuadraticHead, build_head, resolve_head

#: :meth:`StyleNetwork.fit_correction` fits on copies of the training photos this long at most.
CORRECTION_LONG_SIDE = 128


class StyleNetwork(nn.Module):
    """Zhu & Yu's automatic stylization network (arXiv:1811.10872).

    Args:
        head: the per-pixel head: a short name (``quadratic``, ``affine``), a :class:`~lumastyle.heads.Head`
            subclass, or a factory ``(context_channels, num_scales, *, low_level_channels,
            low_level_linear) -> Head`` (what a config's ``class_path``/``init_args`` builds).

    Every argument is a keyword.
        backbone_width: factor on every backbone channel count (1.0 = the paper's VGG-16).
        backbone_weights: ``bundled`` (VGG-16 conv1-conv5 shipped with lumastyle), ``imagenet``
            (torchvision download, with fc6/fc7), a VGG-16 state dict file, or None (random init).
        backbone_input_norm: input normalisation the weights expect: ``imagenet`` or ``caffe`` (None:
            what named weights expect, else ``imagenet``).
        freeze: backbone parameters kept fixed: ``none``, ``features`` (conv1-conv5) or ``all``.
        scales: upsampling factor of each context copy (the paper: [1, 2]); () is a colour-only model.
        share_backbone: one backbone for all scales instead of one copy per scale.
        context_pad: reflection padding in pixels added on every side of each scaled copy.
        low_level: blur radii in pixels of the context image (at the training scale) of low-level
            context: the Lab image blurred at each radius, one more map for the head (the paper has
            none; () for none).
        top_channels: channels of conv6/conv7 (None: 4096 times ``backbone_width``, the paper's).
        low_level_linear: the low-level context also enters the head's colour matrix linearly (heads
            that offer it: :class:`~lumastyle.heads.ColorMapHead`), for a closed-form start linear
            in it.
        low_level_contrast: the low-level context also holds the Lab distance between every two of
            its blurred copies (:class:`~lumastyle.context.LowLevelContext`'s ``contrast``).
        low_level_regions: superpixel sizes in pixels: the low-level context also holds each pixel's
            SLIC region mean colour at each size (:class:`~lumastyle.context.LowLevelContext`'s
            ``regions``; the network then cannot be exported).
        photo_context: the low-level context also holds the photo-level statistics of the context image
            (:func:`lumastyle.context.photo_statistics`: what the whole photo looks like, the same at
            every pixel), so with ``low_level_linear`` each photo gets its own colour map (not in the
            paper; the image-adaptive LUT papers' and HDRNet's global path).
        photo_correction: each photo's white balance and exposure gains and its levels, predicted from
            its photo-level statistics (:class:`~lumastyle.correction.PhotoCorrection`), are applied to
            its colours before the head (needs ``photo_context``). They travel as CORRECTION_PARAMETERS
            constant channels after the head's encoding of the low-level map, so every path that samples the
            context (training windows, ``stylize``'s exact and sliced paths, LUT baking, export)
            applies them.
        low_level_saliency: smoothing radii in pixels: the low-level context also holds the photo's
            frequency-tuned saliency map at each (:class:`~lumastyle.context.LowLevelContext`'s ``saliency``).
    """

    def __init__(
        self,
        *,
        head: HeadFactory | str = QuadraticHead,
        backbone_width: float = 1.0,
        backbone_weights: str | None = None,
        backbone_input_norm: InputNorm | None = None,
        freeze: FreezeName = "none",
        scales: Sequence[float] = (1.0, 2.0),
        share_backbone: bool = False,
        context_pad: int = 32,
        low_level: Sequence[float] = (),
        top_channels: int | None = None,
        low_level_linear: bool = False,
        low_level_contrast: bool = False,
        low_level_regions: Sequence[float] = (),
        photo_context: bool = False,
        photo_correction: bool = False,
        low_level_saliency: Sequence[float] = (),
    ) -> None:
        super().__init__()
        if context_pad < 0:
            raise LumastyleError(f"model.context.pad must be >= 0, got {context_pad}")
        if any(s <= 0 for s in scales):
            raise LumastyleError(f"model.context.scales must be positive, got {list(scales)}")
        head = resolve_head(head)  # a wrong name stops here, before any weights are loaded
        self.context: TwoScaleContext | None = None
        context_channels = 1
        if scales:
            n = 1 if share_backbone else len(scales)
            backbones = [
                DilatedVGG16(backbone_width, backbone_weights, backbone_input_norm, freeze, top_channels)
                for _ in range(n)
            ]
            self.context = TwoScaleContext(backbones, scales, context_pad)
            context_channels = backbones[0].out_channels
        if any(r <= 0 for r in low_level):
            raise LumastyleError(f"model.color_context.blur_radii must be positive, got {list(low_level)}")
        if low_level_contrast and len(low_level) < 2:
            raise LumastyleError(
                "model.color_context.contrast compares blurred copies: set two or more model.color_context.blur_radii "
                f"(say [4.0, 16.0, 48.0]), got {list(low_level)}"
            )
        if any(not 1 <= r < float("inf") for r in low_level_regions):
            raise LumastyleError(
                f"model.color_context.regions are superpixel sizes in pixels, each >= 1, got {list(low_level_regions)}"
            )
        if any(not 0 < r < float("inf") for r in low_level_saliency):
            raise LumastyleError(
                "model.color_context.saliency are smoothing radii in pixels, each positive and finite, "
                f"got {list(low_level_saliency)}"
            )
        self.low_level = (
            LowLevelContext(
                low_level, low_level_contrast, low_level_regions, photo=photo_context, saliency=low_level_saliency
            )
            if low_level or low_level_regions or photo_context or low_level_saliency
            else None
        )
        low_channels = self.low_level.out_channels if self.low_level else 0
        if low_level_linear and not low_channels:
            raise LumastyleError(
                "model.color_context.linear needs colour context: set model.color_context.blur_radii (say [4.0, 16.0]), "
                "model.color_context.saliency or model.color_context.photo"
            )
        if photo_correction and not photo_context:
            raise LumastyleError(
                "model.color_context.correction predicts each photo's correction from its photo-level statistics: "
                "set model.color_context.photo true too"
            )
        self.correction = PhotoCorrection() if photo_correction else None
        self.head = build_head(head, context_channels, len(scales), low_channels, low_level_linear)
        if photo_correction and not isinstance(self.head, ColorMapHead):
            raise LumastyleError(
                f"model.color_context.correction is fitted beside a colour map on the head's basis; "
                f"{type(self.head).__name__} has none (use a lumastyle.heads.ColorMapHead such as QuadraticHead)"
            )

    def encode_context(self, context_rgb: Tensor, photo: Tensor | None = None) -> list[ContextMap]:
        """sRGB (B, 3, h, w) -> per scale, the head's encoding of the backbone map (at 1/8 resolution),
        then the low-level map if there is one (``photo``: see :meth:`lower_context`)."""
        return self.encode_maps(self.lower_context(context_rgb, photo))

    def lower_context(self, context_rgb: Tensor, photo: Tensor | None = None) -> list[ContextMap]:
        """sRGB (B, 3, h, w) -> the conv5 map of each scale, then the low-level map if there is one:
        everything before the trainable conv6 when the lower backbone is frozen. ``photo``: the
        photo-level statistics (B, PHOTO_CHANNELS) to use instead of the context image's own, when it
        is a crop of the photo they describe (:func:`lumastyle.context.photo_statistics`)."""
        maps = self.context.lower(context_rgb) if self.context is not None else []
        if self.low_level is not None:
            maps = [*maps, self.low_level(normalize_lab(rgb_to_lab(context_rgb)), photo)]
        return maps

    def encode_maps(self, maps: Sequence[ContextMap]) -> list[ContextMap]:
        """What :meth:`lower_context` returns -> the maps the head samples (conv6/conv7, then its encoding)."""
        n = self.num_scales
        maps = (self.context.upper(maps[:n]) if self.context is not None else []) + list(maps[n:])
        return [m._replace(features=self._encode(i, m.features)) for i, m in enumerate(maps)]

    def _encode(self, index: int, features: Tensor) -> Tensor:
        """The head's encoding of map ``index``; the low-level map's is followed by the photo's correction
        (CORRECTION_PARAMETERS constant channels) when there is a :attr:`correction`."""
        encoded = self.head.encode_context(index, features)
        if self.correction is None or index != self.num_scales:
            return encoded
        statistics = features[:, -PHOTO_CHANNELS:, 0, 0]  # the same at every cell
        with torch.autocast(statistics.device.type, enabled=False):  # float32 under a bf16 context
            parameters = self.correction.predict(statistics.float())
        encoded = encoded.float()  # the parameters are not rounded to the context's precision
        return torch.cat([encoded, parameters[..., None, None].expand(-1, -1, *encoded.shape[-2:])], dim=-3)

    def _split_correction(self, context: Sequence[Tensor]) -> tuple[Tensor | None, list[Tensor]]:
        """The sampled context -> (the photo's correction (B, CORRECTION_PARAMETERS, h, W), or None
        without a :attr:`correction`; the context the head reads, without it)."""
        context = list(context)
        if self.correction is None:
            return None, context
        parameters = context[-1][:, -CORRECTION_PARAMETERS:]
        context[-1] = context[-1][:, :-CORRECTION_PARAMETERS]
        return parameters, context

    def _head(self, lab: Tensor, context: Sequence[Tensor]) -> Tensor:
        """New Lab for Lab (B, 3, h, W) from its sampled context: the photo's correction applied first."""
        parameters, context = self._split_correction(context)
        if self.correction is not None and parameters is not None:
            lab = self.correction.correct_lab(lab, parameters)
        return denormalize_lab(self.head(normalize_lab(lab), context))

    def head_coefficients(self, lab_n: Tensor, context: Sequence[Tensor]) -> Tensor | None:
        """:meth:`lumastyle.heads.Head.coefficients` for normalised Lab and this network's sampled
        context, followed by the photo's correction when there is a :attr:`correction` (constant, so
        the fast path interpolates it exactly); None when the head cannot be split."""
        parameters, context = self._split_correction(context)
        if self.correction is not None and parameters is not None:
            lab_n = self.correction.correct_normalized(lab_n, parameters)
        coefficients = self.head.coefficients(lab_n, context)
        if coefficients is None or parameters is None:
            return coefficients
        return torch.cat([coefficients, parameters.to(coefficients.dtype)], dim=-3)

    def apply_head_coefficients(self, lab_n: Tensor, coefficients: Tensor) -> Tensor:
        """Normalised Lab and :meth:`head_coefficients` (interpolated) -> transformed normalised Lab."""
        if self.correction is not None:
            lab_n = self.correction.correct_normalized(lab_n, coefficients[:, -CORRECTION_PARAMETERS:])
            coefficients = coefficients[:, :-CORRECTION_PARAMETERS]
        return self.head.apply_coefficients(lab_n, coefficients)

    def encode_windows(self, windows: Sequence[ContextWindow]) -> list[ContextWindow]:
        """Windows of :meth:`lower_context` maps (the backbone ones with conv6's margin, see
        :func:`lumastyle.backbone.DilatedVGG16.upper`) -> windows of the maps the head samples."""
        out = []
        for i, w in enumerate(windows):
            features = w.features.float()
            if i < self.num_scales:
                features = self.backbones[i if len(self.backbones) > 1 else 0].upper(
                    features, with_margin=True
                )
            out.append(w._replace(features=self._encode(i, features)))
        return out

    def transform_windows(
        self, lab: Tensor, windows: Sequence[ContextWindow], origin: Tensor, photo_hw: Tensor
    ) -> Tensor:
        """New Lab for crops ``lab`` (B, 3, h, w) whose first pixels are ``origin`` (B, 2) in photos of
        ``photo_hw`` (B, 2), from windows of their whole photos' context (:meth:`encode_windows`)."""
        crop_hw = image_hw(lab)
        context = [sample_window(w, origin, photo_hw, crop_hw) for w in windows]
        return self._head(lab, context)

    def low_level_at_pixels(self, rgb: Tensor) -> Tensor:
        """The low-level context of a whole photo (3, H, W) sampled at its pixels: (C, H, W) on the CPU
        (computed on the network's device)."""
        if self.low_level is None:
            raise ValueError("this network has no colour context (model.color_context)")
        device = next(self.parameters()).device
        with torch.no_grad():
            batch = rgb[None].to(device)
            m = self.low_level(normalize_lab(rgb_to_lab(batch)))
            sampled = sample_context(m.features, m.scaled_hw, m.pad, image_hw(rgb), stride=m.stride)
            return sampled[0].cpu()

    def closed_form_terms(self, rgb: Tensor, target: Tensor) -> Terms:
        """(source, target, low-level context) of one whole photo (3, H, W) and its target for the
        closed-form start (:func:`lumastyle.fitting.fit_closed_form`): normalised Lab, and the
        low-level context at every pixel when the head's matrix is linear in it (else None)."""
        local = isinstance(self.head, ColorMapHead) and self.head.low_level_linear
        context = self.low_level_at_pixels(rgb) if local else None
        lab = rgb_to_lab(rgb)
        if self.correction is not None:  # the map applies to the corrected colours
            with torch.no_grad():  # the statistics are the colour context's last channels, when it is here
                own = context[-PHOTO_CHANNELS:, 0, 0][None] if context is not None else None
                statistics = photo_statistics(normalize_lab(lab[None])) if own is None else own
                statistics = statistics.to(self.correction.center.device)
                parameters = self.correction.predict(statistics)
            lab = self.correction.correct_lab(lab[None], parameters[..., None, None].to(lab))[0]
        return normalize_lab(lab), normalize_lab(rgb_to_lab(target)), context

    def fit_correction(
        self, pairs: Iterable[tuple[Tensor, Tensor]], long_side: int = CORRECTION_LONG_SIDE
    ) -> None:
        """Fit :attr:`correction` (with one global colour map beside it) on whole training photos and
        their targets (3, H, W) (:func:`lumastyle.correction.fit_photo_correction`): the image-adaptive
        part of the closed-form start, before :meth:`start_from_closed_form` fits the head's map to
        the corrected photos. Each photo's statistics are its own (as its context's are); the fit
        reads copies of at most ``long_side`` pixels."""
        head = self.head
        if self.correction is None or not isinstance(head, ColorMapHead):
            return
        photos = []
        for rgb, target in pairs:
            statistics = photo_statistics(normalize_lab(rgb_to_lab(rgb[None])))[0]
            hw = image_hw(rgb)
            if max(hw) > long_side:
                small = capped_size(*hw, long_side)
                rgb, target = (resize(x[None], small, antialias=True)[0].clamp(0, 1) for x in (rgb, target))
            photos.append((normalize_lab(rgb_to_lab(rgb)), normalize_lab(rgb_to_lab(target)), statistics))
        if not photos:
            raise LumastyleError("model.color_context.correction found no training photos")
        start = fit_color_map(((s, t) for s, t, _ in photos), type(head).basis)
        fit_photo_correction(self.correction, photos, type(head).basis, start)

    def start_from_closed_form(
        self,
        pairs: Iterable[tuple[Tensor, Tensor]],
        validation: Iterable[tuple[Tensor, Tensor]] = (),
        ridges: Sequence[float] = CLOSED_FORM_RIDGES,
        correction_pairs: Iterable[tuple[Tensor, Tensor]] | None = None,
    ) -> ClosedForm:
        """Fit the least-squares colour map on the head's basis to the (input, target) sRGB pairs (whole
        photos (3, H, W)) and start the head from it (:func:`lumastyle.fitting.fit_closed_form`): a
        global map, or with a ``low_level_linear`` head one also linear in the low-level context, its
        ridge chosen on the ``validation`` pairs. With a :attr:`correction`, it is fitted first
        (:meth:`fit_correction`, on ``correction_pairs``, default ``pairs``: give ``pairs`` as a list
        then) and the map is fitted to the corrected photos. Every process reads the same photos and
        gets the same map, so no exchange is needed."""
        head = self.head
        if not isinstance(head, ColorMapHead):
            raise LumastyleError(
                f"model.closed_form_start needs a head with a colour basis (a lumastyle.heads.ColorMapHead such "
                f"as QuadraticHead or AffineHead); {type(head).__name__} has none"
            )
        if self.correction is not None:
            self.fit_correction(pairs if correction_pairs is None else correction_pairs)
        held_out = [self.closed_form_terms(a, b) for a, b in validation] if head.low_level_linear else []
        try:
            fit = fit_closed_form(
                (self.closed_form_terms(a, b) for a, b in pairs),
                type(head).basis,
                head.low_level_linear,
                held_out,
                ridges,
                PHOTO_CHANNELS if self.low_level is not None and self.low_level.photo else 0,
            )
        except ValueError:
            raise LumastyleError("model.closed_form_start found no training photos") from None
        if fit.matrix.ndim == 2:
            head.start_from(fit.matrix)
        else:
            head.start_from(fit.matrix[..., 0], fit.matrix[..., 1:])
        return fit

    def conv5_maps(self, photos: Iterable[Tensor]) -> Iterator[list[Tensor]]:
        """Each photo's (3, H, W) conv5 maps, one per scale (computed on the network's device)."""
        if self.context is None:
            return
        device = next(self.parameters()).device
        with torch.no_grad():
            for rgb in photos:
                yield [m.features[0] for m in self.context.lower(rgb[None].to(device))]

    def needs_conv5_calibration(self) -> bool:
        """Whether conv6 starts untrained above frozen pretrained conv1-conv5: their maps are then
        scaled to unit RMS over the training photos (:meth:`calibrate_conv5`)."""
        if self.context is None or not self.lower_frozen():
            return False
        backbones = self.backbones
        return any(b.lower_pretrained for b in backbones) and not any(b.top_pretrained for b in backbones)

    def calibrate_conv5(self, maps: Iterable[Sequence[Tensor]]) -> list[float]:
        """Set each backbone's ``conv5_scale`` from the conv5 maps of the training photos (per photo,
        one map per scale; :func:`lumastyle.fitting.conv5_scales`) and return the factors."""
        scales = conv5_scales(maps, len(self.backbones))
        for backbone, scale in zip(self.backbones, scales, strict=True):
            backbone.conv5_scale.fill_(scale)
        return scales

    @property
    def backbones(self) -> list[DilatedVGG16]:
        """The context's backbones: one per scale, or one shared by all ([] without context)."""
        return self.context.all_backbones() if self.context is not None else []

    @property
    def exportable(self) -> bool:
        """Whether the forward pass is torch alone (region context runs scikit-image's SLIC)."""
        return self.low_level is None or not self.low_level.regions

    @property
    def colour_only(self) -> bool:
        """Whether the output at a pixel depends on its colour alone and on nothing of the photo: no
        context of any kind, so one colour map serves every photo."""
        return self.context is None and self.low_level is None

    @property
    def position_free(self) -> bool:
        """Whether the output at a pixel depends on its colour alone: no backbone context and no local
        colour context (photo-level statistics and photo-wide means, radius inf, are the same at every
        pixel), so each photo's map is one colour map (:func:`lumastyle.inference.bake_lut`)."""
        low = self.low_level
        local = low is not None and (
            bool(low.regions) or bool(low.saliency) or any(math.isfinite(r) for r in low.radii)
        )
        return self.context is None and not local

    @property
    def num_scales(self) -> int:
        return len(self.context.scales) if self.context is not None else 0

    def lower_frozen(self) -> bool:
        """Whether :meth:`lower_context` has nothing to train (so its maps can be computed once)."""
        if self.context is None:
            return False
        return not any(p.requires_grad for b in self.backbones for p in b.features.parameters())

    def lower_fingerprint(self) -> str:
        """A hash of everything :meth:`lower_context` depends on: weights, input normalisation, scales,
        padding and the low-level context (radii, contrast). Cached maps are keyed by it."""
        parts = [b.lower_fingerprint() for b in self.backbones]
        scales = self.context.scales if self.context is not None else ()
        pad = self.context.pad if self.context is not None else 0
        radii: tuple[float | str, ...] = self.low_level.radii if self.low_level is not None else ()
        if self.low_level is not None and self.low_level.contrast:
            radii = (*radii, "contrast")
        if self.low_level is not None and self.low_level.saliency:
            radii = (*radii, "saliency", SALIENCY_LIGHT_BLUR, SALIENCY_FLOOR, *self.low_level.saliency)
        if self.low_level is not None and self.low_level.regions:
            low = self.low_level
            radii = (*radii, "regions", *low.regions, low.compactness, low.shifts)
        if self.low_level is not None and self.low_level.photo:
            radii = (*radii, "photo", *PHOTO_PERCENTILES, "levels/3")
        parts.append(
            f"{scales}|{pad}|{radii}|{torch.__version__.split('+')[0]}|sizes3"
        )  # sizes3: capped sizes round half up (lumastyle.geometry)
        return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]

    def transform(
        self,
        lab: Tensor,
        maps: Sequence[ContextMap],
        out_hw: tuple[int, int] | None = None,
        rows: tuple[int, int] | None = None,
    ) -> Tensor:
        """New Lab for the pixels ``lab`` (B, 3, h, W): rows ``rows`` of an ``out_hw`` photo (default: all)."""
        out_hw = image_hw(lab) if out_hw is None else out_hw
        context = [sample_context(m.features, m.scaled_hw, m.pad, out_hw, rows, m.stride) for m in maps]
        return self._head(lab, context)

    def forward_lab(
        self, rgb: Tensor, context_rgb: Tensor | None = None, photo: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """sRGB (B, 3, H, W) -> (its Lab, the predicted Lab, unclipped); context from ``context_rgb``
        (default: ``rgb`` itself), photo-level statistics ``photo`` (default: the context image's own;
        a training crop is given its whole photo's). The training loss is computed on these."""
        lab = rgb_to_lab(rgb)
        maps = self.encode_context(rgb if context_rgb is None else context_rgb, photo)
        return lab, self.transform(lab, maps)

    def forward(self, rgb: Tensor, context_rgb: Tensor | None = None) -> Tensor:
        """Stylize sRGB (B, 3, H, W) in [0, 1]; returns the sRGB image a user gets (clipped to [0, 1])."""
        return lab_to_rgb(self.forward_lab(rgb, context_rgb)[1])
