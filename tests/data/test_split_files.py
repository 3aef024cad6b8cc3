"""Split files cannot reach outside their dataset's folder: a line that is absolute or goes through
``..`` is refused in one line naming the file, the line number and the value, by every reader that
takes names from a list (pairs' train/val/test.txt, FiveK's lists, PPR10K's flat lists, the Uniform
set's id files). Each reader is given a photo pair outside its folder where the line would find it,
so without the check it would be read."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import QUICK, make_pairs

from lumastyle.data import FiveKDataModule, PairDataModule, PPR10KDataModule, UniformDataModule
from lumastyle.data.splits import reaches_outside
from lumastyle.errors import LumastyleError

HERE = Path(__file__).parent
FIVEK = HERE / "fivek" / "FiveK"
PPR10K = HERE / "ppr10k" / "PPR10K"
UNIFORM = HERE / "uniform" / "dl-image-enhance"
OPTIONS = {"num_workers": 0, "crop_size": 16, "batch_size": 2}


@pytest.mark.parametrize(
    ("name", "outside"),
    [("../../x", True), ("..", True), ("a/../../x", True), ("a/../b", True), (r"..\x", True),
     ("/etc/passwd", True), (r"\x", True), ("C:x", True), (r"C:\x", True),
     ("a0001", False), ("sub/a0001", False), ("a..b", False), ("..a", False), ("a.", False)],
)  # fmt: skip
def test_what_reaches_outside(name, outside):
    assert reaches_outside(name) is outside


def refused(split_file: Path, line: int, value: str, setup) -> None:
    with pytest.raises(LumastyleError) as info:
        setup()
    assert str(info.value) == (
        f"{split_file}, line {line}: '{value}' is a path outside the dataset's folder (absolute or through "
        "'..'); list the photos' names relative to it, one a line"
    )


def insert_line(path: Path, line: int, value: str) -> None:
    """``value`` as line ``line`` (1-based) of the split file at ``path``."""
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[: line - 1], value, *lines[line - 1 :]]) + "\n")


def test_pairs(tmp_path):
    """A stem such as ``../x`` names no photo of input/ (the stems are keys), but is refused as a path
    all the same, in each of the three files."""
    root = make_pairs(tmp_path / "pairs", n=6)
    for split, stems in (("train", "p0 p1 p2"), ("val", "p3"), ("test", "p4 p5")):
        (root / f"{split}.txt").write_text("\n".join(stems.split()) + "\n")
    for split in ("train", "val", "test"):
        path = root / f"{split}.txt"
        kept = path.read_text()
        insert_line(path, 2, "../../x")
        refused(path, 2, "../../x", lambda: PairDataModule(str(root), **OPTIONS).setup())
        path.write_text(kept)
    insert_line(root / "test.txt", 1, str(tmp_path / "pairs" / "input" / "p5"))  # absolute, even inside
    refused(root / "test.txt", 1, str(root / "input" / "p5"), lambda: PairDataModule(str(root), **OPTIONS).setup())


def test_fivek(tmp_path):
    copy = tmp_path / "data" / "FiveK"
    shutil.copytree(FIVEK, copy)
    first = (copy / "test.txt").read_text().split()[0]
    # ../../../../x from input/JPG/480p and from expertC/JPG/480p is tmp_path/data/x: a pair is there
    shutil.copy(copy / "input" / "JPG" / "480p" / f"{first}.jpg", tmp_path / "data" / "x.jpg")
    for listing in ("test.txt", "train_input.txt", "train_label.txt"):
        path = copy / listing
        kept = path.read_text()
        insert_line(path, 3, "../../../../x.jpg")  # a user's file may carry the suffix
        refused(path, 3, "../../../../x.jpg", lambda: FiveKDataModule(str(copy), **OPTIONS).setup())
        path.write_text(kept)
    (copy / "train.txt").write_text("/abs/a0001\n")  # AdaInt's single list
    refused(copy / "train.txt", 1, "/abs/a0001", lambda: FiveKDataModule(str(copy), **OPTIONS).setup())


def test_ppr10k_flat_lists(tmp_path):
    flat = tmp_path / "data" / "PPR10K"
    for split in ("train", "val"):
        for folder in (PPR10K / split).iterdir():
            name = "source_aug_6" if folder.name == "source_aug" else folder.name
            shutil.copytree(folder, flat / name, dirs_exist_ok=True)
    stems = sorted(p.stem for p in (PPR10K / "train" / "source").glob("*.tif"))
    tests = sorted(p.stem for p in (PPR10K / "val" / "source").glob("*.tif"))
    (flat / "train.txt").write_text("\n".join(stems) + "\n")
    (flat / "train_aug.txt").write_text("\n".join(stems) + "\n")
    (flat / "test.txt").write_text("\n".join(tests) + "\n")
    PPR10KDataModule(str(flat), **OPTIONS).setup()  # the lists as made are read
    # ../../x_1 from source/ (and source_aug_6/) is data/x_1.tif, and so is its target from target_a/
    shutil.copy(flat / "source" / f"{stems[0]}.tif", tmp_path / "data" / "x_1.tif")
    for listing, augmented in (("train.txt", False), ("train_aug.txt", True), ("test.txt", False)):
        path = flat / listing
        kept = path.read_text()
        insert_line(path, 2, "../../x_1")
        refused(path, 2, "../../x_1", lambda a=augmented: PPR10KDataModule(str(flat), augmented=a, **OPTIONS).setup())
        path.write_text(kept)


def test_uniform_id_files(tmp_path):
    copy = tmp_path / "release"
    shutil.copytree(UNIFORM, copy)
    data = copy / "data"
    listed = (data / "uniform_set" / "uniform_set.txt").read_text().split()
    # ../../x from uniform_set_autotone_tif/ and from the style's folder is copy/data/x.tif: a pair is there
    shutil.copy(data / "uniform_set" / "uniform_set_autotone_tif" / f"{listed[0]}.tif", data / "x.tif")
    for listing in ("uniform_set.txt", "uniform_set_train_id.txt", "uniform_set_test_id.txt"):
        path = data / "uniform_set" / listing
        kept = path.read_text()
        insert_line(path, 1, "../../x")
        refused(path, 1, "../../x", lambda: UniformDataModule(str(copy), style="watercolor", **OPTIONS).setup())
        path.write_text(kept)


def test_the_message_is_one_line_for_the_cli(tmp_path, capsys, tally):
    """Through ``lumastyle fit``: exit status 2 and the one line, before any training."""
    from lumastyle.cli import main

    root = make_pairs(tmp_path / "pairs", n=6)
    (root / "train.txt").write_text("p0\n../../x\n")
    with pytest.raises(SystemExit) as stopped:
        main(["fit", "--config", "pairs", *QUICK, "--data.root", str(root), "--trainer.max_epochs", "1",
              "--trainer.default_root_dir", str(tmp_path / "runs")])  # fmt: skip
    assert stopped.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    said = rf"error: {re.escape(str(root / 'train.txt'))}, line 2: '\.\./\.\./x' is a path .+"
    assert re.fullmatch(said, err[-1])
    assert not list((tmp_path / "runs").rglob("*.ckpt"))
    tally("split-file lines reaching outside their folder refused")
