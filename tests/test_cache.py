"""The context cache: windows of whole-photo maps equal the whole photo's context, keys are the photo's
content and every setting that changes the maps (never stale, found again in a copied folder), and a
fit with the CPU preset trains from it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from lumastyle.backbone import UPPER_MARGIN
from lumastyle.cache import CacheEntry, ContextCache
from lumastyle.cli import main
from lumastyle.color import rgb_to_lab
from lumastyle.context import ContextWindow, take_window, window_length, window_origin
from lumastyle.data.pairs import PairDataModule
from lumastyle.errors import LumastyleError
from lumastyle.io import read_image, write_image
from lumastyle.model import LumaStyle
from lumastyle.network import StyleNetwork
from lumastyle.options import BackboneOptions, ContextOptions

REPO = Path(__file__).resolve().parents[1]


def tiny_network(**kwargs) -> StyleNetwork:
    torch.manual_seed(0)
    kwargs = {"backbone_width": 1 / 16, "freeze": "conv1-conv5", "top_channels": 8, "context_pad": 8, **kwargs}
    return StyleNetwork(**kwargs).eval()


def windows_of(network: StyleNetwork, rgb: torch.Tensor, top_left: tuple[int, int], crop: int) -> list:
    """Float32 windows of the whole photo's lower maps around a crop, cut as the cache cuts them."""
    out = []
    for i, m in enumerate(network.lower_context(rgb)):
        map_hw = tuple(m.features.shape[-2:])
        origin = window_origin(m.scaled_hw, m.pad, map_hw, tuple(rgb.shape[-2:]), top_left, m.stride)
        margin = UPPER_MARGIN if i < network.num_scales else 0
        n = window_length(crop, network.context.scales[i] if i < network.num_scales else 1.0, m.stride)
        f = take_window(m.features[0], origin[0] - margin, origin[1] - margin, n + 2 * margin, n + 2 * margin)
        as_batch = [torch.tensor([v]) for v in (origin, map_hw, m.scaled_hw, m.pad, m.stride)]
        out.append(ContextWindow(f[None], *as_batch))
    return out


@pytest.mark.parametrize(
    "low_level",
    [
        {},
        {"low_level": (3.0,)},
        {"low_level": (3.0,), "low_level_regions": (6.0,)},
        {"low_level": (3.0,), "photo_context": True},
    ],
    ids=["backbone", "with-low-level", "with-regions", "with-photo-level"],
)
@pytest.mark.parametrize("hw", [(70, 53), (40, 96)])
def test_crops_from_windows_equal_the_whole_photo(hw, low_level):
    """A crop's prediction from windows of the whole photo's context equals the whole photo's
    prediction at those pixels, at corners and inside, for each scale and the low-level map (at 1/8,
    or at full resolution with region context; with photo-level context, a crop's are its photo's)."""
    net = tiny_network(**low_level)
    h, w = hw
    rgb = torch.rand(1, 3, h, w)
    lab = rgb_to_lab(rgb)
    crop = 24
    with torch.no_grad():
        whole = net.transform(lab, net.encode_context(rgb))
        for top, left in [(0, 0), (h - crop, w - crop), (5, 11), (h - crop, 0)]:
            windows = net.encode_windows(windows_of(net, rgb, (top, left), crop))
            part = lab[..., top : top + crop, left : left + crop]
            got = net.transform_windows(part, windows, torch.tensor([[top, left]]), torch.tensor([[h, w]]))
            expected = whole[..., top : top + crop, left : left + crop]
            assert torch.allclose(got, expected, atol=1e-4), (top, left)


def cache_for(network: StyleNetwork, folder: Path) -> ContextCache:
    return ContextCache(folder, network.lower_fingerprint(), network.context.scales)


def datamodule(root: Path) -> PairDataModule:
    dm = PairDataModule(
        root=str(root), long_side=48, crop_size=24, num_workers=0, val_fraction=0.2, test_fraction=0.0
    )
    dm.setup()
    return dm


def test_build_once_then_reuse_and_never_serve_stale(pair_factory, tmp_path):
    root = pair_factory(tmp_path / "pairs", n=5, size=(40, 56))
    dm = datamodule(root)
    net = tiny_network()
    cache = cache_for(net, tmp_path / "cache")
    entries = dm.context_entries(context_long_side=48)
    n_train, n_val = len(dm.splits["train"]), len(dm.splits["val"])
    assert len(entries) == 2 * n_train + n_val  # both orientations of training photos, validation as is

    assert cache.build(entries, dm.context_image, net.lower_context) == len(entries)
    assert len(list((tmp_path / "cache").glob("*.pt"))) == len(entries)
    assert cache.build(entries, dm.context_image, net.lower_context) == 0  # a second run reuses them

    # the key is the content: a touched photo (new modification time, same bytes) is reused, a photo
    # written again with other pixels under the same name gets new maps (its two orientations)
    photo = dm.splits["train"][0].input
    stat = photo.stat()
    os.utime(photo, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert cache.build(entries, dm.context_image, net.lower_context) == 0
    write_image(photo, read_image(photo)[0].flip(-2))
    assert cache.build(entries, dm.context_image, net.lower_context) == 2
    fresh = cache_for(net, tmp_path / "cache")  # another process: hashes the photos itself
    assert fresh.build(entries, dm.context_image, net.lower_context) == 0

    # other weights: a different key for every photo
    other = tiny_network()
    with torch.no_grad():
        other.context.backbones[0].features[0].weight.add_(0.01)
    assert other.lower_fingerprint() != net.lower_fingerprint()
    assert cache_for(other, tmp_path / "cache").path(entries[0]) != cache.path(entries[0])


def test_a_copied_or_moved_pairs_folder_is_not_cached_again(pair_factory, tmp_path):
    """The key is the photo's content, not its path: a copy of the pairs folder (new modification times
    too) and the folder moved under another name build nothing; a photo changed in the copy misses."""
    root = pair_factory(tmp_path / "pairs", n=4, size=(24, 32))
    net = tiny_network()
    cache = cache_for(net, tmp_path / "cache")
    dm = datamodule(root)
    built = cache.build(dm.context_entries(48), dm.context_image, net.lower_context)
    assert built == len(dm.context_entries(48)) > 0
    copy = shutil.copytree(root, tmp_path / "elsewhere" / "copy", copy_function=shutil.copyfile)
    moved = root.rename(tmp_path / "renamed")
    for folder in (copy, moved):
        other = datamodule(folder)
        entries = other.context_entries(48)
        assert all(folder in e.photo.parents for e in entries)
        assert cache_for(net, tmp_path / "cache").build(entries, other.context_image, net.lower_context) == 0
    assert len(list((tmp_path / "cache").glob("*.pt"))) == built
    photo = datamodule(copy).splits["val"][0].input
    write_image(photo, 1 - read_image(photo)[0])
    other = datamodule(copy)
    assert cache.build(other.context_entries(48), other.context_image, net.lower_context) == 1


def test_the_colour_context_settings_are_in_the_key(pair_factory, tmp_path):
    """Maps that hold the low-level context are keyed by its settings: other blur radii miss every entry
    instead of serving maps blurred at the old radii (this fails if the radii leave the key)."""
    root = pair_factory(tmp_path / "pairs", n=3, size=(24, 32))
    dm = datamodule(root)
    entries = dm.context_entries(48)
    built = {}
    for name, options in {
        "radius 3": {"low_level": (3.0,)},
        "radius 5": {"low_level": (5.0,)},
    }.items():
        net = tiny_network(**options)
        built[name] = cache_for(net, tmp_path / "cache").build(entries, dm.context_image, net.lower_context)
    assert built == dict.fromkeys(built, len(entries))


def test_cached_maps_are_the_whole_photo_maps_in_float16(pair_factory, tmp_path):
    root = pair_factory(tmp_path / "pairs", n=4, size=(40, 56))
    dm = datamodule(root)
    net = tiny_network()
    cache = cache_for(net, tmp_path / "cache")
    entry = CacheEntry(dm.splits["train"][0].input, "", 48, None, True)
    cache.build([entry], dm.context_image, net.lower_context)
    stored = cache.load(entry)
    image = dm.context_image(entry)
    assert image.shape[-2:] == (34, 48)  # the whole photo as training loads it (long side 48)
    with torch.no_grad():
        expected = net.lower_context(image[None])
    for got, want in zip(stored["features"], expected, strict=True):
        assert got.dtype == torch.float16
        assert torch.allclose(got.float(), want.features[0], rtol=1e-2, atol=1e-3)
    assert torch.equal(image, dm.context_image(entry._replace(flipped=False)).flip(-1))


def test_training_batch_from_the_cache_matches_the_whole_photo(pair_factory, tmp_path):
    """What the training loader serves (crop + cached windows) gives the model the prediction the whole
    photo's context gives those pixels (to float16 rounding of the cache)."""
    root = pair_factory(tmp_path / "pairs", n=4, size=(40, 56))
    dm = datamodule(root)
    model = LumaStyle(
        backbone=BackboneOptions(width=1 / 16, weights=None, freeze="conv1-conv5", top_channels=8),
        context=ContextOptions(pad=8, cache=str(tmp_path / "cache")),
    ).eval()
    caching = model.context_caching()
    assert caching is not None
    cache = caching.cache
    cache.build(dm.context_entries(48), dm.context_image, model.network.lower_context)
    dm.attach_context_cache(cache, 48)
    torch.manual_seed(3)
    batch = next(iter(dm.train_dataloader()))
    assert {"context", "origin", "photo_hw"} <= set(batch)
    with torch.no_grad():
        got = model._predict_lab(batch)
        for i in range(batch["input"].shape[0]):
            ex = next(e for e in dm.splits["train"] if e.name == batch["name"][i])
            photo = ex.load(48)[0]
            # the crop is either the photo's or its mirror's: the one whose pixels match holds
            for candidate in (photo, photo.flip(-1)):
                top, left = batch["origin"][i].tolist()
                if torch.equal(candidate[:, top : top + 24, left : left + 24], batch["input"][i]):
                    whole = model.network.forward_lab(candidate[None])[1]
                    want = whole[0, :, top : top + 24, left : left + 24]
                    assert (got[i] - want).abs().max() < 0.05  # Lab units
                    break
            else:
                raise AssertionError("the crop is not from its photo")


def test_no_cache_when_the_lower_backbone_trains(tmp_path):
    """A cache asked for while conv1-conv5 train would do nothing: one line; by default (null) there is
    simply none, and false turns it off for a frozen backbone."""
    small = BackboneOptions(width=1 / 16, weights=None)
    with pytest.raises(LumastyleError, match=r"model.context.cache .* would do nothing: conv1-conv5 train"):
        LumaStyle(backbone=small, context=ContextOptions(cache=str(tmp_path)))
    assert LumaStyle(backbone=small).context_caching() is None
    frozen = BackboneOptions(width=1 / 16, weights=None, freeze="conv1-conv5")
    assert LumaStyle(backbone=frozen, context=ContextOptions(cache=False)).context_caching() is None
    assert LumaStyle(backbone=frozen).context_caching() is not None  # null: cached when it applies


def test_cpu_preset_fits_from_the_cache(tmp_path, pair_factory, monkeypatch, capfd, recwarn):
    """configs/cpu-small.yaml: bundled pretrained conv1-conv5, frozen, cached; closed-form start. A
    resumed run reuses the cache; the checkpoint stylizes with the weights' own normalisation. With
    saliency context, the crops read their whole photo's from the cache: no warning that they do not."""
    monkeypatch.chdir(tmp_path)
    cache = tmp_path / "cache"
    monkeypatch.setenv("LUMASTYLE_CACHE", str(cache))
    root = pair_factory(tmp_path / "pairs", n=5, size=(40, 56))
    argv = [
        "fit",
        "--config", str(REPO / "styles" / "pairs.yaml"),
        "--config", str(REPO / "configs" / "cpu-small.yaml"),
        "--data.root", str(root),
        "--data.crop_size", "24", "--data.long_side", "48", "--data.num_workers", "0",
        "--data.batch_size", "4", "--data.crops_per_image", "2",
        "--model.backbone.top_channels", "8", "--model.context.pad", "8",
        "--trainer.max_epochs", "1", "--trainer.enable_model_summary", "false",
        "--model.color_context.saliency", "[8.0]",
    ]  # fmt: skip
    main(argv)
    assert "caching context" in capfd.readouterr().err
    assert not [w for w in recwarn if "color_context.saliency" in str(w.message)]
    files = sorted(cache.glob("*.pt"))
    assert files  # 3 training photos x 2 orientations + 1 validation photo
    first = torch.load(
        tmp_path / "runs" / "pairs" / "version_0" / "checkpoints" / "last.ckpt", weights_only=True
    )
    main([*argv, "--ckpt_path", "last", "--trainer.max_epochs", "2"])  # resumed: one more epoch
    assert "caching context" not in capfd.readouterr().err  # built once, reused by the next run
    assert sorted(cache.glob("*.pt")) == files

    last = tmp_path / "runs" / "pairs" / "version_0" / "checkpoints" / "last.ckpt"
    resumed = torch.load(last, weights_only=True)
    assert resumed["epoch"] == first["epoch"] + 1
    key = "network.context.backbones.0.conv5_scale"
    assert resumed["state_dict"][key] == first["state_dict"][key]  # kept, not measured again
    model = LumaStyle.from_checkpoint(last)
    # conv6 started untrained above frozen pretrained maps: their scale was set to 1 / RMS, and is kept
    scale = model.network.context.backbones[0].conv5_scale.item()
    stored = [torch.load(p, weights_only=True)["features"][0] for p in files]
    rms = torch.cat([f.float().flatten() for f in stored]).square().mean().sqrt().item()
    assert 0.5 / rms < scale < 2 / rms  # (the cache also holds mirrored and validation photos)
    assert model.hparams.backbone["input_norm"] == "caffe" == model.backbone_options.input_norm
    assert model.network.context.backbones[0].input_norm == "caffe"
    out = model.stylize(torch.rand(3, 30, 44))
    assert out.shape == (3, 30, 44) and torch.isfinite(out).all()


def test_calibration_scales_each_conv5_map_to_unit_rms():
    model = LumaStyle(backbone=BackboneOptions(width=1 / 16, weights=None, freeze="conv1-conv5", top_channels=8))
    channels = model.network.context.backbones[0].conv6.in_channels
    maps = [[torch.full((channels, 3, 3), 2.0), torch.full((channels, 5, 5), -4.0)]] * 2
    assert model.network.calibrate_conv5(maps) == pytest.approx([0.5, 0.25])
    backbone = model.network.context.backbones[1]
    conv5 = torch.rand(1, channels, 6, 6)
    expected = backbone.relu(backbone.conv7(backbone.relu(backbone.conv6(conv5 * 0.25))))
    assert torch.allclose(backbone.upper(conv5), expected)
    # only an untrained conv6 above frozen pretrained weights is calibrated
    assert not model.network.needs_conv5_calibration()  # random conv1-conv5
    assert LumaStyle(
        backbone=BackboneOptions(weights="bundled", freeze="conv1-conv5", top_channels=8)
    ).network.needs_conv5_calibration()
    assert not LumaStyle(
        backbone=BackboneOptions(weights="bundled", freeze="none", top_channels=8)
    ).network.needs_conv5_calibration()
