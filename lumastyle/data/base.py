"""What every style DataModule shares: checked splits, paired crops and flips, loaders.

A subclass turns its source (pair folders, an action applied to photos, a released dataset) into
:class:`Example` records (name, input path, target path or a renderer) in ``discover()``; this base
checks them before training starts, splits them and serves them.
"""

from __future__ import annotations

import random
import statistics
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from lumastyle.cache import CacheEntry, ContextCache, entries_of, entry_of
from lumastyle.context import resize
from lumastyle.errors import LumastyleError
from lumastyle.inference import context_copy
from lumastyle.io import list_images, read_image, read_size, set_max_pixels

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Example:
    """One training pair: the input photo and either a target photo or a function rendering it."""

    name: str
    input: Path
    target: Path | None = None
    render: Callable[[Tensor], Tensor] | None = None
    #: turns a decoded file (values in [0, 1]) into sRGB, for datasets stored in another colour space
    decode: Callable[[Tensor], Tensor] | None = None
    #: resize a target whose size differs from its input's onto the input's pixels (``align: resize``)
    resize_target: bool = False

    def read(self, path: Path) -> tuple[Tensor, int]:
        """The photo at ``path`` as an sRGB float32 (3, H, W) tensor, and its file's bit depth."""
        rgb, depth = read_image(path)
        return (rgb if self.decode is None else self.decode(rgb)), depth

    def load(self, long_side: int | None = None, render: bool = True) -> tuple[Tensor, Tensor | None]:
        """(input, target) float32 (3, H, W) tensors, both shrunk to ``long_side`` if larger.

        With ``render=False`` a target that a renderer would make is None: the caller renders it
        (after cropping, say: looks are per pixel, so a crop's render is the render's crop).
        """
        if self.target is None and self.render is None:
            raise ValueError(f"example {self.name} has neither a target file nor a renderer")
        rgb = fit_long_side(self.read(self.input)[0], long_side)
        if self.target is not None:
            target = self.read(self.target)[0]
            if self.resize_target and target.shape[-2:] != rgb.shape[-2:]:
                return rgb, resize(target.unsqueeze(0), tuple(rgb.shape[-2:]), antialias=True)[0]
            return rgb, fit_long_side(target, long_side)
        return rgb, self.render(rgb) if render else None


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


def fit_long_side(image: Tensor, long_side: int | None) -> Tensor:
    """Shrink (3, H, W) so its long side is at most ``long_side`` (antialiased); never enlarges."""
    h, w = image.shape[-2:]
    if not long_side or max(h, w) <= long_side:
        return image
    f = long_side / max(h, w)
    return resize(image.unsqueeze(0), (max(1, round(h * f)), max(1, round(w * f))))[0]


#: bytes of whole training photos (with their targets) a training loader worker keeps in memory
WHOLE_PHOTO_MEMORY = 256 << 20


class CropDataset(Dataset):
    """Random crops (the same window in input and target) with random horizontal flips, for training.

    With a context cache, each crop also carries the windows of its whole photo's cached context maps
    (``context``), where it sits in the photo (``origin``) and the photo's size (``photo_hw``).

    Each photo is decoded (and a local look rendered on it) once, not once a crop: the most recently
    used whole photos, with their targets, are kept up to ``memory_bytes`` (per loader worker, which
    persists across epochs), so a look like ``watercolor`` (SLIC on the whole photo) costs one render
    a photo for the whole run when the photos fit. Targets are deterministic (training targets leave
    out film grain), so a kept one is the one that would be rendered again.
    """

    def __init__(
        self,
        examples: Sequence[Example],
        crop_size: int,
        crops_per_image: int,
        long_side: int | None,
        flip: bool = True,
        context: ContextCache | None = None,
        memory_bytes: int = WHOLE_PHOTO_MEMORY,
    ):
        self.examples = list(examples)
        self.crop_size = crop_size
        self.crops_per_image = crops_per_image
        self.long_side = long_side
        self.flip = flip
        self.context = context
        self.memory_bytes = memory_bytes
        self._kept: OrderedDict[int, Tensor] = OrderedDict()  # example index -> whole (input, target)
        self._kept_bytes = 0

    def _whole_pair(self, i: int, ex: Example, render: bool) -> Tensor:
        """Example ``i``'s whole photo (3, H, W), with its rendered or read target stacked on it when
        there is one (6, H, W); from memory when it was loaded before."""
        pair = self._kept.get(i)
        if pair is not None:
            self._kept.move_to_end(i)
            return pair
        rgb, target = ex.load(self.long_side, render=render)
        pair = rgb if target is None else torch.cat([rgb, target], dim=0)
        if pair.nbytes <= self.memory_bytes:
            self._kept[i] = pair
            self._kept_bytes += pair.nbytes
            while self._kept_bytes > self.memory_bytes:
                self._kept_bytes -= self._kept.popitem(last=False)[1].nbytes
        return pair

    def __len__(self) -> int:
        return len(self.examples) * self.crops_per_image

    def __getitem__(self, index: int) -> dict[str, Any]:
        i = index % len(self.examples)
        ex = self.examples[i]
        # a per-pixel look is rendered on the crop alone (cheaper); a local one needs the whole photo
        whole = ex.render is not None and not getattr(ex.render, "per_pixel", True)
        pair = self._whole_pair(i, ex, whole)  # (3, H, W) when the look is rendered on the crop
        flipped = self.flip and bool(torch.rand(()) < 0.5)
        if flipped:  # the whole photo, so a cached context of the flipped photo lines up with the crop
            pair = pair.flip(-1)
        c = self.crop_size
        h, w = pair.shape[-2:]
        if min(h, w) < c:  # too small for a crop: enlarge the pair so the short side fits
            f = c / min(h, w)
            pair = resize(pair.unsqueeze(0), (max(c, round(h * f)), max(c, round(w * f))))[0]
            h, w = pair.shape[-2:]
        top = int(torch.randint(0, h - c + 1, ()).item())
        left = int(torch.randint(0, w - c + 1, ()).item())
        pair = pair[:, top : top + c, left : left + c]
        crop = pair[:3].contiguous()
        target = ex.render(crop) if len(pair) == 3 else pair[3:].contiguous()  # render only the crop
        item = {"input": crop, "target": target, "name": ex.name}
        if self.context is not None:
            entry = entry_of(ex, self.long_side, None, flipped)
            item["context"] = self.context.windows(entry, (h, w), (top, left), c)
            item["origin"], item["photo_hw"] = torch.tensor([top, left]), torch.tensor([h, w])
        return item


class WholeImageDataset(Dataset):
    """Whole photos and their targets (shrunk to ``long_side``), for validation and test.

    With a context cache, each photo also carries its cached context maps (whole, as windows from
    cell 0), computed on the copy ``stylize`` would compute them on (capped at ``context_long_side``).
    """

    def __init__(
        self,
        examples: Sequence[Example],
        long_side: int | None,
        context: ContextCache | None = None,
        context_long_side: int | None = None,
    ):
        self.examples = list(examples)
        self.long_side = long_side
        self.context = context
        self.context_long_side = context_long_side

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        ex = self.examples[index]
        rgb, target = ex.load(self.long_side)
        item = {"input": rgb, "target": target, "name": ex.name}
        if self.context is not None:
            hw = tuple(rgb.shape[-2:])
            entry = entry_of(ex, self.long_side, self.context_long_side)
            item["context"] = self.context.windows(entry, hw)
            item["origin"], item["photo_hw"] = torch.zeros(2, dtype=torch.long), torch.tensor(hw)
        return item


class PhotoDataset(Dataset):
    """Input photos at full resolution with their file and bit depth, for predict: the batch carries
    what ``stylize`` would know, so both write the same file."""

    def __init__(self, examples: Sequence[Example]):
        self.examples = list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        ex = self.examples[index]
        rgb, depth = ex.read(ex.input)
        return {"input": rgb, "name": ex.name, "path": str(ex.input), "bit_depth": depth}


class StyleDataModule(L.LightningDataModule):
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
            set_max_pixels(max_pixels)
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
        """A file that cannot be used: a one-line LumastyleError (``on_bad_file: error``), or noted and
        left out (``skip``). Subclasses call it from :meth:`discover` for what they find wrong."""
        if self.on_bad_file == "error":
            raise LumastyleError(f"{path}: {reason}")
        self.skipped.append((Path(path), reason))

    def check_example(self, example: Example) -> None:
        """Raise a one-line LumastyleError when an example cannot be used (called before training)."""
        in_size = read_size(example.input)
        if example.target is not None:
            target_size = read_size(example.target)
            if in_size != target_size and not example.resize_target:
                raise LumastyleError(
                    f"{example.target}: size {target_size[0]}x{target_size[1]} does not match its input "
                    f"{example.input.name} ({in_size[0]}x{in_size[1]}); resize or remove the pair"
                )
        if self.verify:
            read_image(example.input)
            if example.target is not None:
                read_image(example.target)

    # -- LightningDataModule -------------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        if self.splits is not None:
            return
        examples = self.discover()
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
                splits["train"], splits["val"] = self._hold_out(splits["train"], self.val_fraction)
        else:
            splits = self._seeded_split(examples)
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
            except LumastyleError as err:
                if self.on_bad_file == "error":
                    raise
                path, _, reason = str(err).partition(": ")
                self.skipped.append((Path(path), reason))
                bad.add(ex.name)
        return {split: [ex for ex in examples if ex.name not in bad] for split, examples in splits.items()}

    def _seeded_split(self, examples: list[Example]) -> dict[str, list[Example]]:
        order = self._shuffled(examples)
        n = len(order)
        n_test = round(n * self.test_fraction) if n >= 3 else 0
        n_val = self._n_val(n, self.val_fraction)
        return {
            "val": order[:n_val],
            "test": order[n_val : n_val + n_test],
            "train": order[n_val + n_test :],
        }

    def _shuffled(self, examples: list[Example]) -> list[Example]:
        order = sorted(examples, key=lambda ex: ex.name)
        random.Random(self.seed).shuffle(order)
        return order

    @staticmethod
    def _n_val(n: int, fraction: float) -> int:
        """Validation photos out of ``n``: at least one when a share is asked for and n >= 3."""
        return max(1, round(n * fraction)) if n >= 3 and fraction > 0 else 0

    def _hold_out(self, train: list[Example], fraction: float) -> tuple[list[Example], list[Example]]:
        """(train, val): a seeded ``fraction`` of the training photos held out for validation."""
        order = self._shuffled(train)
        n_val = self._n_val(len(order), fraction)
        held = {ex.name for ex in order[:n_val]}
        return [ex for ex in train if ex.name not in held], order[:n_val]

    def describe(self) -> str:
        return type(self).__name__

    @classmethod
    def run_name(cls, init_args: dict[str, Any]) -> str | None:
        """The run folder name these (not yet validated) constructor arguments suggest, or None for the
        style file's name. Called by the CLI before the DataModule is built."""
        return None

    @property
    def image_long_side(self) -> int | None:
        """Median long side of the training photos as loaded: the scale the model's context learns."""
        sides = [max(read_size(ex.input)) for ex in self._examples("train")]
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
            self._by_path = {ex.input: ex for split in self.splits.values() for ex in split}
        ex = self._by_path[entry.photo]
        rgb = context_copy(fit_long_side(ex.read(ex.input)[0], entry.long_side), entry.context_long_side)
        return rgb.flip(-1) if entry.flipped else rgb

    def attach_context_cache(self, cache: ContextCache | None, context_long_side: int | None) -> None:
        """Serve training crops and validation photos with windows of ``cache`` (None: stop)."""
        self.context_cache = cache
        self.context_long_side = context_long_side

    def _loader(self, dataset: Dataset, batch_size: int, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            drop_last=shuffle and len(dataset) >= batch_size,
        )

    def _examples(self, split: str) -> list[Example]:
        if self.splits is None:
            self.setup()
        assert self.splits is not None
        return self.splits[split]

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
