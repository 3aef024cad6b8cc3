"""A trained network from a checkpoint, for inference, without Lightning: what ``lumastyle stylize``
loads, so its start-up pays for torch and the weights and not for the training stack (issue 28:
importing Lightning was most of the command's fixed cost).

Contract:
- :func:`build_network`: the option blocks of :class:`lumastyle.model.LumaStyle` (``head``,
  ``backbone``, ``context``, ``color_context``) -> the plain :class:`~lumastyle.network.StyleNetwork`
  they describe; the one place the blocks meet the network's arguments (LumaStyle builds with it).
- :func:`load_network`: a checkpoint written by ``lumastyle fit`` -> :class:`TrainedNetwork` (the
  network in eval mode with every weight the checkpoint holds, and the context cap it was trained
  at). The saved hyperparameters are read by jsonargparse against :func:`build_network`'s signature,
  as Lightning's ``instantiate_module`` reads them against LumaStyle's (the same head factories and
  option blocks), and the state goes through what LumaStyle's ``on_load_checkpoint`` does: bundled
  weights put back (:func:`lumastyle.checkpoints.restore_bundled`), an earlier correction upgraded
  (:func:`lumastyle.correction.upgrade_state`), keys and shapes checked (:func:`check_fits`), then a
  strict load. A checkpoint written before the option blocks (flat option names) or of a LumaStyle
  subclass raises :class:`LightningLoads`: its caller loads it with :meth:`LumaStyle.from_checkpoint`
  (Lightning), as before.
- :func:`check_fits`: a state dict that does not fit the model is one line (:class:`CheckpointMismatch`).

The network is the same either way: tests/test_loading.py compares every weight and the stylized
photo with ``LumaStyle.from_checkpoint``'s.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import torch
from torch import Tensor

from lumastyle.checkpoints import check_checkpoint, restore_bundled
from lumastyle.correction import upgrade_state
from lumastyle.errors import LumastyleError
from lumastyle.heads import HeadFactory, QuadraticHead
from lumastyle.inference import TILE_PIXELS, Precision, stylize_tensor
from lumastyle.network import StyleNetwork
from lumastyle.options import (
    DEFAULT_BACKBONE,
    DEFAULT_COLOR_CONTEXT,
    DEFAULT_CONTEXT,
    FLAT_NAMES,
    BackboneOptions,
    ColorContextOptions,
    ContextOptions,
)

#: The hyperparameters :func:`build_network` takes (LumaStyle's other ones are training settings).
NETWORK_OPTIONS = ("head", "backbone", "context", "color_context")
#: The network's keys in a checkpoint's state dict (LumaStyle's ``network`` attribute).
PREFIX = "network."


def build_network(
    head: str | HeadFactory = QuadraticHead,
    backbone: BackboneOptions = DEFAULT_BACKBONE,
    context: ContextOptions = DEFAULT_CONTEXT,
    color_context: ColorContextOptions = DEFAULT_COLOR_CONTEXT,
) -> StyleNetwork:
    """The network of these option blocks (LumaStyle's arguments of the same names)."""
    return StyleNetwork(
        head=head,
        backbone_width=backbone.width,
        backbone_weights=backbone.weights,
        backbone_input_norm=backbone.input_norm,
        freeze=backbone.freeze,
        scales=context.scales,
        share_backbone=backbone.share,
        context_pad=context.pad,
        low_level=color_context.blur_radii,
        top_channels=backbone.top_channels,
        low_level_linear=color_context.linear,
        low_level_contrast=color_context.contrast,
        low_level_regions=color_context.regions,
        photo_context=color_context.photo,
        photo_correction=color_context.correction,
        low_level_saliency=color_context.saliency,
    )


@dataclasses.dataclass
class TrainedNetwork:
    """A checkpoint's network (eval mode), with what inference needs beside it."""

    network: StyleNetwork
    #: ``model.context.long_side`` (None: the training scale)
    long_side: int | None
    #: the long side of the training photos, stored in the checkpoint
    trained_long_side: int | None

    def context_long_side(self, requested: int | None = None) -> int | None:
        """The context cap inference uses: ``requested``, else ``model.context.long_side``, else the
        training scale stored in the checkpoint."""
        cap = requested or self.long_side or self.trained_long_side
        return int(cap) if cap else None

    def stylize(
        self,
        rgb: Tensor,
        context_long_side: int | None = None,
        precision: Precision = "32",
        tile_pixels: int = TILE_PIXELS,
        fast: bool = False,
        strength: float = 1.0,
    ) -> Tensor:
        """A photo (3, H, W) or batch as ``lumastyle stylize`` renders it
        (:func:`lumastyle.inference.stylize_tensor`; ``fast``: its fast path, what ``stylize`` and
        ``predict`` take by default; ``strength``: the look's amount, 0 the photo, 1 the look, up to 2
        to exaggerate it)."""
        return stylize_tensor(
            self.network, rgb, self.context_long_side(context_long_side), tile_pixels, precision, fast,
            strength=strength,
        )  # fmt: skip


class CheckpointMismatch(LumastyleError):
    """A checkpoint's weights do not fit the model its own configuration builds (raised before
    torch's strict loading would, with a traceback)."""


def check_fits(saved: dict[str, Any], built: dict[str, Tensor], path: object | None) -> None:
    """Raise :class:`CheckpointMismatch` in one line when the saved state dict's keys or shapes differ
    from the model's: a checkpoint with photo-level context written when
    :func:`lumastyle.context.photo_statistics` gave fewer numbers (12, then 22; now 27), one whose
    correction had no levels, or a run resumed with a config that changes the model
    (``configs/photo-correction.yaml`` added, say)."""
    problem = ""
    for key, tensor in built.items():
        if key not in saved:
            problem = f"{key} is not in it"
        elif tuple(saved[key].shape) != tuple(tensor.shape):
            problem = f"{key} is {tuple(saved[key].shape)} there and {tuple(tensor.shape)} here"
        if problem:
            break
    if problem:
        where = f"{path}: " if path is not None else ""
        raise CheckpointMismatch(
            f"{where}its weights do not fit the model its configuration builds in this lumastyle ({problem}: "
            "written by an earlier lumastyle, whose photo-level context had fewer statistics or whose correction "
            "had no levels, or resumed with a config that changes the model); train it again, or resume with the "
            "config it was trained with"
        )


def load_network(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> TrainedNetwork:
    """The network of a checkpoint written by ``lumastyle fit``, in eval mode on ``map_location``; nothing
    is downloaded (the weights are the checkpoint's). A path that is not such a checkpoint, or whose
    weights do not fit, is a one-line :class:`LumastyleError`."""
    checkpoint = check_checkpoint(path)
    saved = checkpoint.get("hyper_parameters", {})
    if (
        "_class_path" in saved
        or any(name in saved for name in FLAT_NAMES)
        or not isinstance(saved.get("backbone"), dict)
    ):
        raise LightningLoads(path)
    network = build_network(**_network_options({**saved, "backbone": {**saved["backbone"], "weights": None}}))
    restore_bundled(checkpoint, path)
    state = checkpoint["state_dict"]
    upgrade_state(state, PREFIX + "correction.")
    check_fits(state, {PREFIX + key: value for key, value in network.state_dict().items()}, path)
    network.load_state_dict(
        {key.removeprefix(PREFIX): value for key, value in state.items() if key.startswith(PREFIX)}
    )
    long_side, trained = (
        saved["context"].get("long_side"),
        checkpoint.get("lumastyle", {}).get("trained_long_side"),
    )
    return TrainedNetwork(network.to(map_location).eval(), long_side, trained)


class LightningLoads(Exception):
    """A checkpoint :func:`load_network` leaves to :meth:`lumastyle.model.LumaStyle.from_checkpoint`:
    one written before the option blocks (flat option names), or of a LumaStyle subclass."""


def _network_options(saved: dict[str, Any]) -> dict[str, Any]:
    """The saved hyperparameters of :data:`NETWORK_OPTIONS` as :func:`build_network`'s arguments, read by
    jsonargparse as LightningCLI's instantiator reads them (head factories, option dataclasses)."""
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(exit_on_error=False)
    parser.add_function_arguments(build_network, "network", fail_untyped=False)
    config = parser.parse_object(
        {"network": {name: saved[name] for name in NETWORK_OPTIONS if name in saved}}
    )
    return dict(vars(parser.instantiate_classes(config).network))
