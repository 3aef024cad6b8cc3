"""DiagonalHead: a per-pixel gain and offset for each Lab channel (6 numbers per pixel).

The smallest useful head: no colour cross-talk, so it learns tone and white balance changes but not
hue shifts. It shows the interface every head implements (lumastyle.heads.Head): the constructor
receives the context channels, the number of context maps, ``low_level_channels`` (the channels of
the low-level map, which comes last; 0 when the model has none) and ``low_level_linear``, and hands
all four to ``Head.__init__``; ``encode_context`` applies the first layer's context part at 1/8
resolution (it is linear, so sampling afterwards gives the same result); ``forward`` maps normalised
Lab and the sampled maps to the new normalised Lab.

It is not a ``lumastyle.heads.ColorMapHead`` (its output is not a colour map on a fixed basis), so a
preset's ``closed_form_start`` and ``low_level_linear`` do not apply to it: each says so in one
warning line and training goes on from the head's own start.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from lumastyle.heads import Head


class DiagonalHead(Head):
    """Lab -> Lab * (1 + gain) + offset per channel, gain and offset predicted per pixel.

    Args:
        context_channels: channels of each context map (given by lumastyle).
        num_scales: context maps (given by lumastyle).
        low_level_channels: channels of the low-level map (given by lumastyle; 0: none).
        low_level_linear: asked by ``model.low_level_linear`` (given by lumastyle; not offered here).
        width: hidden width.
    """

    def __init__(
        self,
        context_channels: int,
        num_scales: int,
        low_level_channels: int = 0,
        low_level_linear: bool = False,
        width: int = 32,
    ) -> None:
        super().__init__(context_channels, num_scales, low_level_channels, low_level_linear)
        self.pixel_in = nn.Conv2d(3, width, 1)
        maps = [context_channels] * num_scales + ([low_level_channels] if low_level_channels else [])
        self.context_in = nn.ModuleList(nn.Conv2d(c, width, 1, bias=False) for c in maps)
        self.out = nn.Conv2d(width, 6, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)  # starts as "no change"

    def encode_context(self, index: int, features: Tensor) -> Tensor:
        return self.context_in[index](features)

    def forward(self, lab_n: Tensor, context: Sequence[Tensor]) -> Tensor:
        x = self.pixel_in(lab_n)
        for sampled in context:
            x = x + sampled
        gain, offset = self.out(torch.relu(x)).float().chunk(2, dim=1)
        return lab_n.float() * (1 + gain) + offset
