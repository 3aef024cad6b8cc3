"""Experiment tracking: W&B by default, offline with no account or network (in a subprocess, so its
process-wide settings stay there), the resolved config and validation pictures logged; the CSV and
TensorBoard presets for people without W&B (in this process: they start no W&B)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import QUICK, make_pairs

REPO = Path(__file__).resolve().parents[1]
TINY = ["--config", "pairs", *QUICK, "--trainer.max_epochs", "2", "--trainer.log_every_n_steps", "1"]


def fit(tmp_path: Path, *extra: str, **env: str) -> subprocess.CompletedProcess:
    root = make_pairs(tmp_path / "pairs", n=4)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    clean.update(HOME=str(tmp_path / "home"), **env)  # no wandb login (~/.netrc) to be found
    args = ["fit", *TINY, "--data.root", str(root), *extra]
    return subprocess.run(
        [sys.executable, "-m", "lumastyle.cli", *args], cwd=tmp_path, env=clean, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip


def test_wandb_runs_offline_without_an_account_and_says_how_to_sync(tmp_path: Path):
    done = fit(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    said = [line for line in done.stderr.splitlines() if "W&B" in line or "wandb" in line.lower()]
    assert len(said) == 1 and "upload it with: wandb sync runs/pairs/wandb/offline-run-" in said[0]
    (offline,) = (tmp_path / "runs" / "pairs" / "wandb").glob("offline-run-*")
    (history,) = offline.glob("*.wandb")  # what wandb sync uploads: its records hold these strings
    logged = history.read_bytes()
    for expected in (b"torch.optim.Adam", b'"max_epochs":2', b"val/lab_distance", b"train/loss", b"lr-Adam"):
        assert expected in logged  # the complete resolved config, metrics, the learning rate
    images = list((offline / "files" / "media" / "images" / "val").glob("photos_*.png"))
    assert len(images) == 2  # the 4 validation photos at epoch 0 and after the last epoch, one sheet each
    run = tmp_path / "runs" / "pairs" / "version_0"
    assert sorted(p.name for p in (run / "validation_images").iterdir()) == ["epoch_000.jpg", "epoch_001.jpg"]
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "metrics.csv").is_file()


def fit_here(tmp_path: Path, monkeypatch, *extra: str) -> None:
    """``lumastyle fit`` on 4 pairs in this process (no W&B here to keep apart), with the environment
    :func:`fit` gives its subprocess: no ``WANDB_`` variables (the suite's ``WANDB_MODE=disabled``
    included, so W&B would run if the preset left it on) and no wandb login to be found."""
    from lumastyle.cli import main

    root = make_pairs(tmp_path / "pairs", n=4)
    for name in [k for k in os.environ if k.startswith("WANDB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    main(["fit", *TINY, "--data.root", str(root), *extra])


def test_csv_and_tensorboard_presets(tmp_path: Path, monkeypatch, capfd):
    fit_here(tmp_path, monkeypatch, "--config", str(REPO / "configs" / "logger" / "tensorboard.yaml"))
    run = tmp_path / "runs" / "pairs" / "version_0"
    assert list(run.glob("events.out.tfevents.*")) and (run / "metrics.csv").is_file()  # one folder for both
    assert (
        not (tmp_path / "runs" / "pairs" / "wandb").exists()
        and not (tmp_path / "runs" / "pairs" / "version_1").exists()
    )
    capfd.readouterr()
    fit_here(tmp_path / "csv", monkeypatch, "--config", str(REPO / "configs" / "logger" / "csv.yaml"))
    assert "wandb" not in capfd.readouterr().err.lower()
    assert not (tmp_path / "csv" / "runs" / "pairs" / "wandb").exists()
