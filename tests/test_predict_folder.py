"""``lumastyle predict --data PhotoFolderDataModule``: a plain folder of photos stylized across
processes, each photo written once, with the bytes ``lumastyle stylize`` writes; existing outputs
left on a restart; a bad photo counted and named while the others are written; one summary line.

The checkpoint is a colour-only model saved without training (its head's weights nudged off the
identity), so every test runs on it in a second; the two-process run is a subprocess with a timeout,
as in test_distributed.py, so a hang fails instead of stalling the suite."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from conftest import REPO, smooth_photo
from PIL import Image

from lumastyle.cli import main
from lumastyle.data.folder import FolderDataset, PhotoFolderDataModule, group
from lumastyle.io import read_image, write_image
from lumastyle.stylize import plan_outputs

QUIET = ["--trainer.enable_progress_bar", "false", "--data.num_workers", "0"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    from lumastyle.model import LumaStyle
    from lumastyle.options import ContextOptions

    torch.manual_seed(0)
    model = LumaStyle(context=ContextOptions(scales=()))
    with torch.no_grad():  # a look that changes colours, so an output that is the input would show
        for p in model.network.head.parameters():
            p.add_(0.05 * torch.randn_like(p))
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(model)
    path = tmp_path_factory.mktemp("colour") / "colour.ckpt"
    trainer.save_checkpoint(path)
    return path


def catalogue(folder: Path) -> Path:
    """7 photos of 5 kinds (8- and 16-bit PNG, RGBA PNG, TIFF, JPEG with EXIF) and sizes, and one bad file."""
    folder.mkdir(parents=True)
    for k, (name, depth) in enumerate(
        [("a.png", 8), ("b.png", 16), ("c.tif", 8), ("f.png", 16), ("g.tif", 16)]
    ):
        write_image(folder / name, smooth_photo(18 + k, 22 - k, seed=k), bit_depth=depth)
    rgba = torch.cat([smooth_photo(16, 20, seed=9), torch.linspace(0, 1, 20).expand(1, 16, 20)])
    write_image(folder / "e.png", rgba)  # with alpha, which stylize keeps
    exif = Image.Exif()
    exif[0x010F] = "LumaCam"  # Make
    pixels = (smooth_photo(20, 24, seed=7).permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    Image.fromarray(pixels).save(folder / "d.jpg", quality=90, exif=exif)
    (folder / "bad.jpg").write_bytes(b"\xff\xd8\xff not a whole JPEG")
    return folder


def test_two_processes_write_each_photo_once_as_stylize_does(checkpoint: Path, tmp_path: Path, tally):
    photos = catalogue(tmp_path / "photos")
    out = tmp_path / "out"
    out.mkdir()
    kept = {"a.png": b"written before", "g.tif": b"also before"}  # a restart: these are left alone
    for name, content in kept.items():
        (out / name).write_bytes(content)
    ddp = ["--config", str(REPO / "configs" / "cpu-ddp.yaml")]
    args = ["predict", "--data", "PhotoFolderDataModule", "--data.root", str(photos), "--data.output", str(out),
            "--ckpt_path", str(checkpoint), *ddp, *QUIET]  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-m", "lumastyle.cli", *args], cwd=tmp_path, capture_output=True, text=True,
        timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    said = run.stdout + run.stderr
    assert run.returncode == 0, said[-3000:]
    # the one summary line, from process 0 alone, with both processes' counts
    summary = [line for line in said.splitlines() if line.startswith("wrote ")]
    assert len(summary) == 1, said[-3000:]
    assert summary[0].startswith("wrote 5 photo(s) to out; skipped 2 whose output exists; failed 1: bad.jpg (")
    # every good photo once: each process's record names what it wrote, and the two are disjoint
    records = [json.loads(p.read_text())["photos"] for p in sorted(out.glob("lumastyle-predictions*.json"))]
    assert len(records) == 2 and all(records)
    assert not set(records[0]) & set(records[1])
    written = {"b.png", "c.tif", "d.jpg", "e.png", "f.png"}
    assert set(records[0]) | set(records[1]) == written
    assert {p.name for p in out.iterdir() if not p.name.startswith("lumastyle-predictions")} == written | set(kept)
    for name, content in kept.items():
        assert (out / name).read_bytes() == content
    # the same bytes as stylize (one photo at a time, its CPU default) writes for the same folder
    main(["stylize", "--ckpt", str(checkpoint), "--input", str(photos), "--output", str(tmp_path / "styled"),
          "--on_bad_file", "skip"])  # fmt: skip
    for name in written:
        assert (out / name).read_bytes() == (tmp_path / "styled" / name).read_bytes(), name
    assert read_image(out / "e.png", alpha=True)[0].shape[0] == 4
    assert not torch.equal(read_image(out / "b.png")[0], read_image(photos / "b.png")[0])  # stylized
    tally("catalogue photos written once across 2 processes", 5)


def test_restart_and_bad_photos_in_one_process(checkpoint: Path, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    photos = catalogue(tmp_path / "photos")
    out = tmp_path / "out"
    args = ["predict", "--data", "PhotoFolderDataModule", "--data.root", str(photos), "--data.output", str(out),
            "--ckpt_path", str(checkpoint), "--trainer.accelerator", "cpu", "--trainer.devices", "1", *QUIET]  # fmt: skip
    # on_bad_file error: the photos before the bad one (by name: a.png, b.png) are written, then its line
    with pytest.raises(SystemExit) as stopped:
        main([*args, "--data.on_bad_file", "error"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: {photos / 'bad.jpg'}: ") and err.endswith("(or pass --data.on_bad_file skip)")
    assert sorted(p.name for p in out.glob("*.*") if p.suffix != ".json") == ["a.png", "b.png"]
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    # the default, skip: goes on where it stopped, names the bad photo
    main(args)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("wrote 5 photo(s) to out; skipped 2 whose output exists; failed 1: bad.jpg (")
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.png") if p.name in before} == before
    (photos / "bad.jpg").unlink()
    (out / "d.jpg").unlink()
    main(args)  # a restart writes the one missing output alone
    assert capsys.readouterr().out.strip().splitlines()[-1] == "wrote 1 photo(s) to out; skipped 6 whose output exists"
    # predict only
    with pytest.raises(SystemExit):
        main(["test", *args[1:]])
    assert "holds photos without targets, for predict only; test needs before/after pairs" in capsys.readouterr().err


def test_groups_batches_and_shares(checkpoint: Path, tmp_path: Path):
    """The pure parts: the plan, batches of one size with a bad file among them, each process's share."""
    from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler

    from lumastyle.model import LumaStyle

    photos = catalogue(tmp_path / "photos")
    write_image(photos / "h.png", smooth_photo(20, 24, seed=8))  # d.jpg's size, next to it by name
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").write_bytes(b"x")
    todo, existing = plan_outputs(sorted(photos.iterdir()), tmp_path / "out", skip_existing=True)
    assert existing == 1 and [p.name for p, _ in todo] == ["b.png", "bad.jpg", "c.tif", "d.jpg", "e.png",
                                                           "f.png", "g.tif", "h.png"]  # fmt: skip
    by_name = {p.name: (p, out) for p, out in todo}
    three = [by_name[name] for name in ("bad.jpg", "d.jpg", "h.png")]
    assert group(three, 3, None) == [three[:1], three[1:]]  # a header that cannot be read goes alone
    assert group(three, 1, None) == [[t] for t in three]
    item = FolderDataset([three])[0]  # one batch of three, the bad file among them
    assert item["name"] == ["d", "h"] and item["input"].shape == (2, 3, 20, 24)
    assert [Path(p).name for p, _ in item["failed"]] == ["bad.jpg"] and item["bit_depth"].tolist() == [8, 8]
    model = LumaStyle.from_checkpoint(str(checkpoint), map_location="cpu")
    together = model.predict_step(item, 0)["output"]
    apart = model.predict_step({**item, "input": list(item["input"])}, 0)["output"]  # sizes that differ
    assert torch.allclose(torch.stack(apart), together, atol=1e-6)
    # each index of 5 once across 3 processes, none repeated to even them out
    shares = [list(UnrepeatedDistributedSampler(range(5), num_replicas=3, rank=r, shuffle=False)) for r in range(3)]
    assert sorted(i for s in shares for i in s) == [0, 1, 2, 3, 4]
    # 8 photos to write (a.png's output exists) across 3 processes: 3 batches each (one of them empty),
    # so every process meets the writer's check after each batch as often as the others (on_bad_file
    # error); across 9, one each
    for world, batches in ((3, 3), (9, 1)):
        module = PhotoFolderDataModule(root=str(photos), output=str(tmp_path / "out"), num_workers=0)
        strategy = SimpleNamespace(broadcast=lambda planned, src: planned)
        lengths = []
        for rank in range(world):
            module.trainer = SimpleNamespace(world_size=world, global_rank=rank, strategy=strategy)  # type: ignore[assignment]
            lengths.append(len(module.predict_dataloader()))
        assert lengths == [batches] * world
        assert sum(map(len, module.groups or [])) == 8


def test_a_bad_photo_with_on_bad_file_error_stops_every_process(checkpoint: Path, tmp_path: Path):
    """Two processes, ``on_bad_file: error``: process 1 meets the bad photo in its first batch; both stop
    after that batch with its one line (exit 2), none waits for the other at the end (the hang this
    guards against lasts the process group's timeout, 30 minutes)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for k, name in enumerate(["a.png", "c.png", "d.png"]):  # by name: process 0 a, c; process 1 bad, d
        write_image(photos / name, smooth_photo(16, 20, seed=k))
    (photos / "bad.jpg").write_bytes(b"\xff\xd8\xff not a whole JPEG")
    out = tmp_path / "out"
    args = ["predict", "--data", "PhotoFolderDataModule", "--data.root", str(photos), "--data.output", str(out),
            "--data.on_bad_file", "error", "--ckpt_path", str(checkpoint),
            "--config", str(REPO / "configs" / "cpu-ddp.yaml"), *QUIET]  # fmt: skip
    run = subprocess.Popen(
        [sys.executable, "-m", "lumastyle.cli", *args], cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    try:
        said, _ = run.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)  # both processes: Lightning starts process 1 in this session
        pytest.fail("a process waited for the other after the bad photo stopped it")
    assert run.returncode == 2, said[-3000:]
    errors = [line for line in said.splitlines() if line.startswith("error: ")]
    assert errors and len(set(errors)) == 1, said[-3000:]  # each process says the same one line
    assert errors[0].startswith(f"error: {photos / 'bad.jpg'}: ") and errors[0].endswith(
        "(or pass --data.on_bad_file skip)"
    )
    assert "Traceback" not in said, said[-3000:]
    # process 0 wrote its first photo and stopped there, with process 1: c.png and d.png are not written
    assert sorted(p.name for p in out.glob("*.png")) == ["a.png"]


def test_predict_writes_the_profile_and_metadata_of_its_one_read(checkpoint: Path, tmp_path: Path, monkeypatch):
    """A JPEG in Adobe RGB with EXIF: predict writes both into its output, as stylize does (the same
    bytes), from the dataset's read of the photo (through a loader worker and Lightning's transfer of
    the batch): the writer does not read the photo's profile and metadata again."""
    adobe = Path("/usr/share/color/icc/colord/AdobeRGB1998.icc")
    if not adobe.is_file() or shutil.which("exiftool") is None:
        pytest.skip("needs Debian's colord-data (Adobe RGB profile) and exiftool")
    monkeypatch.chdir(tmp_path)
    photos = tmp_path / "photos"
    photos.mkdir()
    exif = Image.Exif()
    exif[0x010F] = "LumaCam"  # Make
    exif[0x8769] = {0x9003: "2024:05:01 10:20:30"}  # DateTimeOriginal, in the Exif IFD
    pixels = (smooth_photo(20, 24, seed=3).permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    Image.fromarray(pixels).save(photos / "tagged.jpg", quality=95, exif=exif, icc_profile=adobe.read_bytes())
    write_image(photos / "plain.png", smooth_photo(16, 20, seed=4))  # neither: nothing is made up for it

    def read_again(path):
        raise AssertionError(f"the writer read {path}'s profile and metadata again")

    monkeypatch.setattr("lumastyle.callbacks.read_info", read_again)
    main(["predict", "--data", "PhotoFolderDataModule", "--data.root", str(photos), "--data.output", "out",
          "--data.num_workers", "1", "--ckpt_path", str(checkpoint), "--trainer.accelerator", "cpu",
          "--trainer.devices", "1", "--trainer.enable_progress_bar", "false"])  # fmt: skip
    with Image.open(tmp_path / "out" / "tagged.jpg") as im:
        assert im.info.get("icc_profile") == adobe.read_bytes()
    said = ["exiftool", "-j", "-G1", str(tmp_path / "out" / "tagged.jpg")]
    found = json.loads(subprocess.run(said, capture_output=True, text=True, check=True, timeout=60).stdout)[0]
    assert found["IFD0:Make"] == "LumaCam" and found["ExifIFD:DateTimeOriginal"] == "2024:05:01 10:20:30"
    with Image.open(tmp_path / "out" / "plain.png") as im:
        assert "icc_profile" not in im.info and not im.getexif()
    main(["stylize", "--ckpt", str(checkpoint), "--input", str(photos), "--output", "styled"])
    for name in ("tagged.jpg", "plain.png"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "styled" / name).read_bytes(), name


def test_predict_and_stylize_plan_outputs_alike(checkpoint: Path, tmp_path: Path, monkeypatch, capsys):
    """One plan for both commands: two photos that would write one file (``a.heic`` becomes
    ``a.jpg``) are the same one line from each, before any photo is read."""
    monkeypatch.chdir(tmp_path)
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.heic", "a.jpg"):
        (photos / name).write_bytes(b"never read")
    lines = []
    for args in (
        ["stylize", "--ckpt", str(checkpoint), "--input", str(photos), "--output", "out"],
        ["predict", "--data", "PhotoFolderDataModule", "--data.root", str(photos), "--data.output", "out",
         "--ckpt_path", str(checkpoint), "--trainer.accelerator", "cpu", "--trainer.devices", "1", *QUIET],
    ):  # fmt: skip
        with pytest.raises(SystemExit):
            main(args)
        lines.append(capsys.readouterr().err.strip().splitlines()[-1])
    out = Path("out") / "a.jpg"
    assert lines == [f"error: {photos / 'a.jpg'} and {photos / 'a.heic'} would both be written to {out}; "
                     "rename one or stylize them apart"] * 2  # fmt: skip
