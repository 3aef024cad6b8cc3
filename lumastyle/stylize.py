"""``lumastyle stylize``: apply a trained style to photos of any size, at full resolution.

The checkpoint loads through Lightning (:meth:`LumaStyle.from_checkpoint`) and every photo goes
through :func:`lumastyle.inference.stylize_tensor`, the path ``lumastyle predict`` also takes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import torch
from tqdm.auto import tqdm

from lumastyle.errors import LumastyleError
from lumastyle.io import output_name, photos_at, read_image, write_image
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
) -> list[Path]:
    """Stylize a photo or a folder of photos with a trained checkpoint; outputs keep size and name.

    Outputs are PNG, or the input's own format where it is lossless (PNG, TIFF; 16-bit kept), and are
    written atomically into the output folder.

    Args:
        ckpt: checkpoint written by ``lumastyle fit``.
        input: a photo, or a folder of photos.
        output: folder for the stylized photos (created if missing).
        context_long_side: long side of the copy the context is computed on (default: the training scale).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``32`` or ``bf16`` (autocast; the colour layer stays float32).
    """
    in_path, out_dir = Path(input).expanduser(), Path(output).expanduser()
    photos = photos_at(in_path, "--input")
    if out_dir.exists() and not out_dir.is_dir():
        raise LumastyleError(f"--output {out_dir} is a file; give a folder")
    if in_path.is_dir() and out_dir.exists() and out_dir.resolve() == in_path.resolve():
        raise LumastyleError(
            f"--output {out_dir} is the input folder; give another folder so inputs are kept"
        )
    dev = _resolve_device(device)
    model = LumaStyle.from_checkpoint(ckpt, map_location=dev)
    written = []
    bar = tqdm(photos, desc="stylizing", unit="photo", disable=len(photos) < 2)
    for photo in bar:
        rgb, depth = read_image(photo)
        start = time.perf_counter()
        result = model.stylize(rgb.to(dev), context_long_side, precision)
        bar.set_postfix_str(f"{photo.name} {time.perf_counter() - start:.1f}s")
        written.append(write_image(out_dir / output_name(photo), result.cpu(), bit_depth=depth))
    return written
