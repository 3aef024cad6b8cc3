"""``lumastyle stylize`` on a catalogue: the output format follows the input (a JPEG gives a JPEG at
4:4:4), ``--format`` and ``--quality`` choose, and a folder streams through a reader and a writer
thread with the pixels, skipped photos and one-line errors of one photo at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import smooth_photo
from PIL import Image, JpegImagePlugin

import lumastyle.stylize as stylize_module
from lumastyle.cli import main
from lumastyle.errors import BadFileError
from lumastyle.io import read_image, write_image
from lumastyle.loading import TrainedNetwork
from lumastyle.model import LumaStyle


def run(checkpoint: Path, src: Path, dst: Path, *extra: str) -> None:
    main(["stylize", "--ckpt", str(checkpoint), "--input", str(src), "--output", str(dst), *extra])


def run_error(capsys, checkpoint: Path, src: Path, dst: Path, *extra: str) -> str:
    """The one line a failing ``stylize`` prints (exit status 2)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        run(checkpoint, src, dst, *extra)
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert info.value.code == 2 and sum(line.startswith("error:") for line in lines) == 1, err
    assert "Traceback" not in err and "Exception in thread" not in err
    return lines[-1]


def within(seconds: float, fn: Callable[..., Any], *args: Any) -> BaseException | None:
    """Run ``fn`` in a thread; fail if it is still running after ``seconds`` (a hang), else return
    what it raised (None when it returned)."""
    raised: list[BaseException] = []

    def target() -> None:
        try:
            fn(*args)
        except BaseException as err:
            raised.append(err)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"stylize still running after {seconds} s"
    return raised[0] if raised else None


@pytest.fixture
def cheap_network(monkeypatch):
    """The loaded network's ``stylize`` as a fixed colour change: the tests of formats, flags and errors
    need the command's reading, writing and threads, not the network's time (the other tests run it)."""
    monkeypatch.setattr(TrainedNetwork, "stylize", lambda self, rgb, *args, **kwargs: brighter(rgb))


def brighter(rgb: torch.Tensor) -> torch.Tensor:
    """A fixed colour change for the network (an 8-bit photo comes as its levels)."""
    return (rgb.float() / 255 if rgb.dtype == torch.uint8 else rgb).clamp(0, 1) ** 0.8


def fmt(path: Path) -> str:
    with Image.open(path) as im:
        return im.format


def sampling(path: Path) -> int:
    with Image.open(path) as im:
        return JpegImagePlugin.get_sampling(im)


def names(folder: Path) -> list[str]:
    """Everything in ``folder``, hidden (partial) files included."""
    return sorted(p.name for p in folder.iterdir())


def test_a_jpeg_gives_a_jpeg_at_4_4_4_with_its_own_suffix(quick_checkpoint, tmp_path):
    src = tmp_path / "in"
    write_image(src / "a.jpg", smooth_photo(24, 32, seed=1))
    write_image(src / "b.jpeg", smooth_photo(24, 32, seed=2))
    write_image(src / "c.JPG", smooth_photo(24, 32, seed=3))
    run(quick_checkpoint, src, tmp_path / "out")
    assert names(tmp_path / "out") == ["a.jpg", "b.jpeg", "c.JPG"]
    for name in names(tmp_path / "out"):
        out = tmp_path / "out" / name
        assert fmt(out) == "JPEG" and sampling(out) == 0, name  # 4:4:4: colour at full resolution
        assert read_image(out)[0].shape == read_image(src / name)[0].shape


def test_quality_sets_the_jpeg_and_a_bad_one_is_one_line(quick_checkpoint, tmp_path, capsys, cheap_network):
    src = tmp_path / "in"
    write_image(src / "noise.jpg", torch.rand(3, 48, 64, generator=torch.Generator().manual_seed(0)))
    run(quick_checkpoint, src, tmp_path / "high")  # the default, 95
    run(quick_checkpoint, src, tmp_path / "low", "--quality", "30")
    high, low = tmp_path / "high" / "noise.jpg", tmp_path / "low" / "noise.jpg"
    assert low.stat().st_size < 0.7 * high.stat().st_size
    assert sampling(low) == sampling(high) == 0
    for bad in ("0", "101", "-5"):
        line = run_error(capsys, quick_checkpoint, src, tmp_path / "bad", "--quality", bad)
        assert line == f"error: --quality must be a JPEG quality from 1 to 100 (default 95), got {bad}"
    assert not (tmp_path / "bad").exists()


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """a.jpg (8-bit), b.png (16-bit RGBA), c.TIF (8-bit), d.tiff (16-bit)."""
    src = tmp_path / "in"
    write_image(src / "a.jpg", smooth_photo(20, 28, seed=1))
    rgba = torch.cat([smooth_photo(20, 28, seed=2), torch.linspace(0, 1, 28).expand(1, 20, 28)])
    write_image(src / "b.png", rgba, bit_depth=16)
    write_image(src / "c.TIF", smooth_photo(20, 28, seed=3))
    write_image(src / "d.tiff", smooth_photo(20, 28, seed=4), bit_depth=16)
    return src


def test_auto_keeps_format_and_bit_depth(quick_checkpoint, mixed, tmp_path):
    run(quick_checkpoint, mixed, tmp_path / "out")
    out = tmp_path / "out"
    assert names(out) == ["a.jpg", "b.png", "c.TIF", "d.tiff"]
    assert [fmt(out / n) for n in names(out)] == ["JPEG", "PNG", "TIFF", "TIFF"]
    assert [read_image(out / n)[1] for n in names(out)] == [8, 16, 8, 16]
    assert read_image(out / "b.png", alpha=True)[0].shape[0] == 4


@pytest.mark.parametrize(
    ("choice", "written", "pil_format", "depths"),
    [
        ("png", ["a.png", "b.png", "c.png", "d.png"], "PNG", [8, 16, 8, 16]),
        ("tiff", ["a.tif", "b.tif", "c.TIF", "d.tiff"], "TIFF", [8, 16, 8, 16]),
        ("jpeg", ["a.jpg", "b.jpg", "c.jpg", "d.jpg"], "JPEG", [8, 8, 8, 8]),
    ],
)
def test_format_chooses(
    quick_checkpoint, mixed, tmp_path, cheap_network, choice, written, pil_format, depths
):
    out = tmp_path / "out"
    run(quick_checkpoint, mixed, out, "--format", choice)
    assert names(out) == written
    assert [fmt(out / n) for n in written] == [pil_format] * 4
    assert [read_image(out / n)[1] for n in written] == depths
    alpha = read_image(out / written[1], alpha=True)[0].shape[0]
    assert alpha == (3 if choice == "jpeg" else 4)  # JPEG drops alpha, PNG and TIFF keep it
    if choice == "jpeg":
        assert all(sampling(out / n) == 0 for n in written)


def test_a_wrong_format_or_two_inputs_on_one_output_is_one_line(
    quick_checkpoint, tmp_path, capsys, cheap_network
):
    src = tmp_path / "in"
    write_image(src / "a.png", smooth_photo(12, 16, seed=1))
    write_image(src / "a.tif", smooth_photo(12, 16, seed=2))
    line = run_error(capsys, quick_checkpoint, src, tmp_path / "out", "--format", "gif")
    assert line.startswith("error: format: expected one of 'auto', 'jpeg', 'png', 'tiff', got 'gif'")
    line = run_error(capsys, quick_checkpoint, src, tmp_path / "out", "--format", "jpeg")
    assert line == (
        f"error: {src / 'a.tif'} and {src / 'a.png'} would both be written to {tmp_path / 'out' / 'a.jpg'}; "
        "rename one or stylize them apart"
    )
    assert not (tmp_path / "out").exists()
    run(quick_checkpoint, src, tmp_path / "out")  # auto: a.png and a.tif stay apart
    assert names(tmp_path / "out") == ["a.png", "a.tif"]


def test_a_folder_streams_through_with_the_pixels_of_the_network(
    quick_checkpoint, tmp_path, monkeypatch, capsys
):
    """Five photos, batch size 2 (a0 a1 | a2 a3 | b): every output is written, with the pixels
    ``model.stylize`` gives for the same batch; the next batch is decoded (and no further) while the
    network runs, and finished photos are written meanwhile, each by a thread of its own."""
    src = tmp_path / "in"
    for k in range(4):
        write_image(src / f"a{k}.png", smooth_photo(24, 32, seed=k))
    write_image(src / "b.png", smooth_photo(32, 24, seed=9))
    read, wrote = {}, {}  # photo name -> thread; output name -> thread
    read_now = {name: threading.Event() for name in ("a0", "a2", "b")}
    wrote_now = threading.Event()
    real_read, real_write, real_stylize = (
        stylize_module.read_photo,
        stylize_module.write_image,
        TrainedNetwork.stylize,
    )

    def reading(path, *args, **kwargs):
        read[Path(path).stem] = threading.current_thread()
        result = real_read(path, *args, **kwargs)
        if Path(path).stem in read_now:
            read_now[Path(path).stem].set()
        return result

    def writing(path, *args, **kwargs):
        result = real_write(path, *args, **kwargs)
        wrote[Path(path).stem] = threading.current_thread()
        wrote_now.set()
        return result

    seen: list[dict] = []

    def computing(self, rgb, *args, **kwargs):
        # while batch 0 is computed, batch 1 is decoded (a2 read) and batch 2 is not (b unread); while
        # batch 1 is computed, batch 0's photos are being written
        if not seen:
            seen.append({"next decoded": read_now["a2"].wait(5)})
            time.sleep(0.2)  # a reader running further ahead would read b now
            seen[-1]["two ahead"] = read_now["b"].is_set()
        elif len(seen) == 1:
            seen.append({"written meanwhile": wrote_now.wait(5)})
        return real_stylize(self, rgb, *args, **kwargs)

    monkeypatch.setattr(stylize_module, "read_photo", reading)
    monkeypatch.setattr(stylize_module, "write_image", writing)
    monkeypatch.setattr(TrainedNetwork, "stylize", computing)
    run(quick_checkpoint, src, tmp_path / "out", "--batch_size", "2")
    assert seen == [{"next decoded": True, "two ahead": False}, {"written meanwhile": True}]
    assert names(tmp_path / "out") == ["a0.png", "a1.png", "a2.png", "a3.png", "b.png"]
    main_thread = threading.current_thread()
    assert main_thread not in read.values() and main_thread not in wrote.values()
    assert len(set(read.values()) | set(wrote.values())) == 2  # one reader, one writer
    err = capsys.readouterr().err
    assert "5/5" in err and "s/photo" in err  # the bar: one update a photo, seconds a photo

    monkeypatch.setattr(TrainedNetwork, "stylize", real_stylize)
    model = LumaStyle.from_checkpoint(quick_checkpoint)
    expected = model.stylize(read_image(src / "b.png")[0][None], None, "32", fast=True)[0]  # what the loop did
    pixels = np.round(expected.clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    with Image.open(tmp_path / "out" / "b.png") as im:
        assert np.array_equal(np.asarray(im), pixels)


def test_a_failed_write_stops_the_run_at_once_in_one_line(quick_checkpoint, tmp_path, monkeypatch, capsys):
    """The writer thread fails on the second of eight photos (a full disk): the run stops within two
    more photos with that one line, no traceback, no hang, and nothing partial under the output."""
    src, dst = tmp_path / "in", tmp_path / "out"
    for k in range(8):
        write_image(src / f"p{k}.png", smooth_photo(16, 20, seed=k))
    real_write = stylize_module.write_image
    computed, writers = [], set()

    def full_disk(path, *args, **kwargs):
        writers.add(threading.current_thread())
        if Path(path).name == "p1.png":
            raise BadFileError(
                path, "cannot write (No space left on device); check the folder and free space"
            )
        return real_write(path, *args, **kwargs)

    def counting(self, rgb, *args, **kwargs):
        computed.append(threading.current_thread())
        return brighter(rgb)  # the network's time is not tested here

    monkeypatch.setattr(stylize_module, "write_image", full_disk)
    monkeypatch.setattr(TrainedNetwork, "stylize", counting)
    capsys.readouterr()
    start = time.perf_counter()
    err = within(60, run, quick_checkpoint, src, dst, "--batch_size", "1")
    assert isinstance(err, SystemExit) and err.code == 2
    said = capsys.readouterr().err
    lines = [line for line in said.strip().splitlines() if line.strip()]
    assert (
        lines[-1]
        == f"error: {dst / 'p1.png'}: cannot write (No space left on device); check the folder and free space"
    )
    assert sum(line.startswith("error:") for line in lines) == 1
    assert "Traceback" not in said and "Exception in thread" not in said
    assert time.perf_counter() - start < 30
    # p1 fails while p2 waits to be written and p3 is computed: the run stops there
    assert len(computed) <= 4 and not writers & set(computed)  # writes are off the computing thread
    assert names(dst) == ["p0.png"] and read_image(dst / "p0.png")[0].shape == (3, 16, 20)
    assert not [t for t in threading.enumerate() if t.name.startswith("lumastyle-")]


def test_ctrl_c_stops_both_threads_and_leaves_nothing_partial(quick_checkpoint, tmp_path, monkeypatch):
    src, dst = tmp_path / "in", tmp_path / "out"
    for k in range(6):
        write_image(src / f"p{k}.jpg", smooth_photo(16, 20, seed=k))
    real_write = stylize_module.write_image
    calls, writers = [], set()

    def writing(path, *args, **kwargs):
        writers.add(threading.current_thread())
        return real_write(path, *args, **kwargs)

    def interrupted(self, rgb, *args, **kwargs):
        calls.append(threading.current_thread())
        if len(calls) == 3:
            raise KeyboardInterrupt
        return brighter(rgb)  # the network's time is not tested here

    monkeypatch.setattr(stylize_module, "write_image", writing)
    monkeypatch.setattr(TrainedNetwork, "stylize", interrupted)
    err = within(60, stylize_module.stylize, str(quick_checkpoint), str(src), str(dst), None, "cpu", "32", 1)
    assert isinstance(err, KeyboardInterrupt)
    assert not [t for t in threading.enumerate() if t.name.startswith("lumastyle-")]  # both stopped
    assert writers and not writers & set(calls)  # the photos before were written by the writer thread
    assert set(names(dst)) <= {"p0.jpg", "p1.jpg"}  # whole photos only, no partial (hidden) file
    assert all(fmt(dst / name) == "JPEG" for name in names(dst))


def test_an_unreadable_photo_in_the_middle_is_skipped_or_stops_the_run(
    quick_checkpoint, tmp_path, capsys, cheap_network
):
    src = tmp_path / "in"
    for k in range(5):
        write_image(src / f"p{k}.jpg", smooth_photo(16, 20, seed=k))
    (src / "p2.jpg").write_bytes(b"not a jpeg at all")
    with pytest.warns(
        UserWarning, match=r"skipped 1 unreadable photo\(s\) \(--on_bad_file skip\): \S+p2\.jpg \("
    ):
        run(quick_checkpoint, src, tmp_path / "skip", "--on_bad_file", "skip", "--batch_size", "2")
    assert names(tmp_path / "skip") == ["p0.jpg", "p1.jpg", "p3.jpg", "p4.jpg"]
    assert all(fmt(tmp_path / "skip" / n) == "JPEG" for n in names(tmp_path / "skip"))
    # the default stops at it, naming it: the photos before it are written whole, none after
    line = run_error(capsys, quick_checkpoint, src, tmp_path / "stop", "--batch_size", "2")
    assert line.startswith(f"error: {src / 'p2.jpg'}: cannot read this image")
    assert line.endswith("(or pass --on_bad_file skip)")
    assert names(tmp_path / "stop") == ["p0.jpg", "p1.jpg"]


def test_a_cpu_stylizes_one_photo_at_a_time_by_default(quick_checkpoint, tmp_path, monkeypatch):
    """Batches gain nothing on a CPU and hold more memory: the default batch there is one photo."""
    src = tmp_path / "in"
    for k in range(3):
        write_image(src / f"a{k}.png", torch.rand(3, 12, 16))
    sizes = []
    monkeypatch.setattr(TrainedNetwork, "stylize", lambda self, rgb, *a, **k: sizes.append(rgb.shape[0]) or rgb[:, :3])
    run(quick_checkpoint, src, tmp_path / "out")
    assert sizes == [1, 1, 1]


def test_8bit_and_16bit_photos_of_one_size_each_keep_their_depth_and_pixels(quick_checkpoint, tmp_path):
    """An 8-bit photo goes through the network as its levels and a 16-bit one as floats: photos of one
    size but of the two kinds are batched apart, and each output is the one the photo gets alone."""
    src = tmp_path / "in"
    write_image(src / "a.png", smooth_photo(24, 32, seed=1), bit_depth=8)
    write_image(src / "b.png", smooth_photo(24, 32, seed=2), bit_depth=16)
    run(quick_checkpoint, src, tmp_path / "together", "--batch_size", "2")
    for name in ("a.png", "b.png"):
        alone = tmp_path / f"alone_{name}"
        run(quick_checkpoint, src / name, alone)
        image, depth = read_image(tmp_path / "together" / name)
        assert depth == (8 if name == "a.png" else 16)
        assert torch.equal(image, read_image(alone / name)[0]), name
