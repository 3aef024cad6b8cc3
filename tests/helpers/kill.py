"""A callback the fault tests add to a training run in a subprocess: it kills its own process with
SIGKILL at a chosen moment, as a crash, the OOM killer or a pre-empted cluster job would."""

from __future__ import annotations

import io
import os
import signal
from typing import Any

import torch
from lightning.pytorch import Callback


def _die_halfway(real_save: Any) -> Any:
    """``torch.save`` that writes half of the checkpoint's bytes to its destination, then SIGKILLs."""

    def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        data = buffer.getvalue()
        out = open(f, "wb") if isinstance(f, (str, os.PathLike)) else f  # noqa: SIM115
        out.write(data[: len(data) // 2])
        out.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    return save


class KillAt(Callback):
    """SIGKILL at training step ``step`` (mid-epoch), or halfway through writing the checkpoint of
    epoch ``saving_epoch``."""

    def __init__(self, step: int = -1, saving_epoch: int = -1) -> None:
        self.step = step
        self.saving_epoch = saving_epoch

    def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        if trainer.current_epoch == self.saving_epoch:
            torch.save = _die_halfway(torch.save)
