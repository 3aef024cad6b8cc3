"""What the model reads from the data: typed batch records and the DataModule contract.

The LightningModule (:mod:`lumastyle.model`) never looks for DataModule members by name. What it may
ask of a DataModule is written down here as abstract base classes, which mypy checks and the model
tests with ``isinstance`` (nominally: a structural Protocol check would evaluate the DataModule's
properties, reading photos, just to answer it):

- :class:`TrainingPhotos`: the training scale and the whole training and validation photos, for the
  context calibration and the closed-form start (:mod:`lumastyle.fitting`).
- :class:`CachedContextData`: serving crops and photos with windows of cached context maps
  (:mod:`lumastyle.cache`, orchestrated by :mod:`lumastyle.caching`).

:class:`lumastyle.data.base.StyleDataModule` subclasses both, and the ``lumastyle`` command takes
its subclasses as ``data:``; in Python any ``LightningDataModule`` trains the model, and one that
subclasses :class:`TrainingPhotos` also gets the context calibration and the closed-form start.

Batches are dicts (the DataLoader's default collation), typed as records: :class:`TrainingBatch` for
training crops and whole validation/test photos, :class:`PredictionBatch` for ``predict``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import TypedDict

from torch import Tensor
from typing_extensions import NotRequired

from lumastyle.cache import CacheEntry, ContextCache


class WindowRecord(TypedDict):
    """One context map's window, as the loader carries it (the fields of
    :class:`lumastyle.context.ContextWindow`, batched by collation)."""

    features: Tensor
    offset: Tensor
    map_hw: Tensor
    scaled_hw: Tensor
    pad: Tensor
    stride: Tensor


class TrainingBatch(TypedDict):
    """Training crops, or whole validation/test photos, with their targets (sRGB (B, 3, H, W))."""

    input: Tensor
    target: Tensor
    name: list[str]
    #: windows of each photo's cached context maps, one record per map (with a context cache)
    context: NotRequired[list[WindowRecord]]
    #: (B, 2) where each crop's first pixel sits in its whole photo
    origin: NotRequired[Tensor]
    #: (B, 2) the whole photo's size
    photo_hw: NotRequired[Tensor]
    #: (B, PHOTO_CHANNELS) each crop's whole photo's photo-level statistics (without a context cache,
    #: whose windows hold them; :func:`lumastyle.context.photo_statistics`)
    photo: NotRequired[Tensor]


class PredictionBatch(TypedDict):
    """Photos at full resolution with what ``stylize`` knows of their files."""

    input: Tensor
    name: list[str]
    path: list[str]
    bit_depth: Tensor


class Prediction(TypedDict):
    """What ``predict_step`` returns: the stylized photos and what writing them as ``stylize`` does needs."""

    output: Tensor
    name: list[str]
    path: list[str]
    bit_depth: Tensor


class TrainingPhotos(ABC):
    """A DataModule whose training photos the model can read whole."""

    @property
    @abstractmethod
    def image_long_side(self) -> int | None:
        """Median long side of the training photos as loaded: the scale the context learns."""

    @abstractmethod
    def training_pairs(self) -> Iterator[tuple[Tensor, Tensor]]:
        """The whole training photos and their targets (sRGB (3, H, W)), as training loads them."""

    @abstractmethod
    def validation_pairs(self) -> Iterator[tuple[Tensor, Tensor]]:
        """The whole validation photos and their targets, loaded as the training photos are."""

    def correction_pairs(self) -> Iterator[tuple[Tensor, Tensor]]:
        """What a per-photo correction is fitted on (:meth:`lumastyle.network.StyleNetwork.fit_correction`):
        the training pairs; a DataModule that can make more (a look renders any photo) adds them."""
        return self.training_pairs()


class CachedContextData(TrainingPhotos):
    """A DataModule that serves its crops and photos with windows of cached context maps."""

    #: the cache it serves from (None: none attached)
    context_cache: ContextCache | None

    @abstractmethod
    def context_entries(self, context_long_side: int | None) -> list[CacheEntry]:
        """Every cache entry its loaders read (training photos in each orientation, validation photos
        as ``stylize`` computes their context, capped at ``context_long_side``)."""

    @abstractmethod
    def training_context_entries(self, orientations: Sequence[bool] = (False,)) -> list[CacheEntry]:
        """Cache entries of the training photos as training loads them, in these orientations."""

    @abstractmethod
    def context_image(self, entry: CacheEntry) -> Tensor:
        """The sRGB image (3, H, W) an entry's maps are computed on."""

    @abstractmethod
    def attach_context_cache(self, cache: ContextCache | None, context_long_side: int | None) -> None:
        """Serve training crops and validation photos with windows of ``cache`` (None: stop)."""
