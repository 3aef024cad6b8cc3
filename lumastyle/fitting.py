"""Fits made before the first training step, in plain torch: no trainer, no DataModule, tensors in.

- **Context calibration** (:func:`conv5_scales`): when conv6 starts untrained above frozen pretrained
  conv1-conv5, each backbone's conv5 maps are scaled to unit RMS over the training photos. Pretrained
  VGG conv5 maps are large (RMS ~15 with the bundled weights); without this the head's context input
  dwarfs its pixel input and Adam's steps shake it. The paper's fc6 weights expect the raw maps, so a
  backbone whose conv6 is pretrained keeps the factor 1 (not in the paper otherwise).
- **The closed-form start** (:func:`fit_closed_form`): the least-squares colour map on the head's basis
  (normalised Lab) over every pixel of the training photos, so that from step 0 the model is as good
  as the best global colour map and training learns the residual. When the head's matrix is also
  linear in the low-level context (``model.color_context.linear``), the map is linear in that context too,
  its ridge chosen among :data:`CLOSED_FORM_RIDGES` by the error of the written (clipped sRGB) image
  on the validation photos, so a context that only fits the training photos is not where training
  starts (``inf`` is the global map). Photo-level statistics (``model.color_context.photo``: the
  same at every pixel of a photo, so the map differs from photo to photo) get a ridge of their own,
  each pair tried: 15 training photos determine them far less well than the per-pixel channels.
  Not in the paper.

:class:`lumastyle.model.LumaStyle` calls these with the photos its DataModule reads; tests and
benchmarks call them on tensors directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from lumastyle.color import (
    apply_local_color_map,
    color_map_equations,
    denormalize_lab,
    lab_distance,
    lab_to_rgb,
    rgb_to_lab,
)

#: Ridges the closed-form start tries on the validation photos when the map is linear in the
#: low-level context; ``inf`` is the global colour map.
CLOSED_FORM_RIDGES = (0.0, 1e-3, 1e-2, 1e-1, 1.0, math.inf)

#: One photo for the closed-form fit: (source, target, low-level context or None), normalised Lab
#: source and target (3, H, W) and the context sampled at the photo's pixels (C, H, W).
Terms = tuple[Tensor, Tensor, Tensor | None]


def conv5_scales(maps: Iterable[Sequence[Tensor]], backbones: int) -> list[float]:
    """1 / RMS of each backbone's conv5 maps over the photos (1 where there are none or they are 0).

    ``maps``: per photo, one map per scale; with one shared backbone (``backbones`` 1) every scale's
    map counts towards it, else scale i belongs to backbone i. Accumulated in float64.
    """
    sums = [torch.zeros((), dtype=torch.float64) for _ in range(backbones)]
    counts = [0] * backbones
    for photo_maps in maps:
        for i, features in enumerate(photo_maps):
            b = i if backbones > 1 else 0
            sums[b] += features.double().square().sum().cpu()
            counts[b] += features.numel()
    scales = []
    for total, count in zip(sums, counts, strict=True):
        rms = math.sqrt(total.item() / count) if count else 0.0
        scales.append(1.0 / rms if rms > 0 else 1.0)
    return scales


@dataclass(frozen=True)
class ClosedForm:
    """The result of :func:`fit_closed_form`.

    ``matrix``: (3, K) for a global map, or (3, K, 1 + C) when it is linear in C low-level channels
    (``matrix[..., 0]`` is the constant part). ``ridge``: the ridge kept (``photo_ridge``: the one
    of the photo-level channels, when they had their own). ``errors``: per (ridge, photo ridge) tried,
    the mean Lab distance of the written image on the validation photos ({} when none were given).
    ``validation_photos``: how many photos chose the ridge.
    """

    matrix: Tensor
    ridge: float
    errors: dict[tuple[float, float], float] = field(default_factory=dict)
    validation_photos: int = 0
    photo_ridge: float = math.inf

    @property
    def error(self) -> float:
        """The kept map's validation error."""
        return self.errors[self.ridge, self.photo_ridge]

    @property
    def global_error(self) -> float:
        """The global map's validation error (every context term 0)."""
        return self.errors[math.inf, math.inf]


def fit_closed_form(
    train: Iterable[Terms],
    basis: Callable[[Tensor], Tensor],
    local: bool,
    validation: Sequence[Terms] = (),
    ridges: Sequence[float] = CLOSED_FORM_RIDGES,
    photo_channels: int = 0,
) -> ClosedForm:
    """The least-squares colour map on ``basis`` over the training terms (see the module docstring).

    ``local``: the terms carry low-level context and the map is linear in it; each ridge is then
    tried and the one with the lowest error on ``validation`` kept (no validation terms: ridge 0).
    ``photo_channels``: the context's last channels are photo-level statistics (the same at every
    pixel of a photo), which get their own ridge: every pair of ridges is tried, so a photo-level
    context that does not help on the validation photos does not cost the per-pixel one (and the
    other way round). Raises ValueError when ``train`` is empty.
    """
    equations = color_map_equations(train, basis)
    if not local:
        return ClosedForm(equations.solve(math.inf)[..., 0], math.inf)
    per_pixel = equations.gram.shape[0] // equations.n_basis - 1 - photo_channels
    if not validation:
        return ClosedForm(equations.solve(0.0), 0.0, photo_ridge=0.0 if photo_channels else math.inf)
    pairs = [(r, r) for r in ridges]  # one ridge for every context channel
    if photo_channels and per_pixel:
        pairs = [(r, p) for r in ridges for p in ridges]
    elif photo_channels:  # photo-level context alone: its ridge is the one
        pairs = [(math.inf, r) for r in ridges]
    candidates = {pair: equations.solve(pair[0], pair[1], photo_channels) for pair in pairs}
    errors = {pair: local_map_error(m, validation, basis) for pair, m in candidates.items()}
    if (math.inf, math.inf) not in errors:  # the global map, always a candidate and the reference
        errors[math.inf, math.inf] = local_map_error(equations.solve(math.inf), validation, basis)
        candidates[math.inf, math.inf] = equations.solve(math.inf)
    ridge, photo_ridge = min(errors, key=lambda r: errors[r])
    return ClosedForm(candidates[ridge, photo_ridge], ridge, errors, len(validation), photo_ridge)


def local_map_error(matrix: Tensor, terms: Sequence[Terms], basis: Callable[[Tensor], Tensor]) -> float:
    """Mean per-pixel Lab distance of a (local) colour map's written image (clipped sRGB) on ``terms``."""
    total, count = 0.0, 0
    for source, target, context in terms:
        predicted = lab_to_rgb(denormalize_lab(apply_local_color_map(matrix, source, context, basis)).float())
        d = lab_distance(rgb_to_lab(predicted), denormalize_lab(target))
        total, count = total + d.sum().item(), count + d.numel()
    return total / count
