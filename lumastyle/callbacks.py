"""Lightning callbacks lumastyle adds to runs: the predict writer, validation pictures, and the
resolved config sent to W&B."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from torch import Tensor

from lumastyle.errors import LumastyleError
from lumastyle.io import output_name, read_info, write_image
from lumastyle.messages import shown
from lumastyle.panels import ERROR_SCALE, panel
from lumastyle.predictions import SAVE_EVERY, PredictionRecord


class Carried:
    """Values a batch carries to the writer untouched by Lightning's batch transfer.

    Lightning moves a batch to the device with lightning_utilities' ``apply_to_collection``, which
    rebuilds every dataclass it meets field by field (a frozen one, such as
    :class:`~lumastyle.metadata.Metadata`, is a ValueError: "A frozen dataclass was passed to
    `apply_to_collection`", in the first batch with a photo) and every sequence element by element (``bytes`` byte by byte: 0.3 s for 200 KB of EXIF). An object
    that is none of those (no ``.to``, not a mapping, sequence or dataclass) it passes on as it is, and
    a DataLoader worker pickles it as any other object.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class PredictionWriter(BasePredictionWriter):
    """Writes ``lumastyle predict`` outputs exactly as ``lumastyle stylize`` writes them: the input's
    name, format and bit depth (``--format auto``: a JPEG for a JPEG at quality 95 and 4:4:4, PNG and TIFF
    kept with their bit depth, PNG for other formats), in the input's colour profile and with its
    metadata (the prediction itself is sRGB), and its alpha where the batch carries it
    (:class:`lumastyle.data.folder.PhotoFolderDataModule`). The profile and metadata are those the
    batch carries (``info``: each photo's ``(profile, metadata)`` as the DataModule read them, in a
    :class:`Carried`), else they are read again (:func:`lumastyle.io.read_info`).

    Each process writes its own share and counts it; at the end the counts are gathered and process 0
    prints one summary line: ``wrote N photo(s) to FOLDER``, then ``skipped M whose output exists``
    and ``failed K: NAME (reason); ...`` where there are any. A batch may name photos that could not
    be read (``failed``): they are counted, or, when the DataModule's ``on_bad_file`` is ``error``,
    the run stops with the first one's line once the batch's other photos are written, in every
    process at the same batch (see :meth:`on_predict_batch_end`).

    Args:
        output_dir: folder for the images (default: the DataModule's ``output`` where it has one, else
            ``predictions/`` in the run's log folder).
    """

    def __init__(self, output_dir: str | None = None) -> None:
        super().__init__(write_interval="batch")
        self.output_dir = output_dir
        self._folder: Path | None = None
        self.written = 0
        self.failed: list[tuple[str, str]] = []

    def folder(self, trainer: L.Trainer) -> Path:
        """The images' folder. Every process must ask (``trainer.log_dir`` is a broadcast under DDP);
        during a predict run the folder found at its start is given without asking again."""
        if self._folder is not None:
            return self._folder
        chosen = self.output_dir or getattr(getattr(trainer, "datamodule", None), "output", None)
        return Path(chosen or Path(trainer.log_dir or trainer.default_root_dir) / "predictions")

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._folder = None
        self._folder = self.folder(trainer)  # once, in every process: batches may differ in number
        # which checkpoint wrote the images, so `lumastyle report` can reuse them (lumastyle.predictions)
        self.record = PredictionRecord.begin(self._folder, trainer.ckpt_path, trainer.global_rank)
        self.written = 0
        self.failed = []

    def on_predict_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, *args: Any
    ) -> None:
        super().on_predict_batch_end(trainer, pl_module, outputs, batch, *args)  # writes them
        self.written += len(outputs["path"])
        for path in outputs["path"]:
            self.record.add(self.record.path.parent / output_name(Path(path), "auto"), path)
        if outputs["path"]:
            self.record.save(every=SAVE_EVERY)
        if not isinstance(batch, dict) or "failed" not in batch:
            return
        failed = [(str(path), str(reason)) for path, reason in batch["failed"]]
        self.failed.extend(failed)
        if getattr(trainer.datamodule, "on_bad_file", "skip") == "error":  # type: ignore[attr-defined]
            first = _first_failure(trainer, failed)
            if first is not None:
                path, reason = first
                raise LumastyleError(f"{path}: {reason} (or pass --data.on_bad_file skip)")

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Gather every process's counts; the first one says what was written, skipped and failed."""
        self.record.save()  # what the last batches wrote
        counts = _gathered(trainer, (self.written, self.failed))
        folder = self.folder(trainer)
        self._folder = None
        if not trainer.is_global_zero:
            return
        written = sum(n for n, _ in counts)
        failed = sorted(f for _, fs in counts for f in fs)
        line = f"wrote {written} photo(s) to {shown(folder)}"
        existing = int(getattr(trainer.datamodule, "skipped_existing", 0) or 0)  # type: ignore[attr-defined]
        if existing:
            line += f"; skipped {existing} whose output exists"
        if failed:
            listed = "; ".join(f"{Path(path).name} ({reason})" for path, reason in failed)
            line += f"; failed {len(failed)}: {listed}"
        print(line)

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
        alphas = batch.get("alpha") if isinstance(batch, dict) else None
        alphas = alphas or [None] * len(prediction["path"])
        carried = batch.get("info") if isinstance(batch, dict) else None
        infos = carried.value if isinstance(carried, Carried) else [None] * len(prediction["path"])
        for path, depth, image, alpha, info in zip(
            prediction["path"], prediction["bit_depth"], prediction["output"], alphas, infos, strict=True
        ):
            profile, metadata = info if info is not None else read_info(path)
            image = image.float().cpu()
            write_image(
                self.folder(trainer) / output_name(Path(path), "auto"),
                image if alpha is None else torch.cat([image, alpha.float().cpu()]),
                bit_depth=int(depth),
                profile=profile,
                metadata=metadata,
            )


def _local_log_dir(trainer: L.Trainer) -> str | None:
    """``trainer.log_dir`` as this process finds it, without the broadcast of process 0's value that
    Lightning's property makes: on an exception the other processes may have stopped already (all of
    them do on a bad photo with ``on_bad_file: error``), and process 0 alone in a broadcast is a
    traceback over gloo, a wait until the process group's timeout over NCCL. Lightning's own logic,
    repeated: it has no form without the broadcast."""
    if not trainer.loggers:
        return trainer.default_root_dir
    logger = trainer.loggers[0]
    return logger.log_dir if isinstance(logger, (TensorBoardLogger, CSVLogger)) else logger.save_dir


def _first_failure(trainer: L.Trainer, failed: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The first (path, reason) of any process's batch, the same in every process; None where no
    process's batch had a photo that could not be read.

    Every process calls it after each batch (with ``on_bad_file: error``), so all stop at the same
    batch: a process that stopped alone would leave the others waiting for it in the end's gathering,
    until the process group's timeout (30 minutes) or, where its connection closes as it exits
    (gloo), with a traceback instead of the one line. A collective after each batch is what it takes (a
    bad photo is found only by decoding it: checking the whole plan first would decode every photo
    twice); it is one all-reduce of a flag (0.56 ms over gloo, 2 processes on a 2-core CPU), and the
    names are gathered only when one is set. Every process has the same number of batches
    (PhotoFolderDataModule plans a multiple of the number of processes), so each call meets its
    match in the others."""
    if not trainer.strategy.reduce_boolean_decision(bool(failed), all=False):
        return None
    return min((first for firsts in _gathered(trainer, failed[:1]) for first in firsts), default=None)


def _gathered(trainer: L.Trainer, value: Any) -> list[Any]:
    """``value`` of every process, in rank order (``[value]`` when there is one process)."""
    if trainer.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        values: list[Any] = [None] * trainer.world_size
        torch.distributed.all_gather_object(values, value)
        return values
    return [value]


class ValidationImages(L.Callback):
    """Pictures of how training goes: every ``every_n_epochs`` epochs (and after the last), the first
    ``photos`` validation photos as input | prediction | target | error heatmap (0 to
    :data:`~lumastyle.panels.ERROR_SCALE` Lab units), written to ``validation_images/epoch_NNN.jpg``
    in the run folder and logged to W&B and TensorBoard when those loggers are in use.

    Args:
        every_n_epochs: how often (0: never).
        photos: how many validation photos.
    """

    def __init__(self, every_n_epochs: int = 5, photos: int = 4) -> None:
        self.every_n_epochs = every_n_epochs
        self.photos = photos
        self._kept: list[tuple[Tensor, Tensor, Tensor]] = []
        self._wanted = 0

    def _due(self, trainer: L.Trainer) -> bool:
        epoch = trainer.current_epoch
        due = self.every_n_epochs > 0 and (
            epoch % self.every_n_epochs == 0 or epoch + 1 == trainer.max_epochs
        )
        return due and not trainer.sanity_checking

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._kept = []
        self._wanted = self.photos if self._due(trainer) else 0

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Keep the first photos' (input, written, target): the written image is what
        ``validation_step`` returns (:meth:`lumastyle.model.LumaStyle.validation_step`)."""
        if len(self._kept) >= self._wanted or not isinstance(outputs, dict) or "written" not in outputs:
            return
        for photo in zip(batch["input"], outputs["written"], batch["target"], strict=True):
            if len(self._kept) < self._wanted:
                self._kept.append((photo[0].float().cpu(), photo[1].float().cpu(), photo[2].float().cpu()))

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        kept, self._kept, self._wanted = self._kept, [], 0
        if not self._due(trainer):  # the same answer in every process
            return
        # every process asks: trainer.log_dir is a broadcast under DDP (one process alone would hang)
        folder = Path(trainer.log_dir or trainer.default_root_dir) / "validation_images"
        if not kept or not trainer.is_global_zero:
            return
        panels = [panel(*photo) for photo in kept]
        width = max(p.shape[-1] for p in panels)
        sheet = torch.cat(
            [torch.nn.functional.pad(p, (0, width - p.shape[-1], 0, 4), value=1.0) for p in panels], -2
        )
        write_image(folder / f"epoch_{trainer.current_epoch:03d}.jpg", sheet)
        caption = (
            f"epoch {trainer.current_epoch}: input | prediction | target | error (0-{ERROR_SCALE:g} Lab)"
        )
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                # one size for all (white margins): W&B warns, inside the progress bar, of sizes that differ
                height = max(p.shape[-2] for p in panels)
                images = [
                    torch.nn.functional.pad(p, (0, width - p.shape[-1], 0, height - p.shape[-2]), value=1.0)
                    .permute(1, 2, 0)
                    .numpy()
                    for p in panels
                ]
                logger.log_image(
                    "val/photos", images, step=trainer.global_step, caption=[caption] * len(images)
                )
            elif isinstance(logger, TensorBoardLogger):
                for i, p in enumerate(panels):
                    logger.experiment.add_image(f"val/photo_{i}", p, trainer.global_step)


class SaveConfig(SaveConfigCallback):
    """LightningCLI's config.yaml writer, which also gives W&B the complete resolved config; a run that
    fails before it wrote anything (a bad photo found by the checks, say) leaves no empty run folder
    behind (Lightning's loggers make it before the data is set up)."""

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if not trainer.is_global_zero:
            return
        log_dir = _local_log_dir(trainer)  # not trainer.log_dir: see _local_log_dir
        if log_dir:
            folder = Path(log_dir)
            if folder.is_dir() and not any(p.is_file() for p in folder.rglob("*")):
                shutil.rmtree(folder, ignore_errors=True)
                if folder.parent.is_dir() and not any(folder.parent.iterdir()):  # the run's own folder
                    folder.parent.rmdir()

    def save_config(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        loggers = [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]
        if loggers:
            config = yaml.safe_load(self.parser.dump(self.config, skip_none=False, skip_check=True))
            for logger in loggers:
                logger.experiment.config.update(config, allow_val_change=True)
