"""LookDataModule: photos whose targets are rendered by a look (a recipe, a preset name, or a look file
such as .cube or .xmp), global or local. ``GlobalActionDataModule`` is its name of the previous release."""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lumastyle.actions import Action, load_action
from lumastyle.data.base import Example, StyleDataModule, photos_by_stem
from lumastyle.data.datasets import Relit
from lumastyle.errors import LumastyleDeprecationWarning, LumastyleError
from lumastyle.io import read_image, write_image

#: sd of the natural-log exposure gain of a training photo's ``variants`` (0.5: about 0.7 stop)
EXPOSURE_SD = 0.5
#: sd of each channel's natural-log white-balance gain of a ``variants`` copy (0.12: about 12 %)
WHITE_BALANCE_SD = 0.12

#: What the ``action`` option accepts: a list of operations, a preset name, or a recipe/.cube/.acv/.xmp file.
ActionSpec = str | list[dict[str, Any]]


def sample_photos_dir() -> Path:
    """The folder of photos bundled with lumastyle (see its ATTRIBUTION.tsv)."""
    return Path(str(resources.files("lumastyle") / "data" / "sample_photos"))


class LookDataModule(StyleDataModule):
    """Photos from a folder (default: the bundled sample photos), targets rendered by a look.

    The split is seeded and by file (the paper's Uniform split is 70 train / 45 test), with a
    validation share of its own so the best checkpoint is not chosen on the test photos.

    Args:
        action: the look to learn: a list of operations, a preset name (``spring``, ``cold``), or a recipe YAML, ``.cube``, ``.acv`` or ``.xmp`` file.
        photos: folder of input photos (null: the bundled sample photos).
        cache_dir: render each target once into this folder (as 16-bit PNG) instead of on every load.
        variants: a model with a per-photo correction (``model.color_context.correction``) fits it on
            the training photos and on this many copies of each lit otherwise: exposure and white
            balance changed (:class:`~lumastyle.data.datasets.Relit`; log gains drawn from a normal
            distribution, sd :data:`EXPOSURE_SD` for all channels and :data:`WHITE_BALANCE_SD` per
            channel, seeded by the photo's name), each target rendered by the look from its copy
            (:meth:`correction_pairs`). A look that corrects each photo (``auto_exposure``,
            ``auto_white_balance``) then shows how its correction follows a photo's light on many more
            photos than the folder holds (benchmarks/README.md, "Per-photo edits"). Crops, validation
            and test photos are the photos as they are.
        **kwargs: crops, batches, split and loading options of :class:`StyleDataModule`.
    """

    def __init__(
        self,
        action: ActionSpec = "spring",
        photos: str | None = None,
        cache_dir: str | None = None,
        test_fraction: float = 0.4,
        val_fraction: float = 0.1,
        variants: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(test_fraction=test_fraction, val_fraction=val_fraction, **kwargs)
        if variants < 0:
            raise LumastyleError(
                f"data.variants must be 0 or more copies of each training photo, got {variants}"
            )
        self.variants = int(variants)
        # a training target is what a colour map can learn: film grain is left out (with a warning)
        self.action: Action = load_action(action).for_training()
        self.photos = Path(photos).expanduser() if photos else sample_photos_dir()
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None

    def describe(self) -> str:
        return str(self.photos)

    @classmethod
    def run_name(cls, init_args: dict[str, Any]) -> str | None:
        """A look given by name or file names the run (``teal.cube`` -> ``runs/teal``); an inline
        recipe leaves it to the style file's name."""
        action = init_args.get("action")
        return Path(action).stem if isinstance(action, str) and action else None

    def discover(self) -> list[Example]:
        if not self.photos.is_dir():
            raise LumastyleError(
                f"data.photos {self.photos} is not a folder; pass --data.photos DIR of photos"
            )
        photos = photos_by_stem(self.photos).values()
        if self.cache_dir is None:
            return [Example(p.stem, p, render=self.action) for p in photos]
        folder = self.cache_dir / self.action.fingerprint()
        return [Example(p.stem, p, target=self._cached_target(p, folder)) for p in photos]

    def correction_pairs(self) -> Iterator[tuple[Tensor, Tensor]]:
        """The whole training photos and their targets, then ``variants`` copies of each lit otherwise
        (:class:`~lumastyle.data.datasets.Relit`), each target rendered by the look from its copy."""
        yield from self.training_pairs()
        for ex in self._examples("train"):
            generator = torch.Generator().manual_seed(int(hashlib.sha1(ex.name.encode()).hexdigest()[:8], 16))
            for _ in range(self.variants):
                logs = torch.randn(3, generator=generator) * WHITE_BALANCE_SD
                logs += torch.randn(1, generator=generator) * EXPOSURE_SD
                r, g, b = logs.exp().tolist()
                relit = dataclasses.replace(ex, target=None, render=self.action, decode=Relit((r, g, b)))
                yield relit.load(self.long_side)

    def _cached_target(self, photo: Path, folder: Path) -> Path:
        """The photo's rendered target in ``folder``, rendered now if absent.

        The file name carries the photo's path, size and modification time, so photos sharing a name
        (another folder) or edited since get their own render.
        """
        stat = photo.stat()
        key = hashlib.sha1(f"{photo.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
        path = folder / f"{photo.stem}-{key}.png"
        if not path.is_file():  # rendered at the photo's full size, so it pairs with the file as it is
            write_image(path, self.action(read_image(photo)[0]), bit_depth=16)
        return path


class GlobalActionDataModule(LookDataModule):
    """The previous release's name of :class:`LookDataModule` (which renders local looks too); read
    for this release with one deprecation line."""

    def __init__(
        self,
        action: ActionSpec = "spring",
        photos: str | None = None,
        cache_dir: str | None = None,
        test_fraction: float = 0.4,
        val_fraction: float = 0.1,
        **kwargs: Any,
    ) -> None:
        warnings.warn(
            "data GlobalActionDataModule is now LookDataModule; the old name is read for this release only",
            LumastyleDeprecationWarning,
            stacklevel=2,
        )
        super().__init__(action, photos, cache_dir, test_fraction, val_fraction, **kwargs)
