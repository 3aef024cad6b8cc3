"""The context cache: a frozen lower backbone's maps of each whole photo, computed once, kept on disk.

When conv1-conv5 do not train (``model.backbone.freeze: conv1-conv5`` or ``conv1-conv7``), their maps of a photo are the
same in every epoch and every run. :class:`ContextCache` computes them once per photo (and per
orientation, when training flips photos) on the **whole photo** at the training scale, stores them as
float16, and hands the training loader the window of each map that a crop's pixels read
(:func:`lumastyle.context.take_window`). So the head trains on crops while its context comes from the
whole photo, as at ``stylize`` time, and an epoch costs conv6/conv7 and the head on the crops alone.

A cached file is named by a hash of everything its maps depend on: the photo's content (a BLAKE2b
hash of the file's bytes, :func:`file_digest`; not its path, so a copied, moved or renamed pairs
folder finds its maps), how it is decoded, the long sides it was shrunk to, the orientation, and
:meth:`lumastyle.network.StyleNetwork.lower_fingerprint` (weights, input normalisation, scales,
padding, low-level radii, contrast, regions and photo-level statistics). A changed photo or changed
weights get a new file; a stale map is never served. Each photo is hashed once per process (and again
only when its size or modification time changes). Files are written atomically, so an interrupted
build leaves nothing half-written.

Nothing here needs the network after the build: the cache object is small and goes to the loader's
worker processes, which only read files (memory-mapped).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor
from tqdm.auto import tqdm

from lumastyle.backbone import STRIDE, UPPER_MARGIN
from lumastyle.context import ContextMap, take_window, window_length, window_origin
from lumastyle.errors import LumastyleError
from lumastyle.io import atomic_path

#: Where the cache lives when ``model.context.cache`` is true: ``$LUMASTYLE_CACHE`` or this.
DEFAULT_FOLDER = "~/.cache/lumastyle/context"
#: Version of the key: entries named under an earlier key are not read (they are simply rebuilt).
KEY_VERSION = "content1"


def default_folder() -> Path:
    return Path(os.environ.get("LUMASTYLE_CACHE") or DEFAULT_FOLDER).expanduser()


def file_digest(path: Path) -> str:
    """BLAKE2b (20 bytes) of a file's bytes, read in 1 MiB blocks (hashlib.file_digest does this from
    Python 3.11 only)."""
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class CacheEntry(NamedTuple):
    """One photo's context image as training sees it: which file, how it is shrunk and oriented."""

    photo: Path
    decode: str  #: qualified name of the example's decode function ('' for plain sRGB)
    long_side: int | None  #: the DataModule's ``long_side`` (the photo as training loads it)
    context_long_side: int | None  #: a further cap on the context copy (validation: stylize's)
    flipped: bool


@dataclass(frozen=True)
class ContextCache:
    """Cached lower-context maps of whole photos (see the module docstring).

    Args:
        folder: where the files go (shared by runs; safe to delete).
        fingerprint: :meth:`~lumastyle.network.StyleNetwork.lower_fingerprint` of the network.
        scales: the network's context scales (the first ``len(scales)`` maps get conv6's margin).
    """

    folder: Path
    fingerprint: str
    scales: tuple[float, ...]
    #: (photo path, size, modification time) -> its content digest, so each photo is hashed once per
    #: process; goes with the cache object to the loader's workers
    digests: dict[tuple[str, int, int], str] = field(default_factory=dict, compare=False, repr=False)

    def content(self, photo: Path) -> str:
        """The photo's content digest (:func:`file_digest`), hashed again only when its size or
        modification time changed."""
        stat = photo.stat()
        known = (os.fspath(photo), stat.st_size, stat.st_mtime_ns)
        if known not in self.digests:
            self.digests[known] = file_digest(photo)
        return self.digests[known]

    def path(self, entry: CacheEntry) -> Path:
        key = "|".join(
            str(x)
            for x in (
                KEY_VERSION,
                self.content(entry.photo),
                entry.decode,
                entry.long_side,
                entry.context_long_side,
                entry.flipped,
                self.fingerprint,
            )
        )
        return self.folder / f"{hashlib.sha1(key.encode()).hexdigest()[:20]}.pt"

    def build(
        self,
        entries: Sequence[CacheEntry],
        image: Callable[[CacheEntry], Tensor],
        lower_context: Callable[[Tensor], list[ContextMap]],
        device: torch.device | str = "cpu",
    ) -> int:
        """Compute and store every entry not cached yet, with a progress bar; returns how many were made.

        Args:
            entries: what the loaders will ask for.
            image: an entry's context image, sRGB (3, H, W).
            lower_context: the network's :meth:`~lumastyle.network.StyleNetwork.lower_context`.
            device: where to compute.
        """
        missing = [e for e in dict.fromkeys(entries) if not self.path(e).is_file()]
        if not missing:
            return 0
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise LumastyleError(
                f"cannot create the context cache folder {self.folder} ({err.strerror}); set model.context.cache "
                "to a writable folder, or false"
            ) from None
        with torch.no_grad():
            for entry in tqdm(missing, desc="caching context", unit="photo"):
                rgb = image(entry).to(device).unsqueeze(0)
                maps = lower_context(rgb)
                record = {
                    "features": [m.features[0].to("cpu", torch.float16).contiguous() for m in maps],
                    "scaled_hw": [list(m.scaled_hw) for m in maps],
                    "pad": [int(m.pad) for m in maps],
                    "stride": [int(m.stride) for m in maps],
                    "photo_hw": list(rgb.shape[-2:]),
                }
                with atomic_path(self.path(entry)) as tmp:
                    torch.save(record, tmp)
        return len(missing)

    def load(self, entry: CacheEntry) -> dict[str, Any]:
        """An entry's cached record (tensors memory-mapped)."""
        path = self.path(entry)
        try:
            return torch.load(path, map_location="cpu", mmap=True, weights_only=True)
        except FileNotFoundError:
            raise LumastyleError(
                f"{path}: context cache entry for {entry.photo} is missing; it is built before training "
                "(prepare_data) — was the cache folder emptied during the run?"
            ) from None

    def margin(self, index: int) -> int:
        """Cells of margin a window of map ``index`` carries (conv6's reach for backbone maps)."""
        return UPPER_MARGIN if index < len(self.scales) else 0

    def windows(
        self,
        entry: CacheEntry,
        photo_hw: tuple[int, int],
        top_left: tuple[int, int] = (0, 0),
        crop: int | None = None,
    ) -> list[dict[str, Tensor]]:
        """Per map, the window a crop reads (``crop`` pixels square from ``top_left`` of a ``photo_hw``
        photo; None: the whole map), as a dict of the :class:`~lumastyle.context.ContextWindow` fields."""
        record = self.load(entry)
        strides = record.get("stride") or [STRIDE] * len(record["features"])
        out = []
        for i, features in enumerate(record["features"]):
            scaled_hw, pad, stride = tuple(record["scaled_hw"][i]), record["pad"][i], strides[i]
            map_hw = tuple(features.shape[-2:])
            m = self.margin(i)
            if crop is None:
                origin, size = (0, 0), map_hw
            else:
                origin = window_origin(scaled_hw, pad, map_hw, photo_hw, top_left, stride)
                scale = self.scales[i] if i < len(self.scales) else 1.0
                n = window_length(crop, scale, stride)
                size = (n, n)
            window = take_window(features, origin[0] - m, origin[1] - m, size[0] + 2 * m, size[1] + 2 * m)
            out.append(
                {
                    "features": window,
                    "offset": torch.tensor(origin),
                    "map_hw": torch.tensor(map_hw),
                    "scaled_hw": torch.tensor(scaled_hw),
                    "pad": torch.tensor(pad),
                    "stride": torch.tensor(stride),
                }
            )
        return out


def entry_of(
    example: Any, long_side: int | None, context_long_side: int | None, flipped: bool = False
) -> CacheEntry:
    """The cache entry of a DataModule example (:class:`lumastyle.data.base.Example`)."""
    decode = example.decode
    name = "" if decode is None else f"{decode.__module__}.{decode.__qualname__}"
    return CacheEntry(example.input, name, long_side, context_long_side, flipped)


def entries_of(
    examples: Iterable[Any],
    long_side: int | None,
    context_long_side: int | None,
    orientations: Sequence[bool],
) -> list[CacheEntry]:
    """Cache entries of DataModule examples, each in every orientation."""
    return [
        entry_of(ex, long_side, context_long_side, flipped) for ex in examples for flipped in orientations
    ]
