"""What every style DataModule shares: checked splits, loaders, the photos the model reads.

A subclass turns its source (pair folders, an action applied to photos, a released dataset) into
:class:`~lumastyle.data.datasets.Example` records (name, input path, target path or a renderer) in
``discover()``; this base checks them before training starts, splits them and serves them through the
datasets of :mod:`lumastyle.data.datasets`. It offers the model what
:mod:`lumastyle.style_data` asks of a DataModule (the training photos, the context cache's entries).
In a distributed fit the training loader's sampler holds the run's epoch from the start
(:func:`epoch_sampler`), so a resumed run with loader workers trains its first epoch in that epoch's order.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from lumastyle.cache import CacheEntry, ContextCache, entries_of
from lumastyle.checkpoints import seed_rank
from lumastyle.data.datasets import (
    WHOLE_PHOTO_MEMORY,
    CropDataset,
    Example,
    PhotoDataset,
    Renderer,
    WholeImageDataset,
)
from lumastyle.data.splits import hold_out, seeded_split
from lumastyle.errors import BadFileError, LumastyleError
from lumastyle.geometry import fit_long_side
from lumastyle.inference import context_copy
from lumastyle.io import list_images, read_image, read_size
from lumastyle.io import max_pixels as pixel_limit
from lumastyle.style_data import CachedContextData

__all__ = [
    "SPLITS",
    "WHOLE_PHOTO_MEMORY",
    "CropDataset",
    "Example",
    "PhotoDataset",
    "Renderer",
    "StyleDataModule",
    "WholeImageDataset",
    "fit_long_side",
    "photos_by_stem",
]

SPLITS = ("train", "val", "test")


def photos_by_stem(folder: Path, bad: Callable[[Path, str], None] | None = None) -> dict[str, Path]:
    """The photos in ``folder`` by file stem. Two files sharing a stem raise a one-line LumastyleError,
    or, with ``bad`` (a DataModule's :meth:`StyleDataModule.bad_file`), are both passed to it and left out."""
    found: dict[str, Path] = {}
    shared: set[str] = set()
    for path in list_images(folder):
        if path.stem in found:
            if bad is None:
                raise LumastyleError(
                    f"{folder}: '{found[path.stem].name}' and '{path.name}' share the stem '{path.stem}'; "
                    "keep one file per stem"
                )
            bad(path, f"shares the stem '{path.stem}' with {found[path.stem].name}")
            shared.add(path.stem)
            continue
        found[path.stem] = path
    for stem in shared:
        assert bad is not None
        bad(found.pop(stem), f"shares its stem '{stem}' with another file")
    return found


def epoch_sampler(dataset: Dataset, trainer: L.Trainer | None) -> DistributedSampler | None:
    """In a distributed fit, the training sampler Lightning would give each process (a shuffling
    ``DistributedSampler`` seeded with ``seed_everything``'s seed, this process's share), already set
    to the epoch the run is at; None otherwise (the loader is used as Lightning makes it).

    Lightning (2.5.3 to at least 2.6.6, its issue #21938) creates a run's first training iterator before
    it sets the sampler's epoch, and a loader with workers takes the epoch's order when its iterator is
    created (it hands the workers their first indices): a run resumed at epoch N would train epoch N on
    epoch 0's order, and no longer reach the uninterrupted run's weights. Built here, the sampler holds
    the right epoch from the start; Lightning keeps a ``DistributedSampler`` it is given and still sets
    its epoch every epoch. Written by hand because Lightning's builder of its sampler is private."""
    # only where Lightning would put in its own (its own test, on private flags: renamed, Lightning's
    # sampler is used, as before)
    connector = getattr(trainer, "_accelerator_connector", None)
    if not (
        getattr(connector, "use_distributed_sampler", False) and getattr(connector, "is_distributed", False)
    ):
        return None
    assert trainer is not None and trainer.distributed_sampler_kwargs is not None  # a distributed strategy's
    kwargs = {**trainer.distributed_sampler_kwargs, "shuffle": True}  # overfit_batches replaces it
    kwargs.setdefault("seed", int(os.getenv("PL_GLOBAL_SEED", 0)))  # Lightning's seed for its sampler
    sampler: DistributedSampler = DistributedSampler(dataset, **kwargs)
    progress: Any = trainer.fit_loop.epoch_progress.current  # a tracker of processed epochs in a fit loop
    sampler.set_epoch(progress.processed)  # the epoch Lightning sets it to
    return sampler


class StyleDataModule(L.LightningDataModule, CachedContextData):
    """Base for lumastyle's DataModules (see the subclasses' docstrings for their arguments).

    Args:
        crop_size: side of the square training crops (the same window in input and target).
        crops_per_image: random crops drawn from each training photo per epoch.
        batch_size: training crops per batch (validation and test use whole photos, one at a time).
        long_side: shrink photos whose long side exceeds this many pixels when loading (null: keep size).
        val_fraction: share of photos held out for validation (of the training photos when split files
            give no val.txt); validation never uses test photos, so the best checkpoint is not chosen on them.
        test_fraction: share of photos held out for testing when no split files are given.
        seed: seed of the split when no split files are given.
        num_workers: data loading processes.
        verify: decode every photo once before training, so a broken file stops the run at the start.
        flip: flip training crops horizontally at random (with a context cache, both orientations of
            each training photo are cached).
        on_bad_file: what a bad photo or pair does (unreadable, truncated, zero bytes, not an image, a
            missing partner, a shared stem, a size that differs, a split file naming a missing stem):
            ``error`` stops before training with one line naming the file; ``skip`` leaves it out,
            trains on the rest and lists every file left out in one warning line.
        max_pixels: the largest photo read, in pixels (a guard against decompression bombs; default
            200 MP, or ``LUMASTYLE_MAX_PIXELS``).
    """

    def __init__(
        self,
        crop_size: int = 256,
        crops_per_image: int = 1,
        batch_size: int = 4,
        long_side: int | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        seed: int = 0,
        num_workers: int = 2,
        verify: bool = True,
        flip: bool = True,
        on_bad_file: Literal["error", "skip"] = "error",
        max_pixels: int | None = None,
    ) -> None:
        super().__init__()
        if on_bad_file not in ("error", "skip"):
            raise LumastyleError(f"data.on_bad_file must be 'error' or 'skip', got {on_bad_file!r}")
        if max_pixels is not None:
            pixel_limit(max_pixels)  # a value below 1 is one line here, before any photo is read
        for key, value in (
            ("crop_size", crop_size),
            ("crops_per_image", crops_per_image),
            ("batch_size", batch_size),
        ):
            if value < 1:
                raise LumastyleError(f"data.{key} must be at least 1, got {value}")
        if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
            raise LumastyleError(
                f"data.val_fraction ({val_fraction}) and data.test_fraction ({test_fraction}) must be in [0, 1) "
                "and leave photos for training"
            )
        self.crop_size = crop_size
        self.crops_per_image = crops_per_image
        self.batch_size = batch_size
        self.long_side = long_side
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.seed = seed
        self.num_workers = num_workers
        self.verify = verify
        self.flip = flip
        self.on_bad_file = on_bad_file
        self.max_pixels = max_pixels
        #: (file, reason) of every file left out under ``on_bad_file: skip``
        self.skipped: list[tuple[Path, str]] = []
        self.splits: dict[str, list[Example]] | None = None
        #: set by the model (:meth:`attach_context_cache`) when its lower backbone is frozen
        self.context_cache: ContextCache | None = None
        self.context_long_side: int | None = None
        self._by_path: dict[Path, Example] | None = None

    # -- for subclasses ------------------------------------------------------------------------

    def discover(self) -> list[Example]:
        """All examples of the dataset, checked for missing partners; implemented by subclasses."""
        raise NotImplementedError

    def split_files(self) -> dict[str, list[str]]:
        """Names per split read from the dataset's split files ({} when there are none)."""
        return {}

    def bad_file(self, path: Path, reason: str) -> None:
        """A file that cannot be used: a one-line :class:`BadFileError` (``on_bad_file: error``), or
        noted and left out (``skip``). Subclasses call it from :meth:`discover` for what they find wrong."""
        if self.on_bad_file == "error":
            raise BadFileError(path, reason)
        self.skipped.append((Path(path), reason))

    def check_example(self, example: Example) -> None:
        """Raise a one-line :class:`BadFileError` when an example cannot be used (called before training)."""
        in_size = read_size(example.input, example.max_pixels)
        if example.target is not None:
            target_size = read_size(example.target, example.max_pixels)
            if in_size != target_size and not example.resize_target:
                raise BadFileError(
                    example.target,
                    f"size {target_size[0]}x{target_size[1]} does not match its input "
                    f"{example.input.name} ({in_size[0]}x{in_size[1]}); resize or remove the pair",
                )
        if self.verify:
            read_image(example.input, max_pixels=example.max_pixels)
            if example.target is not None:
                read_image(example.target, max_pixels=example.max_pixels)

    # -- LightningDataModule -------------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        trainer = self.trainer
        if stage == "fit" and trainer is not None and trainer.world_size > 1:
            seed_rank(trainer.global_rank)  # each process draws crops and flips of its own
        if self.splits is not None:
            return
        examples = [dataclasses.replace(ex, max_pixels=self.max_pixels) for ex in self.discover()]
        if not examples:
            self._report_skipped()
            raise LumastyleError(f"{self.describe()}: no photos found; check data.root / data.photos")
        by_name = {ex.name: ex for ex in examples}
        names = self.split_files()
        if names:
            skipped = {path.stem for path, _ in self.skipped}
            for split, listed in names.items():
                for name in listed:
                    if name not in by_name and name not in skipped:
                        self.bad_file(
                            Path(self.describe()) / f"{split}.txt",
                            f"names '{name}', which has no photo; fix the split file or add the photo",
                        )
            splits = {s: [by_name[n] for n in names.get(s, []) if n in by_name] for s in SPLITS}
            if "val" not in names:  # hold out validation photos from train, never from test
                splits["train"], splits["val"] = hold_out(splits["train"], self.val_fraction, self.seed)
        else:
            splits = seeded_split(examples, self.val_fraction, self.test_fraction, self.seed)
        splits = self._checked(splits)
        self._report_skipped()
        if not splits["val"]:
            warnings.warn(
                f"{self.describe()}: no validation photos (data.val_fraction {self.val_fraction}); "
                "validating on the training photos",
                stacklevel=2,
            )
            splits["val"] = splits["train"]
        if not splits["train"]:
            raise LumastyleError(
                f"{self.describe()}: the training split is empty; add photos or fix train.txt"
            )
        self.splits = splits

    def _report_skipped(self) -> None:
        """The one warning line listing every file left out under ``on_bad_file: skip``."""
        if self.skipped:
            listed = "; ".join(f"{path} ({reason})" for path, reason in self.skipped)
            warnings.warn(
                f"{self.describe()}: skipped {len(self.skipped)} bad file(s) (data.on_bad_file skip): {listed}",
                stacklevel=3,
            )

    def _checked(self, splits: dict[str, list[Example]]) -> dict[str, list[Example]]:
        """``splits`` after :meth:`check_example` of every example (left out where it fails and
        ``on_bad_file`` is ``skip``)."""
        used = {ex.name: ex for split in splits.values() for ex in split}
        bad = set()
        for ex in tqdm(
            used.values(), desc="checking photos", unit="photo", disable=len(used) < 50, leave=False
        ):
            try:
                self.check_example(ex)
            except BadFileError as err:
                if self.on_bad_file == "error":
                    raise
                self.skipped.append((Path(str(err.path)), err.reason))
                bad.add(ex.name)
        return {split: [ex for ex in examples if ex.name not in bad] for split, examples in splits.items()}

    def describe(self) -> str:
        return type(self).__name__

    @classmethod
    def run_name(cls, init_args: dict[str, Any]) -> str | None:
        """The run folder name these (not yet validated) constructor arguments suggest, or None for the
        style file's name. Called by the CLI before the DataModule is built."""
        return None

    @staticmethod
    def root_name(init_args: dict[str, Any]) -> str | None:
        """The name of the folder ``init_args["root"]`` (None without one): the run name of a DataModule
        read from one folder (``--data.root my_look`` -> ``runs/my_look``)."""
        root = init_args.get("root")
        return Path(str(root)).expanduser().resolve().name if root else None

    @property
    def image_long_side(self) -> int | None:
        """Median long side of the training photos as loaded: the scale the model's context learns."""
        sides = [max(read_size(ex.input, ex.max_pixels)) for ex in self._examples("train")]
        median = int(statistics.median(sides))
        return min(median, self.long_side) if self.long_side else median

    def training_pairs(self) -> Iterator[tuple[Tensor, Tensor]]:
        """The whole training photos and their targets as training loads them (``long_side``), one
        pair at a time, with a progress bar for long sets."""
        return self._whole_pairs("train")

    def validation_pairs(self) -> Iterator[tuple[Tensor, Tensor]]:
        """The whole validation photos and their targets, loaded as the training photos are."""
        return self._whole_pairs("val")

    def _whole_pairs(self, split: str) -> Iterator[tuple[Tensor, Tensor]]:
        examples = self._examples(split)
        desc = f"reading {'training' if split == 'train' else 'validation'} photos"
        for ex in tqdm(examples, desc=desc, unit="photo", disable=len(examples) < 50):
            rgb, target = ex.load(self.long_side)
            yield rgb, target

    # -- the context cache (see lumastyle.cache) ------------------------------------------------

    def context_entries(self, context_long_side: int | None) -> list[CacheEntry]:
        """What the loaders read from a context cache: each training photo in each orientation, and
        each validation photo as ``stylize`` would compute its context (capped at ``context_long_side``)."""
        orientations = (False, True) if self.flip else (False,)
        return self.training_context_entries(orientations) + entries_of(
            self._examples("val"), self.long_side, context_long_side, (False,)
        )

    def training_context_entries(self, orientations: Sequence[bool] = (False,)) -> list[CacheEntry]:
        """Cache entries of the training photos as training loads them, in these orientations."""
        return entries_of(self._examples("train"), self.long_side, None, orientations)

    def context_image(self, entry: CacheEntry) -> Tensor:
        """The sRGB image a cache entry's maps are computed on: the whole photo as training loads it."""
        if self._by_path is None:  # indexed once, not per entry
            self._by_path = {ex.input: ex for split in self._splits().values() for ex in split}
        ex = self._by_path[entry.photo]
        rgb = context_copy(fit_long_side(ex.read(ex.input)[0], entry.long_side), entry.context_long_side)
        return rgb.flip(-1) if entry.flipped else rgb

    def attach_context_cache(self, cache: ContextCache | None, context_long_side: int | None) -> None:
        """Serve training crops and validation photos with windows of ``cache`` (None: stop)."""
        self.context_cache = cache
        self.context_long_side = context_long_side

    def _loader(
        self, dataset: CropDataset | WholeImageDataset | PhotoDataset, batch_size: int, shuffle: bool
    ) -> DataLoader:
        sampler = epoch_sampler(dataset, self.trainer) if shuffle else None
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle if sampler is None else None,
            sampler=sampler,
            num_workers=self.num_workers,
            # training workers start each epoch, seeded from this process's random state (which a
            # checkpoint holds, so a resumed epoch draws the crops an uninterrupted one does); kept
            # across epochs they would carry a state no checkpoint holds
            persistent_workers=self.num_workers > 0 and not shuffle,
            pin_memory=torch.cuda.is_available(),
            drop_last=shuffle and len(dataset) >= batch_size,
        )

    def _examples(self, split: str) -> list[Example]:
        return self._splits()[split]

    def _splits(self) -> dict[str, list[Example]]:
        if self.splits is None:
            self.setup()
        assert self.splits is not None  # setup() sets them
        return self.splits

    def train_dataloader(self) -> DataLoader:
        ds = CropDataset(
            self._examples("train"),
            self.crop_size,
            self.crops_per_image,
            self.long_side,
            self.flip,
            self.context_cache,
        )
        return self._loader(ds, self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        ds = WholeImageDataset(
            self._examples("val"), self.long_side, self.context_cache, self.context_long_side
        )
        return self._loader(ds, 1, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(WholeImageDataset(self._examples("test"), self.long_side), 1, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        """The test photos (else validation, else training) at full resolution, as ``stylize`` reads them."""
        examples = self._examples("test") or self._examples("val") or self._examples("train")
        return self._loader(PhotoDataset(examples), 1, shuffle=False)
