"""Look operations and a look format: ``sepia`` (a recipe step) and ``.json`` recipes.

``sepia`` is an operation like lumastyle's own: a pure function of an sRGB (*, 3, H, W) tensor whose
defaults change nothing; recipes are checked against its signature. The ``.json`` reader turns a JSON
list of steps into an Action, registered for its suffix when this module is imported.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor

from lumastyle.actions import Action, register_look_format
from lumastyle.actions.action import read_look_file
from lumastyle.errors import LumastyleError

_SEPIA = ((0.393, 0.769, 0.189), (0.349, 0.686, 0.168), (0.272, 0.534, 0.131))  # the classic sepia matrix


def sepia(image: Tensor, amount: float = 0.0) -> Tensor:
    """Blend towards a sepia tone: 0 changes nothing, 1 is full sepia."""
    if not 0.0 <= amount <= 1.0:
        raise LumastyleError(f"amount must be within [0, 1], got {amount}")
    matrix = torch.tensor(_SEPIA, dtype=image.dtype, device=image.device)
    toned = torch.einsum("ij,...jhw->...ihw", matrix, image)
    return (image + amount * (toned - image)).clamp(0, 1)


@register_look_format(".json")
def read_json_recipe(path: Path) -> Action:
    """A recipe written as JSON: a list of {operation: {parameters}} objects."""
    try:
        steps = json.loads(read_look_file(Path(path)).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise LumastyleError(f"{path}: not valid JSON ({err}); fix the recipe") from None
    if not isinstance(steps, list) or not all(isinstance(s, dict) and len(s) == 1 for s in steps):
        raise LumastyleError(f"{path}: a JSON recipe is a list of {{operation: {{parameters}}}} objects")
    return Action([next(iter(s.items())) for s in steps], str(path))
