"""The paper's dilated VGG-16 fully convolutional network (output stride 8) and its weight loading.

conv1-conv5 as in VGG-16; pool4 and pool5 keep stride 1 (3x3 windows, padding 1, so the resolution
is kept); conv5 is dilated by 2 and conv6 by 4 to keep the receptive fields VGG-16 learned; conv6
(7x7, from fc6) and conv7 (1x1, from fc7) turn the fully connected layers into convolutions.
Layer indices of ``features`` match ``torchvision.models.vgg16().features`` so its state dicts load.

The network is two parts: ``lower`` (input normalisation and conv1-conv5, what ImageNet weights
cover and what ``freeze: conv1-conv5`` keeps fixed, so its maps can be computed once and cached, see
:mod:`lumastyle.cache`) and ``upper`` (conv6 and conv7, at ``top_channels`` width). ``upper`` also runs
on a window of a cached conv5 map that carries its own :data:`UPPER_MARGIN` cells of context, which
gives exactly the cells the whole map would give there.

``weights: bundled`` loads VGG-16's conv1-conv5 ImageNet weights shipped in the package (float16,
CC BY 4.0, Simonyan and Zisserman; see ``lumastyle/weights/README.md``), so the pretrained lower
backbone works offline on a fresh install; ``imagenet`` (torchvision's download) adds fc6/fc7.
A checkpoint whose conv1-conv5 are frozen at exactly those weights leaves them out and keeps their
SHA-256 instead (:func:`bundled_features`, :meth:`DilatedVGG16.holds_bundled_lower`,
:mod:`lumastyle.checkpoints`).
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from lumastyle.errors import LumastyleError

# VGG-16's conv1..conv5 channel counts; "M" marks a 2x2/stride-2 max-pool, "P" a 3x3/stride-1 one.
_CFG: list[int | str] = [
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    "P",
    512,
    512,
    512,
    "P",
]
_CONV5_INDICES = (24, 26, 28)  # features.N of conv5_1..conv5_3 in torchvision's numbering
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN = (123.680, 116.779, 103.939)

#: Output stride of the network: conv7 maps are 1/8 of the input's resolution.
STRIDE = 8
#: How far conv6 (7x7, dilation 4) reaches, in cells of the conv5 map, on each side.
UPPER_MARGIN = 12
InputNorm = Literal["imagenet", "caffe"]
#: ``weights`` names that are not files: where they come from and the input normalisation they expect.
NAMED_WEIGHTS: dict[str, InputNorm] = {"imagenet": "imagenet", "bundled": "caffe"}
BUNDLED_WEIGHTS = "vgg16_conv1_5_imagenet_caffe_fp16.pth"

Freeze = Literal["none", "conv1-conv5", "conv1-conv7"]
#: Earlier names of the freeze settings, still accepted: ``features`` (conv1-conv5) and ``all``
#: (conv1-conv7: conv6/conv7 too, at their random start unless the weights have fc6/fc7).
FREEZE_ALIASES: dict[str, Freeze] = {"features": "conv1-conv5", "all": "conv1-conv7"}
#: What a ``freeze`` argument accepts: the settings and their earlier names.
FreezeName = Literal["none", "conv1-conv5", "conv1-conv7", "features", "all"]


def _channels(n: int, width: float) -> int:
    return max(1, round(n * width))


class DilatedVGG16(nn.Module):
    """Dilated VGG-16 FCN: sRGB in [0, 1] (B, 3, H, W) -> conv7 features (B, C, H/8, W/8).

    Args:
        width: factor on every channel count (1.0 = the paper's 512/4096 channels; small values for CPU tests).
        weights: ``"bundled"`` (VGG-16 conv1-conv5 shipped with lumastyle), ``"imagenet"`` (torchvision's
            VGG-16 download, with fc6/fc7), a path to a state dict file, or None (random).
        input_norm: how the weights expect their input: ``imagenet`` (0-1, mean/std) or ``caffe`` (0-255
            minus mean); None: what the named weights expect (``caffe`` for ``bundled``), else ``imagenet``.
        freeze: which parameters stay fixed: ``none``, ``conv1-conv5`` or ``conv1-conv7`` (the earlier
            names ``features`` and ``all`` are read as these, :data:`FREEZE_ALIASES`).
        top_channels: channels of conv6 and conv7 (None: 4096 times ``width``, the paper's at width 1).
    """

    # buffers (register_buffer in __init__)
    mean: Tensor
    std: Tensor
    conv5_scale: Tensor

    def __init__(
        self,
        width: float = 1.0,
        weights: str | None = None,
        input_norm: InputNorm | None = None,
        freeze: FreezeName = "none",
        top_channels: int | None = None,
    ) -> None:
        super().__init__()
        if width <= 0:
            raise LumastyleError(f"backbone width must be positive, got {width}")
        if top_channels is not None and top_channels < 1:
            raise LumastyleError(f"model.backbone.top_channels must be at least 1, got {top_channels}")
        input_norm = resolve_input_norm(weights, input_norm)
        if input_norm not in ("imagenet", "caffe"):
            raise LumastyleError(f"backbone input_norm must be 'imagenet' or 'caffe', got {input_norm!r}")
        setting = FREEZE_ALIASES.get(freeze, freeze)
        if setting not in ("none", "conv1-conv5", "conv1-conv7"):
            raise LumastyleError(
                f"backbone freeze must be 'none', 'conv1-conv5' or 'conv1-conv7', got {setting!r}"
            )
        self.width = width
        self.input_norm = input_norm
        self.freeze: Freeze = setting
        layers: list[nn.Module] = []
        in_ch = 3
        for item in _CFG:
            if item == "M":
                layers.append(nn.MaxPool2d(2, stride=2))  # as torchvision; the network feeds multiples of 8
            elif item == "P":
                layers.append(nn.MaxPool2d(3, stride=1, padding=1))
            else:
                dilation = 2 if len(layers) in _CONV5_INDICES else 1
                out_ch = _channels(int(item), width)
                layers += [
                    nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation),
                    nn.ReLU(inplace=True),
                ]
                in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.out_channels = top_channels or _channels(4096, width)
        self.conv6 = nn.Conv2d(in_ch, self.out_channels, 7, padding=12, dilation=4)
        self.conv7 = nn.Conv2d(self.out_channels, self.out_channels, 1)
        self.relu = nn.ReLU(inplace=True)
        if input_norm == "imagenet":
            mean, std = torch.tensor(_IMAGENET_MEAN), torch.tensor(_IMAGENET_STD)
        else:
            mean, std = torch.tensor(_CAFFE_MEAN) / 255.0, torch.full((3,), 1.0 / 255.0)
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, 3, 1, 1), persistent=False)
        # a fixed factor on conv5's map before conv6: 1 for the paper's pretrained fc6; set from the
        # training photos when conv6 starts untrained above frozen weights (lumastyle.fitting.conv5_scales)
        self.register_buffer("conv5_scale", torch.ones(()))
        #: whether conv1-conv5 came from pretrained weights rather than a random init
        self.lower_pretrained = weights is not None
        #: whether conv6/conv7 came from pretrained weights (fc6/fc7) rather than a random init
        self.top_pretrained = False
        self.reset_parameters()
        if weights is not None:
            self.load_weights(weights)
        self._apply_freeze()

    def reset_parameters(self) -> None:
        """He (fan-out) initialisation, as torchvision initialises VGG: keeps a random backbone's signal alive."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:  # every conv here has one
                    nn.init.zeros_(m.bias)

    def _apply_freeze(self) -> None:
        frozen: dict[Freeze, list[nn.Module]] = {
            "none": [],
            "conv1-conv5": [self.features],
            "conv1-conv7": [self.features, self.conv6, self.conv7],
        }
        for module in frozen[self.freeze]:
            for p in module.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> DilatedVGG16:
        super().train(mode)
        return self  # no dropout or batch norm: train/eval behave the same

    def lower(self, rgb: Tensor) -> Tensor:
        """sRGB (B, 3, H, W) -> conv5 map (B, 512*width, H/8, W/8): the part pretrained weights cover."""
        x = (rgb - self.mean.to(rgb.dtype)) / self.std.to(rgb.dtype)
        return self.features(x)

    def upper(self, conv5: Tensor, with_margin: bool = False) -> Tensor:
        """conv5 map -> conv7 map of the same size (conv6 zero-pads the map's borders).

        With ``with_margin`` the input is a window that already holds :data:`UPPER_MARGIN` cells on every
        side (zeros where they fall outside the whole map); conv6 then adds no padding and the output is
        the window without its margin, equal to those cells of the whole map's output.
        """
        conv5 = conv5 * self.conv5_scale.to(conv5.dtype)
        if with_margin:
            conv6 = self.conv6
            x = nn.functional.conv2d(conv5, conv6.weight, conv6.bias, dilation=conv6.dilation)
        else:
            x = self.conv6(conv5)
        return self.relu(self.conv7(self.relu(x)))

    def forward(self, rgb: Tensor) -> Tensor:
        return self.upper(self.lower(rgb))

    def holds_bundled_lower(self) -> bool:
        """Whether conv1-conv5 are frozen and hold exactly the bundled weights (cast to float32, as
        ``weights: bundled`` loads them): a checkpoint then refers to them instead of storing them."""
        if any(p.requires_grad for p in self.features.parameters()):
            return False
        bundled, _ = bundled_features()
        own = self.features.state_dict(prefix="features.")
        if own.keys() != bundled.keys():
            return False
        return all(
            own[k].dtype == torch.float32
            and own[k].shape == v.shape
            and torch.equal(own[k], v.to(own[k].device, torch.float32))
            for k, v in bundled.items()
        )

    def lower_fingerprint(self) -> str:
        """A hash of everything ``lower`` computes with (input normalisation and conv1-conv5 weights):
        cached conv5 maps are keyed by it, so changed weights never serve a stale map."""
        digest = hashlib.sha1(f"{self.input_norm}|{self.width}".encode())
        for name, tensor in self.features.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().float().contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]

    # -- weights ---------------------------------------------------------------------------------

    def load_weights(self, weights: str | os.PathLike) -> None:
        """Load ``"bundled"``, ``"imagenet"`` (download) or a local file: a torchvision vgg16 state dict
        or a features-only one."""
        state: object  # what the file holds, checked below
        if str(weights) == "imagenet":
            state = _download_imagenet_state_dict()
            source = "torchvision's ImageNet VGG-16"
        else:
            bundled = str(weights) == "bundled"
            path = bundled_weights_path() if bundled else Path(weights)
            if not path.is_file():
                raise LumastyleError(
                    f"backbone weights file {path} does not exist; give a VGG-16 state dict file, "
                    "'imagenet', or null to train from scratch"
                )
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as err:  # torch raises many types for a bad file
                raise LumastyleError(
                    f"{path}: not a readable PyTorch state dict ({type(err).__name__}); "
                    "give a VGG-16 state dict file"
                ) from None
            if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
                state = state["state_dict"]
            if not isinstance(state, dict):
                raise LumastyleError(f"{path}: expected a state dict (a mapping of names to tensors)")
            source = str(path)
        if isinstance(state, dict):  # float16 storage (the bundled file) loads into float32 parameters
            state = {
                k: v.float() if isinstance(v, Tensor) and v.is_floating_point() else v
                for k, v in state.items()
            }
        mapped = _to_backbone_keys(state, source, self.features)
        self.load_state_dict(mapped, strict=False)
        self.top_pretrained = "conv6.weight" in mapped
        #: parameter names the weights did not cover (conv6/conv7 for a features-only file)
        self.pretrained_missing = [k for k, _ in self.named_parameters() if k not in mapped]

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        # weights files and checkpoints from before conv5_scale existed: the factor is 1
        state_dict.setdefault(prefix + "conv5_scale", torch.ones(()))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        own = self.state_dict()
        for key, value in state_dict.items():
            if key in own and own[key].shape != value.shape:
                need = (
                    "model.backbone.top_channels null (4096)"
                    if key.startswith(("conv6", "conv7"))
                    else "backbone width 1.0"
                )
                raise LumastyleError(
                    f"backbone weight {key} has shape {tuple(value.shape)} but the model (width={self.width}) "
                    f"expects {tuple(own[key].shape)}; these pretrained VGG-16 weights need {need}"
                )
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


def resolve_input_norm(weights: str | os.PathLike | None, input_norm: InputNorm | None) -> InputNorm:
    """``input_norm``, or when None what the named ``weights`` expect (``imagenet`` for files and none)."""
    return input_norm if input_norm is not None else NAMED_WEIGHTS.get(str(weights), "imagenet")


def bundled_weights_path() -> Path:
    """The VGG-16 conv1-conv5 weights shipped with lumastyle (see ``lumastyle/weights/README.md``)."""
    return Path(str(resources.files("lumastyle") / "weights" / BUNDLED_WEIGHTS))


@functools.lru_cache(maxsize=1)
def bundled_features() -> tuple[dict[str, Tensor], str]:
    """The bundled weights as a width-1 backbone's ``features`` state (``features.0.weight`` ...; float16
    as stored) and their SHA-256 (over the names, dtypes, shapes and bytes, in name order, so a file
    written again with the same tensors keeps it). Read and hashed once per process (about 0.05 s)."""
    state = torch.load(bundled_weights_path(), map_location="cpu", weights_only=True)
    features = {f"features.{k}": v for k, v in state.items()}
    digest = hashlib.sha256()
    for name in sorted(features):
        tensor = features[name].contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.numpy().tobytes())
    return features, digest.hexdigest()


def _to_backbone_keys(state: dict, source: str, features: nn.Sequential) -> dict[str, Tensor]:
    """Map torchvision names (``features.N.*``, ``classifier.0/3.*``) or features-only names (``N.*``) to ours."""
    out: dict[str, Tensor] = {}
    n_features = len(features)
    for key, value in state.items():
        if not isinstance(value, Tensor):
            continue
        key = key.removeprefix("module.")
        head = key.split(".", 1)[0]
        if head.isdigit() and int(head) < n_features:
            out[f"features.{key}"] = value
        elif key.startswith("features."):
            out[key] = value
        elif key.startswith("backbone."):
            out[key.removeprefix("backbone.")] = value
        elif key.startswith("classifier.0."):  # fc6: (4096, 512*7*7) -> conv6 (4096, 512, 7, 7)
            suffix = key.rsplit(".", 1)[1]
            out[f"conv6.{suffix}"] = value.reshape(value.shape[0], -1, 7, 7) if suffix == "weight" else value
        elif key.startswith("classifier.3."):  # fc7: (4096, 4096) -> conv7 (4096, 4096, 1, 1)
            suffix = key.rsplit(".", 1)[1]
            out[f"conv7.{suffix}"] = value[:, :, None, None] if suffix == "weight" else value
        elif key.startswith(("conv6.", "conv7.")):
            out[key] = value
    conv_keys = [k for k in out if k.startswith("features.")]
    if not conv_keys:
        raise LumastyleError(
            f"{source}: no VGG-16 convolution weights found (expected keys like 'features.0.weight' or "
            "'0.weight'); give a torchvision vgg16 state dict"
        )
    return out


class ImageNetUnavailable(LumastyleError):
    """torchvision's ImageNet VGG-16 weights cannot be downloaded here; the message names what works
    without them and what each choice costs (``command``: the command line that works here, which
    the CLI fills in from the one given)."""

    def __init__(self, reason: str, command: str | None = None) -> None:
        self.reason = reason
        preset = command or "add --config configs/cpu-small.yaml after the style"
        super().__init__(
            f"cannot download torchvision's ImageNet VGG-16 weights ({reason}), which the paper's full model "
            "loads (backbone.weights: imagenet: 528 MB once; it is sized for a GPU). "
            f"Without them, the CPU preset trains with the weights bundled in lumastyle: {preset} (Spring's "
            "30 epochs: about 7 minutes on 2 CPU cores, plus a minute to cache the context the first time); "
            "or pass --model.backbone.weights FILE (a VGG-16 state dict you have) or null (untrained)"
        )


def _download_imagenet_state_dict() -> dict[str, Tensor]:
    from torchvision.models import VGG16_Weights

    try:
        return VGG16_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
    except Exception as err:  # URLError, OSError, HTTPError, ... all mean: not available here
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ImageNetUnavailable(reason) from None
