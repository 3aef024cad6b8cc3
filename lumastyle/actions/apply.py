"""``lumastyle action apply``: render a look onto a photo or a folder of photos."""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from lumastyle.actions.action import load_action
from lumastyle.errors import LumastyleError
from lumastyle.io import IMAGE_SUFFIXES, output_name, photos_at, read_image, write_image


def _plan(src: Path, dst: Path) -> list[tuple[Path, Path]]:
    """(input photo, output file) pairs for IN and OUT, each a file or a folder."""
    photos = photos_at(src)
    if src.is_file():
        if dst.is_dir() or not dst.suffix:
            target = dst / output_name(src)
        elif dst.suffix.lower() in IMAGE_SUFFIXES:
            target = dst
        else:
            raise LumastyleError(
                f"{dst}: cannot write '{dst.suffix}' files; name the output .png, .tif or .jpg"
            )
        if target.resolve() == src.resolve():
            raise LumastyleError(f"{target} is the input photo; give another output so the input is kept")
        return [(src, target)]
    if dst.is_file() or dst.suffix.lower() in IMAGE_SUFFIXES:
        raise LumastyleError(f"{dst}: the input {src} is a folder, so the output must be a folder too")
    if dst.exists() and dst.resolve() == src.resolve():
        raise LumastyleError(f"{dst} is the input folder; give another output folder so the inputs are kept")
    return [(p, dst / output_name(p)) for p in photos]


def apply_action(recipe: str, input: str, output: str) -> list[Path]:
    """Render a look onto a photo or a folder of photos, to see it before training on it.

    Outputs keep the input's name and format when it is lossless (PNG, TIFF, also its bit depth);
    other photos are written as PNG.

    Args:
        recipe: a preset name (spring, cold), a recipe YAML, a style config (its data.init_args.action), or a look file (.cube, .3dl, Hald .png, .acv, .xmp; see README).
        input: a photo, or a folder of photos.
        output: a file name (for one photo) or a folder (created if missing).
    """
    action = load_action(recipe)
    pairs = _plan(Path(input).expanduser(), Path(output).expanduser())
    written = []
    for photo, target in tqdm(pairs, desc="applying", unit="photo", disable=len(pairs) < 2):
        rgb, depth = read_image(photo)
        written.append(write_image(target, action(rgb), bit_depth=depth))
    return written
