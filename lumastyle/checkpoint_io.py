"""Lightning writes lumastyle's checkpoints atomically: :class:`AtomicCheckpointIO` serialises a
checkpoint, writes it to a hidden temporary file beside its final name, flushes it to disk and renames
it onto the name in one step, so a process killed while saving leaves the previous checkpoint of that
name whole (:mod:`lumastyle.checkpoints` says why and what else a checkpoint holds; that module needs no
Lightning, this one is Lightning's plugin).
"""

from __future__ import annotations

import io
import os
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.plugins.io import TorchCheckpointIO

from lumastyle.errors import LumastyleError
from lumastyle.io import atomic_path


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
