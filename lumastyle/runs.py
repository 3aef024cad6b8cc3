"""Run folders: where a run writes, under what name and version, and resuming the last one.

Every run writes under ``trainer.default_root_dir`` (``runs/``) into ``NAME/version_N``: NAME is what
the DataModule suggests (the look file, the pairs folder) or the style file's stem (:func:`run_name`),
and the folder loggers of one run (CSV, TensorBoard) share one ``version_N`` (:func:`same_version`).
``--ckpt_path last`` resumes the newest ``last.ckpt`` of the run in its own folder, with the metrics of
the interrupted epoch dropped (:func:`resume_last`); ``test`` and ``predict`` of a run's checkpoint
write into that run's version folder (:func:`into_checkpoint_run`). These edit the parsed config
before LightningCLI builds anything (:class:`lumastyle.training_cli.LumaStyleCLI`). :func:`find_checkpoint`
is the checkpoint a run folder stands for (``stylize --ckpt``, ``report``). Importing this module
imports no Lightning (``stylize`` starts without it); the functions that edit a training config
import what of Lightning they use.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import yaml
from jsonargparse import Namespace

from lumastyle.checkpoints import check_checkpoint
from lumastyle.errors import LumastyleError


def _loggers(config: Namespace) -> list[Namespace]:
    """The logger entries (class_path/init_args namespaces) of a parsed subcommand config."""
    value = config.trainer.get("logger")
    entries = value if isinstance(value, list) else [value]
    return [e for e in entries if isinstance(e, Namespace) and isinstance(e.get("init_args"), Namespace)]


def folder_loggers(config: Namespace) -> list[Namespace]:
    """The loggers that write into save_dir/name/version_N (CSV, TensorBoard; W&B's version is its run id)."""
    return [
        lg
        for lg in _loggers(config)
        if "Wandb" not in str(lg.get("class_path")) and "version" in lg.init_args
    ]


def same_version(config: Namespace) -> None:
    """Several folder loggers of a new run (CSV and TensorBoard) write into one version_N folder."""
    loggers = [
        lg for lg in folder_loggers(config) if lg.init_args.get("save_dir") and lg.init_args.get("name")
    ]
    if len(loggers) < 2 or any(lg.init_args.get("version") is not None for lg in loggers):
        return
    run = Path(os.fspath(loggers[0].init_args.save_dir)) / loggers[0].init_args.name
    taken = [int(p.name[8:]) for p in run.glob("version_*") if p.name[8:].isdigit()]
    for logger in loggers:
        logger.init_args.version = f"version_{max(taken, default=-1) + 1}"


def find_checkpoint(path: str | os.PathLike) -> Path:
    """The checkpoint ``path`` stands for: a version folder's best by validation error (the newest
    ``best-*.ckpt``), else its ``last.ckpt``; a run folder's (``runs/NAME``) newest version's; anything
    else as given (a .ckpt file; one that does not exist is :func:`check_checkpoint`'s to name). A
    folder holding no checkpoint raises a one-line error."""
    path = Path(path).expanduser()
    if not path.is_dir():
        return path
    if (path / "checkpoints").is_dir():
        folder = path
    else:
        versions = sorted(path.glob("version_*/checkpoints"), key=lambda p: p.stat().st_mtime)
        if not versions:
            raise LumastyleError(
                f"{path} has no version_*/checkpoints; give a run folder written by 'lumastyle fit' "
                "(runs/NAME or runs/NAME/version_N) or a .ckpt file"
            )
        folder = versions[-1].parent
    best = sorted((folder / "checkpoints").glob("best-*.ckpt"), key=lambda p: p.stat().st_mtime)
    checkpoint = best[-1] if best else folder / "checkpoints" / "last.ckpt"
    if not checkpoint.is_file():
        raise LumastyleError(
            f"{folder}/checkpoints holds no best-*.ckpt or last.ckpt; train it with 'lumastyle fit'"
        )
    return checkpoint


def checkpoint_run(ckpt_path: str | os.PathLike) -> Path | None:
    """The version folder a checkpoint was written into by ``lumastyle fit``
    (``NAME/version_N/checkpoints/*.ckpt`` beside ``NAME/version_N/config.yaml``), or None."""
    path = Path(os.fspath(ckpt_path))
    folder = path.parent.parent
    if path.parent.name == "checkpoints" and (folder / "config.yaml").is_file():
        return folder
    return None


def into_checkpoint_run(config: Namespace) -> Path | None:
    """``test``/``predict`` of a run's checkpoint write into that run's version folder (test metrics
    appended to its metrics.csv, predictions in its predictions/) instead of a new version folder;
    returns that folder, or None (no run's checkpoint, or a logger version given)."""
    ckpt_path = config.get("ckpt_path")
    folder = checkpoint_run(ckpt_path) if ckpt_path else None
    loggers = folder_loggers(config)
    if folder is None or not loggers or any(lg.init_args.get("version") is not None for lg in loggers):
        return None
    for logger in _loggers(config):
        init = logger.init_args
        if "save_dir" in init:
            init.save_dir = str(folder.parent.parent)
        if "name" in init:
            init.name = folder.parent.name
    for logger in loggers:
        logger.init_args.version = folder.name
    return folder


def config_files(args: Sequence[str]) -> list[Path]:
    """The ``--config``/``-c`` files in ``args``, in order (jsonargparse does not keep them)."""
    files = []
    for i, arg in enumerate(args):
        if arg in ("--config", "-c") and i + 1 < len(args):
            files.append(Path(args[i + 1]))
        elif arg.startswith("--config="):
            files.append(Path(arg.split("=", 1)[1]))
    return files


def run_name(config: Namespace, config_files: Sequence[Path] = ()) -> str:
    """The run folder's name: what the DataModule suggests (the look file, the pairs folder), else the
    stem of the style file (the first ``--config`` that sets ``data``), else ``lumastyle``."""
    from lumastyle.data.base import StyleDataModule  # (Lightning's: imported by the commands that train)

    data_config = config.get("data")
    if isinstance(data_config, Namespace) and data_config.get("class_path"):
        module, _, name = data_config.class_path.rpartition(".")
        cls = getattr(importlib.import_module(module), name, None)  # a class named in a config
        if isinstance(cls, type) and issubclass(cls, StyleDataModule):
            init_args = data_config.get("init_args")
            suggested = cls.run_name(init_args.as_dict() if isinstance(init_args, Namespace) else {})
            if suggested:
                return suggested
    for path in config_files:
        try:
            content = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(content, dict) and "data" in content:
            return path.stem
    return config_files[0].stem if config_files else "lumastyle"


def name_loggers(config: Namespace, config_files: Sequence[Path]) -> None:
    """Loggers without a name get the run's: one a logger was given (``--trainer.logger.name NAME``
    reaches the last of the list), else the look's or style's (:func:`run_name`)."""
    loggers = [lg for lg in _loggers(config) if "name" in lg.init_args]
    given = next((lg.init_args.name for lg in loggers if lg.init_args.name is not None), None)
    for logger in loggers:
        if logger.init_args.name is None:
            given = given or run_name(config, config_files)
            logger.init_args.name = given


def resume_last(config: Namespace) -> None:
    """``--ckpt_path last``: the newest last.ckpt of this run (save_dir/name/version_*), resumed in its
    own folder, with the metrics of the interrupted epoch dropped (it is trained again)."""
    from lightning.pytorch.utilities.rank_zero import rank_zero_only  # (as in run_name)

    from lumastyle.loggers import trim_metrics

    loggers = [
        lg for lg in folder_loggers(config) if lg.init_args.get("save_dir") and lg.init_args.get("name")
    ]
    if not loggers:
        return  # no named run folder: Lightning's own 'last' lookup applies
    init = loggers[0].init_args
    run = Path(os.fspath(init.save_dir)) / init.name
    found = sorted(run.glob("version_*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    if not found:
        warnings.warn(f"no {run}/version_*/checkpoints/last.ckpt to resume; starting a new run", stacklevel=2)
        config.ckpt_path = None
        return
    last = found[-1]
    version_dir = last.parent.parent
    for logger in loggers:
        logger.init_args.version = version_dir.name
    config.ckpt_path = str(last)
    # resuming into the run's own folder: its checkpoints are expected to be there
    warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
    if rank_zero_only.rank == 0:  # type: ignore[attr-defined]  # (Lightning sets it) every process parses the command; one edits files
        state = check_checkpoint(last)
        trim_metrics(version_dir, int(state.get("epoch", 0)), int(state.get("global_step", 0)))
        print(
            f"resuming {last} (epoch {state.get('epoch')}, step {state.get('global_step')})", file=sys.stderr
        )
