"""Optimiser defaults: Adam at 1e-4 (the paper's choice is left open; this trains every style we
measured) after a linear learning-rate warm-up.

The config's ``optimizer:`` and ``lr_scheduler:`` blocks (LightningCLI's usual ``class_path`` /
``init_args`` form) are the one place these are set; their defaults are ``torch.optim.Adam`` with
``lr: 1.0e-4`` and :class:`LinearWarmup` with 20 steps. ``model.backbone.lr_scale`` multiplies the
optimizer's learning rate for the backbone's trainable parameters.

A scheduler steps once per optimizer step when its class has ``interval = "step"`` (as
:class:`LinearWarmup` does), otherwise once per epoch; ``ReduceLROnPlateau`` watches
``val/lab_distance``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, ReduceLROnPlateau

from lumastyle.errors import LumastyleError

#: The default optimizer's learning rate.
DEFAULT_LR = 1e-4


#: The metric the default checkpoint callback and ReduceLROnPlateau watch.
MONITOR = "val/lab_distance"


def default_optimizer(params: Iterable[Any]) -> Optimizer:
    """Adam with lr 1e-4: what ``optimizer:`` defaults to (``model.optimizer`` None in Python)."""
    return torch.optim.Adam(params, lr=DEFAULT_LR)


class LinearWarmup(LambdaLR):
    """Ramp the learning rate linearly from lr/warmup_steps to lr over the first ``warmup_steps`` steps.

    Adam's first steps move every weight by about lr before its moment estimates settle; the ramp keeps
    the quadratic head from overshooting then.

    Args:
        optimizer: the optimizer (given by the model).
        warmup_steps: optimizer steps to reach the full learning rate (0: no ramp).
    """

    interval = "step"

    def __init__(self, optimizer: Optimizer, warmup_steps: int = 20) -> None:
        if warmup_steps < 0:
            raise LumastyleError(f"lr_scheduler warmup_steps must be >= 0, got {warmup_steps}")
        self.warmup_steps = warmup_steps
        super().__init__(optimizer, self._factor)

    def _factor(self, step: int) -> float:
        return 1.0 if self.warmup_steps == 0 else min(1.0, (step + 1) / self.warmup_steps)


def parameter_groups(head: nn.Module, backbone: nn.Module | None, backbone_lr_scale: float) -> list[dict[str, Any]]:
    """The optimiser's parameter groups: the head's trainable parameters, and the backbone's (when any
    train) with ``lr_scale`` ``backbone_lr_scale`` (:func:`scale_learning_rates` applies it; a scale
    with nothing to train is refused by :func:`lumastyle.options.refuse_silent_combinations`)."""
    groups: list[dict[str, Any]] = [{"params": [p for p in head.parameters() if p.requires_grad]}]
    trained = [p for p in (backbone.parameters() if backbone is not None else []) if p.requires_grad]
    if trained:
        groups.append({"params": trained, "lr_scale": backbone_lr_scale})
    return groups


def scale_learning_rates(optimizer: Optimizer) -> Optimizer:
    """Multiply each parameter group's learning rate by its ``lr_scale`` (1 when it has none)."""
    for group in optimizer.param_groups:
        group["lr"] *= group.get("lr_scale", 1.0)
    return optimizer


def scheduler_config(scheduler: LRScheduler | ReduceLROnPlateau) -> dict[str, Any]:
    """Lightning's ``lr_scheduler`` entry for ``scheduler``: stepped per optimizer step when its class
    says ``interval = "step"``, else per epoch; ReduceLROnPlateau watches :data:`MONITOR`."""
    config: dict[str, Any] = {"scheduler": scheduler, "interval": getattr(scheduler, "interval", "epoch")}
    if isinstance(scheduler, ReduceLROnPlateau):
        config["monitor"] = MONITOR
    return config
