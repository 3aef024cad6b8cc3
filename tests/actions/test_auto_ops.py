"""Per-photo operations (lumastyle/actions/auto.py), as kornia tests its colour functions: each against an
independent numpy reference written here (numpy percentiles, the sRGB transfer functions written out),
identity at the defaults, a batch corrected photo by photo, dtypes, the property each one promises (a
cast removed, the median at its target, the black and white points where they belong), one-line
errors naming the parameter, and the operations in a recipe and in the bundled styles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lumastyle.actions import auto as A
from lumastyle.actions import get_operation, load_action
from lumastyle.errors import LumastyleError

REPO = Path(__file__).resolve().parents[2]
W = np.array([0.2126, 0.7152, 0.0722])  # Rec. 709 luminance weights


# -- the numpy references ----------------------------------------------------------------------------


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v > 0.04045, ((np.maximum(v, 0.04045) + 0.055) / 1.055) ** 2.4, v / 12.92)


def linear_to_srgb(v: np.ndarray) -> np.ndarray:
    return np.where(v > 0.0031308, 1.055 * np.maximum(v, 0.0031308) ** (1 / 2.4) - 0.055, 12.92 * v)


def pixels(img: np.ndarray, stride: int = 1) -> np.ndarray:
    """(C, H, W) -> (C, n), every ``stride``-th pixel in raster order."""
    return img.reshape(img.shape[0], -1)[:, ::stride]


def np_white_balance(img, method="grey_world", amount=0.0, percentile=99.0, stride=1):
    lin = srgb_to_linear(img)
    if method == "grey_world":
        ref = lin.reshape(3, -1).mean(axis=1)
    else:
        ref = np.percentile(pixels(lin, stride), percentile, axis=1)
    grey = W @ ref
    gains = np.clip(np.where(ref > 1e-6, grey / np.maximum(ref, 1e-6), 1.0), 0.25, 4.0)
    gains = 1 + amount * (gains - 1)
    return np.clip(linear_to_srgb(np.clip(lin * gains[:, None, None], 0, 1)), 0, 1)


def np_exposure(img, amount=0.0, target=0.45, statistic="median", max_stops=2.0, stride=1):
    lin = srgb_to_linear(img)
    y = np.tensordot(W, lin, axes=1)
    level = y.mean() if statistic == "mean" else np.median(pixels(y[None], stride))
    stops = np.clip(np.log2(srgb_to_linear(np.array(target)) / max(level, 1e-6)), -max_stops, max_stops)
    return np.clip(linear_to_srgb(np.clip(lin * 2.0 ** (amount * stops), 0, 1)), 0, 1)


def np_stretch(img, black, white, amount):
    return np.clip(img + amount * ((img - black) / (white - black) - img), 0, 1)


def np_levels(img, amount=0.0, low=0.5, high=99.5, stride=1):
    black = np.percentile(pixels(img, stride), low, axis=1)[:, None, None]
    white = np.percentile(pixels(img, stride), high, axis=1)[:, None, None]
    return np_stretch(img, black, white, amount)


def np_contrast(img, amount=0.0, low=0.5, high=99.5, stride=1):
    black = np.percentile(pixels(img.min(axis=0, keepdims=True), stride), low)
    white = np.percentile(pixels(img.max(axis=0, keepdims=True), stride), high)
    return np_stretch(img, black, white, amount)


REFERENCES = {
    "auto_white_balance": np_white_balance,
    "auto_exposure": np_exposure,
    "auto_levels": np_levels,
    "auto_contrast": np_contrast,
}
CASES = [  # (operation, parameters)
    ("auto_white_balance", {"amount": 1.0}),
    ("auto_white_balance", {"amount": 0.6}),
    ("auto_white_balance", {"method": "white_patch", "amount": 1.0}),
    ("auto_white_balance", {"method": "white_patch", "amount": 0.5, "percentile": 95.0}),
    ("auto_exposure", {"amount": 1.0}),
    ("auto_exposure", {"amount": 0.5, "target": 0.6, "statistic": "mean", "max_stops": 1.0}),
    ("auto_levels", {"amount": 1.0}),
    ("auto_levels", {"amount": 0.7, "low": 2.0, "high": 97.0}),
    ("auto_contrast", {"amount": 1.0}),
    ("auto_contrast", {"amount": 0.5, "low": 0.0, "high": 100.0}),
]


def photo(h=12, w=14, *, cast=(1.0, 1.0, 1.0), level=1.0, seed=0, dtype=torch.float64) -> torch.Tensor:
    """A photo-like (3, H, W) image: colour gradients, a brighter square, noise; ``cast`` multiplies the
    channels, ``level`` the whole (in sRGB values; the result stays within (0, 1))."""
    g = torch.Generator().manual_seed(seed)
    ys = torch.linspace(0, 1, h, dtype=torch.float64).view(h, 1).expand(h, w)
    xs = torch.linspace(0, 1, w, dtype=torch.float64).view(1, w).expand(h, w)
    base = torch.stack([0.25 + 0.3 * ys * xs, 0.3 + 0.25 * xs, 0.4 - 0.2 * ys])
    base[:, h // 3 : 2 * h // 3, w // 3 : 2 * w // 3] += 0.2
    base = base + 0.1 * torch.rand(3, h, w, generator=g, dtype=torch.float64)
    base = base * torch.tensor(cast, dtype=torch.float64).view(3, 1, 1) * level
    return base.clamp(0.01, 0.99).to(dtype)


def pair() -> torch.Tensor:
    """Two different photos in one batch: a dark warm one and a light cool one."""
    return torch.stack([photo(cast=(1.3, 1.0, 0.6), level=0.5, seed=1), photo(cast=(0.7, 0.95, 1.4), seed=2)])


def run(name: str, x: torch.Tensor, **params) -> torch.Tensor:
    return get_operation(name).function(x, **params)


# -- against the references ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "params"), CASES)
def test_matches_the_numpy_reference_photo_by_photo(name, params):
    """Each photo of a batch against the reference computed on that photo alone."""
    x = pair()
    out = run(name, x, **params)
    for i in range(2):
        expected = REFERENCES[name](x[i].numpy(), **params)
        np.testing.assert_allclose(out[i].numpy(), expected, atol=1e-9)


@pytest.mark.parametrize("n", [1, 2, 7, 10, 101])
@pytest.mark.parametrize("q", [0.0, 0.5, 25.0, 50.0, 99.0, 100.0])
def test_exact_percentile_is_numpys(n, q):
    v = torch.rand(3, n, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    np.testing.assert_allclose(
        A.exact_percentile(v, q).numpy(), np.percentile(v.numpy(), q, axis=1), atol=1e-12
    )


@pytest.mark.parametrize(("name", "params"), CASES)
def test_a_big_photo_is_sampled_with_a_stride(name, params, monkeypatch: pytest.MonkeyPatch):
    """Over MAX_SAMPLES pixels, percentiles come from every ceil(HW / MAX_SAMPLES)-th pixel of each
    photo (batched still equals per photo); means still use every pixel."""
    monkeypatch.setattr(A, "MAX_SAMPLES", 50)  # 12 x 14 = 168 pixels: stride 4
    x = pair()
    out = run(name, x, **params)
    for i in range(2):
        expected = REFERENCES[name](x[i].numpy(), **params, stride=4)
        np.testing.assert_allclose(out[i].numpy(), expected, atol=1e-9)
        # per photo, to the last bits: torch's elementwise kernels (pow in the sRGB curve) take SIMD or
        # scalar code by an element's position, so a batch and one photo can differ in the last bit
        torch.testing.assert_close(out[i], run(name, x[i], **params), rtol=0, atol=1e-12)


# -- the contract ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_identity_at_the_defaults(name):
    x = pair()
    assert torch.equal(run(name, x), x)
    assert torch.equal(run(name, x, amount=0.0, **({"max_stops": 3.0} if name == "auto_exposure" else {})), x)


@pytest.mark.parametrize(("name", "params"), CASES[::2])
def test_a_batch_is_corrected_photo_by_photo(name, params):
    """The core property: two different photos in one batch each get their own correction, the one
    they get alone, and the corrections differ."""
    x = pair()
    out = run(name, x, **params)
    alone = [run(name, x[i], **params) for i in range(2)]
    assert torch.allclose(out[0], alone[0], atol=1e-12) and torch.allclose(out[1], alone[1], atol=1e-12)
    gains = [(out[i] + 1e-3) / (x[i] + 1e-3) for i in range(2)]  # what each photo's channels got
    means = [g.mean(dim=(-2, -1)) for g in gains]
    assert (means[0] - means[1]).abs().max() > 0.02
    # leading dimensions: a (2, 2, 3, H, W) stack is four photos
    stacked = torch.stack([x, x.flip(0)])
    assert torch.allclose(run(name, stacked, **params)[1], out.flip(0), atol=1e-12)


@pytest.mark.parametrize(("name", "params"), CASES[::2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtype_and_shape(name, params, dtype):
    x = pair().to(dtype)
    out = run(name, x, **params)
    assert out.dtype == dtype and out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    reference = run(name, pair(), **params)
    assert torch.allclose(out.double(), reference, atol=1e-5 if dtype != torch.bfloat16 else 1e-2)


def test_input_not_modified_and_gradients_flow():
    x = pair().requires_grad_()
    before = x.detach().clone()
    total = sum(run(name, x, **params).sum() for name, params in CASES)
    total.backward()
    assert torch.equal(x.detach(), before) and x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


# -- what each promises -----------------------------------------------------------------------------------


def linear_means(x: torch.Tensor) -> np.ndarray:
    return srgb_to_linear(x.numpy()).reshape(3, -1).mean(axis=1)


@pytest.mark.parametrize("cast", [(1.2, 1.0, 0.75), (0.7, 0.95, 1.4), (1.0, 1.25, 1.0)])
def test_grey_world_removes_a_colour_cast(cast):
    """After a full grey-world balance the linear channel means are equal (the photo's mean is grey),
    at the luminance they had."""
    x = photo(cast=cast, level=0.8)
    before = linear_means(x)
    assert before.max() / before.min() > 1.3  # a visible cast
    after = linear_means(A.auto_white_balance(x, amount=1.0))
    assert after.max() / after.min() < 1.01
    assert abs(W @ after - W @ before) < 0.01 * (W @ before)
    half = linear_means(A.auto_white_balance(x, amount=0.5))  # part way: a smaller cast
    assert 1.01 < half.max() / half.min() < before.max() / before.min()


def test_white_patch_makes_the_bright_end_neutral():
    x = photo(cast=(0.75, 0.9, 1.1))
    out = A.auto_white_balance(x, method="white_patch", amount=1.0, percentile=99.0)
    bright = np.percentile(srgb_to_linear(out.numpy()).reshape(3, -1), 99.0, axis=1)
    assert bright.max() / bright.min() < 1.02
    assert np.ptp(np.percentile(srgb_to_linear(x.numpy()).reshape(3, -1), 99.0, axis=1)) > 0.1


def test_white_balance_gains_are_clamped_and_a_dark_channel_stays():
    x = photo()
    x[2] = 0.0  # no blue light at all: blue keeps gain 1 (stays 0); red and green are balanced
    out = A.auto_white_balance(x, amount=1.0)
    assert torch.equal(out[2], x[2])
    x = photo(cast=(1.0, 1.0, 0.05))  # a blue channel 20x darker: its gain stops at 4
    lin_in, lin_out = srgb_to_linear(x.numpy()), srgb_to_linear(A.auto_white_balance(x, amount=1.0).numpy())
    assert np.allclose(lin_out[2], np.clip(4 * lin_in[2], 0, 1), atol=1e-9)


@pytest.mark.parametrize(("level", "target"), [(0.45, 0.45), (1.1, 0.45), (0.7, 0.3), (0.7, 0.6)])
def test_exposure_takes_the_median_to_the_target(level, target):
    """The median of the result's luminance, sRGB-encoded, is the target (a photo too dark or too light)."""
    x = photo(20, 24, level=level)
    out = A.auto_exposure(x, amount=1.0, target=target, max_stops=4.0)
    y = np.tensordot(W, srgb_to_linear(out.numpy()), axes=1)
    assert abs(linear_to_srgb(np.median(y)) - target) < 1e-6
    by_mean = A.auto_exposure(x, amount=1.0, target=target, statistic="mean", max_stops=4.0)
    y_mean = np.tensordot(W, srgb_to_linear(by_mean.numpy()), axes=1)
    assert abs(linear_to_srgb(y_mean.mean()) - target) < 0.02  # a little under: highlights clip


def test_exposure_is_clamped_in_stops_and_blended_in_stops():
    x = photo(level=0.15)  # far too dark: more than two stops under
    y_in = np.median(np.tensordot(W, srgb_to_linear(x.numpy()), axes=1))
    assert np.log2(srgb_to_linear(np.array(0.45)) / y_in) > 2.5
    for max_stops, amount in [(2.0, 1.0), (1.0, 1.0), (2.0, 0.5)]:
        out = A.auto_exposure(x, amount=amount, max_stops=max_stops)
        gain = srgb_to_linear(out.numpy()) / srgb_to_linear(x.numpy())
        np.testing.assert_allclose(gain, 2.0 ** (amount * max_stops), rtol=1e-9)


def test_auto_levels_stretches_each_channel_to_its_own_points():
    """11 x 11 pixels: the 2.5th and 97.5th percentiles are the 4th and 118th values (no interpolation
    with a neighbour beyond the clip point, which the clamp moves)."""
    x = photo(11, 11, cast=(0.8, 1.0, 0.6), level=0.8)
    out = A.auto_levels(x, amount=1.0, low=2.5, high=97.5).numpy().reshape(3, -1)
    np.testing.assert_allclose(np.percentile(out, 2.5, axis=1), 0.0, atol=1e-9)
    np.testing.assert_allclose(np.percentile(out, 97.5, axis=1), 1.0, atol=1e-9)


def test_auto_contrast_stretches_all_channels_alike():
    """One black and one white point: every channel gets the same affine map (the colour balance is
    kept), the darkest channels reach black and the brightest white at the clip percentiles."""
    x = photo(11, 11, cast=(0.8, 1.0, 0.6), level=0.8)
    out = A.auto_contrast(x, amount=1.0, low=2.5, high=97.5)
    inner = (out > 0) & (out < 1)
    fits = [np.polyfit(x[c][inner[c]].numpy(), out[c][inner[c]].numpy(), 1) for c in range(3)]
    assert np.allclose(fits[0], fits[1], atol=1e-9) and np.allclose(fits[0], fits[2], atol=1e-9)
    assert abs(np.percentile(out.amin(dim=0).numpy(), 2.5)) < 1e-9
    assert abs(np.percentile(out.amax(dim=0).numpy(), 97.5) - 1.0) < 1e-9
    levels = A.auto_levels(x, amount=1.0, low=2.5, high=97.5)  # per channel: the cast goes
    assert np.ptp(linear_means(levels)) < 0.5 * np.ptp(linear_means(out))


def test_a_flat_photo_is_left_as_it_is():
    grey = torch.full((2, 3, 6, 7), 0.4, dtype=torch.float64)
    for name, params in CASES:
        if name in ("auto_levels", "auto_contrast"):  # no range to stretch
            assert torch.equal(run(name, grey, **params), grey)
    black = torch.zeros(3, 6, 7)
    for name, params in CASES:
        assert torch.equal(run(name, black, **params), black)


# -- errors -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "key"),
    [
        ("auto_white_balance", {"method": "purple"}, "method"),
        ("auto_white_balance", {"amount": 1.5}, "amount"),
        ("auto_white_balance", {"percentile": 20.0}, "percentile"),
        ("auto_exposure", {"amount": "lots"}, "amount"),
        ("auto_exposure", {"target": 0.0}, "target"),
        ("auto_exposure", {"statistic": "mode"}, "statistic"),
        ("auto_exposure", {"max_stops": -1.0}, "max_stops"),
        ("auto_levels", {"low": 60.0}, "low"),
        ("auto_levels", {"high": 101.0}, "high"),
        ("auto_levels", {"low": 50.0, "high": 50.0}, "high must be above low"),
        ("auto_contrast", {"amount": -0.1}, "amount"),
    ],
)
def test_a_bad_parameter_is_one_line_naming_it(name, params, key):
    with pytest.raises(LumastyleError, match=key) as info:
        run(name, photo(4, 5), **params)
    assert "\n" not in str(info.value)
    with pytest.raises(LumastyleError, match=rf"step 1 \({name}\): .*{key}") as info:  # and in a recipe
        load_action([{name: params}])
    assert "\n" not in str(info.value)


# -- in recipes and styles ---------------------------------------------------------------------------------


def test_rendered_through_a_recipe(tmp_path: Path):
    (tmp_path / "look.yaml").write_text(
        "- auto_white_balance: {method: grey_world, amount: 0.8}\n"
        "- auto_exposure: {amount: 1.0, target: 0.5, statistic: mean}\n"
        "- auto_levels: {amount: 0.5}\n"
        "- auto_contrast: {amount: 1.0, low: 1.0, high: 99.0}\n"
        "- vibrance: {amount: 0.2}\n"
    )
    action = load_action(str(tmp_path / "look.yaml"))
    assert not action.per_pixel  # rendered on the whole photo before a crop is cut
    x = pair()
    expected = x
    for name, params in action.steps:
        expected = run(name, expected, **params)
    assert torch.equal(action(x), expected)
    torch.testing.assert_close(action(x)[1], action(x[1]), rtol=0, atol=1e-12)  # last bits: see above


@pytest.mark.parametrize("style", ["render_autotone", "render_autolevels", "render_popout_global"])
def test_the_bundled_styles_render(style):
    action = load_action(str(REPO / "styles" / f"{style}.yaml"))
    assert not action.per_pixel
    x = pair().float()
    out = action(x)
    assert out.shape == x.shape and (out - x).abs().mean() > 0.02
    assert torch.allclose(out[0], action(x[0]), atol=1e-6)
