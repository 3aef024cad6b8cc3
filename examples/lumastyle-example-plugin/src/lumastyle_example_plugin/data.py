"""SideBySideDataModule: before/after pairs saved as one image each, the before on the left half.

Editors and review tools often export a comparison as a single side-by-side image; this DataModule
trains on a folder of them. It is an ordinary lumastyle DataModule: it turns files into
``Example`` records in ``discover()``, and lumastyle's base class splits, crops and serves them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor

from lumastyle.data.base import Example, StyleDataModule, photos_by_stem
from lumastyle.errors import LumastyleError
from lumastyle.io import read_image


def _right_half(path: Path) -> Tensor:
    rgb, _ = read_image(path)
    w = rgb.shape[-1] // 2
    return rgb[..., w : 2 * w]


class _Halves:
    """Renders an example's target: the right half of its side-by-side file (picklable for workers)."""

    per_pixel = False  # the target is the file's right half, not a function of the crop

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, rgb: Tensor) -> Tensor:
        from lumastyle.data.base import fit_long_side

        return fit_long_side(_right_half(self.path), max(rgb.shape[-2:]))


class SideBySideDataModule(StyleDataModule):
    """Pairs from side-by-side images (left half: before, right half: after).

    Args:
        root: folder of side-by-side images.
        **kwargs: crops, batches, split and loading options of lumastyle's StyleDataModule.
    """

    def __init__(self, root: str = ".", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = Path(root).expanduser()

    def describe(self) -> str:
        return str(self.root)

    @classmethod
    def run_name(cls, init_args: dict[str, Any]) -> str | None:
        root = init_args.get("root")
        return Path(root).name if root else None

    def discover(self) -> list[Example]:
        if not self.root.is_dir():
            raise LumastyleError(
                f"data.root {self.root} is not a folder; pass --data.root DIR of side-by-side images"
            )
        examples = []
        for stem, path in photos_by_stem(self.root).items():
            examples.append(Example(stem, path, render=_Halves(path), decode=left_half))
        return examples


def left_half(rgb: Tensor) -> Tensor:
    """Decodes an example's input: the left half of the file (the context cache keys on this name)."""
    return rgb[..., : rgb.shape[-1] // 2]
