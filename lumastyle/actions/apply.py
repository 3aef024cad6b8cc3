"""``lumastyle action apply``: render a look onto a photo or a folder of photos."""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from lumastyle.actions.action import load_action
from lumastyle.errors import LumastyleError
from lumastyle.io import is_image_file, list_images, output_name, read_image, write_image


def apply_action(recipe: str, input: str, output: str) -> list[Path]:
    """Render a look onto a photo or a folder of photos, to see it before training on it.

    Args:
        recipe: a preset name (spring, cold), a recipe YAML, or a .cube, .acv or .xmp file.
        input: a photo, or a folder of photos.
        output: a file name (for one photo) or a folder (created if missing).
    """
    action = load_action(recipe)
    src = Path(input).expanduser()
    dst = Path(output).expanduser()
    if src.is_file():
        if not is_image_file(src):
            raise LumastyleError(f"{src}: not a PNG, JPEG or TIFF photo")
        pairs = [(src, dst if dst.suffix else dst / output_name(src))]
    elif src.is_dir():
        photos = list_images(src)
        if not photos:
            raise LumastyleError(f"{src}: no PNG, JPEG or TIFF photos in this folder")
        if dst.exists() and dst.resolve() == src.resolve():
            raise LumastyleError(f"{dst} is the input folder; give another output folder so inputs are kept")
        pairs = [(p, dst / output_name(p)) for p in photos]
    else:
        raise LumastyleError(f"{src} does not exist; give a photo or a folder of photos")
    written = []
    for photo, target in tqdm(pairs, desc="applying", unit="photo", disable=len(pairs) < 2):
        rgb, depth = read_image(photo)
        written.append(write_image(target, action(rgb), bit_depth=depth))
    return written
