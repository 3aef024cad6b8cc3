"""Faults: runs killed mid-epoch and mid-save resume to the uninterrupted result; stylize restarts,
never leaves partial files and never writes over inputs; failed writes are one line, nothing partial."""

from __future__ import annotations

import builtins
import csv
import errno
import io
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import QUICK, REPO, smooth_photo

from lumastyle.cli import main
from lumastyle.io import read_image, write_image

HELPERS = Path(__file__).parent / "helpers"
ARGS = ["--config", str(REPO / "styles" / "pairs.yaml"), *QUICK]


def fit(root: Path, workdir: Path, *extra: str) -> int:
    """``lumastyle fit`` in a subprocess (it may be killed); returns its exit status."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HELPERS), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "lumastyle.cli", "fit", *ARGS, "--data.root", str(root), *extra]
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(done.stderr[-3000:])
    return done.returncode


def validation_history(run: Path) -> list[tuple[int, float]]:
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    return [(int(r["epoch"]), float(r["val/lab_distance"])) for r in rows if r.get("val/lab_distance")]


def test_killed_mid_epoch_and_mid_save_resumes_to_the_uninterrupted_result(tmp_path, pair_factory, tally):
    """2 steps an epoch, 4 epochs. Killed at step 5 (inside epoch 2), resumed; killed again halfway
    through writing epoch 2's checkpoint (epoch 1's stays whole and is resumed); then finished. The
    weights and every validation figure equal an uninterrupted run's."""
    root = pair_factory(tmp_path / "pairs", n=6, size=(48, 64))
    epochs = ["--trainer.max_epochs", "4"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert fit(root, tmp_path / "a", *epochs) == 0
    killer = "--trainer.callbacks+=kill.KillAt"
    assert (
        fit(root, tmp_path / "b", *epochs, killer, "--trainer.callbacks.init_args.step", "5")
        == -signal.SIGKILL
    )
    run = tmp_path / "b" / "runs" / "pairs" / "version_0"
    last = run / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 1
    resume = ["--ckpt_path", "last"]
    saving = ["--trainer.callbacks.init_args.saving_epoch", "2"]
    assert fit(root, tmp_path / "b", *epochs, *resume, killer, *saving) == -signal.SIGKILL
    kept = torch.load(last, weights_only=True)  # the kill during the save left the previous one whole
    assert kept["epoch"] == 1
    assert list(run.glob("checkpoints/.*.part"))  # the killed save's temporary file, nothing else
    assert fit(root, tmp_path / "b", *epochs, *resume) == 0
    assert not list(run.glob("checkpoints/.*.part"))  # cleared by the next save of that name

    reference = torch.load(
        tmp_path / "a" / "runs" / "pairs" / "version_0" / "checkpoints" / "last.ckpt", weights_only=True
    )
    resumed = torch.load(last, weights_only=True)
    assert resumed["epoch"] == reference["epoch"] == 3
    for name, value in reference["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][name], value, rtol=1e-5, atol=1e-6, msg=name)
    assert sorted(p.name for p in run.parent.iterdir()) == ["version_0"]  # one run folder
    ours, theirs = (
        validation_history(run),
        validation_history(tmp_path / "a" / "runs" / "pairs" / "version_0"),
    )
    assert [e for e, _ in ours] == [0, 1, 2, 3]  # each epoch's validation once: history kept, none twice
    for (_, mine), (_, ref) in zip(ours, theirs, strict=True):
        assert mine == pytest.approx(ref, rel=1e-5)
    tally("kills resumed to the uninterrupted weights (mid-epoch, mid-checkpoint-write)", 2)


def stylize(checkpoint: Path, src: Path, dst: Path, *extra: str) -> None:
    main(["stylize", "--ckpt", str(checkpoint), "--input", str(src), "--output", str(dst), *extra])


def photos(folder: Path, n: int) -> Path:
    for k in range(n):
        write_image(folder / f"photo{k}.png", smooth_photo(24, 32, seed=k))
    return folder


def test_a_restarted_folder_run_skips_finished_outputs(quick_checkpoint, tmp_path, capsys, tally):
    src, dst = photos(tmp_path / "in", 4), tmp_path / "out"
    stylize(quick_checkpoint, src, dst)
    first = {p.name: p.stat().st_mtime_ns for p in dst.iterdir()}
    (dst / "photo2.png").unlink()  # as if the run had been killed before this photo
    (dst / ".photo3.abcd.part.png").write_bytes(b"half a png")  # a killed write leaves only this
    capsys.readouterr()
    stylize(quick_checkpoint, src, dst, "--skip_existing", "true")
    assert "left 3 photo(s) whose output exists" in capsys.readouterr().out
    after = {p.name: p.stat().st_mtime_ns for p in dst.iterdir() if not p.name.startswith(".")}
    assert sorted(after) == sorted(first)
    assert all(after[n] == first[n] for n in first if n != "photo2.png")  # finished ones untouched
    assert read_image(dst / "photo2.png")[0].shape == (3, 24, 32)
    tally("interrupted stylize folders restarted")


def test_inputs_are_never_written_over(quick_checkpoint, tmp_path, capsys):
    src = photos(tmp_path / "in", 2)
    before = {p: p.read_bytes() for p in src.iterdir()}
    for output in (src, src / ".", tmp_path / "in" / ".." / "in"):
        with pytest.raises(SystemExit):
            stylize(quick_checkpoint, src, output)
        assert "inputs are kept" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # one photo whose output would be itself
        stylize(quick_checkpoint, src / "photo0.png", src)
    assert "would write over the input" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in src.iterdir()} == before


def test_alpha_is_carried_through(quick_checkpoint, tmp_path):
    rgba = torch.cat([smooth_photo(20, 30, seed=3), torch.linspace(0, 1, 30).expand(1, 20, 30)])
    write_image(tmp_path / "in" / "cutout.png", rgba)
    stylize(quick_checkpoint, tmp_path / "in", tmp_path / "out")
    out, _ = read_image(tmp_path / "out" / "cutout.png", alpha=True)
    assert out.shape == (4, 20, 30)
    torch.testing.assert_close(out[3], rgba[3], atol=1 / 255, rtol=0)
    assert (out[:3] - rgba[:3]).abs().mean() > 1e-3  # the colours were stylized


@pytest.mark.parametrize("hw", [(1, 1), (2, 3), (5, 90), (90, 5)])
def test_photos_smaller_than_the_receptive_field(quick_checkpoint, tmp_path, hw):
    write_image(tmp_path / "in" / "tiny.png", smooth_photo(*hw, seed=1))
    stylize(quick_checkpoint, tmp_path / "in", tmp_path / "out")
    out, _ = read_image(tmp_path / "out" / "tiny.png")
    assert out.shape == (3, *hw) and torch.isfinite(out).all()


def test_a_bad_photo_in_a_folder_stops_or_is_skipped(quick_checkpoint, tmp_path, capsys):
    src = photos(tmp_path / "in", 3)
    (src / "photo1.png").write_bytes(b"")
    with pytest.raises(SystemExit) as info:
        stylize(quick_checkpoint, src, tmp_path / "out")
    err = capsys.readouterr().err
    lines = err.strip().splitlines()  # the progress bar's line, then the error's
    assert info.value.code == 2 and lines[-1].startswith(f"error: {src / 'photo1.png'}: the file is empty")
    assert lines[-1].endswith("(or pass --on_bad_file skip)") and sum("error" in line for line in lines) == 1
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable photo\(s\).*photo1\.png"):
        stylize(quick_checkpoint, src, tmp_path / "out2", "--on_bad_file", "skip")
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) == ["photo0.png", "photo2.png"]


def _limited_write(limit_bytes: int):
    def apply() -> None:  # in the child: files may not grow beyond the limit (EFBIG, as on a full disk)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return apply


def test_a_failed_write_is_one_line_and_leaves_nothing_partial(quick_checkpoint, tmp_path, tally):
    """Files that cannot grow past 2 KB (RLIMIT_FSIZE: writes fail as on a full disk): stylize of a
    photo whose PNG is larger stops with one line, a non-zero exit, and nothing under the output."""
    src, dst = tmp_path / "in", tmp_path / "out"
    write_image(src / "big.png", torch.rand(3, 64, 64))  # noise: a PNG of ~37 KB
    dst.mkdir()
    command = [sys.executable, "-m", "lumastyle.cli", "stylize", "--ckpt", str(quick_checkpoint)]
    done = subprocess.run(
        [*command, "--input", str(src), "--output", str(dst)],
        preexec_fn=_limited_write(2048), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(f"error: {dst / 'big.png'}: cannot write (File too large)")
    assert list(dst.iterdir()) == []
    tally("failed writes left nothing partial")


def refuse_writes_into(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the kernel does in a read-only folder, for root too (root ignores a folder's mode, and CI
    runs as root): creating, opening for writing, renaming into or making a folder in ``folder`` raises
    PermissionError (EACCES) with the path, as os.open, open, os.replace, os.rename and os.mkdir do there."""
    folder = folder.resolve()

    def inside(path) -> bool:
        if isinstance(path, int):  # a descriptor: already open
            return False
        return Path(os.fsdecode(path)).resolve().parent == folder

    def denied(path) -> PermissionError:
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))

    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    real_os_open, real_open = os.open, builtins.open

    def os_open(path, flags, *args, **kwargs):
        if flags & writes and inside(path):
            raise denied(path)
        return real_os_open(path, flags, *args, **kwargs)

    def open_(file, mode="r", *args, **kwargs):
        if set(str(mode)) & set("wax+") and inside(file):
            raise denied(file)
        return real_open(file, mode, *args, **kwargs)

    def moving(real):
        def move(src, dst, *args, **kwargs):
            if inside(dst):
                raise denied(dst)
            return real(src, dst, *args, **kwargs)

        return move

    def mkdir(path, *args, **kwargs):
        if inside(path):
            raise denied(path)
        return real_mkdir(path, *args, **kwargs)

    real_mkdir = os.mkdir
    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(io, "open", open_)
    monkeypatch.setattr(os, "replace", moving(os.replace))
    monkeypatch.setattr(os, "rename", moving(os.rename))
    monkeypatch.setattr(os, "mkdir", mkdir)


def test_a_read_only_output_folder_is_one_line(quick_checkpoint, tmp_path, capsys, monkeypatch):
    """stylize into a folder it may not write in (mode 0555; as root, where the mode does not stop a
    write, the same refusal emulated: :func:`refuse_writes_into`): one line naming the photo's output
    and the reason, exit status 2, nothing left in the folder."""
    src, dst = photos(tmp_path / "in", 1), tmp_path / "out"
    dst.mkdir()
    dst.chmod(0o555)
    try:
        with monkeypatch.context() as patched:
            if os.geteuid() == 0:
                refuse_writes_into(dst, patched)
            with pytest.raises(SystemExit) as stopped:
                stylize(quick_checkpoint, src, dst)
    finally:
        dst.chmod(0o755)
    assert stopped.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err[-1] == (
        f"error: {dst / 'photo0.png'}: cannot write (Permission denied); check the folder and free space"
    )
    assert list(dst.iterdir()) == []


def test_a_checkpoint_that_cannot_be_written_keeps_the_previous_one(quick_checkpoint, tmp_path, tally):
    """The disk fills up after epoch 0's checkpoints (files may not grow past half a checkpoint): the
    resumed run stops with one line naming the file, and epoch 0's last.ckpt is still whole."""
    shutil.copytree(quick_checkpoint.parents[3], tmp_path / "runs")  # the fixture's run folder
    root = quick_checkpoint.parents[4] / "pairs"
    last = tmp_path / "runs" / "pairs" / "version_0" / "checkpoints" / "last.ckpt"
    args = ["fit", *ARGS, "--data.root", str(root), "--trainer.max_epochs", "2", "--ckpt_path", "last"]
    done = main_subprocess(tmp_path, args, limit=last.stat().st_size // 2)
    assert done.returncode == 2, done.stderr[-2000:]
    assert re.fullmatch(
        r"error: \S+/checkpoints/(best-1-\d+|last)\.ckpt: cannot write the checkpoint \(File too large\); "
        r"free space or choose another --trainer.default_root_dir \(the previous checkpoint is kept\)",
        done.stderr.strip().splitlines()[-1],
    )
    assert torch.load(last, weights_only=True)["epoch"] == 0
    assert sorted(p.name for p in last.parent.iterdir()) == ["best-0-1.ckpt", "last.ckpt"]
    tally("failed writes left nothing partial")


def main_subprocess(workdir: Path, args: list[str], limit: int | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lumastyle.cli", *args], cwd=workdir, capture_output=True, text=True,
        timeout=300, preexec_fn=None if limit is None else _limited_write(limit),
    )  # fmt: skip
