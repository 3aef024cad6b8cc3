"""Inference: a trained network applied to photos of any size. The one path ``stylize``, ``predict``,
validation/test metrics and the benchmarks all take, so they give the same pixels.

- **Context cap**: the backbone sees a copy of the photo no larger than ``context_long_side`` pixels
  (antialiased), so objects look the size the model learned them at and a 12 MP photo's context costs
  what a 1 MP photo's does. The per-pixel transform still runs at full resolution.
- **Tiles**: the head runs over blocks of rows of at most ``tile_pixels`` pixels, written into one
  preallocated output, so memory stays bounded for any photo size; the result equals the untiled one.
  The default 2^16 keeps a tile's intermediates (~4 MB a channel-group) in a CPU's last-level cache:
  a 12 MP photo's per-pixel part is twice as fast as with 2^18 on 2 cores (benchmarks/README.md).
- **Precision**: ``bf16`` (or ``16``) runs the backbone and head under autocast; the colour layer,
  the sampling positions and the output stay float32.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from lumastyle.color import lab_to_rgb, rgb_to_lab
from lumastyle.geometry import fit_long_side
from lumastyle.network import StyleNetwork

Precision = Literal["32", "bf16", "16"]
#: Pixels that go through the head at once by default (2^16 keeps a tile's intermediates in a CPU's
#: last-level cache; see the module docstring).
TILE_PIXELS = 1 << 16
_AUTOCAST = {"bf16": torch.bfloat16, "16": torch.float16}


def context_copy(rgb: Tensor, context_long_side: int | None) -> Tensor:
    """``rgb`` (B, 3, H, W) shrunk so its long side is at most ``context_long_side`` (None: as is):
    :func:`lumastyle.geometry.fit_long_side`, the size :func:`~lumastyle.geometry.capped_size` gives
    (what an exported :class:`lumastyle.export.Stylizer` computes too)."""
    return fit_long_side(rgb, context_long_side)


@torch.no_grad()
def stylize_tensor(
    network: StyleNetwork,
    rgb: Tensor,
    context_long_side: int | None = None,
    tile_pixels: int = TILE_PIXELS,
    precision: Precision = "32",
) -> Tensor:
    """Stylize sRGB ``rgb`` (3, H, W) or (B, 3, H, W) in [0, 1]: the image a user gets, float32 in [0, 1].

    Args:
        network: the network (its device is used; its mode is left as it is).
        rgb: the photo(s), any size.
        context_long_side: long side of the copy the context is computed on (None: the photo itself).
        tile_pixels: at most this many pixels go through the head at once.
        precision: ``32``, or ``bf16``/``16`` for autocast (keeps any autocast the caller set up).
    """
    single = rgb.ndim == 3
    batch = rgb.unsqueeze(0) if single else rgb
    b, _, h, w = batch.shape
    out = torch.empty(b, 3, h, w, dtype=torch.float32, device=batch.device)
    step = max(1, tile_pixels // max(1, w * b))
    with torch.autocast(batch.device.type, dtype=_AUTOCAST.get(precision), enabled=precision in _AUTOCAST):
        maps = network.encode_context(context_copy(batch, context_long_side))
        for r0 in range(0, h, step):
            rows = (r0, min(h, r0 + step))
            lab = rgb_to_lab(batch[..., rows[0] : rows[1], :])
            out[..., rows[0] : rows[1], :] = lab_to_rgb(network.transform(lab, maps, (h, w), rows))
    return out[0] if single else out
