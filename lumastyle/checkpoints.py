"""Checkpoints that survive a kill: atomic writes, and the random state that makes a resume exact.

- **Atomic**: a checkpoint is written to a hidden temporary file beside its final name, flushed to
  disk, then renamed onto the name in one step (:func:`lumastyle.io.atomic_path`). A process killed
  while saving (SIGKILL, a full disk, a lost node) leaves the previous checkpoint of that name whole;
  a failed write is one line (:class:`LumastyleError`) naming the file. Lightning's own save writes
  the final file in place, so a kill during it leaves a truncated checkpoint that resumes nowhere.
- **Versioned**: lumastyle's own section of a checkpoint (``checkpoint["lumastyle"]``,
  :func:`extra_state`) carries :data:`CHECKPOINT_FORMAT`; :func:`check_checkpoint` refuses a file that
  is not a lumastyle checkpoint, or of another format, in one line before anything is built from it.
- **Exact resume**: each checkpoint holds the random state of torch, numpy and Python (CUDA too on a
  GPU) as the epoch it ends left it. ``--ckpt_path last`` restores it when the next epoch starts, so
  the resumed epochs draw the same shuffles, crops and flips as an uninterrupted run and reach the
  same weights and metrics. Stored as tensors and plain numbers, so checkpoints still load with
  ``weights_only=True``.
"""

from __future__ import annotations

import io
import os
import random
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.plugins.io import TorchCheckpointIO

from lumastyle.errors import LumastyleError
from lumastyle.io import atomic_path

#: Version of the extra state lumastyle stores in checkpoints (``checkpoint["lumastyle"]``).
CHECKPOINT_FORMAT = 2


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO, except that a local checkpoint appears whole or not at all."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if "://" in str(path) and not str(path).startswith("file://"):
            return super().save_checkpoint(checkpoint, path, storage_options)  # remote storage: fsspec's
        path = Path(path)
        try:
            buffer = io.BytesIO()  # serialised first, so a failed write is an OSError with its reason
            torch.save(checkpoint, buffer)
            with atomic_path(path, keep_suffix=False) as tmp, open(tmp, "wb") as f:
                f.write(buffer.getbuffer())
                f.flush()
                os.fsync(f.fileno())
            # what a save killed earlier left of this name (checkpoints are rewritten under one name
            # every epoch; photos are not, so io.atomic_path leaves this to the callers that repeat)
            for stale in path.parent.glob(f".{glob_escape(path.stem)}.*.part"):
                stale.unlink(missing_ok=True)
        except OSError as err:
            raise LumastyleError(
                f"{path}: cannot write the checkpoint ({err.strerror or err}); free space or choose another "
                "--trainer.default_root_dir (the previous checkpoint is kept)"
            ) from None


def use_atomic_checkpoints(trainer: Trainer) -> None:
    """Make ``trainer`` write its checkpoints with :class:`AtomicCheckpointIO` (unless a plugin chose
    another kind of IO)."""
    strategy = trainer.strategy
    if type(strategy.checkpoint_io) is TorchCheckpointIO:
        strategy.checkpoint_io = AtomicCheckpointIO()


def random_state() -> dict[str, Any]:
    """The random state of torch (and CUDA), numpy and Python, as tensors and plain numbers."""
    numpy_state = np.random.get_state(legacy=True)
    assert isinstance(numpy_state, tuple)  # the legacy form: np.random's generator is an MT19937
    name, keys, pos, has_gauss, gauss = numpy_state
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
        "python": [version, list(internal), gauss_next],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_random_state(state: dict[str, Any]) -> None:
    """Restore what :func:`random_state` returned."""
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def extra_state(trained_long_side: int | None) -> dict[str, Any]:
    """lumastyle's section of a checkpoint: its format, the training scale ``stylize`` needs, and the
    random state a resume restores (:func:`random_state`)."""
    return {"format": CHECKPOINT_FORMAT, "trained_long_side": trained_long_side, "random_state": random_state()}


def check_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint at ``path`` (tensors memory-mapped), or a one-line LumastyleError saying why not."""
    if not os.path.isfile(path):
        raise LumastyleError(
            f"checkpoint {path} does not exist; pass a .ckpt file written by 'lumastyle fit'"
        )
    try:
        raw = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except Exception as err:  # torch raises many types for a file that is not a checkpoint
        raise LumastyleError(
            f"{path}: not a readable checkpoint ({type(err).__name__}); pass a .ckpt from 'lumastyle fit'"
        ) from None
    extra = raw.get("lumastyle") if isinstance(raw, dict) else None
    if not isinstance(extra, dict) or "state_dict" not in raw:
        raise LumastyleError(f"{path}: not a lumastyle checkpoint (no model state or lumastyle section)")
    found = extra.get("format", 0)
    if found > CHECKPOINT_FORMAT:
        raise LumastyleError(f"{path}: written by a newer lumastyle (format {found}); upgrade lumastyle")
    if found < CHECKPOINT_FORMAT:
        raise LumastyleError(
            f"{path}: written by an older lumastyle (checkpoint format {found}, this one reads "
            f"{CHECKPOINT_FORMAT}); train it again with this version"
        )
    return raw
