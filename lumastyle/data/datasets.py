"""What a style DataModule's loaders serve: the :class:`Example` record and the three datasets.

- :class:`Example`: one training pair, the input photo and either a target file or a
  :class:`Renderer` that makes the target from the input (a look), with how its files are decoded.
- :class:`CropDataset`: random crops (the same window in input and target) with random flips, for
  training; with a context cache, each crop also carries the windows of its whole photo's cached
  context maps (:class:`~lumastyle.style_data.TrainingBatch`), without one its whole photo's
  photo-level statistics (:func:`lumastyle.context.photo_statistics`), so a model with photo-level
  context reads for a crop what ``stylize`` reads for its photo.
- :class:`WholeImageDataset`: whole photos and their targets, for validation and test.
- :class:`PhotoDataset`: input photos at full resolution with their files, for ``predict``
  (:class:`~lumastyle.style_data.PredictionBatch`), so it writes what ``stylize`` writes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, overload

import torch
from torch import Tensor
from torch.utils.data import Dataset

from lumastyle.cache import ContextCache, entry_of
from lumastyle.color import normalize_lab, rgb_to_lab
from lumastyle.context import photo_statistics
from lumastyle.correction import relight
from lumastyle.geometry import fit_long_side, image_hw, resize
from lumastyle.io import read_image


class Renderer(Protocol):
    """What renders a training target from its input photo: a look (:class:`lumastyle.actions.Action`)
    or any picklable callable that says whether it maps each pixel on its own."""

    @property
    def per_pixel(self) -> bool:
        """True when each pixel's result depends on that pixel alone (a crop's render is then the
        render's crop); False when the whole photo is needed (neighbourhood, position, another file)."""
        ...

    def __call__(self, rgb: Tensor, /) -> Tensor:
        """The target of sRGB ``rgb`` (3, H, W) (positional: any parameter name will do)."""
        ...


@dataclass(frozen=True)
class Relit:
    """A decode that changes a photo's exposure and white balance: linear R, G, B times ``gains``,
    clipped (a brightened highlight goes white). What :class:`~lumastyle.data.actions.LookDataModule`'s
    ``variants`` give a training photo: the same scene as another photo of a catalogue would come, lit
    or metered otherwise, so a per-photo correction (:mod:`lumastyle.correction`) sees many more
    exposures and casts than the training photos hold (only its fit reads them: they never reach the
    context cache)."""

    gains: tuple[float, float, float]

    def __call__(self, rgb: Tensor) -> Tensor:
        log_gains = torch.tensor(self.gains, dtype=torch.float64).log().view(3, *([1] * (rgb.ndim - 1)))
        return relight(rgb, log_gains).to(rgb.dtype)


@dataclass(frozen=True)
class Example:
    """One training pair: the input photo and either a target photo or a function rendering it."""

    name: str
    input: Path
    target: Path | None = None
    render: Renderer | None = None
    #: turns a decoded file (values in [0, 1]) into sRGB, for datasets stored in another colour space
    decode: Callable[[Tensor], Tensor] | None = None
    #: resize a target whose size differs from its input's onto the input's pixels (``align: resize``)
    resize_target: bool = False
    #: the largest photo read, in pixels (None: :func:`lumastyle.io.max_pixels`'s default); the
    #: DataModule sets its ``max_pixels`` here, so loader workers read with the same limit
    max_pixels: int | None = None

    def read(self, path: Path) -> tuple[Tensor, int]:
        """The photo at ``path`` as an sRGB float32 (3, H, W) tensor, and its file's bit depth."""
        rgb, depth = read_image(path, max_pixels=self.max_pixels)
        return (rgb if self.decode is None else self.decode(rgb)), depth

    @overload
    def load(self, long_side: int | None = None, render: Literal[True] = True) -> tuple[Tensor, Tensor]: ...
    @overload
    def load(self, long_side: int | None, render: bool) -> tuple[Tensor, Tensor | None]: ...
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
                return rgb, resize(target.unsqueeze(0), image_hw(rgb), antialias=True)[0]
            return rgb, fit_long_side(target, long_side)
        assert self.render is not None
        return rgb, self.render(rgb) if render else None


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
        self._photo: dict[int, Tensor] = {}  # example index -> its photo-level statistics (uncached)

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
        whole = ex.render is not None and not ex.render.per_pixel
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
        if self.context is None and i not in self._photo:  # the whole photo's (a flip changes none)
            self._photo[i] = photo_statistics(normalize_lab(rgb_to_lab(pair[None, :3])))[0]
        photo = self._photo.get(i)
        top = int(torch.randint(0, h - c + 1, ()).item())
        left = int(torch.randint(0, w - c + 1, ()).item())
        pair = pair[:, top : top + c, left : left + c]
        crop = pair[:3].contiguous()
        target = ex.render(crop) if len(pair) == 3 and ex.render is not None else pair[3:].contiguous()  # render only the crop
        item = {"input": crop, "target": target, "name": ex.name}
        if self.context is not None:
            entry = entry_of(ex, self.long_side, None, flipped)
            item["context"] = self.context.windows(entry, (h, w), (top, left), c)
            item["origin"], item["photo_hw"] = torch.tensor([top, left]), torch.tensor([h, w])
        else:
            item["photo"] = photo
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
        item: dict[str, Any] = {"input": rgb, "target": target, "name": ex.name}
        if self.context is not None:
            hw = image_hw(rgb)
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
