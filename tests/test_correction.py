"""The per-photo correction (lumastyle.correction): gains in linear light and levels against a
reference written here, the fit recovering each photo's exposure and white balance, and each photo's
contrast stretch, on photos it has not seen, every path of the network applying the same correction
(exact, sliced, LUT, training windows), relit copies of a look's training photos, and a short training
run through the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import smooth_photo

from lumastyle.color import (
    apply_color_transform,
    denormalize_lab,
    fit_color_map,
    lab_distance,
    lab_to_rgb,
    normalize_lab,
    quadratic_basis,
    rgb_to_lab,
)
from lumastyle.context import photo_statistics
from lumastyle.correction import (
    CORRECTION_PARAMETERS,
    CURVE_KNOTS,
    PhotoCorrection,
    apply_correction,
    fit_photo_correction,
    identity_curve,
    tone_curve,
    upgrade_state,
)
from lumastyle.data.actions import LookDataModule
from lumastyle.data.datasets import Relit
from lumastyle.errors import LumastyleError
from lumastyle.inference import stylize_tensor
from lumastyle.io import write_image
from lumastyle.network import StyleNetwork


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1's decoding, written here as the reference."""
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(np.maximum(x, 0), 1 / 2.4) - 0.055)


def relight(rgb: torch.Tensor, gains: tuple[float, float, float]) -> torch.Tensor:
    """The reference: sRGB -> linear, times the gains, clipped, -> sRGB (numpy)."""
    x = srgb_to_linear(rgb.double().numpy()) * np.array(gains).reshape(3, 1, 1)
    return torch.from_numpy(linear_to_srgb(np.clip(x, 0, 1)))


def parameters(gains=(1.0, 1.0, 1.0), black=(0.0, 0.0, 0.0), white=(1.0, 1.0, 1.0)) -> torch.Tensor:
    """Correction parameters (1, CORRECTION_PARAMETERS, 1, 1) from gains and sRGB black and white points."""
    values = [*np.log(gains), *black, *(1 - np.array(white))]
    return torch.tensor(values, dtype=torch.float64).view(1, CORRECTION_PARAMETERS, 1, 1)


def levels(rgb: torch.Tensor, black: tuple[float, ...], white: tuple[float, ...]) -> torch.Tensor:
    """The reference Levels: each channel's [black, white] to [0, 1], clipped (numpy)."""
    b, w = np.array(black).reshape(3, 1, 1), np.array(white).reshape(3, 1, 1)
    return torch.from_numpy(np.clip((rgb.double().numpy() - b) / (w - b), 0, 1))


def test_gains_multiply_linear_light_and_levels_stretch_as_the_reference_does():
    rgb = smooth_photo(12, 16, seed=1).double()
    gains = (1.6, 1.0, 0.7)
    lab = rgb_to_lab(rgb[None])
    got = lab_to_rgb(apply_correction(lab, parameters(gains)))[0]
    torch.testing.assert_close(got, relight(rgb, gains), atol=2e-5, rtol=0)
    # levels after the gains
    black, white = (0.05, 0.1, 0.0), (0.9, 1.0, 0.8)
    got = lab_to_rgb(apply_correction(lab, parameters(gains, black, white)))[0]
    torch.testing.assert_close(got, levels(relight(rgb, gains), black, white), atol=2e-5, rtol=0)
    # zero parameters change nothing; a batch is its photos one by one
    torch.testing.assert_close(apply_correction(lab, parameters()), lab, atol=1e-6, rtol=0)
    two = torch.stack([rgb, rgb.flip(-1)])
    both = apply_correction(rgb_to_lab(two), torch.cat([parameters((1.3, 1.0, 0.8)), parameters(black=black)]))
    one = apply_correction(rgb_to_lab(two[1:]), parameters(black=black))
    torch.testing.assert_close(both[1:], one, atol=1e-9, rtol=0)
    # Relit (what a look's relit training copies are decoded with) is the gains alone
    torch.testing.assert_close(Relit(gains)(rgb), relight(rgb, gains), atol=1e-9, rtol=0)


def test_the_tone_curve_interpolates_its_knots_as_numpy_does():
    ends = torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64).view(3, 1, 1).expand(3, 10, 1)  # both ends, a knot
    rgb = torch.cat([smooth_photo(10, 12, seed=3).double(), ends], -1)[None]
    knots = torch.rand(3, CURVE_KNOTS, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    xs = np.linspace(0, 1, CURVE_KNOTS)
    expected = np.stack([np.interp(rgb[0, c].numpy(), xs, knots[c].numpy()) for c in range(3)])
    np.testing.assert_allclose(tone_curve(rgb, knots)[0].numpy(), expected, atol=1e-12)
    identity = torch.linspace(0, 1, CURVE_KNOTS).expand(3, -1)
    torch.testing.assert_close(tone_curve(rgb.float(), identity), rgb.float(), atol=1e-6, rtol=0)
    inside = rgb[..., 1:4, :5].clone().requires_grad_(True)  # gradients reach the knots and the colours
    assert torch.autograd.gradcheck(tone_curve, (inside, knots.clone().requires_grad_(True)))


def test_the_fit_learns_a_looks_tone_curves_that_no_quadratic_map_bends():
    """Targets are photos through a strong S-curve per channel (a cross-processed look, different in R,
    G and B), inputs the photos under per-photo exposure and casts: the correction's curve, fitted on 16
    photos, brings 6 others several times closer than one colour map, and its knots follow the look's
    curves."""
    power = torch.tensor([2.5, 1.6, 3.2], dtype=torch.float64).view(3, 1, 1)

    def look(x: torch.Tensor) -> torch.Tensor:  # a steep S in each channel, steepest in B
        return x.pow(power) / (x.pow(power) + (1 - x).pow(power))

    def pairs(seeds: range) -> list[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(seeds.start)
        out = []
        for s in seeds:
            photo = scene(s)
            gains = torch.empty(3).uniform_(0.7, 1.4, generator=g).tolist()
            out.append((relight(photo, tuple(gains)).float(), look(photo.double()).float()))
        return out

    corrected, global_only, correction = fit_and_measure(pairs(range(16)), pairs(range(100, 106)), steps=150)
    assert corrected < 0.3 * global_only, (corrected, global_only)  # 0.20 measured; 0.39 without the curve
    # the knots bend as the look does: the mid-tones steeper than the identity's slope of 1
    slope = correction.curve.diff(dim=-1) * (CURVE_KNOTS - 1)
    assert (slope[:, CURVE_KNOTS // 2 - 2 : CURVE_KNOTS // 2 + 2].mean(-1) > 1.2).all(), slope


def test_the_levels_mix_brackets_a_colour_keeping_black_point_after_the_gains():
    """The black point of a stretch that keeps colour is the 1st percentile of each pixel's darkest
    channel after the gains; the mix's second feature (the darkest channel's percentile under the least
    gain) lies below it and its third (the least of the channels' own percentiles after the gains)
    above it, and each weight reads its own feature."""
    from lumastyle.context import LEVEL_STATISTICS

    # no pixel at 0 or 1; R's darkest pixels lighter than G's, and R's gain the least
    rgb = smooth_photo(24, 32, seed=5) * 0.6 + torch.tensor([0.3, 0.1, 0.15]).view(3, 1, 1)
    log_gains = torch.tensor([0.7, 1.3, 1.1]).log()
    correction = PhotoCorrection()
    stats = photo_statistics(normalize_lab(rgb_to_lab(rgb[None])))
    points = {}
    with torch.no_grad():
        correction.mlp[-1].bias.copy_(log_gains)  # every photo gets these gains
        for feature in (1, 2):
            correction.levels.zero_()
            correction.levels[0, :, feature] = 1
            points[feature] = correction.predict(stats)[0, 3:6]
    lit = relight(rgb, tuple(log_gains.exp().tolist())).float()
    lit_levels = (photo_statistics(normalize_lab(rgb_to_lab(lit[None])))[0, LEVEL_STATISTICS] + 1) / 2
    truth = lit_levels[6]  # the lit photo's darkest channel's 1st percentile
    # the third is the least of the lit photo's own channels' 1st percentiles
    torch.testing.assert_close(points[2][0], lit_levels[3:6].min(), atol=2e-3, rtol=0)
    for feature in (1, 2):
        assert torch.allclose(points[feature], points[feature][0].expand(3))  # one point for all channels
    assert points[1][0] - 1e-3 <= truth <= points[2][0] + 1e-3, (points, truth)
    assert points[2][0] - points[1][0] > 0.01  # a bracket, not one value twice


def test_an_earlier_corrections_state_loads_as_it_behaved():
    """A state dict from before the levels' third mix weight and the curve (levels (2, 3, 3), no curve)
    upgrades to the same correction: the new weight zero, the curve the identity."""
    torch.manual_seed(0)
    now = PhotoCorrection()
    with torch.no_grad():
        now.levels.copy_(torch.rand_like(now.levels) * 0.3)
        now.levels[..., 2] = 0
    old = {k: v.clone() for k, v in now.state_dict().items() if k != "curve"}
    old["levels"] = torch.cat([old["levels"][..., :2], old["levels"][..., 3:]], -1)
    assert old["levels"].shape == (2, 3, 3)
    upgrade_state(old, "")
    loaded = PhotoCorrection()
    loaded.load_state_dict(old)
    stats = photo_statistics(normalize_lab(rgb_to_lab(smooth_photo(12, 16, seed=2)[None])))
    torch.testing.assert_close(loaded.predict(stats), now.predict(stats), atol=0, rtol=0)
    torch.testing.assert_close(loaded.curve, now.curve, atol=0, rtol=0)


def test_the_correction_has_gradients():
    lab = rgb_to_lab(smooth_photo(5, 6, seed=2).double()[None] * 0.8 + 0.1)
    start = parameters((1.1, 0.8, 1.05), (0.02, 0.03, 0.01), (0.97, 0.99, 0.95)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: apply_correction(lab, p), (start,))


def test_a_new_correction_is_the_identity_and_is_not_trained_by_the_optimiser():
    correction = PhotoCorrection()
    stats = photo_statistics(normalize_lab(rgb_to_lab(smooth_photo(10, 10, seed=0)[None])))
    assert torch.equal(correction.predict(stats), torch.zeros(1, CORRECTION_PARAMETERS))
    assert not any(p.requires_grad for p in correction.parameters())


def scene(seed: int) -> torch.Tensor:
    """A photo whose channels average to the same grey in linear light (the grey-world assumption
    holds), so its exposure and cast can be told from its statistics."""
    rgb = smooth_photo(16, 20, seed=seed).double()
    means = srgb_to_linear(rgb.numpy()).reshape(3, -1).mean(axis=1)
    return relight(rgb, tuple(0.18 / means)).float()


def test_the_fit_recovers_each_photos_exposure_and_white_balance_on_photos_it_has_not_seen():
    """Targets are well-exposed photos with a fixed look; inputs are the same photos under- or
    over-exposed with a cast. No single colour map fits them all; the correction fitted on 20 photos
    undoes 6 others' exposure and cast."""
    torch.manual_seed(0)

    def pairs(seeds: range) -> list[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(seeds.start)
        out = []
        for s in seeds:
            stops = float(torch.empty(()).uniform_(-1.2, 1.2, generator=g))
            cast = [float(c) for c in torch.empty(3).uniform_(0.75, 1.25, generator=g)]
            photo = scene(s)
            rgb = relight(photo, (2**stops * cast[0], 2**stops * cast[1], 2**stops * cast[2])).float()
            out.append((rgb, photo.pow(0.8)))  # the fixed look after the correction: a gamma
        return out

    corrected, global_only, _ = fit_and_measure(pairs(range(20)), pairs(range(100, 106)), steps=100)
    assert corrected < 0.4 * global_only, (corrected, global_only)


def terms(rgb: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What fit_photo_correction reads of a pair: normalised Lab of both, the input's statistics."""
    return (
        normalize_lab(rgb_to_lab(rgb)),
        normalize_lab(rgb_to_lab(target)),
        photo_statistics(normalize_lab(rgb_to_lab(rgb[None])))[0],
    )


def error(rgb: torch.Tensor, target: torch.Tensor, correction: PhotoCorrection | None, m: torch.Tensor) -> float:
    """Mean Lab distance to ``target`` of the colour map ``m`` applied after the correction (if any)."""
    lab = rgb_to_lab(rgb[None])
    if correction is not None:
        lab = correction.correct_lab(lab, correction.predict(terms(rgb, target)[2][None])[..., None, None])
    out = denormalize_lab(apply_color_transform(m.reshape(-1, 1, 1), quadratic_basis(normalize_lab(lab))))
    return float(lab_distance(out, rgb_to_lab(target[None])).mean())


Pair = tuple[torch.Tensor, torch.Tensor]


def fit_and_measure(train: list[Pair], test: list[Pair], steps: int) -> tuple[float, float, PhotoCorrection]:
    """A correction fitted on the ``train`` pairs -> (the test pairs' mean error with it and its map,
    their mean error with the least-squares global map alone, the correction)."""
    photos = [terms(*p) for p in train]
    start = fit_color_map((a, b) for a, b, _ in photos)
    correction = PhotoCorrection()
    matrix = fit_photo_correction(correction, photos, quadratic_basis, start, steps=steps)
    with torch.no_grad():
        corrected = float(np.mean([error(a, b, correction, matrix) for a, b in test]))
        global_only = float(np.mean([error(a, b, None, start) for a, b in test]))
    return corrected, global_only, correction


def test_the_fit_starts_from_its_own_seed_whatever_was_drawn_before():
    """Two corrections built after different draws of torch's global generator fit to the same
    parameters and map (the hidden layer is drawn from the fit's seed); another seed fits elsewhere."""
    pairs = [(scene(s), scene(s).pow(0.8)) for s in range(4)]
    photos = [terms(*p) for p in pairs]
    start = fit_color_map((a, b) for a, b, _ in photos)

    def fit(global_seed: int, seed: int = 0) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        torch.manual_seed(global_seed)
        correction = PhotoCorrection()
        matrix = fit_photo_correction(correction, photos, quadratic_basis, start, steps=5, seed=seed)
        return correction.state_dict(), matrix

    (first, m1), (second, m2), (other, m3) = fit(1), fit(2), fit(1, seed=1)
    assert all(torch.equal(first[k], second[k]) for k in first) and torch.equal(m1, m2)
    assert not torch.equal(first["mlp.0.weight"], other["mlp.0.weight"]) and not torch.equal(m1, m3)


def test_the_fit_recovers_each_photos_contrast_stretch_on_photos_it_has_not_seen():
    """Inputs are scenes faded by their own black and white points (a lifted, hazy black; a dull
    white, per channel: a cast in the extremes); targets are each scene stretched from its 1st and
    99th percentiles to [0, 1] (auto levels), then a fixed look. The correction's levels, fitted on 20 photos, undo 6 others' fading; one colour
    map for all cannot, and neither can the gains alone."""
    def pairs(seeds: range) -> list[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(seeds.start)
        out = []
        for s in seeds:
            photo = smooth_photo(16, 20, seed=s).double()
            low, high = photo.flatten(1).quantile(torch.tensor([0.01, 0.99], dtype=photo.dtype), dim=1)
            full = ((photo - low.view(3, 1, 1)) / (high - low).view(3, 1, 1)).clamp(0, 1)  # 1st, 99th to 0, 1
            black = torch.empty(3, 1, 1, dtype=torch.float64).uniform_(0.0, 0.25, generator=g)
            white = torch.empty(3, 1, 1, dtype=torch.float64).uniform_(0.7, 1.0, generator=g)
            out.append(((black + full * (white - black)).float(), full.pow(0.8).float()))
        return out

    train, test = pairs(range(20)), pairs(range(100, 106))
    photos = [terms(*p) for p in train]
    start = fit_color_map((a, b) for a, b, _ in photos)
    results = {}
    for name in ("levels", "gains alone"):
        correction = PhotoCorrection()
        if name == "gains alone":
            correction.limit[3:] = 0
        matrix = fit_photo_correction(correction, photos, quadratic_basis, start, steps=150)
        with torch.no_grad():
            results[name] = np.mean([error(a, b, correction, matrix) for a, b in test])
    global_only = np.mean([error(a, b, None, start) for a, b in test])
    assert results["levels"] < 0.4 * global_only, (results, global_only)
    assert results["levels"] < 0.6 * results["gains alone"], (results, global_only)


def correction_network(seed: int = 0, scales: tuple[float, ...] = ()) -> StyleNetwork:
    """A network with colour context, photo-level statistics and a correction whose gains differ
    from photo to photo (random weights)."""
    torch.manual_seed(seed)
    net = StyleNetwork(
        scales=scales,
        low_level=(4.0,),
        photo_context=True,
        photo_correction=True,
        low_level_linear=True,
        backbone_width=0.125,
        top_channels=8,
    ).eval()
    assert net.correction is not None
    with torch.no_grad():
        for p in net.correction.mlp.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
        net.correction.levels.copy_(torch.rand_like(net.correction.levels) * 0.2)
    return net


def test_the_correction_changes_the_output_by_the_photos_gains():
    """The network's output is its head applied to the photo with its gains applied: the same as
    the network with the correction removed, given the corrected colours and the original context."""
    net = correction_network()
    rgb = smooth_photo(20, 28, seed=4)[None]
    with torch.no_grad():
        maps = net.encode_context(rgb)
        out = net.transform(rgb_to_lab(rgb), maps)
        given = net.correction.predict(photo_statistics(normalize_lab(rgb_to_lab(rgb))))
        assert given.abs().min() > 1e-3  # gains and levels, each its own
        corrected = apply_correction(rgb_to_lab(rgb), given[..., None, None])
        correction, net.correction = net.correction, None
        plain_maps = [m._replace(features=m.features[:, :-CORRECTION_PARAMETERS]) for m in maps]
        expected = net.transform(corrected, plain_maps)
        without = net.transform(rgb_to_lab(rgb), plain_maps)
        net.correction = correction
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=0)
    assert (out - without).abs().max() > 0.5


@pytest.mark.parametrize("scales", [(), (1.0,)])
def test_the_fast_paths_apply_the_same_gains(scales: tuple[float, ...]):
    """stylize's sliced path (a network with a backbone) and its LUT path (a colour-only network)
    carry the gains: each within the fast path's usual error of the exact path, far closer than the
    output without the correction."""
    net = correction_network(seed=1, scales=scales)
    rgb = smooth_photo(96, 128, seed=7)
    with torch.no_grad():
        exact = stylize_tensor(net, rgb, context_long_side=48, fast=False)
        fast = stylize_tensor(net, rgb, context_long_side=48, fast=True, lut_points=33)
        correction = net.correction
        assert correction is not None
        with torch.no_grad():
            fitted = [*correction.mlp[-1].parameters(), correction.levels]
            saved = [p.clone() for p in fitted]
            for p in fitted:
                p.zero_()  # the same network with the identity correction
            without = stylize_tensor(net, rgb, context_long_side=48, fast=True, lut_points=33)
            for p, v in zip(fitted, saved, strict=True):
                p.copy_(v)
    fast_error = lab_distance(rgb_to_lab(fast), rgb_to_lab(exact)).mean()
    without_error = lab_distance(rgb_to_lab(without), rgb_to_lab(exact)).mean()
    assert fast_error < 0.3 and without_error > 10 * fast_error, (fast_error, without_error)


def test_the_network_refuses_a_correction_without_photo_level_context():
    with pytest.raises(LumastyleError, match=r"model\.color_context\.photo"):
        StyleNetwork(scales=(), low_level=(4.0,), photo_correction=True)


def test_relit_copies_of_a_looks_training_photos(tmp_path: Path):
    """``variants`` adds relit copies of each training photo to what the correction is fitted on
    (targets rendered by the look from each copy), the same copies every time; training crops,
    validation and test photos stay the photos as they are."""
    for k in range(6):
        write_image(tmp_path / f"p{k}.png", smooth_photo(20, 24, seed=k))
    kwargs = dict(
        photos=str(tmp_path),
        action="spring",
        long_side=24,
        num_workers=0,
        test_fraction=0.34,
        val_fraction=0.2,
    )
    dm = LookDataModule(variants=3, **kwargs)
    dm.setup()
    train = dm.splits["train"]
    pairs = list(dm.correction_pairs())
    assert len(pairs) == 4 * len(train)
    plain = list(dm.training_pairs())
    for (a, b), (c, d) in zip(pairs[: len(train)], plain, strict=True):
        assert torch.equal(a, c) and torch.equal(b, d)
    for i, (rgb, target) in enumerate(pairs[len(train) :]):
        original = plain[i // 3][0]
        assert not torch.allclose(rgb, original, atol=1e-3)  # lit otherwise
        torch.testing.assert_close(target, dm.action(rgb))  # the look's render of the copy
    again = list(dm.correction_pairs())
    assert all(torch.equal(a, c) for (a, _), (c, _) in zip(pairs, again, strict=True))
    no_copies = LookDataModule(**kwargs)
    no_copies.setup()
    assert len(list(no_copies.correction_pairs())) == len(train)
    assert [ex.name for ex in no_copies.splits["train"]] == [ex.name for ex in train]
    with pytest.raises(LumastyleError, match=r"data\.variants"):
        LookDataModule(variants=-1, **kwargs)


def test_the_model_refuses_a_correction_without_the_closed_form_start():
    from lumastyle.model import LumaStyle
    from lumastyle.options import ColorContextOptions, ContextOptions

    with pytest.raises(LumastyleError, match="closed_form_start"):
        LumaStyle(
            context=ContextOptions(scales=()), color_context=ColorContextOptions(photo=True, correction=True)
        )


def test_a_short_training_run_fits_the_correction_and_stylize_applies_it(tmp_path: Path):
    """Through the CLI: the closed-form start fits the correction (it is no longer the identity), the
    checkpoint keeps it, and ``stylize`` writes what the loaded network with its gains gives."""
    from conftest import COLOUR_ONLY, train

    from lumastyle.cli import main
    from lumastyle.io import read_image
    from lumastyle.model import LumaStyle

    options = ["--model.color_context.photo", "true", "--model.color_context.correction", "true"]
    last = train(tmp_path, "corrected", *COLOUR_ONLY, "--model.closed_form_start", "true", *options)
    model = LumaStyle.from_checkpoint(last)
    correction = model.network.correction
    assert correction is not None and correction.scale.ne(1).any()  # standardised on the photos
    assert correction.mlp[-1].weight.abs().sum() > 0  # fitted, no longer the identity
    photo = tmp_path / "in" / "dark.png"
    rgb = smooth_photo(24, 32, seed=9) * 0.5
    write_image(photo, rgb)
    main(["stylize", "--ckpt", str(last), "--input", str(photo.parent), "--output", str(tmp_path / "out")])
    written = read_image(tmp_path / "out" / "dark.png")[0]
    with torch.no_grad():
        expected = model.stylize(read_image(photo)[0])
        given = correction.predict(photo_statistics(normalize_lab(rgb_to_lab(read_image(photo)[0][None]))))
    assert given.abs().max() > 1e-3
    assert (written - expected).abs().max() <= 1 / 255 + 1e-6
    # a checkpoint written before the logarithmic statistics (12 of them, so 12 fewer inputs to the
    # head's low-level layers) is refused in one line naming it
    old = torch.load(last, weights_only=False)
    for key in ("network.head.context_in.0.weight", "network.head.low_linear.weight"):
        if key in old["state_dict"]:
            old["state_dict"][key] = old["state_dict"][key][:, :12]
    torch.save(old, tmp_path / "old.ckpt")
    with pytest.raises(LumastyleError, match=r"old\.ckpt: its weights do not fit .* is \(\d+, 12, 1, 1\) there") as info:
        LumaStyle.from_checkpoint(tmp_path / "old.ckpt")
    assert "\n" not in str(info.value)
    # so is one whose correction had gains alone (before levels)
    gains_only = torch.load(last, weights_only=False)
    gains_only["state_dict"].pop("network.correction.levels")
    torch.save(gains_only, tmp_path / "gains_only.ckpt")
    with pytest.raises(LumastyleError, match=r"gains_only\.ckpt: .*correction\.levels is not in it.*no levels"):
        LumaStyle.from_checkpoint(tmp_path / "gains_only.ckpt")
    # one written before the tone curve and the levels' third mix weight loads and stylizes as it did
    now = torch.load(last, weights_only=False)
    state = now["state_dict"]
    state["network.correction.levels"][..., 2] = 0
    state["network.correction.curve"] = identity_curve()
    torch.save(now, tmp_path / "now.ckpt")
    state["network.correction.levels"] = state["network.correction.levels"][..., [0, 1, 3]]
    state.pop("network.correction.curve")
    torch.save(now, tmp_path / "before_curve.ckpt")
    with torch.no_grad():
        expected = LumaStyle.from_checkpoint(tmp_path / "now.ckpt").stylize(rgb)
        got = LumaStyle.from_checkpoint(tmp_path / "before_curve.ckpt").stylize(rgb)
    torch.testing.assert_close(got, expected, atol=0, rtol=0)


def test_the_correction_preset_trains_the_head_at_a_tenth_of_the_cpu_presets_rate(tmp_path: Path, monkeypatch, capsys):
    """configs/photo-correction.yaml after the CPU preset: the correction on, and the head's learning rate
    1e-4 where the preset alone gives 1e-3 (at 1e-3 the head learns a per-photo look's few training
    photos; benchmarks/README.md, "Per-photo edits")."""
    import yaml

    from lumastyle.cli import main

    repo = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(tmp_path)

    def printed(*configs: str) -> dict:
        argv = ["fit", "--config", str(repo / "styles" / "render_autolevels.yaml")]
        for config in configs:
            argv += ["--config", str(repo / "configs" / config)]
        with pytest.raises(SystemExit) as info:  # jsonargparse's --print_config exits after printing
            main([*argv, "--print_config"])
        assert info.value.code in (0, None), capsys.readouterr().err
        return yaml.safe_load(capsys.readouterr().out)

    preset = printed("cpu-small.yaml")
    corrected = printed("cpu-small.yaml", "photo-correction.yaml")
    assert preset["optimizer"]["init_args"]["lr"] == pytest.approx(1e-3)
    assert corrected["optimizer"]["init_args"]["lr"] == pytest.approx(1e-4)
    assert corrected["optimizer"]["class_path"] == preset["optimizer"]["class_path"] == "torch.optim.Adam"
    assert corrected["model"]["color_context"]["correction"] is True
    assert corrected["model"]["closed_form_start"] is True
