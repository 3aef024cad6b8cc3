"""DiagonalHead: a per-pixel gain and offset for each Lab channel (6 numbers per pixel).

The smallest useful head: no colour cross-talk, so it learns tone and white balance changes but not
hue shifts. It shows the interface every head implements (lumastyle.heads.Head): the constructor
receives the context channels and the number of context maps (and ``low_level_channels`` when the
model has low-level context, whose map comes last); ``encode_context`` applies the first layer's
context part at 1/8 resolution (it is linear, so sampling afterwards gives the same result);
``forward`` maps normalised Lab and the sampled maps to the new normalised Lab.
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
        width: hidden width.
    """

    def __init__(self, context_channels: int, num_scales: int, width: int = 32) -> None:
        super().__init__(context_channels, num_scales)
        self.pixel_in = nn.Conv2d(3, width, 1)
        self.context_in = nn.ModuleList(
            nn.Conv2d(context_channels, width, 1, bias=False) for _ in range(num_scales)
        )
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
