"""PhotoFolderDataModule: a plain folder of photos (no pairs) for ``lumastyle predict``, across
processes and nodes.

``lumastyle predict --data PhotoFolderDataModule --data.root DIR --ckpt_path CKPT`` stylizes every
photo directly inside ``DIR`` with Lightning's distribution (``configs/cpu-ddp.yaml``, a GPU preset,
several nodes) and :class:`lumastyle.callbacks.PredictionWriter` writes each one as ``lumastyle
stylize`` does (same name, format, bit depth, alpha, profile and metadata). The contract:

- Exactly once: process 0 lists the folder and plans every output as ``stylize`` does
  (:func:`lumastyle.stylize.plan_outputs`: the same names, the same one-line errors for two photos
  that would write one file), leaving out photos whose output exists (``skip_existing``: a
  restarted run goes on where it stopped); every process receives that one plan (a broadcast, so
  nodes that list a shared folder differently still agree) and takes the groups ``rank, rank +
  world_size, ...`` of it
  (:class:`~lightning.pytorch.overrides.distributed.UnrepeatedDistributedSampler`: torch's
  DistributedSampler would repeat photos to even the processes out, and two processes would write
  one file). Every process gets the same number of batches, at least one (the plan is padded with
  empty groups to a multiple of the number of processes), so each reaches the end of the run and the
  summary's gathering, and, with ``on_bad_file: error``, the writer's check after each batch.
- A photo that cannot be read does not stop the others: the dataset gives it as a ``failed`` entry of
  its batch instead of its pixels; the writer counts it (``on_bad_file: skip``, the default here) or
  stops with its one line after writing the batch's other photos (``error``), in every process at the
  same batch (:meth:`lumastyle.callbacks.PredictionWriter.on_predict_batch_end`).
- Each photo is read once: its colour profile and metadata travel from the dataset's read to the
  writer in the batch (``info``, a :class:`~lumastyle.callbacks.Carried` that Lightning's transfer to
  the device leaves alone), as its alpha does.
- Photos of any size: one a batch by default; ``batch_size`` N groups up to N consecutive photos whose
  headers give one size (``stylize``'s grouping); photos in a group whose decoded sizes differ after
  all are stylized one by one.
- Predict only: fit, validate and test with it are one line saying it has no targets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset

from lumastyle.callbacks import Carried, PredictionWriter
from lumastyle.data.base import StyleDataModule
from lumastyle.errors import LumastyleError
from lumastyle.io import photos_at, read_photo

#: One planned group: (photo, output file) pairs stylized in one batch.
Group = list[tuple[Path, Path]]


def group(todo: list[tuple[Path, Path]], batch_size: int, max_pixels: int | None) -> list[Group]:
    """``todo`` in batches: one photo each, or ``stylize``'s runs of same-size photos for ``batch_size`` > 1."""
    if batch_size == 1:  # no header is read: a catalogue of thousands starts at once
        return [[item] for item in todo]
    from lumastyle.stylize import _batches  # here: lumastyle.stylize imports lumastyle.data (via runs)

    return _batches(todo, batch_size, max_pixels)


def _one(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The DataLoader's collation of one group, which the dataset has already batched."""
    return items[0]


class FolderDataset(Dataset):
    """Each item is one planned group decoded and batched as ``stylize`` reads it (alpha kept apart):
    ``input`` (B, 3, H, W) (a list of (3, H, W) where decoded sizes differ), ``alpha`` (each photo's
    (1, H, W) or None), ``info`` (each photo's (colour profile, metadata) as read, in a
    :class:`~lumastyle.callbacks.Carried`), ``name``, ``path``, ``bit_depth`` (B,), and ``failed``:
    (path, reason) of each photo of the group that could not be read."""

    def __init__(self, groups: list[Group], max_pixels: int | None = None):
        self.groups = groups
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, index: int) -> dict[str, Any]:
        images, alphas, infos, names, paths, depths, failed = [], [], [], [], [], [], []
        for photo, _ in self.groups[index]:
            try:
                read = read_photo(photo, alpha=True, max_pixels=self.max_pixels)
            except LumastyleError as err:
                failed.append((str(photo), str(getattr(err, "reason", err))))
                continue
            images.append(read.image[:3])
            alphas.append(read.image[3:] if read.image.shape[0] == 4 else None)
            infos.append((read.profile, read.metadata))
            names.append(photo.stem)
            paths.append(str(photo))
            depths.append(read.bit_depth)
        one_size = len({image.shape for image in images}) <= 1
        batch: Any = torch.stack(images) if images and one_size else images if images else torch.empty(0, 3, 1, 1)
        return {
            "input": batch,
            "alpha": alphas,
            "info": Carried(infos),
            "name": names,
            "path": paths,
            "bit_depth": torch.tensor(depths, dtype=torch.long),
            "failed": failed,
        }


class PhotoFolderDataModule(StyleDataModule):
    """A plain folder of photos, for ``lumastyle predict`` (no targets: predict only), written exactly
    once across processes and nodes (see the module docstring).

    Args:
        root: the folder of photos (PNG, JPEG, TIFF, HEIC, camera RAW; not its subfolders); required.
        output: folder for the stylized photos (default: ``predictions/`` of the run, the checkpoint's
            run folder for a run's checkpoint).
        skip_existing: leave photos whose output exists (a restarted run goes on where it stopped).
        on_bad_file: a photo that cannot be read is counted and named in the summary while the others
            are written (``skip``), or stops the run with its one line (``error``).
        batch_size: photos stylized together (consecutive photos of one size; 1: one at a time, what a
            CPU gains most from and what writes the same pixels as ``stylize``'s CPU default).
        num_workers: decoding processes per predict process.
        max_pixels: the largest photo read, in pixels (default 200 MP; a guard against decompression bombs).
    """

    def __init__(
        self,
        root: str | None = None,
        output: str | None = None,
        skip_existing: bool = True,
        on_bad_file: Literal["error", "skip"] = "skip",
        batch_size: int = 1,
        num_workers: int = 2,
        max_pixels: int | None = None,
    ) -> None:
        super().__init__(
            batch_size=batch_size, num_workers=num_workers, on_bad_file=on_bad_file, max_pixels=max_pixels
        )
        if not root:
            raise LumastyleError("data.root is not set; pass --data.root DIR, a folder of photos")
        self.root = Path(root).expanduser()
        self.output = output
        self.skip_existing = skip_existing
        #: the planned groups, set by setup("predict")
        self.groups: list[Group] | None = None
        #: photos left out because their output exists (the same in every process)
        self.skipped_existing = 0
        #: the folder the outputs go to, set by setup("predict")

    def describe(self) -> str:
        return str(self.root)

    @classmethod
    def run_name(cls, init_args: dict[str, Any]) -> str | None:
        """Runs are named after the photos' folder."""
        return cls.root_name(init_args)

    def _no_targets(self, stage: str) -> LumastyleError:
        return LumastyleError(
            f"PhotoFolderDataModule ({self.root}) holds photos without targets, for predict only; "
            f"{stage} needs before/after pairs (--data PairDataModule)"
        )

    def _splits(self) -> dict[str, list[Any]]:
        raise self._no_targets("training")

    def setup(self, stage: str | None = None) -> None:
        stage = getattr(stage, "value", stage)  # Lightning passes its TrainerFn, a str enum
        if stage not in (None, "predict"):
            raise self._no_targets(str(stage))
        if self.groups is not None:
            return
        trainer = self.trainer
        out_dir = self._output_folder(trainer)
        # process 0 plans and every process takes its plan (or its error), so all agree on the groups
        try:
            planned: tuple[list[Group], int] | str = self._plan(out_dir)
        except LumastyleError as err:
            planned = str(err)
        if trainer is not None and trainer.world_size > 1:
            planned = trainer.strategy.broadcast(planned, src=0)
        if isinstance(planned, str):
            raise LumastyleError(planned)
        groups, self.skipped_existing = planned
        world = trainer.world_size if trainer is not None else 1
        pad = -len(groups) % world if groups else world  # as many batches each, at least one
        self.groups = groups + [[] for _ in range(pad)]

    def _output_folder(self, trainer: Any) -> Path:
        """Where the outputs go: ``output``, else the predict writer's folder (every process asks: it
        reads ``trainer.log_dir``, a broadcast)."""
        if self.output:
            return Path(self.output).expanduser()
        writers = [cb for cb in (trainer.callbacks if trainer is not None else []) if isinstance(cb, PredictionWriter)]
        if not writers:
            raise LumastyleError(
                "PhotoFolderDataModule: no output folder; pass --data.output DIR (or add a PredictionWriter)"
            )
        return writers[0].folder(trainer)

    def _plan(self, out_dir: Path) -> tuple[list[Group], int]:
        if not self.root.is_dir():
            raise LumastyleError(f"data.root {self.root} is not a folder; pass --data.root DIR, a folder of photos")
        if out_dir.exists() and out_dir.resolve() == self.root.resolve():
            raise LumastyleError(
                f"data.output {out_dir} is data.root; give another folder so the photos are kept"
            )
        # imported here: lumastyle.stylize imports lumastyle.data (via runs)
        from lumastyle.stylize import plan_outputs

        photos = photos_at(self.root, "data.root")
        todo, existing = plan_outputs(photos, out_dir, skip_existing=self.skip_existing, option="data.output")
        return group(todo, self.batch_size, self.max_pixels), existing

    def predict_dataloader(self) -> DataLoader:
        """This process's share of the planned groups, each group once across all processes."""
        if self.groups is None:
            self.setup("predict")
        assert self.groups is not None
        trainer = self.trainer
        world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        dataset = FolderDataset(self.groups, self.max_pixels)
        # a DistributedSampler subclass: Lightning keeps it (it would otherwise put in its own)
        sampler = UnrepeatedDistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=False)
        return DataLoader(
            dataset,
            batch_size=1,
            sampler=sampler,
            collate_fn=_one,
            num_workers=self.num_workers,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        raise self._no_targets("fit")

    def val_dataloader(self) -> DataLoader:
        raise self._no_targets("validate")

    def test_dataloader(self) -> DataLoader:
        raise self._no_targets("test")
