"""FiveKDataModule and PPR10KDataModule on tiny fake trees in the exact layouts of the releases
(tests/data/fivek/data.py, tests/data/ppr10k/data.py), and one training run through the CLI on each."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from lumastyle.data import FiveKDataModule, PPR10KDataModule
from lumastyle.errors import BadFileError, LumastyleError
from lumastyle.io import read_image

HERE = Path(__file__).parent
FIVEK = HERE / "fivek" / "FiveK"
PPR10K = HERE / "ppr10k" / "PPR10K"
REPO = Path(__file__).resolve().parents[2]


def names(path: Path) -> list[str]:
    return path.read_text().split()


def splits(dm) -> dict[str, list[str]]:
    return {split: sorted(ex.name for ex in dm.splits[split]) for split in ("train", "val", "test")}


def fivek(root: Path = FIVEK, **kwargs) -> FiveKDataModule:
    dm = FiveKDataModule(str(root), num_workers=0, crop_size=16, batch_size=2, **kwargs)
    dm.setup()
    return dm


def ppr10k(root: Path = PPR10K, **kwargs) -> PPR10KDataModule:
    dm = PPR10KDataModule(str(root), num_workers=0, crop_size=16, batch_size=2, **kwargs)
    dm.setup()
    return dm


# -- FiveK --------------------------------------------------------------------------------------


def test_fivek_trains_on_both_training_lists_and_validates_on_a_seeded_share_of_them():
    got = splits(fivek(val_fraction=0.2))
    training = names(FIVEK / "train_input.txt") + names(FIVEK / "train_label.txt")
    assert sorted(got["train"] + got["val"]) == sorted(training) and len(got["val"]) == 1
    assert got["test"] == sorted(names(FIVEK / "test.txt"))
    assert got == splits(fivek(val_fraction=0.2))  # seeded: the same on every run
    ex = fivek().splits["test"][0]
    assert ex.input == FIVEK / "input" / "JPG" / "480p" / f"{ex.name}.jpg"
    assert ex.target == FIVEK / "expertC" / "JPG" / "480p" / f"{ex.name}.jpg"  # expert C by default


@pytest.mark.parametrize("expert", ["A", "E"])
def test_fivek_expert_choice(expert):
    ex = fivek(expert=expert).splits["train"][0]
    assert ex.target == FIVEK / f"expert{expert}" / "JPG" / "480p" / f"{ex.name}.jpg"
    with pytest.raises(LumastyleError, match=r"data\.expert must be one of A, B, C, D, E"):
        FiveKDataModule(str(FIVEK), expert="F")


def test_fivek_16bit_xyz_inputs_are_read_as_the_papers_read_them():
    """The 16-bit XYZ PNG / 65535 is the model's input as it is (no conversion to sRGB); the target
    is still the expert's sRGB JPEG."""
    dm = fivek(input_format="16bit_xyz")
    ex = dm.splits["test"][0]
    assert ex.input == FIVEK / "input" / "PNG" / "480p_16bits_XYZ_WB" / f"{ex.name}.png"
    rgb, target = ex.load()
    raw, depth = read_image(ex.input)
    assert depth == 16 and torch.equal(rgb, raw)
    assert torch.equal(target, read_image(FIVEK / "expertC" / "JPG" / "480p" / f"{ex.name}.jpg")[0])
    srgb = read_image(FIVEK / "input" / "JPG" / "480p" / f"{ex.name}.jpg")[0]
    assert (rgb - srgb).abs().mean() > 0.05  # really the XYZ file, not the sRGB one
    assert FiveKDataModule.run_name({"input_format": "16bit_xyz"}) == "fivek_xyz_expertC"


def test_fivek_one_train_txt_as_adaint_lays_it_out(tmp_path):
    copy = tmp_path / "FiveK"
    shutil.copytree(FIVEK, copy)
    training = names(copy / "train_input.txt") + names(copy / "train_label.txt")
    (copy / "train_input.txt").unlink()
    (copy / "train_label.txt").unlink()
    (copy / "train.txt").write_text("\n".join(training) + "\n")
    got = splits(fivek(copy, val_fraction=0.2))
    assert got == splits(fivek(val_fraction=0.2))


@pytest.mark.parametrize("remove", [None, "expertC", "test.txt", "train_input.txt"])
def test_fivek_wrong_root_is_one_line_naming_the_layout(tmp_path, remove):
    root = tmp_path / "notfivek"
    if remove is not None:  # everything but one piece
        shutil.copytree(FIVEK, root)
        (root / "train_label.txt").unlink()  # so that removing train_input.txt leaves no training list
        target = root / remove
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(LumastyleError, match="is not a FiveK folder") as info:
        fivek(root)
    message = str(info.value)
    assert "\n" not in message
    for part in ("input/JPG/480p/*.jpg", "expertC/JPG/480p/*.jpg", "train_input.txt", "test.txt"):
        assert part in message


def test_fivek_a_listed_name_without_its_photo_follows_on_bad_file(tmp_path):
    copy = tmp_path / "FiveK"
    shutil.copytree(FIVEK, copy)
    victim = copy / "expertC" / "JPG" / "480p" / f"{names(copy / 'test.txt')[0]}.jpg"
    victim.unlink()
    with pytest.raises(BadFileError, match=victim.name) as info:
        fivek(copy)
    assert "test split names" in str(info.value) and "\n" not in str(info.value)
    with pytest.warns(UserWarning, match=f"skipped 1 bad file.*{victim.name}"):
        dm = fivek(copy, on_bad_file="skip")
    assert victim.stem not in splits(dm)["test"] and len(dm.splits["test"]) == 1


def test_fivek_a_name_in_train_and_test_is_refused(tmp_path):
    copy = tmp_path / "FiveK"
    shutil.copytree(FIVEK, copy)
    (copy / "test.txt").write_text(f"{names(copy / 'train_input.txt')[0]}\n")
    with pytest.raises(LumastyleError, match="listed for training and for testing"):
        fivek(copy)


def test_fivek_tests_at_the_released_size_whatever_long_side_trains_at():
    dm = fivek(long_side=16)
    assert next(iter(dm.val_dataloader()))["input"].shape[-2:] == (11, 16)
    assert next(iter(dm.test_dataloader()))["input"].shape[-2:] == (24, 36)


# -- PPR10K -------------------------------------------------------------------------------------


def test_ppr10k_tests_on_val_and_validates_on_whole_training_groups():
    got = splits(ppr10k())
    train_photos = sorted(p.stem for p in (PPR10K / "train" / "source").glob("*.tif"))
    assert sorted(got["train"] + got["val"]) == train_photos
    assert got["test"] == sorted(p.stem for p in (PPR10K / "val" / "source").glob("*.tif"))
    held = {name.split("_")[0] for name in got["val"]}
    assert len(held) == 1 and not held & {name.split("_")[0] for name in got["train"]}  # whole groups
    assert got == splits(ppr10k())  # seeded
    ex = ppr10k(expert="b").splits["test"][0]
    assert ex.input == PPR10K / "val" / "source" / f"{ex.name}.tif"
    assert ex.target == PPR10K / "val" / "target_b" / f"{ex.name}.tif"
    rgb, target = ex.load()
    assert read_image(ex.input)[1] == 16 and read_image(ex.target)[1] == 8 and rgb.shape == target.shape


def test_ppr10k_augmented_inputs_pair_with_their_photos_target():
    dm = ppr10k(augmented=True)
    got = splits(dm)
    assert len(got["train"]) == 12 and all(len(n.split("_")) == 2 for n in got["val"])  # 2 groups x 2 x 3
    ex = next(ex for ex in dm.splits["train"] if ex.name.count("_") == 2)
    assert ex.input.parent.name == "source_aug"
    assert ex.target == PPR10K / "train" / "target_a" / f"{'_'.join(ex.name.split('_')[:2])}.tif"
    assert got["test"] == splits(ppr10k())["test"]  # the test inputs are never augmented ones


def test_ppr10k_adaint_flat_layout(tmp_path):
    """AdaInt's and SepLUT's copy: source/, source_aug_6/, target_a/ ... with train.txt, train_aug.txt, test.txt."""
    flat = tmp_path / "PPR10K"
    for split in ("train", "val"):
        for folder in (PPR10K / split).iterdir():
            name = "source_aug_6" if folder.name == "source_aug" else folder.name
            shutil.copytree(folder, flat / name, dirs_exist_ok=True)
    listed = splits(ppr10k(augmented=True))
    (flat / "train.txt").write_text("\n".join(p.stem for p in (PPR10K / "train" / "source").glob("*.tif")))
    (flat / "train_aug.txt").write_text("\n".join(listed["train"] + listed["val"]))
    (flat / "test.txt").write_text("\n".join(listed["test"]))
    assert splits(ppr10k(flat)) == splits(ppr10k())
    assert splits(ppr10k(flat, augmented=True)) == listed


def test_ppr10k_wrong_root_is_one_line_naming_the_layout(tmp_path):
    with pytest.raises(LumastyleError, match="is not a PPR10K folder") as info:
        ppr10k(tmp_path)
    message = str(info.value)
    assert "train/source/*.tif" in message and "val/target_a/*.tif" in message and "\n" not in message
    copy = tmp_path / "PPR10K"
    shutil.copytree(PPR10K, copy)
    shutil.rmtree(copy / "val" / "target_c")
    with pytest.raises(LumastyleError, match=r"is not a PPR10K folder.*val/target_c/ is missing"):
        ppr10k(copy, expert="c")


def test_ppr10k_an_input_without_its_target_follows_on_bad_file(tmp_path):
    copy = tmp_path / "PPR10K"
    shutil.copytree(PPR10K, copy)
    (copy / "train" / "target_a" / "1_0.tif").unlink()
    with pytest.raises(BadFileError, match=r"1_0\.tif.*its target .* is missing"):
        ppr10k(copy)
    with pytest.warns(UserWarning, match="skipped 1 bad file"):
        got = splits(ppr10k(copy, on_bad_file="skip"))
    assert "1_0" not in got["train"] + got["val"]


# -- through the command line ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "root", "run"), [("fivek", FIVEK, "fivek_expertC"), ("ppr10k", PPR10K, "ppr10k_a")]
)
def test_trains_and_tests_through_the_cli(tmp_path, monkeypatch, style, root, run):
    """The documented command (the style, the CPU preset, --data.root), made tiny; then ``test``
    reports PSNR, ΔE76 and SSIM, also on the 8-bit images as the papers compute them."""
    from lumastyle.cli import main

    monkeypatch.chdir(tmp_path)
    tiny = [
        "--config", str(REPO / "styles" / f"{style}.yaml"),
        "--config", str(REPO / "configs" / "cpu-small.yaml"),
        "--data.root", str(root),
        "--model.backbone.weights", "null", "--model.backbone.width", "0.0625",
        "--model.backbone.top_channels", "8", "--model.context.pad", "8",
        "--data.crop_size", "16", "--data.long_side", "24", "--data.num_workers", "0",
        "--data.val_fraction", "0.2", "--data.crops_per_image", "1",
        "--trainer.enable_model_summary", "false", "--trainer.enable_progress_bar", "false",
    ]  # fmt: skip
    main(["fit", *tiny, "--trainer.max_epochs", "1"])
    last = tmp_path / "runs" / run / "version_0" / "checkpoints" / "last.ckpt"
    assert last.is_file()
    main(["test", *tiny, "--ckpt_path", str(last)])
    # test writes into the training run's folder: its metrics.csv ends with the test row
    header, *rows = (tmp_path / "runs" / run / "version_0" / "metrics.csv").read_text().splitlines()
    tested = dict(zip(header.split(","), rows[-1].split(","), strict=True))
    reported = {"test/psnr", "test/psnr_8bit", "test/delta_e76", "test/delta_e76_8bit", "test/ssim"}
    assert reported <= set(tested)
    # the experts' colour change is learnt: the inputs themselves score 20-22 dB
    assert float(tested["test/psnr_8bit"]) > 30
