"""Heads: per-pixel colour-transform predictors, chosen by ``class_path`` or by a short name.

The interface every head implements (:class:`Head`), which the network calls in this order:

1. ``head = HeadClass(context_channels, num_scales, low_level_channels=N, low_level_linear=B,
   **its_own_arguments)``: the network passes the channels of each context map (the backbone's conv7),
   how many scales there are (0: colour only), the channels of the low-level map (0: none) and whether
   the low-level map should also enter the colour matrix linearly (``model.color_context.linear``). Every
   head takes these four and hands them to :class:`Head`; everything else (widths, options) is the
   head's own constructor arguments, set in the config as ``model.head.init_args``.
2. ``head.encode_context(index, features)`` on each scale's map at the backbone's 1/8 resolution.
   Whatever it returns is what the network samples bilinearly at every pixel, so a head whose first
   layer is linear in the context applies that layer here, on the small map, and the network
   interpolates its few output channels instead of thousands of context channels (the head owns its
   factorisation). The default returns the features unchanged.
   When the network also computes low-level context (``model.color_context.blur_radii``: the Lab image blurred at a
   few radii), that map comes last, at index ``num_scales`` (``low_level_channels`` channels).
3. ``head(lab_n, context)`` per block of pixels: ``lab_n`` is the normalised Lab of the pixels
   (B, 3, h, W) and ``context`` a list with one sampled map (B, C_i, h, W) per scale. It returns the
   transformed normalised Lab (B, 3, h, W) in at least float32.

The paper's head (:class:`QuadraticHead`, the default) runs two 1x1 conv + ReLU layers on [pixel Lab,
context] and a 1x1 conv to 3*K channels, and applies the predicted 3xK matrix to a K-term colour basis
of the pixel (the paper's enhancement layer). Its first 1x1 layer is split into a pixel part (with the
bias) and one context part per scale (no bias); because that part and bilinear interpolation are both
linear, applying it before sampling (``factorize=True``) is the same network as after.

A head whose output is a colour map on a fixed basis subclasses :class:`ColorMapHead`: that is the
contract the closed-form start (:mod:`lumastyle.fitting`) and ``model.color_context.linear`` need (the basis,
:meth:`ColorMapHead.start_from`). A head that is not one is trained from its own start, and a
``low_level_linear`` asked of it is ignored with one warning line.

Short names (``head: quadratic``) are looked up in :data:`HEADS`; ``register_head`` adds to it.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
from torch import Tensor, nn

from lumastyle.color import affine_basis, apply_color_transform, quadratic_basis
from lumastyle.errors import LumastyleError


class Head(nn.Module):
    """Base of every head: see the module docstring for the interface.

    Args:
        context_channels: channels of each context feature map (given by the network).
        num_scales: how many context maps the head receives (given by the network; 0 = colour only).
        low_level_channels: channels of the low-level context map, which comes after the scales'
            maps (given by the network; 0: none).
        low_level_linear: the low-level map should also enter the colour matrix linearly (given by
            the network, ``model.color_context.linear``); only a :class:`ColorMapHead` has such a path,
            any other head ignores it with one warning line.
    """

    def __init__(
        self,
        context_channels: int,
        num_scales: int,
        low_level_channels: int = 0,
        low_level_linear: bool = False,
    ) -> None:
        super().__init__()
        self.context_channels = context_channels
        self.num_scales = num_scales
        self.low_level_channels = low_level_channels
        if low_level_linear and not isinstance(self, ColorMapHead):
            warnings.warn(
                f"model.color_context.linear: {type(self).__name__} has no linear low-level path (heads that "
                "subclass lumastyle.heads.ColorMapHead have); building it without",
                stacklevel=3,
            )

    def encode_context(self, index: int, features: Tensor) -> Tensor:
        """Scale ``index``'s context (B, C, h, w) at backbone resolution -> the map sampled at each pixel."""
        return features

    def forward(self, lab_n: Tensor, context: Sequence[Tensor]) -> Tensor:
        """Normalised Lab (B, 3, h, W) and the sampled context maps (one per scale, then the low-level map
        when there is one) -> transformed normalised Lab."""
        raise NotImplementedError

    def coefficients(self, lab_n: Tensor, context: Sequence[Tensor]) -> Tensor | None:
        """The head split in two for the fast path (:mod:`lumastyle.inference`, HDRNet's slicing): the
        per-pixel coefficients (B, C, h, W) it predicts from a pixel's colour and context, which
        :meth:`apply_coefficients` applies to a pixel's colour, so that ``forward`` is
        ``apply_coefficients(lab_n, coefficients(lab_n, context))``. The fast path predicts them on a
        coarse grid and interpolates them at every pixel. None (the default): the head cannot be split,
        and the fast path runs it whole at every pixel."""
        return None

    def apply_coefficients(self, lab_n: Tensor, coefficients: Tensor) -> Tensor:
        """Normalised Lab (B, 3, h, W) and coefficients from :meth:`coefficients` -> transformed normalised Lab."""
        raise NotImplementedError


#: What ``model.head`` builds: called with (context_channels, num_scales) and the keywords
#: ``low_level_channels`` and ``low_level_linear`` (see :class:`Head`), returns a head.
HeadFactory = Callable[[int, int], Head]


class ColorMapHead(Head):
    """A head whose output is a colour map on a fixed basis: what the closed-form start and the linear
    low-level path need (:mod:`lumastyle.fitting`).

    Subclasses set :attr:`basis` and :attr:`n_basis`, keep the linear low-level layer (or None) in
    :attr:`low_linear`, and implement :meth:`start_from`. The practical way to write one is to subclass
    :class:`ColorTransformHead` with another basis (as :class:`AffineHead` does), which has all of that.
    """

    #: K, the number of basis terms
    n_basis: ClassVar[int]
    #: the low-level map straight to the colour matrix (1x1, no bias), or None
    low_linear: nn.Conv2d | None

    @staticmethod
    def basis(color: Tensor) -> Tensor:
        """The colour basis V(c): (*, 3, H, W) -> (*, K, H, W); set by subclasses."""
        raise NotImplementedError

    @property
    def low_level_linear(self) -> bool:
        """Whether the colour matrix is also linear in the low-level context."""
        return self.low_linear is not None

    def start_from(self, matrix: Tensor, low_level: Tensor | None = None) -> None:
        """Start from the colour map ``matrix`` (3, K) on :attr:`basis` (and its terms linear in the
        C low-level channels, (3, K, C), for a head with :attr:`low_level_linear`)."""
        raise NotImplementedError

    def _check_start(self, matrix: Tensor, low_level: Tensor | None) -> None:
        if tuple(matrix.shape) != (3, self.n_basis):
            raise ValueError(f"expected a (3, {self.n_basis}) colour map, got {tuple(matrix.shape)}")
        if low_level is not None and (
            self.low_linear is None or tuple(low_level.shape) != (3, self.n_basis, self.low_linear.in_channels)
        ):
            raise ValueError(
                f"expected low-level terms for a low_level_linear head, got {tuple(low_level.shape)}"
            )


class ColorTransformHead(ColorMapHead):
    """Pixel Lab + context -> 1x1 layers -> per-pixel 3xK matrix -> that matrix times the colour basis.

    Args:
        context_channels: channels of each context feature map (given by the network).
        num_scales: number of context maps (given by the network).
        hidden: widths of the hidden 1x1 layers (each followed by ReLU); the paper uses two.
        factorize: apply the first layer's context part at the backbone's resolution, before sampling
            (the same network, a fraction of the memory); ``False`` samples the full context first.
        low_level_channels: channels of the low-level context map (given by the network; 0: none).
        low_level_linear: the low-level map also enters the per-pixel matrix linearly, through a 1x1
            layer straight to the 3K outputs beside the hidden layers (zero at the start), so the
            closed-form start can fit the best colour map that is linear in the low-level context
            (:meth:`start_from`); not in the paper. Given by the network (``model.color_context.linear``).
    """

    #: index of the L term in the basis (L, a, b follow); used to start from the identity transform
    linear_index: ClassVar[int]

    def __init__(
        self,
        context_channels: int,
        num_scales: int,
        hidden: Sequence[int] = (64, 64),
        factorize: bool = True,
        low_level_channels: int = 0,
        low_level_linear: bool = False,
    ) -> None:
        super().__init__(context_channels, num_scales, low_level_channels)
        hidden = [int(h) for h in hidden]
        if not hidden or min(hidden) < 1:
            raise LumastyleError(f"model.head hidden must be one or more positive widths, got {list(hidden)}")
        if low_level_linear and not low_level_channels:
            raise LumastyleError(
                "model.head low_level_linear needs colour context: set model.color_context.blur_radii (say [4.0, 16.0]), "
                "saliency or photo"
            )
        self.factorize = factorize
        self.pixel_in = nn.Conv2d(3, hidden[0], 1)
        channels = [context_channels] * num_scales + ([low_level_channels] if low_level_channels else [])
        self.context_in = nn.ModuleList(nn.Conv2d(c, hidden[0], 1, bias=False) for c in channels)
        layers: list[nn.Module] = [nn.ReLU(inplace=True)]
        for a, b in itertools.pairwise(hidden):
            layers += [nn.Conv2d(a, b, 1), nn.ReLU(inplace=True)]
        self.mlp = nn.Sequential(*layers)
        self.out = nn.Conv2d(hidden[-1], self.phi_channels, 1)
        #: the low-level map straight to the matrix (index ``num_scales`` of the context), or None
        self.low_linear = (
            nn.Conv2d(low_level_channels, self.phi_channels, 1, bias=False) if low_level_linear else None
        )
        self.reset_to_identity()

    @property
    def phi_channels(self) -> int:
        """Channels the hidden layers predict per pixel: the 3xK matrix."""
        return 3 * self.n_basis

    def reset_to_identity(self) -> None:
        """Start from the identity colour map: small output weights, bias = identity matrix."""
        nn.init.normal_(self.out.weight, std=1e-3)
        if self.low_linear is not None:
            nn.init.zeros_(self.low_linear.weight)
        with torch.no_grad():
            bias = torch.zeros(3, self.n_basis)
            for c in range(3):
                bias[c, self.linear_index + c] = 1.0
            _bias(self.out).copy_(bias.flatten())

    def encode_context(self, index: int, features: Tensor) -> Tensor:
        if not self.factorize:
            return features
        encoded = self.context_in[index](features)
        if self.low_linear is not None and index == self.num_scales:  # both linear layers, before sampling
            encoded = torch.cat([encoded, self.low_linear(features)], dim=-3)
        return encoded

    def start_from(self, matrix: Tensor, low_level: Tensor | None = None) -> None:
        """Start from the global colour map ``matrix`` (3, K) on this head's basis: the output layer's
        bias becomes the map and its weights zero, so the head predicts exactly that map for every
        pixel (and learns the residual from there). With ``low_level`` (3, K, C), the map's terms
        linear in the C low-level channels (:func:`lumastyle.color.fit_local_color_map`) go into
        the ``low_level_linear`` layer."""
        self._check_start(matrix, low_level)
        with torch.no_grad():
            self.out.weight.zero_()
            bias = _bias(self.out)
            bias.copy_(matrix.flatten().to(bias))
            if low_level is not None and self.low_linear is not None:
                self.low_linear.weight.copy_(low_level.reshape(3 * self.n_basis, -1)[..., None, None])

    def predict_phi(self, lab_n: Tensor, context: Sequence[Tensor]) -> Tensor:
        """Per-pixel transform (B, 3K, h, W) from normalised Lab and the sampled context maps."""
        phi, linear = self._trunk(lab_n, context)
        return phi if linear is None else phi.add_(linear)

    def _trunk(self, lab_n: Tensor, context: Sequence[Tensor]) -> tuple[Tensor, Tensor | None]:
        """The hidden layers' output (B, phi_channels, h, W) and the linear low-level terms (or None)."""
        # channels-last, as the sampled context comes (lumastyle.context.sample_context): the 1x1
        # layers then run 2-3x faster on a CPU
        x = self.pixel_in(lab_n.contiguous(memory_format=torch.channels_last))
        linear = None
        for index, sampled in enumerate(context):
            if self.low_linear is not None and index == self.num_scales:
                if self.factorize:
                    sampled, linear = sampled.split([x.shape[-3], self.low_linear.out_channels], dim=-3)
                else:
                    linear = self.low_linear(sampled)
            x.add_(sampled if self.factorize else self.context_in[index](sampled))  # in place: no new buffer
        return self.out(self.mlp(x)), linear

    def forward(self, lab_n: Tensor, context: Sequence[Tensor]) -> Tensor:
        return self.apply_coefficients(lab_n, self.predict_phi(lab_n, context))

    def coefficients(self, lab_n: Tensor, context: Sequence[Tensor]) -> Tensor | None:
        """The per-pixel 3xK matrices (:meth:`predict_phi`)."""
        return self.predict_phi(lab_n, context)

    def apply_coefficients(self, lab_n: Tensor, coefficients: Tensor) -> Tensor:
        dtype = torch.promote_types(lab_n.dtype, torch.float32)  # the enhancement layer stays >= float32
        return apply_color_transform(coefficients.to(dtype), type(self).basis(lab_n.to(dtype)))


class QuadraticHead(ColorTransformHead):
    """The paper's head: a 3x10 matrix on the quadratic basis [L², a², b², La, Lb, ab, L, a, b, 1]."""

    basis = staticmethod(quadratic_basis)  # type: ignore[assignment]  # a staticmethod of the same signature
    n_basis = 10
    linear_index = 6


class AffineHead(ColorTransformHead):
    """A per-pixel 3x4 affine colour transform on [L, a, b, 1] (as in HDRNet's per-pixel affine model)."""

    basis = staticmethod(affine_basis)  # type: ignore[assignment]  # a staticmethod of the same signature
    n_basis = 4
    linear_index = 0


class LUTBlendHead(ColorTransformHead):
    """A global quadratic colour map plus a per-pixel blend of learned 3D LUTs, in the spirit of the
    image-adaptive 3D LUT papers (Zeng et al. 2020) but with the weights predicted per pixel from the
    context, so a region can take its own LUT mix: Lab' = M V(Lab) + sum_m w_m(pixel, context) LUT_m(Lab).

    The ``luts`` residual tables (``size`` points a side over normalised Lab, trilinear) start at 0
    and their weights at 1, so the head starts as the map M (the identity, or the closed-form start's
    global fit) and learns the tables and where each applies. With ``low_level_linear`` the map M is
    also linear in the low-level context, as in :class:`ColorTransformHead` (and the closed-form start
    fits it so). Not in the paper.

    Args:
        context_channels: channels of each context feature map (given by the network).
        num_scales: number of context maps (given by the network).
        hidden: widths of the hidden 1x1 layers predicting the weights.
        factorize: see :class:`ColorTransformHead`.
        low_level_channels: channels of the low-level context map (given by the network).
        low_level_linear: the base map is also linear in the low-level context (given by the network).
        luts: how many residual LUTs are blended.
        size: lattice points per axis of each LUT.
    """

    basis = staticmethod(quadratic_basis)  # type: ignore[assignment]  # a staticmethod of the same signature
    n_basis = 10
    linear_index = 6

    def __init__(
        self,
        context_channels: int,
        num_scales: int,
        hidden: Sequence[int] = (64, 64),
        factorize: bool = True,
        low_level_channels: int = 0,
        low_level_linear: bool = False,
        luts: int = 4,
        size: int = 9,
    ) -> None:
        if luts < 1 or size < 2:
            raise LumastyleError(f"model.head luts must be >= 1 and size >= 2, got {luts} and {size}")
        self.n_luts = int(luts)  # phi_channels, which the base class's layers are built with
        super().__init__(
            context_channels, num_scales, hidden, factorize, low_level_channels, low_level_linear
        )
        self.luts = nn.Parameter(torch.zeros(self.n_luts, 3, size, size, size))
        if low_level_linear:  # on the base map's 3K terms, not on the LUT weights
            self.low_linear = nn.Conv2d(low_level_channels, 3 * self.n_basis, 1, bias=False)
            nn.init.zeros_(self.low_linear.weight)

    @property
    def phi_channels(self) -> int:
        return self.n_luts  # one weight per LUT

    def reset_to_identity(self) -> None:
        nn.init.normal_(self.out.weight, std=1e-3)
        nn.init.zeros_(_bias(self.out))
        if "base" not in self._parameters:  # first call, from the base class's constructor
            self.base = nn.Parameter(torch.zeros(3, self.n_basis))
        with torch.no_grad():
            self.base.zero_()
            for c in range(3):
                self.base[c, self.linear_index + c] = 1.0

    def start_from(self, matrix: Tensor, low_level: Tensor | None = None) -> None:
        """Start from the colour map ``matrix`` (3, K) (and its low-level terms (3, K, C) with
        ``low_level_linear``): the base map becomes it."""
        self._check_start(matrix, low_level)
        with torch.no_grad():
            self.base.copy_(matrix.to(self.base))
            if low_level is not None and self.low_linear is not None:
                self.low_linear.weight.copy_(low_level.reshape(3 * self.n_basis, -1)[..., None, None])

    def forward(self, lab_n: Tensor, context: Sequence[Tensor]) -> Tensor:
        coefficients = self.coefficients(lab_n, context)
        assert coefficients is not None  # this head always splits
        return self.apply_coefficients(lab_n, coefficients)

    def coefficients(self, lab_n: Tensor, context: Sequence[Tensor]) -> Tensor | None:
        """Per pixel, the LUTs' weights (M channels) and then the base map's 3xK matrix."""
        dtype = torch.promote_types(lab_n.dtype, torch.float32)
        phi, linear = self._trunk(lab_n, context)
        weights = 1 + phi.to(dtype)  # (B, M, h, W)
        matrix = self.base.to(dtype).reshape(1, -1, 1, 1).expand(lab_n.shape[0], -1, *lab_n.shape[-2:])
        if linear is not None:  # the base map's terms linear in the low-level context
            matrix = matrix + linear.to(dtype)
        return torch.cat([weights, matrix], dim=-3)

    def apply_coefficients(self, lab_n: Tensor, coefficients: Tensor) -> Tensor:
        dtype = torch.promote_types(lab_n.dtype, torch.float32)
        weights, matrix = coefficients.to(dtype).split([self.n_luts, 3 * self.n_basis], dim=-3)
        lab = lab_n.to(dtype)
        out = apply_color_transform(matrix, self.basis(lab))
        b = lab.shape[0]
        # grid_sample's (x, y, z) index the table's (W, H, D) = (b, a, L) axes, on [-1, 1] (border beyond)
        grid = lab.permute(0, 2, 3, 1).flip(-1).unsqueeze(1)  # (B, 1, h, W, 3)
        tables = self.luts.to(dtype).flatten(0, 1).unsqueeze(0).expand(b, -1, -1, -1, -1)
        with torch.autocast(lab.device.type, enabled=False):
            sampled = torch.nn.functional.grid_sample(
                tables, grid, mode="bilinear", padding_mode="border", align_corners=True
            )
        sampled = sampled.squeeze(2).unflatten(1, (self.n_luts, 3))  # (B, M, 3, h, W)
        return out + (weights.unsqueeze(2) * sampled).sum(dim=1)


def _bias(conv: nn.Conv2d) -> Tensor:
    """The bias of a 1x1 layer built with one."""
    if conv.bias is None:
        raise ValueError("this layer has no bias")
    return conv.bias


#: Short head names -> classes (``head: quadratic``); plugins add theirs with :func:`register_head`.
HEADS: dict[str, type[Head]] = {"quadratic": QuadraticHead, "affine": AffineHead, "lut_blend": LUTBlendHead}


def register_head(name: str) -> Callable[[type[Head]], type[Head]]:
    """Class decorator adding a head to :data:`HEADS` under ``name`` (``--model.head NAME``)."""

    def add(cls: type[Head]) -> type[Head]:
        if name in HEADS and HEADS[name] is not cls:
            raise LumastyleError(f"a head named {name!r} is already registered ({HEADS[name].__qualname__})")
        HEADS[name] = cls
        return cls

    return add


def get_head(name: str) -> type[Head]:
    """The head class registered as ``name``: its short name, or its class's full path
    (``lumastyle.heads.QuadraticHead``: how a config holds the default head when a style sets none);
    an unknown name lists the valid ones."""
    if name in HEADS:
        return HEADS[name]
    for cls in HEADS.values():
        if f"{cls.__module__}.{cls.__qualname__}" == name:
            return cls
    raise LumastyleError(
        f"unknown head {name!r}; choose one of: {', '.join(sorted(HEADS))}, "
        "or give a class: --model.head.class_path package.module.MyHead"
    )


def resolve_head(head: HeadFactory | str) -> HeadFactory:
    """The factory ``head`` names: a short name is looked up (an unknown one raises), others pass."""
    return get_head(head) if isinstance(head, str) else head


def build_head(
    head: HeadFactory | str,
    context_channels: int,
    num_scales: int,
    low_level_channels: int = 0,
    low_level_linear: bool = False,
) -> Head:
    """Build ``head`` (a short name, a head class, or a factory from a config) for the network, passing
    what every head takes (see :class:`Head`; the two low-level keywords only when they are set, so a
    head written before they existed still builds without low-level context); a factory that does not
    build a :class:`Head` from those is one line naming the contract."""
    factory = resolve_head(head)
    name = getattr(factory, "__qualname__", type(factory).__name__)  # for the message only
    given: dict[str, int | bool] = {}
    if low_level_channels:
        given["low_level_channels"] = low_level_channels
    if low_level_linear:
        given["low_level_linear"] = True
    try:
        built = factory(context_channels, num_scales, **given)
    except TypeError as err:
        raise LumastyleError(
            f"model.head {name}: a head takes (context_channels, num_scales, low_level_channels, "
            f"low_level_linear) and its own options, see lumastyle.heads.Head ({err})"
        ) from None
    if not isinstance(built, Head):
        raise LumastyleError(
            f"model.head built a {type(built).__name__}, not a lumastyle.heads.Head; subclass Head"
        )
    return built
