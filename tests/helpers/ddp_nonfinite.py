"""Run by tests/test_model.py in a subprocess: two CPU processes (DDP, gloo) train a tiny model; at
step 2 the loss of process 1 alone turns NaN. Both processes must stop with the non-finite error
(neither may wait forever for the other). Each process prints how it ended."""

from __future__ import annotations

import sys

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from lumastyle.errors import LumastyleError
from lumastyle.model import LumaStyle
from lumastyle.options import BackboneOptions, ContextOptions


class Pairs(Dataset):
    def __len__(self) -> int:
        return 16

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rgb = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(index))
        return {"input": rgb, "target": rgb.flip(0)}


class PoisonedOnRankOne(LumaStyle):
    def training_step(self, batch, batch_idx):
        if self.global_rank == 1 and self.global_step == 2:
            batch = {**batch, "input": torch.full_like(batch["input"], float("nan"))}
        return super().training_step(batch, batch_idx)


def main() -> None:
    torch.manual_seed(0)
    model = PoisonedOnRankOne(
        backbone=BackboneOptions(width=1 / 16, weights=None), context=ContextOptions(pad=8),
        check_finite_every_n_steps=1,
    )  # fmt: skip
    trainer = L.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",  # this script is started again as process 1; a process left waiting would hang
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    try:
        trainer.fit(model, DataLoader(Pairs(), batch_size=2))
    except LumastyleError as err:
        print(f"process {trainer.global_rank} stopped: {err}", flush=True)
        sys.exit(3)
    print(f"process {trainer.global_rank} finished without an error", flush=True)


if __name__ == "__main__":
    main()
