"""Heads: per-pixel colour-transform predictors, looked up by name in a registry.

A head sees, per pixel, the normalised Lab colour and the context features of each scale, runs two
1x1 conv + ReLU layers and a 1x1 conv to 3*K channels, and applies the predicted 3xK matrix to a
K-term colour basis of the pixel (the paper's enhancement layer).

The first 1x1 layer is split into a pixel part (3 -> hidden, with the bias) and one context part per
scale (C -> hidden, no bias). Because that layer and bilinear interpolation are both linear, the
model may apply the context parts at the backbone's 1/8 resolution and interpolate their small output
(``project_context``) instead of interpolating the C-channel maps: the same network, less memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from lumastyle.color import affine_basis, apply_color_transform, quadratic_basis
from lumastyle.errors import LumastyleError


class ColorTransformHead(nn.Module):
    """Base head: pixel Lab + context -> per-pixel 3xK matrix -> transformed Lab (all normalised).

    Args:
        context_channels: channels of each context feature map (the backbone's conv7).
        num_scales: how many context maps the head receives (0 = colour-only, no context).
        hidden: widths of the two hidden 1x1 layers.
    """

    #: the colour basis V(c): (*, 3, H, W) -> (*, K, H, W); set by subclasses
    basis: Callable[[Tensor], Tensor]
    #: K, the number of basis terms
    n_basis: int
    #: index of the L term in the basis (L, a, b follow); used to start from the identity transform
    linear_index: int

    def __init__(self, context_channels: int, num_scales: int = 2, hidden: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        if len(hidden) != 2 or min(hidden) < 1:
            raise LumastyleError(f"head hidden must be two positive widths, got {list(hidden)}")
        h1, h2 = hidden
        self.pixel_in = nn.Conv2d(3, h1, 1)
        self.context_in = nn.ModuleList(
            nn.Conv2d(context_channels, h1, 1, bias=False) for _ in range(num_scales)
        )
        self.mlp = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(h1, h2, 1), nn.ReLU(inplace=True))
        self.out = nn.Conv2d(h2, 3 * self.n_basis, 1)
        self.reset_to_identity()

    def reset_to_identity(self) -> None:
        """Start from the identity colour map: small output weights, bias = identity matrix."""
        nn.init.normal_(self.out.weight, std=1e-3)
        with torch.no_grad():
            bias = torch.zeros(3, self.n_basis)
            for c in range(3):
                bias[c, self.linear_index + c] = 1.0
            self.out.bias.copy_(bias.flatten())

    def project_context(self, index: int, features: Tensor) -> Tensor:
        """Apply scale ``index``'s part of the first 1x1 layer to its context features (any resolution)."""
        return self.context_in[index](features)

    def predict_phi(self, lab_n: Tensor, context: Tensor | None) -> Tensor:
        """Per-pixel transform (B, 3K, H, W) from normalised Lab and the summed projected context."""
        x = self.pixel_in(lab_n)
        if context is not None:
            x = x + context
        return self.out(self.mlp(x))

    def forward(self, lab_n: Tensor, context: Tensor | None) -> Tensor:
        """Normalised Lab (B, 3, H, W) and summed projected context -> transformed normalised Lab (float32)."""
        phi = self.predict_phi(lab_n, context)
        dtype = torch.promote_types(lab_n.dtype, torch.float32)  # the enhancement layer stays >= float32
        return apply_color_transform(phi.to(dtype), type(self).basis(lab_n.to(dtype)))


HEADS: dict[str, type[ColorTransformHead]] = {}


def register_head(name: str) -> Callable[[type[ColorTransformHead]], type[ColorTransformHead]]:
    """Class decorator adding a head to the registry under ``name`` (``--model.head NAME``)."""

    def add(cls: type[ColorTransformHead]) -> type[ColorTransformHead]:
        if name in HEADS and HEADS[name] is not cls:
            raise LumastyleError(f"a head named {name!r} is already registered ({HEADS[name].__qualname__})")
        HEADS[name] = cls
        return cls

    return add


def get_head(name: str) -> type[ColorTransformHead]:
    """The head class registered as ``name``; an unknown name lists the valid ones."""
    try:
        return HEADS[name]
    except KeyError:
        raise LumastyleError(f"unknown head {name!r}; choose one of: {', '.join(sorted(HEADS))}") from None


@register_head("quadratic")
class QuadraticHead(ColorTransformHead):
    """The paper's head: a 3x10 matrix on the quadratic basis [L², a², b², La, Lb, ab, L, a, b, 1]."""

    basis = staticmethod(quadratic_basis)
    n_basis = 10
    linear_index = 6


@register_head("affine")
class AffineHead(ColorTransformHead):
    """A per-pixel 3x4 affine colour transform on [L, a, b, 1] (as in HDRNet's per-pixel affine model)."""

    basis = staticmethod(affine_basis)
    n_basis = 4
    linear_index = 0
