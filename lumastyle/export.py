"""``lumastyle export``: a trained checkpoint as a file other tools run, or as a LUT.

- ``onnx``: an ONNX model (``torch.onnx`` through ``torch.export``, dynamic height and width) taking
  an sRGB image (1, 3, H, W) in [0, 1] and returning the stylized sRGB image, the context computed on
  a copy capped at the training scale as ``stylize`` does (:class:`Stylizer`). Checked against the
  PyTorch output with onnxruntime before it is written, on photos below, at and above the context
  cap (exact halves of the capped size included, :func:`_check_sizes`).
- ``pt2``: the same program as a ``torch.export`` archive (``torch.export.load(path).module()``), for
  PyTorch runtimes, checked the same way.
- ``cube``, ``3dl``, ``hald``: the colour map as a 3D LUT (:data:`LUT_FORMATS`): an Adobe/Resolve
  ``.cube`` (ffmpeg's ``lut3d``, OpenColorIO, Resolve, Premiere), an Autodesk ``.3dl`` of 17 points per
  axis, 10-bit in and 12-bit out, without Lustre's ``Mesh`` lines (the one layout ffmpeg reads; OpenColorIO,
  Flame, Nuke), or a 16-bit Hald CLUT ``.png`` (ImageMagick's ``-hald-clut``, G'MIC, darktable,
  RawTherapee). Exact only for a model whose transform depends on colour alone (no context:
  ``model.context.scales: []`` and no low-level context); a context model is refused in one line
  unless ``--reference`` is given: a photo, whose context the LUT is baked for (the colour map the
  model applies to that photo, for pixels of average surroundings), or a folder, one LUT per photo.
  Each written LUT is read back with lumastyle's own reader and its mean ΔE76 from the model is
  printed: on its reference photo (the LUT applied against ``stylize``'s output), or without one on
  :data:`_RANDOM_COLOURS` seeded random colours.
- ``xmp``: a Lightroom Classic / Camera Raw preset (:func:`export_preset`): the settings whose rendering
  by lumastyle comes closest to the model's output (:func:`lumastyle.actions.preset_fit.fit_preset`),
  on the ``--reference`` photos (a photo or a folder; needed for a model with context), or without
  them, for a colour-only model, on every colour of a 33-point lattice. The fit's mean ΔE76 from the
  model is printed.

``--strength S`` (0..2, default 1; :func:`lumastyle.color.blend_strength`) exports the look at that
amount, as ``stylize --strength`` renders it: a blend in CIELab between each colour and the look's,
baked into the LUT's table, into the colours the preset is fitted to, and into the onnx/pt2 graph
(:class:`Stylizer`; checked against ``stylize`` like the rest). 1 is the export without it.

The network has no Python branch on tensor sizes (the backbone's padding, the blur, the context
cap are size arithmetic), so one export serves every size.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from lumastyle.actions.action import Action
from lumastyle.actions.cube import CubeLUT, identity_lut, read_cube_action, write_cube
from lumastyle.actions.hald import hald_level, read_hald, write_hald
from lumastyle.actions.threedl import read_3dl, write_3dl
from lumastyle.color import blend_strength, lab_distance, lab_to_rgb, rgb_to_lab
from lumastyle.context import ContextMap
from lumastyle.errors import LumastyleError
from lumastyle.geometry import capped_size, image_hw, resize
from lumastyle.inference import check_strength, stylize_tensor
from lumastyle.io import photos_at, read_image
from lumastyle.network import StyleNetwork

# the command offers these alone (no torchscript: tracing would fix the photo size into the graph;
# pt2, torch.export, is its successor)
Format = Literal["onnx", "pt2", "cube", "3dl", "hald", "xmp"]
_CHECK_SIZES = ((96, 128), (75, 50))  # the photo sizes an export without a context cap is checked on
_MAX_SIDE = 16384  # the longest side an exported file takes
#: in sRGB, 1/39 of an 8-bit level: onnxruntime differs from PyTorch by under 1e-5 (pt2: not at all),
#: and a context copy one pixel off moves even a barely trained model's output by 3e-4 or more
#: (tests/test_export.py), so a drift of the export's size arithmetic is refused
_TOLERANCE = 1e-4
#: the random colours (seeded) a LUT of a model without context is compared with the model on
_RANDOM_COLOURS, _SEED = 4096, 0


def _size_in_range(size: int) -> int:
    if not 2 <= size <= 256:
        raise LumastyleError(f"--size {size} is outside 2..256; use 17, 33 or 65")
    return size


def _3dl_points(size: int) -> int:
    if size != 17:
        raise LumastyleError(
            f"--size {size}: a .3dl is written with 17 points per axis, the one size ffmpeg reads (Lustre's "
            "and Flame's usual size); leave --size out, or use --format cube or hald for other sizes"
        )
    return 17


def _write_cube(path: Path, table: Tensor, title: str) -> Path:
    return write_cube(path, CubeLUT(table), title=title)


def _write_3dl(path: Path, table: Tensor, title: str) -> Path:
    try:
        return write_3dl(path, table, out_bits=12, mesh=False)
    except ValueError as err:  # too dark for its 12-bit codes to be read as such without a Mesh line
        raise LumastyleError(f"{path}: {err}, as OpenColorIO would read it; use --format cube") from None


def _write_hald(path: Path, table: Tensor, title: str) -> Path:
    return write_hald(path, table, bit_depth=16)


@dataclass(frozen=True)
class LutFormat:
    """A format ``lumastyle export`` writes a colour map in: a lattice of the map baked into a file.

    Args:
        suffix: the file's suffix (the default output is the checkpoint's name with it).
        default_size: ``--size`` when it is not given.
        points: ``--size`` -> lattice points per axis the table is baked at; raises a one-line
            :class:`LumastyleError` for a size the format cannot carry.
        write: (path, (N, N, N, 3) [b, g, r]-indexed table in 0..1, title) -> the path written.
        read: lumastyle's reader of the file (the written file is read back with it and compared with
            the model).
        suffixes: the output suffixes the format can be written under (default: ``suffix`` alone, or
            any for a text format: empty).
    """

    suffix: str
    default_size: int
    points: Callable[[int], int]
    write: Callable[[Path, Tensor, str], Path]
    read: Callable[[Path], Action]
    suffixes: tuple[str, ...] = ()


#: The LUT formats, by ``--format`` name: another format of a baked colour map (a look file another
#: tool reads) is one entry here, and its name in :data:`Format`.
LUT_FORMATS: dict[str, LutFormat] = {
    "cube": LutFormat(".cube", 33, _size_in_range, _write_cube, read_cube_action),
    "3dl": LutFormat(".3dl", 17, _3dl_points, _write_3dl, read_3dl),
    # the Hald level follows --size: the smallest level L with L * L >= size (64: level 8, 512x512)
    "hald": LutFormat(
        ".png",
        64,
        lambda size: hald_level(_size_in_range(size)) ** 2,
        _write_hald,
        read_hald,
        (".png", ".tif", ".tiff"),
    ),
}
_SUFFIX = {"onnx": ".onnx", "pt2": ".pt2", **{name: lut.suffix for name, lut in LUT_FORMATS.items()}, "xmp": ".xmp"}


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
    on the size. A ``strength`` other than 1 blends the output with the photo in CIELab
    (:func:`lumastyle.color.blend_strength`), as ``stylize --strength`` does."""

    def __init__(self, network: StyleNetwork, context_long_side: int | None, strength: float = 1.0) -> None:
        super().__init__()
        self.network = network
        self.cap = int(context_long_side or 0)
        self.strength = check_strength(strength)

    def forward(self, rgb: Tensor) -> Tensor:
        context = rgb
        if self.cap:  # a branch on the configured cap, never on the photo's size
            h, w = rgb.shape[-2:]
            context = resize(rgb, capped_size(h, w, self.cap), antialias=True)
        out = self.network(rgb, context)
        if self.strength != 1:  # a branch on the configured amount, never on the photo
            out = blend_strength(rgb, out, self.strength)
        return out


def export(
    ckpt: str,
    format: Format = "onnx",
    output: str | None = None,
    size: int | None = None,
    reference: str | None = None,
    context_long_side: int | None = None,
    strength: float = 1.0,
) -> list[Path]:
    """Export a trained checkpoint as a model (onnx, pt2), a 3D LUT (cube, 3dl, hald) or a Lightroom preset (xmp).

    onnx and pt2 (torch.export) take any photo size in and give the stylized photo out. A LUT (.cube,
    .3dl or Hald CLUT .png) is read back and its mean ΔE76 from the model printed. A Lightroom /
    Camera Raw preset (.xmp) holds the point curves, HSL (or a black-and-white mix), Color Grading,
    Vibrance and Saturation fitted to the model's colours; the fit's mean ΔE76 is printed.

    Args:
        ckpt: checkpoint written by ``lumastyle fit``.
        format: ``onnx``, ``pt2``, or a LUT: ``cube`` (Adobe/Resolve), ``3dl`` (Autodesk, 17 points,
            12-bit) or ``hald`` (a 16-bit Hald CLUT .png); or ``xmp``, a Lightroom / Camera Raw preset.
        output: the file to write (default: beside the checkpoint, with the format's suffix); with a
            folder as ``reference``, the folder for its LUTs (default: beside the checkpoint, named
            after it and the format, such as ``last-cube``), one per photo named after the photo.
        size: LUT lattice points per axis, 2..256 (default 33 for cube; 3dl: 17 only; hald: the
            smallest level L with L*L >= size, default 64, level 8, a 512x512 image).
        reference: for a LUT of a model with context: a photo whose context the LUT is baked for, or a
            folder of photos, one LUT each (photos that cannot be read are named and left out). The
            mean ΔE76 between the LUT and the model on each photo is printed (without a reference, on
            4096 random colours). For xmp: the photo, or folder of photos, the preset is fitted on
            (needed for a model with context; without, a colour-only model is fitted on a lattice of colours).
        context_long_side: the context cap (default: the training scale stored in the checkpoint).
        strength: the look's amount, as ``stylize --strength``: 0 the photo (an identity LUT), 1 the
            learned look (the default), in between a blend in CIELab, up to 2 to exaggerate it; baked
            into the LUT, the colours the preset is fitted to, or the onnx/pt2 graph.
    """
    from lumastyle.model import LumaStyle

    strength = check_strength(strength)
    if format not in _SUFFIX:
        raise LumastyleError(f"--format {format!r}: choose one of {', '.join(_SUFFIX)}")
    if format in LUT_FORMATS:  # a baked colour map: every format of LUT_FORMATS dispatches here
        return export_luts(ckpt, format, output, size, reference, context_long_side, strength)
    if format == "xmp":
        return [export_preset(ckpt, output, reference, context_long_side, strength)]
    model = LumaStyle.from_checkpoint(ckpt)
    path = Path(output).expanduser() if output else Path(ckpt).with_suffix(_SUFFIX[format])
    cap = model.context_long_side(context_long_side)
    if not model.network.exportable:
        raise LumastyleError(
            f"{ckpt}: this model's region context (model.color_context.regions) runs scikit-image's SLIC, which "
            f"--format {format} cannot hold; stylize with lumastyle, or export a model trained without it"
        )
    stylizer = Stylizer(model.network, cap, strength).eval()
    examples = [
        torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(i))
        for i, hw in enumerate(_check_sizes(cap))
    ]
    with torch.no_grad():
        expected = [stylize_tensor(model.network, x, cap, 1 << 30, strength=strength) for x in examples]
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
        with torch.no_grad():  # a loaded pt2 program's weights require grad; its output need not
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


def export_luts(
    ckpt: str,
    format: str,
    output: str | None = None,
    size: int | None = None,
    reference: str | None = None,
    context_long_side: int | None = None,
    strength: float = 1.0,
) -> list[Path]:
    """Bake a checkpoint's colour map (at ``strength``) into files of a format of :data:`LUT_FORMATS`
    (see :func:`export` for the arguments): one file, or one per photo of a ``reference`` folder. Each
    is read back with the format's reader and its mean ΔE76 from the model printed, one line a file,
    and a summary line for a folder; a photo of the folder that cannot be read is named in one line
    and the others are written."""
    from lumastyle.model import LumaStyle

    strength = check_strength(strength)
    lut = LUT_FORMATS[format]
    points = lut.points(lut.default_size if size is None else size)
    photos = photos_at(Path(reference).expanduser(), "--reference") if reference is not None else [None]
    folder = reference is not None and Path(reference).expanduser().is_dir()
    targets = _lut_paths(ckpt, format, output, photos, folder)
    model = LumaStyle.from_checkpoint(ckpt)
    network, cap = model.network, model.context_long_side(context_long_side)
    has_context = network.num_scales > 0 or network.low_level is not None
    if has_context and reference is None:
        raise LumastyleError(
            f"this model's colours depend on each pixel's surroundings (it has context), which a {lut.suffix} "
            "LUT cannot hold; give --reference PHOTO (or a folder of photos, one LUT each) to bake the LUT for "
            "that photo's context, or train with --model.context.scales [] and no model.color_context (blur_radii, "
            "saliency, regions, photo) for a LUT-exact model"
        )
    written: list[Path] = []
    distances: list[tuple[float, str]] = []
    unread = 0
    for photo_path, path in zip(photos, targets, strict=True):
        photo = None
        if photo_path is not None:
            try:
                photo = read_image(photo_path)[0]
            except LumastyleError as err:
                if not folder:
                    raise
                print(f"skipped {err} (no LUT for it)", file=sys.stderr)
                unread += 1
                continue
        maps = _average_context(network, photo, cap) if has_context and photo is not None else []
        title = f"lumastyle {path.stem}" + (f" (context of {photo_path.name})" if photo_path else "")
        title += f" at strength {strength:g}" if strength != 1 else ""
        written.append(lut.write(path, _bake(network, points, maps, strength), title))
        distance = _distance_from_model(network, lut.read(path), photo, cap, strength)
        on = photo_path.name if photo_path is not None else f"{_RANDOM_COLOURS} random colours (seed {_SEED})"
        print(f"{path}: mean ΔE76 {distance:.2f} from the model on {on} ({points} points per axis)")
        distances.append((distance, on))
    if folder:
        if not written:
            raise LumastyleError(f"--reference {reference}: none of its {len(photos)} photos could be read; no LUT written")
        worst = max(distances)
        mean = sum(d for d, _ in distances) / len(distances)
        print(
            f"{len(written)} LUT(s) in {targets[0].parent}: mean ΔE76 {mean:.2f} from the model on their photos "
            f"(worst {worst[0]:.2f}, {worst[1]})" + (f"; {unread} photo(s) could not be read" if unread else "")
        )
    return written


def _lut_paths(
    ckpt: str, format: str, output: str | None, photos: list[Path] | list[None], folder: bool
) -> list[Path]:
    """Where each LUT goes: ``output`` (default: the checkpoint's name with the format's suffix), or for a
    folder of reference photos, one file per photo, named after it, in the folder ``output`` (default:
    beside the checkpoint, ``<checkpoint>-<format>``). A name no reader takes, or a LUT that would
    replace a reference photo, is refused in one line."""
    lut, ckpt_path = LUT_FORMATS[format], Path(ckpt).expanduser()
    if not folder:
        paths = [Path(output).expanduser() if output else ckpt_path.with_suffix(lut.suffix)]
    else:
        out_dir = Path(output).expanduser() if output else ckpt_path.with_name(f"{ckpt_path.stem}-{format}")
        if out_dir.exists() and not out_dir.is_dir():
            raise LumastyleError(f"--output {out_dir} is a file; with a folder as --reference give a folder")
        stems = [p.stem.lower() for p in photos if p is not None]
        paths = [
            out_dir / ((p.stem if stems.count(p.stem.lower()) == 1 else p.name.replace(".", "_")) + lut.suffix)
            for p in photos
            if p is not None
        ]
    if lut.suffixes and paths[0].suffix.lower() not in lut.suffixes:
        raise LumastyleError(f"--output {paths[0]}: this format is written as {', '.join(lut.suffixes)}; change the name")
    for path, photo in zip(paths, photos, strict=True):
        if photo is not None and path.resolve() == photo.resolve():
            raise LumastyleError(f"--output {path}: the LUT would replace the reference photo; give another name or folder")
    return paths


def _average_context(network: StyleNetwork, photo: Tensor, cap: int | None) -> list[ContextMap]:
    """The photo's context maps, each averaged to one value (every lattice colour is read at the
    photo's average context)."""
    with torch.no_grad():
        maps = network.encode_context(_capped(photo[None], cap))
    return [m._replace(features=m.features.mean(dim=(-2, -1), keepdim=True)) for m in maps]


def _bake(network: StyleNetwork, points: int, maps: list[ContextMap], strength: float = 1.0) -> Tensor:
    """The network's colour map (at ``maps``, the context) on a lattice, each colour blended with its
    lattice colour at ``strength`` (:func:`lumastyle.color.blend_strength`): (points, points, points, 3)
    [b, g, r]."""
    lattice = identity_lut(points)  # (b, g, r, 3)
    colours = lattice.reshape(1, points * points, points, 3).permute(0, 3, 1, 2)  # an image of every lattice colour
    with torch.no_grad():
        lab = rgb_to_lab(colours)
        out = blend_strength(colours, lab_to_rgb(network.transform(lab, maps, image_hw(lab))), strength)
    return out[0].permute(1, 2, 0).reshape(points, points, points, 3)


def _distance_from_model(
    network: StyleNetwork, action: Action, photo: Tensor | None, cap: int | None, strength: float = 1.0
) -> float:
    """Mean ΔE76 between ``stylize``'s output at ``strength`` (:func:`lumastyle.inference.stylize_tensor`)
    and the LUT read back (``action``) on ``photo``, or without one on :data:`_RANDOM_COLOURS` seeded
    random colours."""
    if photo is None:
        side = int(_RANDOM_COLOURS**0.5)
        photo = torch.rand(3, side, side, generator=torch.Generator().manual_seed(_SEED))
    with torch.no_grad():
        model = stylize_tensor(network, photo, cap, strength=strength)
        through_lut = action(photo)
    return float(lab_distance(rgb_to_lab(through_lut), rgb_to_lab(model)).mean())


def _capped(rgb: Tensor, cap: int | None) -> Tensor:
    from lumastyle.inference import context_copy

    return context_copy(rgb, cap)


#: the long side reference photos are fitted at (the model stylizes this copy; a preset is per pixel)
_FIT_SIDE = 512


def export_preset(
    ckpt: str,
    output: str | None = None,
    reference: str | None = None,
    context_long_side: int | None = None,
    strength: float = 1.0,
) -> Path:
    """Fit a Lightroom / Camera Raw preset to a checkpoint's colours (at ``strength``: the targets are
    ``stylize --strength``'s output) and write it (see :func:`export` for the arguments and
    :mod:`lumastyle.actions.preset_fit` for what is fitted); prints the fit's mean ΔE76 from the model.
    Photos of a ``reference`` folder that cannot be read are named in one line and left out."""
    from lumastyle.actions.preset_fit import fit_preset
    from lumastyle.actions.xmp import write_xmp
    from lumastyle.model import LumaStyle

    strength = check_strength(strength)
    path = Path(output).expanduser() if output else Path(ckpt).expanduser().with_suffix(".xmp")
    if path.suffix.lower() != ".xmp":
        raise LumastyleError(f"--output {path}: a Lightroom preset is written as .xmp; change the name")
    photo_paths = photos_at(Path(reference).expanduser(), "--reference") if reference is not None else []
    model = LumaStyle.from_checkpoint(ckpt)
    network, cap = model.network, model.context_long_side(context_long_side)
    has_context = network.num_scales > 0 or network.low_level is not None
    if has_context and reference is None:
        raise LumastyleError(
            "this model's colours depend on each photo (it has context); give --reference PHOTO or a folder "
            "of photos (the training photos, or the ones the preset is for) to fit the preset on"
        )
    photos = []
    for photo_path in photo_paths:
        try:
            photo = read_image(photo_path)[0]
        except LumastyleError as err:
            if len(photo_paths) == 1:
                raise
            print(f"skipped {err} (not fitted on)", file=sys.stderr)
            continue
        h, w = photo.shape[-2:]
        photos.append(resize(photo[None], capped_size(h, w, _FIT_SIDE), antialias=True)[0].clamp(0, 1))
    if reference is not None and not photos:
        raise LumastyleError(f"--reference {reference}: none of its photos could be read; nothing was written")
    if not has_context:  # a colour-only model: every colour of a lattice, beside any photos
        side = 33
        photos.append(identity_lut(side).reshape(side * side, side, 3).permute(2, 0, 1))
    with torch.no_grad():
        targets = [stylize_tensor(network, photo, cap, strength=strength) for photo in photos]
    fit = fit_preset(photos, targets, progress=True)
    title = f"lumastyle {Path(ckpt).stem}" + (f" at strength {strength:g}" if strength != 1 else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_xmp(path, fit.settings, title, curves=fit.curves, grayscale=fit.grayscale)
    on = f"{len(photo_paths)} reference photo(s)" if photo_paths else "a 33-point lattice of colours"
    print(
        f"{path}: a {'black-and-white' if fit.grayscale else 'colour'} preset, mean ΔE76 {fit.error:.2f} from "
        f"the model on {on} (lumastyle's rendering of the preset; clarity, local and per-photo edits are not "
        "in a preset)"
    )
    return path
