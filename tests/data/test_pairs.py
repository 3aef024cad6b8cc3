"""PairDataModule tests: layout, splits, crops, and one clear line for each kind of bad input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from lumastyle.data import PairDataModule
from lumastyle.errors import LumastyleError
from lumastyle.io import write_image


def setup(root: Path, **kwargs) -> PairDataModule:
    dm = PairDataModule(str(root), crop_size=16, batch_size=2, num_workers=0, **kwargs)
    dm.setup("fit")
    return dm


def test_seeded_split_is_deterministic_and_complete(pairs_root):
    a, b = setup(pairs_root, seed=3), setup(pairs_root, seed=3)
    names = {s: [ex.name for ex in a.splits[s]] for s in a.splits}
    assert names == {s: [ex.name for ex in b.splits[s]] for s in b.splits}
    assert sorted(n for split in names.values() for n in split) == [f"p{k}" for k in range(6)]
    assert names["val"] and names["train"]


def test_split_files(pairs_root):
    (pairs_root / "train.txt").write_text("p0\np1\np2\n")
    (pairs_root / "val.txt").write_text("p5\n")
    (pairs_root / "test.txt").write_text("p3\np4\n")
    dm = setup(pairs_root)
    names = {s: [ex.name for ex in dm.splits[s]] for s in dm.splits}
    assert names == {"train": ["p0", "p1", "p2"], "val": ["p5"], "test": ["p3", "p4"]}


def test_without_val_txt_validation_is_held_out_of_train_not_test(pairs_root):
    (pairs_root / "train.txt").write_text("p0\np1\np2\np5\n")
    (pairs_root / "test.txt").write_text("p3\np4\n")
    dm = setup(pairs_root, val_fraction=0.25)
    train, val = [ex.name for ex in dm.splits["train"]], [ex.name for ex in dm.splits["val"]]
    assert len(val) == 1 and sorted(train + val) == ["p0", "p1", "p2", "p5"]
    assert [ex.name for ex in dm.splits["test"]] == ["p3", "p4"]
    assert val == [ex.name for ex in setup(pairs_root, val_fraction=0.25).splits["val"]]  # seeded


def test_no_validation_share_validates_on_train_and_says_so(pairs_root):
    with pytest.warns(UserWarning, match="validating on the training photos"):
        dm = setup(pairs_root, val_fraction=0.0)
    assert dm.splits["val"] == dm.splits["train"]


def test_crops_take_the_same_window(pairs_root, style):
    dm = setup(pairs_root)
    batch = next(iter(dm.train_dataloader()))
    assert batch["input"].shape == (2, 3, 16, 16)
    # targets were rendered pixel-wise from the inputs, so the same window gives the same relation
    assert (style(batch["input"]) - batch["target"]).abs().max() < 0.02


def test_whole_images_for_validation(pairs_root):
    batch = next(iter(setup(pairs_root).val_dataloader()))
    assert batch["input"].shape == (1, 3, 40, 56)


def test_predict_reads_full_resolution_with_file_and_depth(tmp_path, pair_factory):
    root = pair_factory(tmp_path / "big", n=3, size=(40, 56))
    write_image(root / "input" / "p0.png", torch.rand(3, 40, 56), bit_depth=16)
    dm = PairDataModule(str(root), long_side=20, num_workers=0, val_fraction=0, test_fraction=0)
    with pytest.warns(UserWarning):
        dm.setup()
    batch = next(iter(dm.predict_dataloader()))
    assert batch["input"].shape == (1, 3, 40, 56)  # not shrunk to long_side: what stylize reads
    assert batch["path"] == [str(root / "input" / "p0.png")] and batch["bit_depth"].tolist() == [16]


def test_small_photos_are_enlarged_for_crops(tmp_path, pair_factory):
    root = pair_factory(tmp_path / "small", n=3, size=(10, 12))
    dm = PairDataModule(str(root), crop_size=16, batch_size=1, num_workers=0)
    dm.setup()
    assert next(iter(dm.train_dataloader()))["input"].shape == (1, 3, 16, 16)


def test_mixed_formats_and_16bit(tmp_path, pair_factory):
    root = pair_factory(tmp_path / "mixed", n=3, suffix=".tif")
    deep = torch.rand(3, 40, 56)
    write_image(root / "input" / "p0.tif", deep, bit_depth=16)
    dm = setup(root)
    assert dm.image_long_side == 56
    p0 = next(ex for split in dm.splits.values() for ex in split if ex.name == "p0")
    assert torch.allclose(p0.load()[0], deep, atol=1 / 65535)  # 16-bit precision, not 8-bit's 1/255


def one_line(match: str, root: Path, **kwargs) -> None:
    with pytest.raises(LumastyleError, match=match) as info:
        setup(root, **kwargs)
    assert "\n" not in str(info.value)


def test_missing_root(tmp_path):
    one_line("is not a folder", tmp_path / "nowhere")


def test_missing_target_folder(tmp_path, pair_factory):
    root = pair_factory(tmp_path / "r", n=3)
    for f in (root / "target").iterdir():
        f.unlink()
    (root / "target").rmdir()
    one_line("target is missing", root)


def test_empty_folder(tmp_path):
    (tmp_path / "e" / "input").mkdir(parents=True)
    (tmp_path / "e" / "target").mkdir()
    one_line("holds no photos", tmp_path / "e")


def test_stem_without_partner(pairs_root):
    (pairs_root / "target" / "p2.png").unlink()
    one_line(r"p2\.png: no partner named 'p2\.\*'", pairs_root)


def test_target_without_input(pairs_root):
    write_image(pairs_root / "target" / "extra.png", torch.rand(3, 8, 8))
    one_line("extra.png: no partner", pairs_root)


def test_duplicate_stems(pairs_root):
    write_image(pairs_root / "input" / "p1.jpg", torch.rand(3, 40, 56))
    one_line("share the stem 'p1'", pairs_root)


def test_truncated_file(pairs_root):
    path = pairs_root / "target" / "p4.png"
    path.write_bytes(path.read_bytes()[:200])
    one_line(r"p4\.png: cannot read", pairs_root)


def test_unreadable_file(pairs_root):
    (pairs_root / "input" / "p1.png").write_bytes(b"\x00" * 64)
    one_line(r"p1\.png: cannot read", pairs_root)


def test_mismatched_sizes(pairs_root):
    write_image(pairs_root / "target" / "p3.png", torch.rand(3, 20, 20))
    one_line(r"p3\.png: size 20x20 does not match", pairs_root)


def test_split_file_names_missing_stem(pairs_root):
    (pairs_root / "train.txt").write_text("p0\nghost\n")
    one_line("train.txt: names 'ghost'", pairs_root)


def test_bad_fractions(pairs_root):
    with pytest.raises(LumastyleError, match="val_fraction"):
        PairDataModule(str(pairs_root), val_fraction=0.6, test_fraction=0.5)


def test_skip_trains_on_the_rest_and_names_every_file_left_out(tmp_path, pair_factory, tally):
    """``on_bad_file: skip``: each kind of bad pair is left out and listed in one warning line."""
    pairs_root = pair_factory(tmp_path / "pairs", n=12)
    (pairs_root / "target" / "p0.png").unlink()  # a missing partner
    write_image(pairs_root / "input" / "p1.jpg", torch.rand(3, 40, 56))  # a stem shared by two files
    path = pairs_root / "target" / "p2.png"
    path.write_bytes(path.read_bytes()[:200])  # truncated
    (pairs_root / "input" / "p3.png").write_bytes(b"")  # zero bytes
    write_image(pairs_root / "target" / "p4.png", torch.rand(3, 20, 20))  # another size
    (pairs_root / "input" / "notes.png").write_text("not an image")  # a non-image named like one
    (pairs_root / "target" / "notes.png").write_text("not an image")
    bad = {"input/p1.jpg", "input/p1.png", "input/p0.png"} | {
        "target/p2.png",
        "input/p3.png",
        "target/p4.png",
    }
    bad.add("input/notes.png")
    with pytest.warns(UserWarning, match=r"skipped \d+ bad file\(s\)") as record:
        dm = setup(pairs_root, on_bad_file="skip", verify=True)
    (message,) = [str(w.message) for w in record if "skipped" in str(w.message)]
    assert "\n" not in message
    for name in bad:
        assert str(pairs_root / name) in message, name
    used = {ex.name for split in dm.splits.values() for ex in split}
    assert used == {f"p{k}" for k in range(5, 12)}
    batch = next(iter(dm.train_dataloader()))
    assert batch["input"].shape[1:] == (3, 16, 16)
    tally("bad pairs left out under on_bad_file=skip", len(bad))


def test_skip_drops_unknown_stems_of_split_files(pairs_root):
    (pairs_root / "train.txt").write_text("p0\np1\nghost\n")
    (pairs_root / "test.txt").write_text("p2\n")
    with pytest.warns(UserWarning, match=r"train\.txt \(names 'ghost'"):
        dm = setup(pairs_root, on_bad_file="skip")
    assert {ex.name for ex in dm.splits["train"] + dm.splits["val"]} == {"p0", "p1"}


def test_every_bad_file_under_skip_is_an_error_when_nothing_is_left(tmp_path, pair_factory):
    root = pair_factory(tmp_path / "r", n=2)
    for f in (root / "input").iterdir():
        f.write_bytes(b"")
    with (
        pytest.warns(UserWarning, match="skipped 2"),
        pytest.raises(LumastyleError, match="training split is empty"),
    ):
        setup(root, on_bad_file="skip", val_fraction=0.0, test_fraction=0.0)


def test_align_resize_puts_targets_of_another_size_on_the_inputs_pixels(pairs_root, photo):
    big = photo(80, 112, seed=9)
    write_image(pairs_root / "target" / "p3.png", big)
    dm = setup(pairs_root, align="resize", val_fraction=0.0, test_fraction=0.0)
    p3 = next(ex for ex in dm.splits["train"] if ex.name == "p3")
    rgb, target = p3.load()
    assert target.shape == rgb.shape == (3, 40, 56)
    halved = torch.nn.functional.avg_pool2d(big[None], 2)[0]  # an exact 2x shrink is a 2x2 mean
    assert (target - halved).abs().mean() < 0.01


def test_unknown_choices_are_one_line(pairs_root):
    with pytest.raises(LumastyleError, match=r"data\.on_bad_file must be 'error' or 'skip'"):
        setup(pairs_root, on_bad_file="ignore")
    with pytest.raises(LumastyleError, match=r"data\.align must be"):
        setup(pairs_root, align="crop")


def test_the_pixel_limit_is_the_datamodules_own(pairs_root, monkeypatch):
    """data.max_pixels reaches every read of this DataModule (the checks, the loaders, which pickle
    the examples into their workers) without touching the process: no environment variable, and
    another DataModule keeps the default limit."""
    monkeypatch.delenv("LUMASTYLE_MAX_PIXELS", raising=False)
    small = PairDataModule(str(pairs_root), num_workers=0, crop_size=16, max_pixels=100)
    with pytest.raises(LumastyleError, match=r"above the 0\.0001 MP limit"):
        small.setup()
    assert "LUMASTYLE_MAX_PIXELS" not in os.environ
    skipping = PairDataModule(str(pairs_root), num_workers=0, crop_size=16, max_pixels=100, on_bad_file="skip")
    with pytest.raises(LumastyleError, match="the training split is empty"), pytest.warns(UserWarning, match="above the"):
        skipping.setup()
    default = setup(pairs_root)
    assert all(ex.max_pixels is None for split in default.splits.values() for ex in split)
    roomy = setup(pairs_root, max_pixels=10**6)
    assert {ex.max_pixels for split in roomy.splits.values() for ex in split} == {10**6}
    assert next(iter(roomy.train_dataloader()))["input"].shape[-1] == 16
