"""UniformDataModule on a tiny fake tree in the exact layout of the release (tests/data/uniform/data.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from lumastyle.color import prophoto_to_srgb
from lumastyle.data import UniformDataModule
from lumastyle.errors import LumastyleError
from lumastyle.io import read_image

RELEASE = Path(__file__).parent / "uniform" / "dl-image-enhance"
REPO = Path(__file__).resolve().parents[2]


def make(root: Path = RELEASE, **kwargs) -> UniformDataModule:
    dm = UniformDataModule(str(root), num_workers=0, crop_size=16, batch_size=2, **kwargs)
    dm.setup()
    return dm


def test_reads_the_released_split():
    dm = make(style="watercolor", val_fraction=0.25)
    names = {split: sorted(ex.name for ex in dm.splits[split]) for split in ("train", "val", "test")}
    listed = (RELEASE / "data" / "uniform_set" / "uniform_set_train_id.txt").read_text().split()
    assert sorted(names["train"] + names["val"]) == sorted(listed) and len(names["val"]) == 1
    assert names["test"] == sorted(
        (RELEASE / "data" / "uniform_set" / "uniform_set_test_id.txt").read_text().split()
    )


def test_photos_are_decoded_from_prophoto():
    dm = make(style="local_xpro")
    ex = dm.splits["test"][0]
    rgb, target = ex.load()
    raw = read_image(ex.input)[0]  # the 16-bit values / 65535
    assert torch.allclose(rgb, prophoto_to_srgb(raw))
    assert "uniform_set_xpro_tif" in str(ex.target) and target.shape == rgb.shape == (3, 24, 32)
    assert not torch.allclose(rgb, raw, atol=0.02)  # the colour space really changed


@pytest.mark.parametrize("style", ["foreground_popout", "local_xpro", "watercolor"])
def test_each_style_has_its_targets(style):
    ex = make(style=style).splits["test"][0]
    assert ex.target.parent.name.startswith("uniform_set_") and ex.target.is_file()


def test_root_may_be_the_data_folder():
    assert len(make(RELEASE / "data").splits["test"]) == 2


def test_not_the_layout_is_one_line(tmp_path):
    with pytest.raises(LumastyleError, match="not the Uniform set's layout") as info:
        make(tmp_path)
    assert "uniform_set.txt" in str(info.value) and "\n" not in str(info.value)


def test_missing_photo_is_named(tmp_path):
    copy = tmp_path / "release"
    shutil.copytree(RELEASE, copy)
    victim = next((copy / "data" / "uniform_set_watercolor" / "uniform_set_watercolor_tif").glob("*.tif"))
    victim.unlink()
    with pytest.raises(LumastyleError, match=victim.name):
        make(copy, style="watercolor")


def test_trains_through_the_cli(tmp_path, monkeypatch):
    from lumastyle.cli import main

    monkeypatch.chdir(tmp_path)
    tiny = [
        "--config", str(REPO / "styles" / "foreground_popout.yaml"),
        "--config", str(REPO / "configs" / "cpu-scratch.yaml"),
        "--data.root", str(RELEASE),
        "--model.backbone.width", "0.0625", "--model.context.pad", "8",
        "--data.crop_size", "16", "--data.num_workers", "0", "--data.val_fraction", "0.25",
        "--trainer.enable_model_summary", "false", "--trainer.enable_progress_bar", "false",
    ]  # fmt: skip
    main(["fit", *tiny, "--trainer.max_epochs", "2"])
    last = tmp_path / "runs" / "foreground_popout" / "version_0" / "checkpoints" / "last.ckpt"
    assert last.is_file()
    main(["test", *tiny, "--ckpt_path", str(last)])
    tested = (tmp_path / "runs" / "foreground_popout" / "version_0" / "metrics.csv").read_text()  # test writes into the run
    assert "test/ciede2000" in tested
