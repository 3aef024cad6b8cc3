"""Photo-level context: the statistics of the whole photo (reference values against numpy and
scikit-image), the same for a training crop as for its photo, in the cache key, in the closed-form
start (each photo its own colour map) and in a .cube baked for a reference photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_pairs, smooth_photo
from skimage.color import lab2rgb

from lumastyle.actions.cube import CubeLUT, read_cube, write_cube
from lumastyle.actions.ops import lut3d
from lumastyle.color import denormalize_lab, lab_distance, normalize_lab, rgb_to_lab
from lumastyle.context import PHOTO_CHANNELS, LowLevelContext, photo_statistics
from lumastyle.data.datasets import CropDataset
from lumastyle.data.pairs import PairDataModule
from lumastyle.export import _average_context, _bake
from lumastyle.inference import stylize_tensor
from lumastyle.io import read_image, write_image
from lumastyle.network import StyleNetwork


def lab_n_of(rgb: torch.Tensor) -> torch.Tensor:
    return normalize_lab(rgb_to_lab(rgb))


def test_statistics_match_numpy_and_scikit_image():
    """Mean Lab, nearest-rank lightness percentiles, sRGB means, 99th and 1st percentiles, the darkest
    channel's 1st and the brightest's 99th, the logarithms of linear light, per photo of a batch."""
    torch.manual_seed(0)
    rgb = torch.rand(2, 3, 7, 11, dtype=torch.float64)  # 77 pixels: no percentile rank falls on a half
    lab_n = lab_n_of(rgb)
    got = photo_statistics(lab_n)
    assert got.shape == (2, PHOTO_CHANNELS) and got.dtype == torch.float32
    for b in range(2):
        x = lab_n[b].numpy().reshape(3, -1)
        srgb = lab2rgb(denormalize_lab(lab_n[b]).permute(1, 2, 0).numpy()).reshape(-1, 3).T
        # IEC 61966-2-1's decoding, written here; luminance with Rec. 709's weights
        linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
        luma = np.array([0.2126, 0.7152, 0.0722]) @ linear
        expected = np.concatenate([
            x.mean(axis=1),
            np.percentile(x[0], [1, 50, 99], method="nearest"),
            srgb.mean(axis=1) * 2 - 1,
            np.percentile(srgb, 99, axis=1, method="nearest") * 2 - 1,
            np.percentile(srgb, 1, axis=1, method="nearest") * 2 - 1,
            [np.percentile(srgb.min(axis=0), 1, method="nearest") * 2 - 1],
            [np.percentile(srgb.max(axis=0), 99, method="nearest") * 2 - 1],
            1 + np.log(np.concatenate([
                linear.mean(axis=1),
                [luma.mean()],
                np.percentile(luma, [1, 50, 99], method="nearest"),
                np.percentile(linear, 99, axis=1, method="nearest"),
            ])) / (0.5 * np.log(1e4)),
        ])  # fmt: skip
        np.testing.assert_allclose(got[b].numpy(), expected, atol=2e-4)
    # each photo its own: the two photos of the batch differ, and one alone gives the same numbers
    assert not torch.allclose(got[0], got[1])
    torch.testing.assert_close(photo_statistics(lab_n[1:]), got[1:])


def test_statistics_see_a_colour_cast_and_exposure_and_ignore_flips():
    rgb = smooth_photo(40, 56, seed=3)[None]
    base = photo_statistics(lab_n_of(rgb))[0]
    torch.testing.assert_close(photo_statistics(lab_n_of(rgb.flip(-1)))[0], base)
    warm = photo_statistics(lab_n_of((rgb * torch.tensor([1.0, 0.9, 0.7]).view(3, 1, 1)).clamp(0, 1)))[0]
    assert warm[2] > base[2] + 0.02  # mean b: yellower
    dark = photo_statistics(lab_n_of(rgb * 0.5))[0]
    assert (dark[:1] < base[:1] - 0.1).all() and (dark[3:6] < base[3:6]).all()  # mean L and its percentiles


def test_the_colour_context_holds_them_the_same_at_every_pixel():
    rgb = smooth_photo(30, 45, seed=1)[None]
    lab_n = lab_n_of(rgb)
    layer = LowLevelContext((4.0,), photo=True)
    assert layer.out_channels == 3 + PHOTO_CHANNELS
    maps = layer(lab_n).features
    constant = maps[:, 3:]
    expected = photo_statistics(lab_n)[..., None, None].expand_as(constant)
    torch.testing.assert_close(constant, expected)
    given = torch.randn(1, PHOTO_CHANNELS)  # a crop is given its whole photo's
    torch.testing.assert_close(
        layer(lab_n, given).features[:, 3:], given[..., None, None].expand_as(constant)
    )
    torch.testing.assert_close(layer(lab_n, given).features[:, :3], maps[:, :3])
    alone = LowLevelContext((), photo=True)
    assert alone.out_channels == PHOTO_CHANNELS


def photo_network(seed: int = 0) -> StyleNetwork:
    """A network whose only context is photo-level, with random weights on its linear path."""
    torch.manual_seed(seed)
    net = StyleNetwork(scales=(), photo_context=True, low_level_linear=True, head="quadratic").eval()
    identity = net.head.out.bias.detach().view(3, 10).clone()  # the head starts as the identity map
    net.head.start_from(identity, torch.randn(3, 10, PHOTO_CHANNELS) * 0.05)
    return net


def test_a_training_crop_gets_what_stylize_gives_its_photo(tmp_path: Path):
    """Without a context cache the loader gives each crop its whole photo's statistics, and the
    network's prediction for the crop is then the whole photo's prediction at those pixels."""
    root = make_pairs(tmp_path / "pairs", n=3, size=(40, 56))
    dm = PairDataModule(
        root=str(root), long_side=48, crop_size=24, num_workers=0, test_fraction=0.0, val_fraction=0.34
    )
    dm.setup()
    dataset = CropDataset(dm.splits["train"], crop_size=24, crops_per_image=2, long_side=48, flip=True)
    net = photo_network()
    for index in range(len(dataset)):
        torch.manual_seed(index)
        item = dataset[index]
        whole = dm.splits["train"][index % len(dm.splits["train"])].load(48)[0]
        torch.testing.assert_close(item["photo"], photo_statistics(lab_n_of(whole[None]))[0])
        with torch.no_grad():
            _, crop_lab = net.forward_lab(item["input"][None], photo=item["photo"][None])
            whole_lab = net.forward_lab(whole[None])[1]
            own_lab = net.forward_lab(item["input"][None])[1]  # the crop's own statistics instead
        # find the crop in the (possibly flipped) photo
        found = False
        for photo, photo_lab in (
            (whole, whole_lab),
            (whole.flip(-1), net.forward_lab(whole.flip(-1)[None])[1]),
        ):
            for top in range(photo.shape[-2] - 23):
                for left in range(photo.shape[-1] - 23):
                    if torch.equal(photo[:, top : top + 24, left : left + 24], item["input"]):
                        expected = photo_lab[..., top : top + 24, left : left + 24]
                        torch.testing.assert_close(crop_lab, expected, atol=1e-4, rtol=0)
                        found = True
                        break
                if found:
                    break
            if found:
                break
        assert found
        assert (own_lab - crop_lab).abs().max() > 1e-3  # the crop's own statistics would differ


def test_the_cache_key_names_photo_level_context():
    kwargs = {"backbone_width": 1 / 16, "freeze": "conv1-conv5", "top_channels": 8, "low_level": (3.0,)}
    torch.manual_seed(0)
    plain = StyleNetwork(**kwargs).lower_fingerprint()
    torch.manual_seed(0)
    with_photo = StyleNetwork(**kwargs, photo_context=True).lower_fingerprint()
    assert plain != with_photo


def brightness_pairs(gains: list[float], seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Photos shot at different exposures, each corrected to the same mean brightness (an auto
    exposure): the correction differs from photo to photo."""
    pairs = []
    for i, gain in enumerate(gains):
        rgb = (smooth_photo(24, 32, seed=seed + i) * gain).clamp(0, 1)
        target = (rgb * (0.45 / rgb.mean())).clamp(0, 1)
        pairs.append((rgb, target))
    return pairs


def held_out_error(net: StyleNetwork, pairs) -> float:
    with torch.no_grad():
        return float(np.mean([lab_distance(rgb_to_lab(stylize_tensor(net, a)), rgb_to_lab(b)).mean().item()
                              for a, b in pairs]))  # fmt: skip


def test_the_closed_form_start_gives_each_photo_its_own_map():
    train = brightness_pairs([0.3, 0.45, 0.6, 0.75, 0.9, 1.1, 1.3, 0.5], seed=0)
    val = brightness_pairs([0.4, 0.8, 1.0], seed=20)
    test = brightness_pairs([0.35, 0.7, 1.2], seed=40)
    errors = {}
    for photo in (False, True):
        torch.manual_seed(0)
        net = StyleNetwork(
            scales=(), photo_context=photo, low_level=() if photo else (4.0,), low_level_linear=True
        )
        fit = net.start_from_closed_form(train, val)
        errors[photo] = held_out_error(net, test)
        if photo:
            assert fit.photo_ridge != float("inf")  # the validation photos chose to use it
    assert errors[True] < 0.5 * errors[False], errors


def test_a_photo_level_context_that_does_not_help_costs_the_per_pixel_one_nothing():
    """With their own ridge, statistics that only fit the training photos are left out (ridge inf)
    while the per-pixel context is kept: the same validation error as without them, or lower."""
    look = lambda rgb: (rgb**1.3).clamp(0, 1)  # noqa: E731  # the same map for every photo
    pairs = [(smooth_photo(24, 32, seed=s), None) for s in range(9)]
    pairs = [(a, look(a)) for a, _ in pairs]
    fits = {}
    for photo in (False, True):
        torch.manual_seed(0)
        net = StyleNetwork(scales=(), low_level=(4.0,), photo_context=photo, low_level_linear=True)
        fits[photo] = net.start_from_closed_form(pairs[:6], pairs[6:])
    assert fits[True].error <= fits[False].error + 1e-9
    assert (fits[True].ridge, fits[True].photo_ridge) in fits[True].errors
    assert (float("inf"), float("inf")) in fits[True].errors


@pytest.mark.parametrize("size", [9])
def test_a_cube_baked_for_a_reference_photo_is_that_photos_own_map(tmp_path: Path, size: int):
    net = photo_network(seed=1)
    dark = (smooth_photo(30, 40, seed=5) * 0.4).clamp(0, 1)
    bright = smooth_photo(30, 40, seed=6)
    luts = {}
    for name, rgb in (("dark", dark), ("bright", bright)):
        path = tmp_path / f"{name}.png"
        write_image(path, rgb)
        out = write_cube(
            tmp_path / f"{name}.cube",
            CubeLUT(_bake(net, size, _average_context(net, read_image(path)[0], None))),
        )
        luts[name] = read_cube(out)
    reference = stylize_tensor(net, dark)
    baked = lut3d(dark, luts["dark"].table)
    other = lut3d(dark, luts["bright"].table)
    error = lab_distance(rgb_to_lab(baked), rgb_to_lab(reference)).mean()
    wrong = lab_distance(rgb_to_lab(other), rgb_to_lab(reference)).mean()
    assert error < 1.0 and wrong > 3 * error, (error, wrong)
