"""The model's options, in blocks, and the combinations refused because they would do nothing.

``model:`` in a config (the constructor of :class:`lumastyle.model.LumaStyle`) is

.. code-block:: yaml

    model:
      head: quadratic               # the per-pixel head (lumastyle.heads)
      backbone:                     # BackboneOptions: the dilated VGG-16 that gives the context
        width: 1.0
        weights: imagenet
        freeze: none                # none | conv1-conv5 | conv1-conv7
      context:                      # ContextOptions: what the backbone looks at
        scales: [1.0, 2.0]
        long_side: null             # the context cap outside training (null: the training scale)
        cache: null                 # null: cache conv1-conv5 maps when they are frozen
      color_context:                # ColorContextOptions: regional colour beside the backbone (not in the paper)
        blur_radii: []
        linear: false
      closed_form_start: false
      check_finite_every_n_steps: 50

Each block is a frozen dataclass, so LightningCLI/jsonargparse validate its keys and types and
``--model.backbone.width 0.5`` sets one field. :func:`refuse_silent_combinations` turns a setting
that another one makes meaningless (a cache of a backbone that trains, backbone options of a model
with no backbone, a learning-rate scale for a backbone that is all frozen) into one line naming both.

The flat names of earlier releases (``backbone_width``, ``scales``, ``low_level``, ``context_cache``,
``freeze: features``, ...) are still read for one release: :func:`from_flat_names` maps them into the
blocks with one deprecation line, so old configs and old checkpoints keep working.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lumastyle.backbone import FREEZE_ALIASES, FreezeName, InputNorm
from lumastyle.errors import LumastyleDeprecationWarning, LumastyleError

#: What ``backbone.freeze`` accepts: the new names, and the deprecated ``features`` (conv1-conv5) and
#: ``all`` (conv1-conv7, which also freezes the randomly initialised conv6/conv7).
FreezeOption = FreezeName


@dataclass(frozen=True)
class BackboneOptions:
    """The dilated VGG-16 that gives the context (the paper's FCN).

    Args:
        width: factor on every channel count (1.0 = the paper's VGG-16; small for CPU runs).
        weights: ``bundled`` (VGG-16 conv1-conv5 ImageNet weights shipped with lumastyle, works
            offline), ``imagenet`` (torchvision download, adds fc6/fc7 for conv6/conv7), a VGG-16
            state dict file, or null (random init).
        input_norm: the normalisation the weights expect: ``imagenet`` (torchvision) or ``caffe``;
            null: what the named weights expect (``caffe`` for ``bundled``), else ``imagenet``.
        freeze: what does not train: ``none``, ``conv1-conv5`` (the pretrained layers), or
            ``conv1-conv7`` (conv6/conv7 too, at their random start when the weights have no fc6/fc7).
        top_channels: channels of conv6/conv7 (null: 4096 times ``width``, the paper's).
        share: one backbone for every context scale instead of one copy per scale.
        lr_scale: the backbone's trainable parameters learn at the optimizer's lr times this.
    """

    width: float = 1.0
    weights: str | None = "imagenet"
    input_norm: InputNorm | None = None
    freeze: FreezeOption = "none"
    top_channels: int | None = None
    share: bool = False
    lr_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.freeze in FREEZE_ALIASES:
            new = FREEZE_ALIASES[self.freeze]
            _deprecated(f"model.backbone.freeze {self.freeze!r} is now {new!r}")
            object.__setattr__(self, "freeze", new)
        if self.lr_scale < 0:
            raise LumastyleError(f"model.backbone.lr_scale must be >= 0, got {self.lr_scale}")


@dataclass(frozen=True)
class ContextOptions:
    """What the backbone looks at: scaled copies of the photo, padded, capped; cached when frozen.

    Args:
        scales: upsampling factor of each context copy (the paper: [1, 2]); [] is a colour-only model
            (no backbone).
        pad: reflection padding in pixels added on every side of each scaled copy.
        long_side: long side of the copy the context is computed on outside training (null: the long
            side of the training photos, stored in the checkpoint).
        cache: keep frozen conv1-conv5 maps of each whole photo on disk (lumastyle.cache): null (when
            conv1-conv5 are frozen), true (in ``$LUMASTYLE_CACHE``, default ``~/.cache/lumastyle/context``),
            a folder, or false.
    """

    scales: tuple[float, ...] = (1.0, 2.0)
    pad: int = 32
    long_side: int | None = None
    cache: bool | str | None = None


@dataclass(frozen=True)
class ColorContextOptions:
    """Regional colour the head sees beside the backbone's context (not in the paper): the Lab image
    blurred at a few radii, how far each region stands out, and superpixel means.

    Args:
        blur_radii: radii in pixels (at the training scale) of the blurred Lab copies ([] for none;
            ``.inf``: the photo's mean colour).
        contrast: for every two radii, the Lab distance between the two blurred copies: how much a
            region stands out from its surroundings (needs two or more radii).
        regions: superpixel sizes in pixels: each pixel's SLIC superpixel mean colour at each size
            (scikit-image; the model then cannot be exported to onnx/pt2).
        saliency: smoothing radii in pixels: the photo's frequency-tuned saliency (Achanta et al. 2009:
            each pixel's CIELab distance from the photo's mean colour), smoothed at each radius and
            divided by the photo's most salient value, one channel each: how far a region stands out
            from the whole photo (lumastyle.context.LowLevelContext), for a pop-out that follows it.
        linear: this context also enters the head's colour matrix linearly (heads with a colour basis,
            lumastyle.heads.ColorMapHead), so the closed-form start is the best colour map linear in it.
        photo: photo-level context: statistics of the whole photo (mean Lab, lightness percentiles, the
            sRGB channels' means, black and white points, and those in linear light as logarithms;
            lumastyle.context.photo_statistics), the same at
            every pixel, so with ``linear`` each photo gets its own colour map (the per-photo
            corrections real catalogues hold: exposure, white balance, levels).
        correction: each photo's white balance and exposure (gains in linear light) and levels (a black
            and a white point per channel) are predicted from
            its photo-level statistics and applied before the head's colour map
            (lumastyle.correction.PhotoCorrection; needs ``photo``); the closed-form start fits them first.
    """

    blur_radii: tuple[float, ...] = ()
    contrast: bool = False
    regions: tuple[float, ...] = ()
    saliency: tuple[float, ...] = ()
    linear: bool = False
    photo: bool = False
    correction: bool = False


#: The blocks' defaults (frozen, so one instance serves every model).
DEFAULT_BACKBONE = BackboneOptions()
DEFAULT_CONTEXT = ContextOptions()
DEFAULT_COLOR_CONTEXT = ColorContextOptions()

#: Each flat option name of earlier releases -> (its block, its field in the block).
FLAT_NAMES: dict[str, tuple[str, str]] = {
    "backbone_width": ("backbone", "width"),
    "backbone_weights": ("backbone", "weights"),
    "backbone_input_norm": ("backbone", "input_norm"),
    "freeze": ("backbone", "freeze"),
    "top_channels": ("backbone", "top_channels"),
    "share_backbone": ("backbone", "share"),
    "backbone_lr_scale": ("backbone", "lr_scale"),
    "scales": ("context", "scales"),
    "context_pad": ("context", "pad"),
    "context_long_side": ("context", "long_side"),
    "context_cache": ("context", "cache"),
    "low_level": ("color_context", "blur_radii"),
    "low_level_contrast": ("color_context", "contrast"),
    "low_level_regions": ("color_context", "regions"),
    "low_level_linear": ("color_context", "linear"),
}

#: What a flat name's parameter defaults to when it is not given (so it is told apart from a value).
NOT_GIVEN: Any = None
#: ``backbone_weights`` null meant random weights, so "not given" is the empty string for it.
WEIGHTS_NOT_GIVEN = ""


def _deprecated(message: str) -> None:
    warnings.warn(f"{message}; the old name is read for this release only", LumastyleDeprecationWarning, stacklevel=4)


def _given(name: str, value: Any) -> bool:
    return value != WEIGHTS_NOT_GIVEN if name == "backbone_weights" else value is not NOT_GIVEN


def from_flat_names(
    flat: Mapping[str, Any],
    backbone: BackboneOptions,
    context: ContextOptions,
    color_context: ColorContextOptions,
) -> tuple[BackboneOptions, ContextOptions, ColorContextOptions]:
    """The blocks with the flat names that were given (not :data:`NOT_GIVEN`, or for
    ``backbone_weights`` not :data:`WEIGHTS_NOT_GIVEN`) written into them, and one deprecation line
    naming each old name and its new place. ``context_cache: true``, the old default, becomes
    ``context.cache`` null (cache when it applies), as it behaved."""
    given = {name: value for name, value in flat.items() if name in FLAT_NAMES and _given(name, value)}
    if not given:
        return backbone, context, color_context
    blocks: dict[str, dict[str, Any]] = {"backbone": {}, "context": {}, "color_context": {}}
    for name, value in given.items():
        block, field = FLAT_NAMES[name]
        if name == "context_cache" and value is True:
            value = None
        if name == "freeze" and value in FREEZE_ALIASES:
            value = FREEZE_ALIASES[value]
        if isinstance(value, list):
            value = tuple(value)
        blocks[block][field] = value
    moved = ", ".join(f"{name} -> {'.'.join(FLAT_NAMES[name])}" for name in given)
    _deprecated(f"model options were renamed ({moved})")
    return (
        dataclasses.replace(backbone, **blocks["backbone"]),
        dataclasses.replace(context, **blocks["context"]),
        dataclasses.replace(color_context, **blocks["color_context"]),
    )


def refuse_silent_combinations(
    backbone: BackboneOptions, context: ContextOptions, color_context: ColorContextOptions
) -> None:
    """Raise a one-line :class:`LumastyleError` for a setting that another one makes do nothing.

    - ``context.scales: []`` (no backbone) with a backbone width, freeze, top_channels, share or lr_scale,
      or a context padding or cache, set; or a context cap when there is no colour context either.
    - ``context.cache`` true or a folder while conv1-conv5 train (``backbone.freeze: none``).
    - ``backbone.lr_scale`` other than 1 while nothing in the backbone trains (``freeze: conv1-conv7``).
    - ``backbone.share`` with one context scale (there is one backbone anyway).
    - ``color_context.contrast`` with fewer than two radii, or ``linear`` with no colour context (the
      network refuses these itself: :class:`lumastyle.network.StyleNetwork`).
    """
    if not context.scales:
        # (which weights, and their normalisation, are left out: a checkpoint loads with no weights
        # and records the normalisation it resolved, whether or not there is a backbone)
        set_ = [f"model.backbone.{f.name}" for f in dataclasses.fields(backbone)
                if f.name not in ("weights", "input_norm") and getattr(backbone, f.name) != f.default]  # fmt: skip
        # the cap also sizes the copy the colour context is computed on
        colour = color_context.blur_radii or color_context.regions or color_context.photo or color_context.saliency
        unused = ("pad", "cache") if colour else ("pad", "long_side", "cache")
        set_ += [f"model.context.{name}" for name in unused
                 if getattr(context, name) != getattr(DEFAULT_CONTEXT, name)]  # fmt: skip
        if set_:
            raise LumastyleError(
                f"model.context.scales [] has no backbone, so {', '.join(set_)} would do nothing; remove "
                "them, or give scales (say [1.0, 2.0])"
            )
    if context.cache not in (None, False) and backbone.freeze == "none" and context.scales:
        raise LumastyleError(
            f"model.context.cache {context.cache!r} would do nothing: conv1-conv5 train (model.backbone.freeze "
            "none); freeze them (model.backbone.freeze conv1-conv5) or leave model.context.cache null"
        )
    if backbone.lr_scale != 1.0 and backbone.freeze == "conv1-conv7" and context.scales:
        raise LumastyleError(
            f"model.backbone.lr_scale {backbone.lr_scale} would do nothing: the whole backbone is frozen "
            "(model.backbone.freeze conv1-conv7); remove it or freeze less"
        )
    if backbone.share and len(context.scales) == 1:
        raise LumastyleError(
            "model.backbone.share would do nothing with one context scale; remove it or give more scales"
        )
