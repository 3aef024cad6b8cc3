"""``lumastyle export``: a trained checkpoint as a file other tools run, or as a LUT.

- ``onnx``: an ONNX model (``torch.onnx`` through ``torch.export``, dynamic height and width) taking
  an sRGB image (1, 3, H, W) in [0, 1] and returning the stylized sRGB image, the context computed on
  a copy capped at the training scale as ``stylize`` does (:class:`Stylizer`). Checked against the
  PyTorch output with onnxruntime before it is written, on photos below, at and above the context
  cap (exact halves of the capped size included, :func:`_check_sizes`).
- ``pt2``: the same program as a ``torch.export`` archive (``torch.export.load(path).module()``), for
  PyTorch runtimes, checked the same way.
- ``torchscript`` is refused in one line: tracing fixes the photo size into the graph (the context
  cap and the padding are size arithmetic), so ``pt2``, PyTorch's successor to it, is the format.
- ``cube``: an Adobe ``.cube`` 3D LUT. Exact only for a model whose transform depends on colour alone
  (no context: ``model.context.scales: []`` and no low-level context); a context model is refused in one line
  unless ``--reference PHOTO`` is given, which bakes the LUT that photo's context gives (the colour map
  the model applies to that photo, for pixels of average surroundings).

The network has no Python branch on tensor sizes (the backbone's padding, the blur, the context
cap are size arithmetic), so one export serves every size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from lumastyle.actions.cube import CubeLUT, identity_lut, write_cube
from lumastyle.color import lab_to_rgb, rgb_to_lab
from lumastyle.errors import LumastyleError
from lumastyle.geometry import capped_size, image_hw, resize
from lumastyle.inference import stylize_tensor
from lumastyle.io import read_image
from lumastyle.network import StyleNetwork

Format = Literal["onnx", "pt2", "cube", "torchscript"]
_SUFFIX = {"onnx": ".onnx", "pt2": ".pt2", "cube": ".cube"}
_CHECK_SIZES = ((96, 128), (75, 50))  # the photo sizes an export without a context cap is checked on
_MAX_SIDE = 16384  # the longest side an exported file takes
#: in sRGB, 1/39 of an 8-bit level: onnxruntime differs from PyTorch by under 1e-5 (pt2: not at all),
#: and a context copy one pixel off moves even a barely trained model's output by 3e-4 or more
#: (tests/test_export.py), so a drift of the export's size arithmetic is refused
_TOLERANCE = 1e-4


def _check_sizes(cap: int | None) -> list[tuple[int, int]]:
    """The photo sizes (H, W) an exported file is checked on before it is kept, on both sides of the
    context cap: one smaller than the cap and one whose long side is the cap (their context is the
    photo itself, so a cap one pixel lower would shrink the second), and, both ways round, one whose
    long side is twice the cap and whose short side ``n``, capped, is an exact half (``n`` = 1 mod 4:
    ``n / 2`` is x.5 with x even, 36.5 for 73, where Python's half-to-even ``round`` gives one pixel
    fewer than :func:`lumastyle.geometry.capped_size`'s half up; a cap above 8192 gives a long side
    of 16384 instead). The short sides are at most 75 pixels, so the check costs little at any cap.
    No cap, or one too small for 8-pixel photos: ``_CHECK_SIZES``."""
    if not cap or cap < 9:
        return list(_CHECK_SIZES)
    below = min(cap - 1, 75)
    at = max(8, min(cap * 3 // 4, 73))
    long = min(2 * cap, _MAX_SIDE)
    return [
        (max(8, below * 2 // 3), below),
        (at, cap),
        (long, 73 if long > 73 else 9),
        (73 if long > 73 else 9, long),
    ]


class Stylizer(nn.Module):
    """sRGB (1, 3, H, W) -> stylized sRGB: the network with the context on a copy whose long side is
    at most ``context_long_side``: :func:`lumastyle.geometry.capped_size`, as
    :func:`lumastyle.inference.context_copy` (its integer size arithmetic keeps an exported graph's H and
    W dynamic). A photo that fits is resampled to its own size, the identity, so the graph has no branch
    on the size."""

    def __init__(self, network: StyleNetwork, context_long_side: int | None) -> None:
        super().__init__()
        self.network = network
        self.cap = int(context_long_side or 0)

    def forward(self, rgb: Tensor) -> Tensor:
        context = rgb
        if self.cap:  # a branch on the configured cap, never on the photo's size
            h, w = rgb.shape[-2:]
            context = resize(rgb, capped_size(h, w, self.cap), antialias=True)
        return self.network(rgb, context)


def export(
    ckpt: str,
    format: Format = "onnx",
    output: str | None = None,
    size: int = 33,
    reference: str | None = None,
    context_long_side: int | None = None,
) -> list[Path]:
    """Export a trained checkpoint: onnx or pt2 (torch.export; any photo size in, the stylized photo
    out), or a .cube 3D LUT.

    Args:
        ckpt: checkpoint written by ``lumastyle fit``.
        format: ``onnx``, ``pt2`` or ``cube`` (``torchscript`` is refused: tracing fixes the size).
        output: the file to write (default: beside the checkpoint, with the format's suffix).
        size: lattice points per axis of a .cube (2..256).
        reference: for a .cube of a model with context: the photo whose context the LUT is baked for.
        context_long_side: the context cap (default: the training scale stored in the checkpoint).
    """
    from lumastyle.model import LumaStyle

    if format == "torchscript":
        raise LumastyleError(
            "--format torchscript: tracing would fix the photo size into the model; use --format pt2 "
            "(torch.export, loads with torch.export.load, any size) or --format onnx"
        )
    if format not in _SUFFIX:
        raise LumastyleError(f"--format {format!r}: choose one of {', '.join(_SUFFIX)}")
    model = LumaStyle.from_checkpoint(ckpt)
    path = Path(output).expanduser() if output else Path(ckpt).with_suffix(_SUFFIX[format])
    cap = model.context_long_side(context_long_side)
    if format == "cube":
        return [_export_cube(model.network, path, size, reference, cap)]
    if not model.network.exportable:
        raise LumastyleError(
            f"{ckpt}: this model's region context (model.color_context.regions) runs scikit-image's SLIC, which "
            f"--format {format} cannot hold; stylize with lumastyle, or export a model trained without it"
        )
    stylizer = Stylizer(model.network, cap).eval()
    examples = [
        torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(i))
        for i, hw in enumerate(_check_sizes(cap))
    ]
    with torch.no_grad():
        expected = [stylize_tensor(model.network, x, cap, 1 << 30) for x in examples]
        program = torch.export.export(
            stylizer,
            (examples[0],),
            dynamic_shapes=(
                {
                    2: torch.export.Dim("height", min=8, max=_MAX_SIDE),
                    3: torch.export.Dim("width", min=8, max=_MAX_SIDE),
                },
            ),
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "onnx":
        run = _write_onnx(program, examples[0], path)
    else:
        torch.export.save(program, str(path))
        loaded = torch.export.load(str(path)).module()
        run = lambda x: loaded(x)  # noqa: E731
    for x, want in zip(examples, expected, strict=True):
        got = torch.as_tensor(run(x))
        worst = float((got - want).abs().max())
        if worst > _TOLERANCE:
            path.unlink(missing_ok=True)
            raise LumastyleError(
                f"the {format} export differs from PyTorch by {worst:.4f} on a {x.shape[-2]}x{x.shape[-1]} photo; "
                "nothing was written (please report this)"
            )
    return [path]


def _write_onnx(program: torch.export.ExportedProgram, example: Tensor, path: Path):
    try:
        import onnxruntime
    except ImportError:
        raise LumastyleError(
            "--format onnx needs onnx and onnxruntime: pip install 'lumastyle[export]'"
        ) from None
    onnx_program = torch.onnx.export(
        program, (example,), dynamo=True, input_names=["image"], output_names=["stylized"]
    )
    if onnx_program is None:  # only the legacy exporter (dynamo=False) returns None
        raise LumastyleError("torch.onnx.export returned no program; nothing was written (please report this)")
    onnx_program.save(str(path))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"image": x.numpy()})[0]


def _export_cube(
    network: StyleNetwork, path: Path, size: int, reference: str | None, cap: int | None
) -> Path:
    if not 2 <= size <= 256:
        raise LumastyleError(f"--size {size} is outside 2..256; use 17, 33 or 65")
    has_context = network.num_scales > 0 or network.low_level is not None
    if has_context and reference is None:
        raise LumastyleError(
            "this model's colours depend on each pixel's surroundings (it has context), which a .cube cannot "
            "hold; give --reference PHOTO to bake the LUT for that photo's context, or train with "
            "--model.context.scales [] --model.color_context.blur_radii [] for a LUT-exact model"
        )
    lattice = identity_lut(size)  # (b, g, r, 3)
    colours = lattice.reshape(1, size * size, size, 3).permute(0, 3, 1, 2)  # an image of every lattice colour
    with torch.no_grad():
        if has_context:
            assert reference is not None  # refused above
            photo = read_image(reference)[0][None]
            maps = network.encode_context(_capped(photo, cap))
            # every lattice colour read at the photo's average context: the mean of its maps
            maps = [m._replace(features=m.features.mean(dim=(-2, -1), keepdim=True)) for m in maps]
        else:
            maps = []
        lab = rgb_to_lab(colours)
        out = lab_to_rgb(network.transform(lab, maps, image_hw(lab)))
    table = out[0].permute(1, 2, 0).reshape(size, size, size, 3)
    title = f"lumastyle {path.stem}" + (f" (context of {Path(reference).name})" if reference else "")
    return write_cube(path, CubeLUT(table), title=title)


def _capped(rgb: Tensor, cap: int | None) -> Tensor:
    from lumastyle.inference import context_copy

    return context_copy(rgb, cap)
