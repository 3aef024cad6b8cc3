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
from lumastyle.io import output_name, photos_at, read_image, set_max_pixels, write_image
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
    precision: Literal["32", "bf16"] = "32",
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
        precision: ``32`` or ``bf16`` (autocast; the colour layer stays float32).
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
    if max_pixels is not None:
        set_max_pixels(max_pixels)
    plan = _plan(photos, out_dir)
    todo = [(photo, out) for photo, out in plan if not (skip_existing and out.is_file())]
    dev = _resolve_device(device)
    model = LumaStyle.from_checkpoint(ckpt, map_location=dev)
    written: list[Path] = []
    skipped: list[str] = []
    with tqdm(
        todo, desc="stylizing", unit="photo", disable=len(todo) < 2
    ) as bar:  # closed before an error line
        for photo, out in bar:
            try:
                image, depth = read_image(photo, alpha=True)
            except LumastyleError as err:
                if on_bad_file == "error":
                    raise LumastyleError(f"{err} (or pass --on_bad_file skip)") from None
                where, _, reason = str(err).partition(": ")
                skipped.append(f"{where} ({reason})")
                continue
            start = time.perf_counter()
            result = model.stylize(image[:3].to(dev), context_long_side, precision).cpu()
            if image.shape[0] == 4:  # alpha is carried through unchanged
                result = torch.cat([result, image[3:]])
            bar.set_postfix_str(f"{photo.name} {time.perf_counter() - start:.1f}s")
            written.append(write_image(out, result, bit_depth=depth))
    if len(todo) < len(plan):
        print(f"left {len(plan) - len(todo)} photo(s) whose output exists (--skip_existing)")
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} unreadable photo(s) (--on_bad_file skip): {'; '.join(skipped)}",
            stacklevel=2,
        )
    return written


def _plan(photos: list[Path], out_dir: Path) -> list[tuple[Path, Path]]:
    """(photo, output file) pairs; an output that would be an input, or two photos writing one file
    (``a.jpg`` and ``a.jpeg`` both become ``a.png``), is a one-line error before anything is written."""
    inputs = {p.resolve() for p in photos}
    plan, taken = [], {}
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
