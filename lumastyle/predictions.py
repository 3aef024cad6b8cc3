"""Which checkpoint wrote a ``predictions/`` folder, so ``lumastyle report`` can reuse its images.

``lumastyle predict`` (:class:`lumastyle.callbacks.PredictionWriter`) writes beside its images a small
record, ``lumastyle-predictions.json`` (``lumastyle-predictions.rankN.json`` for process N > 0 of a
multi-process run): the checkpoint's content hash, and for each image written, the content hash of
the photo it was made from and the image's size and modification time. The record is rewritten
(atomically) after every batch, and emptied before the first image of a predict run with another
checkpoint (or with none) is written, so an interrupted run never leaves it vouching for an image
another checkpoint wrote. An image changed after it was written (size or modification time) is not
vouched for either.

:func:`written_predictions` reads the records of some folders and gives, for one checkpoint, the
image written from each photo (by the photo's content hash), which ``report`` then reads instead of
stylizing the photo again. Hashes are BLAKE2b of the file bytes (:func:`lumastyle.cache.file_digest`):
content, not paths or times, so a copied checkpoint or pairs folder still matches, and a checkpoint
rewritten under the same name (``last.ckpt`` every epoch) does not.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lumastyle.cache import file_digest
from lumastyle.io import atomic_path

#: The record's name in a predictions folder (process 0's; process N's ends ``.rankN.json``).
RECORD = "lumastyle-predictions.json"
_FORMAT = 1


#: Seconds between two saves of a record while predict writes (see :meth:`PredictionRecord.save`).
SAVE_EVERY = 10.0


def record_path(folder: Path, rank: int = 0) -> Path:
    return folder / (RECORD if rank == 0 else RECORD.replace(".json", f".rank{rank}.json"))


@dataclass
class PredictionRecord:
    """What one predict process wrote into ``folder`` and with which checkpoint (see the module docstring)."""

    path: Path
    checkpoint: str | None  #: content hash of the checkpoint (None: not known, nothing is vouched for)
    photos: dict[str, dict[str, Any]] = field(default_factory=dict)  #: image name -> its entry
    _saved: float = field(default=float("-inf"), repr=False)  # time.monotonic() of the last save

    @classmethod
    def begin(cls, folder: Path, checkpoint: str | os.PathLike | None, rank: int = 0) -> PredictionRecord:
        """The record of a predict run with ``checkpoint`` (None: a model not from a file) writing into
        ``folder``: the folder's earlier record when the same checkpoint wrote it, else an empty one,
        saved before any image is written."""
        digest = file_digest(Path(checkpoint)) if checkpoint and Path(checkpoint).is_file() else None
        path = record_path(folder, rank)
        earlier = _read(path)
        if digest is not None and earlier is not None and earlier.get("checkpoint") == digest:
            return cls(path, digest, dict(earlier.get("photos") or {}))
        record = cls(path, digest)
        if earlier is not None or digest is not None:
            record.save()
        if rank == 0:  # other processes' records of an earlier run with another checkpoint
            for other in folder.glob(RECORD.replace(".json", ".rank*.json")):
                if (_read(other) or {}).get("checkpoint") != digest:
                    other.unlink(missing_ok=True)
        return record

    def add(self, image: Path, photo: str | os.PathLike) -> None:
        """Note that ``image`` (just written) was made from ``photo``."""
        if self.checkpoint is None:
            return
        stat = image.stat()
        self.photos[image.name] = {
            "photo": file_digest(Path(photo)),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
        }

    def save(self, every: float = 0.0) -> None:
        """Write the record, unless it was written less than ``every`` seconds ago (predict saves after
        each batch with :data:`SAVE_EVERY` and at its end with 0: a catalogue of N photos rewrites it
        a bounded number of times, not N; a kill loses at most the last seconds' entries, whose images
        ``report`` then stylizes again)."""
        now = time.monotonic()
        if now - self._saved < every:
            return
        content = {"format": _FORMAT, "checkpoint": self.checkpoint, "photos": self.photos}
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(content, indent=1), encoding="utf-8")
        self._saved = now


def _read(path: Path) -> dict[str, Any] | None:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) and content.get("format") == _FORMAT else None


def written_predictions(folders: Iterable[Path], checkpoint: str | os.PathLike) -> dict[str, Path]:
    """Images in the predictions ``folders`` that ``checkpoint`` wrote and that are unchanged since, by
    the content hash of the photo each was made from."""
    folders = [f for f in folders if f.is_dir()]
    records = [r for f in folders for r in sorted(f.glob(RECORD.replace(".json", "*.json")))]
    if not records:
        return {}
    digest = file_digest(Path(checkpoint))
    found: dict[str, Path] = {}
    for path in records:
        content = _read(path)
        if content is None or content.get("checkpoint") != digest:
            continue
        for name, entry in (content.get("photos") or {}).items():
            image = path.parent / name
            try:
                stat = image.stat()
            except OSError:
                continue
            if (stat.st_size, stat.st_mtime_ns) == (entry.get("size"), entry.get("mtime_ns")):
                found[str(entry.get("photo"))] = image
    return found
