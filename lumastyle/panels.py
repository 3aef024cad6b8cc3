"""Pictures of a result: error heatmaps and input | prediction | target | error panels.

Used by the validation-image callback (W&B, TensorBoard and the run folder) and by ``lumastyle
report``. The heatmap maps the per-pixel CIELab distance through a fixed perceptual colour ramp on a
fixed scale (:data:`ERROR_SCALE` Lab units is the top colour), so maps from different epochs, runs and
photos compare by eye. (A five-colour ramp written here: lumastyle has no plotting dependency.)
"""

from __future__ import annotations

import torch
from torch import Tensor

from lumastyle.color import lab_distance, rgb_to_lab

#: Lab distance shown at the top of the heatmap's colour ramp
ERROR_SCALE = 20.0
# dark blue -> purple -> red -> orange -> yellow (the shape of perceptual ramps such as inferno)
_RAMP = ((0.0, 0.0, 0.02), (0.34, 0.06, 0.43), (0.73, 0.21, 0.33), (0.98, 0.53, 0.04), (0.99, 0.99, 0.64))


def error_map(prediction: Tensor, target: Tensor, scale: float = ERROR_SCALE) -> Tensor:
    """The per-pixel Lab distance between two sRGB images (3, H, W) as a heatmap (3, H, W) in [0, 1]."""
    distance = lab_distance(rgb_to_lab(prediction.float()), rgb_to_lab(target.float()))
    t = (distance / scale).clamp(0, 1) * (len(_RAMP) - 1)
    i = t.floor().long().clamp(max=len(_RAMP) - 2)
    ramp = torch.tensor(_RAMP, dtype=torch.float32, device=t.device)  # (5, 3)
    frac = (t - i)[..., None]
    colours = ramp[i] * (1 - frac) + ramp[i + 1] * frac  # (H, W, 3)
    return colours.permute(2, 0, 1)


def panel(rgb: Tensor, prediction: Tensor, target: Tensor, gap: int = 4) -> Tensor:
    """input | prediction | target | error heatmap, side by side with white gaps: (3, H, 4W + 3 gap)."""
    white = torch.ones(3, rgb.shape[-2], gap)
    parts = [rgb.float().cpu(), white, prediction.float().cpu(), white, target.float().cpu(), white,
             error_map(prediction.cpu(), target.cpu())]  # fmt: skip
    return torch.cat(parts, dim=-1).clamp(0, 1)
