"""``lumastyle stylize``: apply a trained style to photos of any size, at full resolution.

The checkpoint loads through Lightning (:meth:`LumaStyle.from_checkpoint`) and every photo goes
through :func:`lumastyle.inference.stylize_tensor`, the path ``lumastyle predict`` also takes.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Literal

import torch
from tqdm.auto import tqdm

from lumastyle.errors import LumastyleError
from lumastyle.inference import Precision
from lumastyle.io import max_pixels as pixel_limit
from lumastyle.io import output_name, photos_at, read_image, read_size, write_image
from lumastyle.model import LumaStyle


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise LumastyleError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise LumastyleError(f"device {device!r} asked for but no CUDA GPU is available; use --device cpu")
    return resolved


def stylize(
    ckpt: str,
    input: str,
    output: str,
    context_long_side: int | None = None,
    device: str = "auto",
    precision: Literal["auto", "32", "bf16"] = "auto",
    batch_size: int = 4,
    skip_existing: bool = False,
    on_bad_file: Literal["error", "skip"] = "error",
    max_pixels: int | None = None,
) -> list[Path]:
    """Stylize a photo or a folder of photos with a trained checkpoint; outputs keep size and name.

    Outputs are PNG, or the input's own format where it is lossless (PNG, TIFF; 16-bit and alpha
    kept), written atomically into the output folder: an interrupted run leaves no partial file under
    a final name, and is restarted with ``--skip_existing``. Inputs are never written over.

    Args:
        ckpt: checkpoint written by ``lumastyle fit``.
        input: a photo, or a folder of photos.
        output: folder for the stylized photos (created if missing).
        context_long_side: long side of the copy the context is computed on (default: the training scale).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``32``, ``bf16`` (autocast; the colour layer stays float32), or ``auto``: bf16 on a
            GPU that supports it, 32 on a CPU (where bf16 is slower; benchmarks/README.md).
        batch_size: photos of the same size stylized together (a GPU keeps busy; at most
            :data:`BATCH_PIXELS` pixels a batch, so memory stays bounded for any photo size).
        skip_existing: leave photos whose output already exists (a restarted run goes on where it stopped).
        on_bad_file: a photo that cannot be read stops the run (``error``) or is left out and named in
            one summary line at the end (``skip``).
        max_pixels: the largest photo read, in pixels (default 200 MP; a guard against decompression bombs).
    """
    in_path, out_dir = Path(input).expanduser(), Path(output).expanduser()
    photos = photos_at(in_path, "--input")
    if out_dir.exists() and not out_dir.is_dir():
        raise LumastyleError(f"--output {out_dir} is a file; give a folder")
    if in_path.is_dir() and out_dir.exists() and out_dir.resolve() == in_path.resolve():
        raise LumastyleError(
            f"--output {out_dir} is the input folder; give another folder so inputs are kept"
        )
    if on_bad_file not in ("error", "skip"):
        raise LumastyleError(f"--on_bad_file must be 'error' or 'skip', got {on_bad_file!r}")
    max_pixels = pixel_limit(max_pixels)  # a bad value stops here, before any photo is read
    plan = _plan(photos, out_dir)
    todo = [(photo, out) for photo, out in plan if not (skip_existing and out.is_file())]
    dev = _resolve_device(device)
    model = LumaStyle.from_checkpoint(ckpt, map_location=dev)
    run_precision = _resolve_precision(precision, dev)
    if batch_size < 1:
        raise LumastyleError(f"--batch_size must be at least 1, got {batch_size}")
    written: list[Path] = []
    skipped: list[str] = []
    # a with block: the bar is closed (its line ended) before an error line is printed
    with tqdm(total=len(todo), desc="stylizing", unit="photo", disable=len(todo) < 2) as bar:
        for batch in _batches(todo, batch_size, max_pixels):
            loaded = []
            for photo, out in batch:
                try:
                    loaded.append((photo, out, *read_image(photo, alpha=True, max_pixels=max_pixels)))
                except LumastyleError as err:
                    if on_bad_file == "error":
                        raise LumastyleError(f"{err} (or pass --on_bad_file skip)") from None
                    where, _, reason = str(err).partition(": ")
                    skipped.append(f"{where} ({reason})")
                    bar.update()
            for group in _same_size(loaded):
                start = time.perf_counter()
                rgb = torch.stack([image[:3] for _, _, image, _ in group]).to(dev)
                results = model.stylize(rgb, context_long_side, run_precision).cpu()
                bar.set_postfix_str(
                    f"{group[-1][0].name} {(time.perf_counter() - start) / len(group):.1f}s/photo"
                )
                for (_, out, image, depth), result in zip(group, results, strict=True):
                    if image.shape[0] == 4:  # alpha is carried through unchanged
                        result = torch.cat([result, image[3:]])
                    written.append(write_image(out, result, bit_depth=depth))
                    bar.update()
    if len(todo) < len(plan):
        print(f"left {len(plan) - len(todo)} photo(s) whose output exists (--skip_existing)")
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} unreadable photo(s) (--on_bad_file skip): {'; '.join(skipped)}",
            stacklevel=2,
        )
    return written


#: The most pixels stylized in one batch (photos of one size): 4 photos of 12 MP.
BATCH_PIXELS = 48_000_000


def _resolve_precision(precision: Literal["auto"] | Precision, device: torch.device) -> Precision:
    if precision == "auto":
        return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "32"
    return precision


def _batches(
    todo: list[tuple[Path, Path]], batch_size: int, max_pixels: int | None = None
) -> list[list[tuple[Path, Path]]]:
    """Runs of consecutive photos whose headers give the same size, at most ``batch_size`` photos and
    :data:`BATCH_PIXELS` pixels each (a photo whose header cannot be read goes alone: reading it says why)."""
    batches: list[list[tuple[Path, Path]]] = []
    last = None
    for photo, out in todo:
        try:
            size = read_size(photo, max_pixels)
        except LumastyleError:
            size = None
        fits = (
            batches
            and size is not None
            and size == last
            and len(batches[-1]) < batch_size
            and (len(batches[-1]) + 1) * size[0] * size[1] <= BATCH_PIXELS
        )
        if fits:
            batches[-1].append((photo, out))
        else:
            batches.append([(photo, out)])
        last = size
    return batches


def _same_size(loaded: list) -> list[list]:
    """``loaded`` (photo, output, image, depth) split where the decoded size changes (headers can lie)."""
    groups: list[list] = []
    for item in loaded:
        if groups and groups[-1][0][2].shape[-2:] == item[2].shape[-2:]:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


def _plan(photos: list[Path], out_dir: Path) -> list[tuple[Path, Path]]:
    """(photo, output file) pairs; an output that would be an input, or two photos writing one file
    (``a.jpg`` and ``a.jpeg`` both become ``a.png``), is a one-line error before anything is written."""
    inputs = {p.resolve() for p in photos}
    plan: list[tuple[Path, Path]] = []
    taken: dict[Path, Path] = {}
    for photo in photos:
        out = out_dir / output_name(photo)
        if out.resolve() in inputs:
            raise LumastyleError(
                f"--output {out_dir}: stylizing {photo.name} would write over the input {out}; give another folder"
            )
        if out in taken:
            raise LumastyleError(
                f"{photo} and {taken[out]} would both be written to {out}; rename one or stylize them apart"
            )
        taken[out] = photo
        plan.append((photo, out))
    return plan
