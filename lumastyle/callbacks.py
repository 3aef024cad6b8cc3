"""Lightning callbacks lumastyle adds to runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter

from lumastyle.io import output_name, write_image


class PredictionWriter(BasePredictionWriter):
    """Writes ``lumastyle predict`` outputs exactly as ``lumastyle stylize`` writes them: the input's
    name, PNG or the input's own lossless format (PNG, TIFF) and bit depth.

    Args:
        output_dir: folder for the images (default: ``predictions/`` in the run's log folder).
    """

    def __init__(self, output_dir: str | None = None) -> None:
        super().__init__(write_interval="batch")
        self.output_dir = output_dir

    def folder(self, trainer: L.Trainer) -> Path:
        return Path(self.output_dir or Path(trainer.log_dir or trainer.default_root_dir) / "predictions")

    def write_on_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        prediction: Any,
        batch_indices: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        for path, depth, image in zip(
            prediction["path"], prediction["bit_depth"], prediction["output"], strict=True
        ):
            write_image(
                self.folder(trainer) / output_name(Path(path)), image.float().cpu(), bit_depth=int(depth)
            )
