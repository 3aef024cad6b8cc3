"""Loggers lumastyle adds: Lightning's CSV logger, made to keep a resumed run's history.

Lightning's ``CSVLogger`` deletes ``metrics.csv`` when it opens a run folder that already has one, so
a run resumed into its own folder (``--ckpt_path last``) would lose the metrics of every epoch before
the interruption. :class:`CSVLogger` keeps them; :func:`trim_metrics` drops the rows of the epoch that
was interrupted (it is trained again), so each step appears once.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger as LightningCSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from lumastyle.io import atomic_path


class _KeepingWriter(ExperimentWriter):
    """Appends to an existing metrics.csv (its columns are read from its header) instead of deleting it."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as f:
                self.metrics_keys = next(csv.reader(f), [])


class CSVLogger(LightningCSVLogger):
    """Lightning's :class:`~lightning.pytorch.loggers.CSVLogger` (same arguments) that keeps the metrics
    already in a run folder it resumes into."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _KeepingWriter(log_dir=self.log_dir)
        return self._experiment


def trim_metrics(log_dir: str | os.PathLike, epoch: int, step: int) -> int:
    """Drop the rows of ``log_dir/metrics.csv`` logged after a checkpoint at ``epoch``/global ``step``.

    Returns how many rows were dropped (the file is rewritten atomically; no file: 0).
    """
    path = Path(log_dir) / ExperimentWriter.NAME_METRICS_FILE
    if not path.is_file():
        return 0
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames or [], list(reader)

    def after(row: dict[str, str]) -> bool:
        # a checkpoint at global step s follows the rows of steps < s (validation logs at s - 1)
        row_epoch, row_step = row.get("epoch") or "", row.get("step") or ""
        late_epoch = bool(row_epoch) and float(row_epoch) > epoch
        return late_epoch or (bool(row_step) and float(row_step) >= step)

    kept = [row for row in rows if not after(row)]
    if len(kept) < len(rows):
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(kept)
    return len(rows) - len(kept)
