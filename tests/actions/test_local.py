"""Local operations: identity defaults, shapes and dtypes like the per-pixel ones, and the property each
one promises (more local contrast, flat regions, a popped-out foreground)."""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck

from lumastyle.actions import load_action
from lumastyle.actions import local as L
from lumastyle.actions.ops import luminance
from lumastyle.errors import LumastyleError

SETTINGS = {
    "clarity": {"amount": 0.8, "radius": 0.1},
    "watercolor": {"segments": 12, "compactness": 5.0},
    "popout": {"saturation": 0.6, "contrast": 0.3, "background_saturation": -0.6},
}


def photo(*shape, seed=0, dtype=torch.float32) -> torch.Tensor:
    """A photo-like image: smooth colour gradients, a brighter textured square, mild noise."""
    g = torch.Generator().manual_seed(seed)
    h, w = shape[-2:]
    ys = torch.linspace(0, 1, h).view(h, 1).expand(h, w)
    xs = torch.linspace(0, 1, w).view(1, w).expand(h, w)
    base = torch.stack([0.3 + 0.3 * ys * xs, 0.4 + 0.2 * xs, 0.5 - 0.2 * ys])
    base = base.expand(*shape).clone()
    base[..., h // 3 : 2 * h // 3, w // 3 : 2 * w // 3] += 0.25
    return (base + 0.04 * torch.rand(*shape, generator=g)).clamp(0, 1).to(dtype)


@pytest.mark.parametrize("name", sorted(SETTINGS))
class TestEveryLocalOperation:
    def fn(self, name):
        return getattr(L, name)

    @pytest.mark.parametrize("shape", [(3, 20, 24), (2, 3, 16, 20)])
    def test_shape_and_range(self, name, shape):
        out = self.fn(name)(photo(*shape), **SETTINGS[name])
        assert out.shape == shape and out.min() >= 0 and out.max() <= 1

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
    def test_dtype(self, name, dtype):
        x = photo(3, 20, 24, dtype=dtype)
        out = self.fn(name)(x, **SETTINGS[name])
        assert out.dtype == dtype
        assert torch.allclose(out.float(), self.fn(name)(x.float(), **SETTINGS[name]), atol=2e-2)

    def test_identity_defaults(self, name):
        x = photo(3, 20, 24)
        assert torch.allclose(self.fn(name)(x), x, atol=1e-6)

    def test_changes_the_image(self, name):
        x = photo(3, 20, 24)
        assert (self.fn(name)(x, **SETTINGS[name]) - x).abs().mean() > 5e-3

    def test_batched_equals_unbatched(self, name):
        x = torch.stack([photo(3, 16, 20, seed=0), photo(3, 16, 20, seed=1)])
        assert torch.allclose(
            self.fn(name)(x, **SETTINGS[name])[1], self.fn(name)(x[1], **SETTINGS[name]), atol=1e-5
        )

    def test_does_not_modify_input(self, name):
        x = photo(3, 16, 20)
        before = x.clone()
        self.fn(name)(x, **SETTINGS[name])
        assert torch.equal(x, before)

    def test_same_look_at_any_resolution(self, name):
        """Radii are fractions of the photo: rendering at half size is the half-size render."""
        from lumastyle.geometry import resize

        big = photo(1, 3, 64, 80)
        small = resize(big, (32, 40), antialias=True)
        shrunk = resize(self.fn(name)(big, **SETTINGS[name]), (32, 40), antialias=True)
        assert (self.fn(name)(small, **SETTINGS[name]) - shrunk).abs().mean() < 0.03

    def test_bad_parameter_is_one_line(self, name):
        key = next(iter(SETTINGS[name]))
        with pytest.raises(LumastyleError, match=key):
            self.fn(name)(photo(3, 8, 8), **{key: "lots"})


def test_clarity_raises_local_contrast_and_keeps_the_mean():
    x = photo(3, 40, 48)
    out = L.clarity(x, amount=1.0, radius=0.1)
    y_in, y_out = luminance(x), luminance(out)
    detail_in, detail_out = y_in - L.smooth(y_in, 0.1), y_out - L.smooth(y_out, 0.1)
    assert detail_out.std() > 1.5 * detail_in.std()
    assert abs(y_out.mean() - y_in.mean()) < 0.02
    flat = torch.full((3, 16, 16), 0.4)
    assert torch.allclose(L.clarity(flat, amount=1.0), flat, atol=1e-5)  # no detail, nothing to amplify
    assert L.clarity(x, amount=-1.0, radius=0.1).sub(L.smooth(x, 0.1)).abs().mean() < detail_in.abs().mean()


def test_clarity_gradcheck():
    x = photo(1, 3, 6, 6, dtype=torch.float64).requires_grad_()
    assert gradcheck(lambda t: L.clarity(t, amount=0.5, radius=0.2), (x,), eps=1e-6, atol=1e-4)


def test_watercolor_paints_flat_regions():
    x = photo(3, 30, 36)
    out = L.watercolor(x, segments=10, compactness=5.0)
    colours = torch.unique(out.flatten(1).T, dim=0)
    assert 3 <= len(colours) <= 30  # a handful of flat regions, not 1080 pixels' colours
    assert abs(out.mean() - x.mean()) < 0.01  # region means keep the average colour
    half = L.watercolor(x, segments=10, compactness=5.0, mix=0.5)
    assert torch.allclose(half, (x + out) / 2, atol=1e-5)


def test_popout_saturates_the_salient_part_and_mutes_the_rest():
    x = torch.full((3, 32, 32), 0.45)
    x[:, :, :] += torch.tensor([0.05, 0.0, -0.05]).view(3, 1, 1)  # a slightly warm grey background
    x[:, 10:22, 10:22] = torch.tensor([0.75, 0.35, 0.2]).view(3, 1, 1)  # a salient orange square
    mask = L.saliency(x)
    assert mask[0, 16, 16] > 0.9 and mask[0, 2, 2] < 0.3

    def chroma(img, ys, xs):
        return (img[:, ys, xs] - luminance(img)[:, ys, xs]).abs().mean()

    out = L.popout(x, saturation=0.6, background_saturation=-0.8, softness=0.02)
    centre, corner = (slice(13, 19), slice(13, 19)), (slice(0, 4), slice(0, 4))
    assert chroma(out, *centre) > 1.3 * chroma(x, *centre)
    assert chroma(out, *corner) < 0.5 * chroma(x, *corner)


def test_centre_surround_saliency_is_local():
    """Two flat halves: both are far from the photo's mean colour (frequency-tuned: salient everywhere),
    but inside each half the surroundings are the same colour (centre-surround: salient at the seam only)."""
    x = torch.empty(3, 32, 64)
    x[:, :, :32] = torch.tensor([0.8, 0.3, 0.2]).view(3, 1, 1)
    x[:, :, 32:] = torch.tensor([0.2, 0.3, 0.8]).view(3, 1, 1)
    whole = L.saliency(x, scale=30.0)
    around = L.saliency(x, surround=0.05, scale=30.0)
    assert whole[0, 16, 4] > 0.9 and whole[0, 16, 60] > 0.9
    assert around[0, 16, 4] < 0.05 and around[0, 16, 60] < 0.05
    assert around[0, 16, 31] > 0.5


def test_a_fixed_scale_does_not_depend_on_the_rest_of_the_photo():
    """scale 0 divides by the photo's most salient pixel: a vivid object elsewhere mutes the orange
    square's pop-out; with a fixed scale the square pops out the same."""
    x = torch.full((3, 48, 48), 0.45)
    x[:, 8:20, 8:20] = torch.tensor([0.75, 0.35, 0.2]).view(3, 1, 1)
    vivid = x.clone()
    vivid[:, 36:44, 36:44] = torch.tensor([0.0, 1.0, 0.0]).view(3, 1, 1)
    args = {"saturation": 0.8, "background_saturation": -0.8, "surround": 0.15, "softness": 0.02}
    square = (slice(None), slice(11, 17), slice(11, 17))
    relative = [L.popout(img, **args)[square] for img in (x, vivid)]
    fixed = [L.popout(img, **args, scale=20.0)[square] for img in (x, vivid)]
    assert (relative[0] - relative[1]).abs().max() > 0.05
    assert torch.allclose(fixed[0], fixed[1], atol=1e-3)


def test_saliency_options_are_checked():
    with pytest.raises(LumastyleError, match="surround"):
        load_action([{"popout": {"saturation": 0.5, "surround": 0}}])
    with pytest.raises(LumastyleError, match="scale"):
        load_action([{"popout": {"saturation": 0.5, "scale": -1}}])


def test_actions_with_local_steps_need_the_whole_photo():
    assert load_action([{"curves": {"master": [[0, 0.1], [1, 1]]}}]).per_pixel
    look = load_action([{"clarity": {"amount": 0.5}}, {"curves": {"master": [[0, 0.1], [1, 1]]}}])
    assert not look.per_pixel
    with pytest.raises(LumastyleError, match="segments"):
        load_action([{"watercolor": {"segments": -3}}])
