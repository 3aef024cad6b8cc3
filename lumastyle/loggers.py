"""Loggers lumastyle adds: Lightning's CSV logger, made to keep a resumed run's history, and W&B's,
made to work with no account and no network.

Lightning's ``CSVLogger`` deletes ``metrics.csv`` when it opens a run folder that already has one, so
a run resumed into its own folder (``--ckpt_path last``) would lose the metrics of every epoch before
the interruption. :class:`CSVLogger` keeps them; :func:`trim_metrics` drops the rows of the epoch that
was interrupted (it is trained again), so each step appears once.

:class:`WandbLogger` is Lightning's W&B logger (the default beside the CSV one, see
``lumastyle/defaults/run.yaml``) that decides by itself whether it can reach W&B: with an API key
(``WANDB_API_KEY`` or ``wandb login``) and a network it logs online and uploads the best checkpoint
as an artifact; otherwise it logs offline into the run folder and says, in one line at the end, how
to upload it later with ``wandb sync``. ``WANDB_MODE=disabled`` turns it off.
"""

from __future__ import annotations

import csv
import netrc
import os
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from lightning.fabric.loggers.csv_logs import _ExperimentWriter as _FabricExperimentWriter
from lightning.pytorch.loggers import CSVLogger as LightningCSVLogger
from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities.rank_zero import rank_zero_only

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
    def experiment(self) -> _FabricExperimentWriter:  # the type Lightning's CSVLogger declares
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _KeepingWriter(log_dir=self.log_dir)
        return self._experiment


def wandb_reachable(timeout: float = 2.0) -> bool:
    """Whether W&B can be used online: an API key is set up and its server answers within ``timeout``."""
    if os.environ.get("WANDB_MODE", "").lower() in ("offline", "dryrun", "disabled"):
        return False
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    if not os.environ.get("WANDB_API_KEY"):
        try:
            if netrc.netrc().authenticators(host) is None:
                return False
        except (OSError, netrc.NetrcParseError):
            return False
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


class WandbLogger(LightningWandbLogger):
    """Lightning's :class:`~lightning.pytorch.loggers.WandbLogger` that works without an account or a
    network: offline into ``save_dir/name/wandb`` when W&B cannot be reached (``offline: null``, the
    default, decides), with a one-line ``wandb sync`` hint at the end; online, the checkpoints (the best
    one aliased ``best``) become artifacts. Other arguments are Lightning's / ``wandb.init``'s.

    Args:
        name: the run's name (the CLI sets it to the run folder's name).
        save_dir: the root folder of runs; W&B's files go to ``save_dir/name/wandb``.
        project: the W&B project.
        offline: log offline (True), online (False) or decide by :func:`wandb_reachable` (None).
        log_model: upload checkpoints as artifacts (None: when online).
    """

    def __init__(
        self,
        name: str | None = None,
        save_dir: str = "runs",
        project: str = "lumastyle",
        offline: bool | None = None,
        log_model: bool | None = None,
        **kwargs: Any,
    ) -> None:
        os.environ.setdefault("WANDB_SILENT", "true")  # lumastyle says what matters in one line
        disabled = os.environ.get("WANDB_MODE", "").lower() == "disabled"
        if offline is None:
            offline = not disabled and not wandb_reachable()
        if disabled:
            kwargs.setdefault("mode", "disabled")
        folder = Path(save_dir) / name if name else Path(save_dir)
        folder.mkdir(parents=True, exist_ok=True)
        super().__init__(
            name=name,
            save_dir=str(folder),
            project=project,
            offline=offline,
            log_model=(not offline and not disabled) if log_model is None else log_model,
            **kwargs,
        )
        if self._wandb_init.get("anonymous") is None:  # W&B warns about the key even when it is unset
            self._wandb_init.pop("anonymous", None)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        super().finalize(status)
        if self._offline and self._experiment is not None:
            run_dir = Path(self._experiment.dir).parent
            print(
                f"W&B run saved offline in {run_dir}; upload it with: wandb sync {run_dir}", file=sys.stderr
            )


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
