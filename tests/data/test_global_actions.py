"""LookDataModule tests: bundled photos, rendered targets, split, cache, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lumastyle.actions import load_action
from lumastyle.data import LookDataModule
from lumastyle.data.actions import sample_photos_dir
from lumastyle.errors import LumastyleError
from lumastyle.io import read_image, write_image


@pytest.fixture
def photos(tmp_path: Path, photo) -> Path:
    for k in range(10):
        write_image(tmp_path / "photos" / f"img{k}.jpg", photo(40, 48, seed=k))
    return tmp_path / "photos"


def make(photos: Path, **kwargs) -> LookDataModule:
    dm = LookDataModule(photos=str(photos), crop_size=16, batch_size=2, num_workers=0, **kwargs)
    dm.setup("fit")
    return dm


def test_targets_are_the_action_applied(photos):
    dm = make(photos, action="cold")
    item = dm.val_dataloader().dataset[0]
    assert torch.allclose(item["target"], load_action("cold")(item["input"]), atol=1e-6)


def test_seeded_split_by_file(photos):
    dm = make(photos, seed=1)
    sizes = {split: len(dm.splits[split]) for split in ("train", "val", "test")}
    assert sizes == {"train": 5, "val": 1, "test": 4}  # test 40% like the paper's 70/45
    val, test = {e.name for e in dm.splits["val"]}, {e.name for e in dm.splits["test"]}
    assert not val & test  # the best checkpoint is never chosen on the test photos
    again = make(photos, seed=1)
    assert [e.name for e in again.splits["train"]] == [e.name for e in dm.splits["train"]]


def test_crops_batch(photos):
    batch = next(iter(make(photos, action="cold").train_dataloader()))
    assert batch["input"].shape == batch["target"].shape == (2, 3, 16, 16)
    assert torch.allclose(batch["target"], load_action("cold")(batch["input"]), atol=1e-6)


def test_cache_renders_once(photos, tmp_path: Path):
    dm = make(photos, action="spring", cache_dir=str(tmp_path / "cache"))
    cached = sorted((tmp_path / "cache").rglob("*.png"))
    assert len(cached) == 10
    stamps = [p.stat().st_mtime_ns for p in cached]
    make(photos, action="spring", cache_dir=str(tmp_path / "cache"))
    assert [p.stat().st_mtime_ns for p in cached] == stamps
    item = dm.val_dataloader().dataset[0]
    assert torch.allclose(item["target"], load_action("spring")(item["input"]), atol=2e-3)


def test_cached_targets_are_read_and_kept_apart(photos, tmp_path: Path, photo):
    cache = str(tmp_path / "cache")
    dm = make(photos, action="spring", cache_dir=cache)
    first = dm.splits["train"][0]
    write_image(first.target, torch.zeros(3, 40, 48), bit_depth=16)  # the loader must read this file
    assert first.load()[1].abs().max() == 0
    # another folder with the same file names gets its own renders from the same cache
    other = tmp_path / "other"
    for k in range(10):
        write_image(other / f"img{k}.jpg", photo(40, 48, seed=100 + k))
    item = make(other, action="spring", cache_dir=cache).val_dataloader().dataset[0]
    assert torch.allclose(item["target"], load_action("spring")(item["input"]), atol=2e-3)


def test_bundled_photos_by_default():
    dm = LookDataModule(num_workers=0)
    assert dm.photos == sample_photos_dir()
    assert len(dm.discover()) >= 20


def test_bad_photos_folder(tmp_path: Path):
    with pytest.raises(LumastyleError, match="is not a folder"):
        make(tmp_path / "none")


def test_bad_action(photos):
    with pytest.raises(LumastyleError, match="not a preset"):
        make(photos, action="sunny")


class Recorder:
    """A look that records the size of what it renders (and changes nothing)."""

    def __init__(self, per_pixel: bool) -> None:
        self.per_pixel, self.sizes = per_pixel, []

    def __call__(self, rgb: torch.Tensor) -> torch.Tensor:
        self.sizes.append(tuple(rgb.shape[-2:]))
        return rgb


@pytest.mark.parametrize("per_pixel", [True, False])
def test_local_looks_render_the_whole_photo_before_the_crop(photos, per_pixel):
    from lumastyle.data.base import CropDataset, Example

    look = Recorder(per_pixel)
    path = next(iter(sorted(photos.iterdir())))
    item = CropDataset([Example("a", path, render=look)], crop_size=8, crops_per_image=1, long_side=None)[0]
    whole = tuple(read_image(path)[0].shape[-2:])
    assert look.sizes == [(8, 8) if per_pixel else whole]
    assert item["target"].shape == (3, 8, 8)


def test_a_local_recipe_trains_on_whole_photo_renders(photos):
    dm = make(photos, action=[{"clarity": {"amount": 1.0, "radius": 0.1}}])
    assert not dm.action.per_pixel
    ex = dm.splits["train"][0]
    rgb, target = ex.load(dm.long_side)
    assert torch.allclose(target, dm.action(rgb))


class Inverter(Recorder):
    """A local look that records what it renders and inverts it."""

    def __call__(self, rgb: torch.Tensor) -> torch.Tensor:
        return 1 - super().__call__(rgb)


def test_each_photo_is_rendered_once_for_all_its_crops(photos):
    """A local look costs one render of each whole photo for the whole run when the photos fit the
    loader's memory (none kept: one render a crop), and the crops are the same either way."""
    from lumastyle.data.base import CropDataset, Example

    def two_epochs(memory: int) -> tuple[Inverter, list[dict]]:
        look = Inverter(per_pixel=False)
        examples = [Example(p.stem, p, render=look) for p in sorted(photos.iterdir())[:3]]
        dataset = CropDataset(examples, crop_size=8, crops_per_image=4, long_side=None, memory_bytes=memory)
        torch.manual_seed(0)
        return look, [dataset[i] for _ in range(2) for i in range(len(dataset))]

    (kept_look, kept), (fresh_look, fresh) = two_epochs(1 << 30), two_epochs(0)
    assert len(kept_look.sizes) == 3 and len(fresh_look.sizes) == 2 * 12
    for a, b in zip(kept, fresh, strict=True):
        assert a["name"] == b["name"] and torch.equal(a["input"], b["input"])
        assert torch.equal(a["target"], b["target"])


def test_photos_beyond_the_memory_are_loaded_again(photos):
    from lumastyle.data.base import CropDataset, Example

    look = Recorder(per_pixel=False)
    paths = sorted(photos.iterdir())[:3]
    one_photo = 2 * read_image(paths[0])[0].nbytes  # input and target, float32
    dataset = CropDataset(
        [Example(p.stem, p, render=look) for p in paths], crop_size=8, crops_per_image=1, long_side=None,
        memory_bytes=2 * one_photo,
    )  # fmt: skip
    for i in [0, 1, 0, 2, 1, 0]:  # keeps the two most recently used: 0 and 1, then 0 and 2, then 1 ...
        dataset[i]
    assert len(look.sizes) == 5  # 0, 1 and 2 rendered; 1 again (pushed out by 2); 0 again (by 1)
