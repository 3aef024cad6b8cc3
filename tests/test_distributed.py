"""Distributed and mixed-precision runs on the CPU: DDP with 2 processes (gloo) trains and validates
through the CLI and its validation metric equals one process's; a 2-process run killed mid-epoch and
resumed reaches the uninterrupted one's weights exactly; two "nodes" on loopback train one epoch;
bf16-mixed trains with the colour layer in float32. Each distributed run is a subprocess with
a timeout, so a hang fails instead of stalling the suite."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import QUICK, make_pairs

from lumastyle.cli import main

REPO = Path(__file__).resolve().parents[1]
#: one crop of each training photo an epoch (the preset's 4 would be 4 times the steps; what is asserted
#: is the same after one step as after many)
TINY = ["--config", "pairs", *QUICK, "--data.batch_size", "2", "--data.crops_per_image", "1",
        "--trainer.max_epochs", "1"]  # fmt: skip


def lumastyle(*args: str, cwd: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lumastyle.cli", *args], cwd=cwd, env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


def finish(*processes: subprocess.Popen, timeout: float = 300, status: int = 0) -> list[str]:
    """Each run's output, once it exits with ``status``; a run that hangs is killed with the processes
    it started (its own session) and fails the test."""
    outputs = []
    for p in processes:
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in processes:
                os.killpg(q.pid, signal.SIGKILL)
            pytest.fail("a distributed run hung")
        assert p.returncode == status, out[-3000:]
        outputs.append(out)
    return outputs


def validation_metric(version: Path) -> float:
    with open(version / "metrics.csv", newline="") as f:
        return float(next(r["val/lab_distance"] for r in csv.DictReader(f) if r.get("val/lab_distance")))


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    """20 pairs: 16 training, 2 validation and 2 test photos (even counts: no photo is repeated to
    give both processes the same number)."""
    return make_pairs(tmp_path_factory.mktemp("ddp") / "pairs", n=20)


def test_ddp_trains_and_validates_like_one_process(pairs: Path, tmp_path: Path, monkeypatch):
    ddp = ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]
    finish(lumastyle("fit", *TINY, *ddp, "--data.root", str(pairs), cwd=tmp_path))
    run = tmp_path / "runs" / "pairs"
    ckpt = run / "version_0" / "checkpoints" / "last.ckpt"
    assert ckpt.is_file() and sorted(p.name for p in run.iterdir()) == ["version_0"]  # one process wrote
    finish(
        lumastyle("validate", *TINY, *ddp, "--data.root", str(pairs), "--ckpt_path", str(ckpt), cwd=tmp_path)
    )
    one = ["--trainer.accelerator", "cpu", "--trainer.devices", "1"]
    monkeypatch.chdir(tmp_path)  # one process needs no launcher: it runs here
    main(["validate", *TINY, *one, "--data.root", str(pairs), "--ckpt_path", str(ckpt)])
    two_processes, one_process = validation_metric(run / "version_1"), validation_metric(run / "version_2")
    assert two_processes == pytest.approx(one_process, rel=1e-5)


def test_ddp_killed_mid_epoch_resumes_to_the_uninterrupted_weights(pairs: Path, tmp_path: Path, tally):
    """2 processes with a loader worker each, 4 steps an epoch, 2 epochs; killed (SIGKILL, each process
    at step 6, inside epoch 1), then resumed with --ckpt_path last from epoch 0's checkpoint. Every
    weight equals the uninterrupted run's bit for bit: each process restored its own random state (its
    worker's crops and flips are seeded from it; given rank 0's, process 1 draws other crops and
    68 tensors differ), and the resumed epoch 1 is drawn in epoch 1's order (Lightning's sampler,
    set to the epoch after the iterator took its order, trains it in epoch 0's: 68 tensors differ).
    Without workers the crops are drawn in the processes from the same restored states."""
    ddp = [*TINY, "--trainer.max_epochs", "2", "--trainer.accelerator", "cpu", "--trainer.devices", "2",
           "--trainer.strategy", "ddp", "--data.root", str(pairs), "--data.num_workers", "1"]  # fmt: skip
    env = {"PYTHONPATH": os.pathsep.join([str(REPO / "tests" / "helpers"), os.environ.get("PYTHONPATH", "")])}
    killed = ["--trainer.callbacks+=kill.KillAt", "--trainer.callbacks.init_args.step", "6"]
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    uninterrupted = lumastyle("fit", *ddp, cwd=tmp_path / "a")
    finish(uninterrupted)
    finish(lumastyle("fit", *ddp, *killed, cwd=tmp_path / "b", env=env), status=-signal.SIGKILL)
    last = tmp_path / "b" / "runs" / "pairs" / "version_0" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    assert saved["epoch"] == 0 and saved["global_step"] == 4  # the kill came mid-epoch 1
    states = saved["lumastyle"]["random_states"]  # one per process, and they differ
    assert len(states) == 2 and not torch.equal(states[0]["torch"], states[1]["torch"])
    finish(lumastyle("fit", *ddp, "--ckpt_path", "last", cwd=tmp_path / "b"))

    reference = torch.load(tmp_path / "a" / "runs" / "pairs" / "version_0" / "checkpoints" / "last.ckpt",
                           weights_only=True)  # fmt: skip
    resumed = torch.load(last, weights_only=True)
    assert resumed["global_step"] == reference["global_step"] == 8
    assert resumed["state_dict"].keys() == reference["state_dict"].keys()
    state = resumed["state_dict"]
    different = [k for k, v in reference["state_dict"].items() if not torch.equal(state[k], v)]
    assert not different, f"{len(different)} tensors differ from the uninterrupted run's, e.g. {different[0]}"
    tally("kills resumed to the uninterrupted weights (2 DDP processes)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_nodes_on_loopback(pairs: Path, tmp_path: Path):
    """Two launches, as two machines would start them: NODE_RANK 0 and 1, one process each."""
    port = str(free_port())
    nodes = []
    for rank in (0, 1):
        (tmp_path / f"node{rank}").mkdir()
        env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "NODE_RANK": str(rank), "WORLD_SIZE": "2"}
        args = [*TINY, "--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.num_nodes", "2",
                "--trainer.strategy", "ddp", "--data.root", str(pairs)]  # fmt: skip
        nodes.append(lumastyle("fit", *args, cwd=tmp_path / f"node{rank}", env=env))
    outputs = finish(*nodes)
    assert "`Trainer.fit` stopped: `max_epochs=1` reached" in outputs[0]
    assert (tmp_path / "node0" / "runs" / "pairs" / "version_0" / "checkpoints" / "last.ckpt").is_file()
    assert not list((tmp_path / "node1").rglob("*.ckpt"))  # node 1 writes no checkpoint


def test_bf16_mixed_trains_on_cpu_with_the_colour_layer_in_float32(pairs: Path, tmp_path: Path, monkeypatch):
    from lumastyle.model import LumaStyle

    dtypes = []
    predict = LumaStyle._predict_lab

    def spy(self, batch):
        out = predict(self, batch)
        dtypes.append((torch.is_autocast_enabled("cpu"), out.dtype))
        return out

    monkeypatch.setattr(LumaStyle, "_predict_lab", spy)
    monkeypatch.chdir(tmp_path)
    main(
        [
            "fit",
            *TINY,
            "--trainer.precision",
            "bf16-mixed",
            "--data.root",
            str(pairs),
            "--trainer.log_every_n_steps",
            "1",
        ]
    )
    assert dtypes and all(autocast and dtype == torch.float32 for autocast, dtype in dtypes[:3])
    with open(tmp_path / "runs" / "pairs" / "version_0" / "metrics.csv", newline="") as f:
        losses = [float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")]
    assert losses and all(torch.isfinite(torch.tensor(losses)))
