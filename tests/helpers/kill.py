"""A callback the fault tests add to a training run in a subprocess: it kills its own process with
SIGKILL at a chosen moment, as a crash, the OOM killer or a pre-empted cluster job would."""

from __future__ import annotations

import os
import signal
from typing import Any

from lightning.pytorch import Callback


def _die_before_commit(real_replace: Any) -> Any:
    """``os.replace`` that, for a checkpoint, cuts the new file to half its bytes (as a kill halfway
    through writing it leaves it) and SIGKILLs before it is renamed. A save that writes the final
    name in place never calls it, so the run is not killed and the test fails."""

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if str(dst).endswith(".ckpt"):
            os.truncate(src, os.path.getsize(src) // 2)
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst, *args, **kwargs)

    return replace


class KillAt(Callback):
    """SIGKILL at training step ``step`` (mid-epoch), or while saving the checkpoint of epoch
    ``saving_epoch`` (half its bytes written)."""

    def __init__(self, step: int = -1, saving_epoch: int = -1) -> None:
        self.step = step
        self.saving_epoch = saving_epoch

    def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        if trainer.current_epoch == self.saving_epoch:
            os.replace = _die_before_commit(os.replace)
