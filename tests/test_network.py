"""The plain-torch network and the one inference path: factorisation, tiling, context cap, precision,
export for any size."""

from __future__ import annotations

import pytest
import torch

from lumastyle.color import rgb_to_lab
from lumastyle.heads import QuadraticHead
from lumastyle.inference import context_copy, stylize_tensor
from lumastyle.network import StyleNetwork

SMALL = {"backbone_width": 1 / 16, "context_pad": 8}


def small_network(**kwargs) -> StyleNetwork:
    torch.manual_seed(0)
    net = StyleNetwork(**{**SMALL, **kwargs}).eval()
    # move the head away from its identity start so the context path matters
    for p in net.head.parameters():
        p.data.normal_(0, 0.1)
    return net


@pytest.fixture
def network() -> StyleNetwork:
    return small_network()


def test_no_lightning_in_the_network():
    import lightning

    assert not isinstance(StyleNetwork(**SMALL), lightning.LightningModule)


def test_forward_keeps_size_and_clips(network):
    rgb = torch.rand(2, 3, 37, 51)
    out = network(rgb)
    assert out.shape == rgb.shape and out.min() >= 0 and out.max() <= 1


def test_factorised_head_equals_unfactorised(network):
    """Applying the head's first layer before or after sampling the context is the same network."""
    rgb = torch.rand(2, 3, 40, 56)
    fact = network.forward_lab(rgb)[1]
    network.head.factorize = False
    full = network.forward_lab(rgb)[1]
    assert torch.allclose(fact, full, atol=1e-3, rtol=1e-4)
    assert not torch.allclose(fact, rgb_to_lab(rgb), atol=1e-1)  # the context/head really did something


def test_tiled_inference_equals_the_network(network):
    rgb = torch.rand(3, 45, 33)
    whole = network(rgb.unsqueeze(0))[0]
    tiled = stylize_tensor(network, rgb, tile_pixels=100)  # three rows per tile
    assert torch.allclose(tiled, whole, atol=1e-5)


def test_context_matters_and_scales_are_used(network):
    rgb, other = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    assert not torch.allclose(network(rgb), network(rgb, context_rgb=other), atol=1e-4)
    assert len(network.context.backbones) == 2
    assert len(StyleNetwork(**SMALL, share_backbone=True).context.backbones) == 1


def test_colour_only_network():
    net = StyleNetwork(**SMALL, scales=())
    assert net.context is None
    assert net(torch.rand(1, 3, 8, 8)).shape == (1, 3, 8, 8)


def test_inference_caps_the_context(network, monkeypatch):
    seen = []
    original = network.context.lower
    monkeypatch.setattr(network.context, "lower", lambda x: seen.append(tuple(x.shape[-2:])) or original(x))
    rgb = torch.rand(3, 120, 200)
    out = stylize_tensor(network, rgb, context_long_side=50)
    assert out.shape == rgb.shape and seen == [(30, 50)]
    stylize_tensor(network, rgb, context_long_side=400)  # never enlarged
    assert seen[-1] == (120, 200)
    assert torch.equal(out, network(rgb.unsqueeze(0), context_copy(rgb.unsqueeze(0), 50))[0])


def test_bf16_keeps_colour_layer_float32(network):
    rgb = torch.rand(1, 3, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        lab_in, lab_out = network.forward_lab(rgb)
    assert lab_in.dtype == torch.float32 and lab_out.dtype == torch.float32
    assert torch.allclose(lab_out, network.forward_lab(rgb)[1], atol=2.0)
    out = stylize_tensor(network, rgb[0], precision="bf16")
    assert out.dtype == torch.float32 and torch.allclose(out, network(rgb)[0], atol=0.03)


def test_custom_head_class():
    """A head outside lumastyle, built by class: it gets the context channels and scales."""

    class MeanContextHead(QuadraticHead):
        def __init__(self, context_channels: int, num_scales: int, gain: float = 1.0):
            super().__init__(context_channels, num_scales, hidden=(8,), factorize=False)
            self.gain = gain

    net = StyleNetwork(head=MeanContextHead, **SMALL)
    assert isinstance(net.head, MeanContextHead)
    assert net.head.context_channels == net.context.backbones[0].out_channels and net.head.num_scales == 2
    assert net(torch.rand(1, 3, 16, 16)).shape == (1, 3, 16, 16)


def test_exports_once_for_any_size(network):
    """No Python control flow on sizes: one export with dynamic height and width serves every size."""
    from torch.export import Dim, export

    h, w = Dim("h", min=16, max=512), Dim("w", min=16, max=512)
    program = export(network, (torch.rand(1, 3, 40, 56),), dynamic_shapes=({2: h, 3: w},))
    for size in [(40, 56), (33, 71), (64, 24)]:
        rgb = torch.rand(1, 3, *size)
        assert torch.allclose(program.module()(rgb), network(rgb), atol=1e-5)


class TestLowLevelContext:
    def test_is_one_more_map_for_the_head(self):
        net = small_network(low_level=(2.0, 6.0))
        assert [c.in_channels for c in net.head.context_in] == [net.context.backbones[0].out_channels] * 2 + [
            6
        ]
        rgb = torch.rand(1, 3, 30, 34)
        assert len(net.encode_context(rgb)) == 3
        assert net(rgb).shape == rgb.shape

    def test_carries_regional_colour_without_a_backbone(self):
        """A colour-only network with low-level context: the same pixel colour comes out differently in a
        different surrounding, which no per-pixel colour map can do."""
        net = small_network(scales=(), low_level=(4.0,))
        rgb, other = torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24)
        assert not torch.allclose(net(rgb), net(rgb, context_rgb=other), atol=1e-4)

    def test_factorised_equals_unfactorised(self):
        net = small_network(low_level=(3.0,))
        rgb = torch.rand(2, 3, 32, 40)
        fact = net.forward_lab(rgb)[1]
        net.head.factorize = False
        assert torch.allclose(fact, net.forward_lab(rgb)[1], atol=1e-3, rtol=1e-4)

    def test_linear_path_factorised_equals_unfactorised(self):
        net = small_network(low_level=(3.0, 9.0), low_level_linear=True)
        net.head.low_linear.weight.data.normal_(0, 0.1)
        rgb = torch.rand(2, 3, 32, 40)
        fact = net.forward_lab(rgb)[1]
        net.head.factorize = False
        assert torch.allclose(fact, net.forward_lab(rgb)[1], atol=1e-3, rtol=1e-4)

    @pytest.mark.parametrize("head", ["quadratic", "lut_blend"])
    def test_started_from_a_local_map_it_predicts_that_map(self, head):
        """start_from with low-level terms: every pixel gets M0 + sum_c M_c * (its low-level context
        channel c), computed here from the blurred photo sampled independently of the head (the LUT
        head's tables start at zero)."""
        from lumastyle.color import denormalize_lab, normalize_lab, quadratic_basis
        from lumastyle.context import sample_context

        net = small_network(head=head, low_level=(4.0,), low_level_linear=True)
        if head == "lut_blend":
            net.head.luts.data.zero_()
        g = torch.Generator().manual_seed(0)
        m0, mc = torch.randn(3, 10, generator=g) * 0.1, torch.randn(3, 10, 3, generator=g) * 0.1
        net.head.start_from(m0, mc)
        rgb = torch.rand(1, 3, 24, 32)
        lab_n = normalize_lab(rgb_to_lab(rgb))
        low = net.low_level(lab_n)
        ctx = sample_context(low.features, low.scaled_hw, low.pad, (24, 32))[0]  # (3, H, W)
        phi = m0[:, :, None, None] + torch.einsum("okc,chw->okhw", mc, ctx)
        expected = denormalize_lab(torch.einsum("okhw,khw->ohw", phi, quadratic_basis(lab_n)[0])[None])
        assert torch.allclose(net.forward_lab(rgb)[1], expected, atol=1e-4)

    def test_contrast_channels_reach_the_head_and_the_cache_key(self):
        from lumastyle.errors import LumastyleError

        net = small_network(low_level=(2.0, 6.0, 18.0), low_level_contrast=True, low_level_linear=True)
        assert net.head.context_in[-1].in_channels == 12 and net.head.low_linear.in_channels == 12
        rgb = torch.rand(1, 3, 30, 34)
        assert net(rgb).shape == rgb.shape
        plain = small_network(low_level=(2.0, 6.0, 18.0), low_level_linear=True)
        assert net.lower_fingerprint() != plain.lower_fingerprint()  # a cache never serves the other's maps
        with pytest.raises(LumastyleError, match=r"model\.color_context\.contrast compares blurred copies"):
            small_network(low_level=(4.0,), low_level_contrast=True)

    def test_region_channels_reach_the_head_and_the_cache_key(self):
        from lumastyle.errors import LumastyleError

        net = small_network(low_level=(2.0, 6.0), low_level_regions=(6.0, 12.0), low_level_linear=True)
        assert net.head.context_in[-1].in_channels == 12 and net.head.low_linear.in_channels == 12
        assert not net.exportable and small_network(low_level=(2.0,)).exportable
        rgb = torch.rand(1, 3, 30, 34)
        assert net(rgb).shape == rgb.shape
        plain = small_network(low_level=(2.0, 6.0), low_level_linear=True)
        other = small_network(low_level=(2.0, 6.0), low_level_regions=(6.0, 16.0), low_level_linear=True)
        assert len({net.lower_fingerprint(), plain.lower_fingerprint(), other.lower_fingerprint()}) == 3
        alone = small_network(low_level_regions=(6.0,))  # region context needs no blur radii
        assert alone.low_level.out_channels == 3 and alone(rgb).shape == rgb.shape
        with pytest.raises(LumastyleError, match=r"model\.color_context\.regions are superpixel sizes in pixels"):
            small_network(low_level_regions=(0.5,))

    def test_saliency_channels_reach_the_head_and_the_cache_key(self):
        from lumastyle.errors import LumastyleError

        net = small_network(low_level=(2.0, 6.0), low_level_saliency=(8.0, 16.0), low_level_linear=True)
        assert net.head.context_in[-1].in_channels == 8 and net.head.low_linear.in_channels == 8
        assert net.exportable and not net.position_free  # a map that differs across the photo
        rgb = torch.rand(1, 3, 30, 34)
        assert net(rgb).shape == rgb.shape
        plain = small_network(low_level=(2.0, 6.0), low_level_linear=True)
        other = small_network(low_level=(2.0, 6.0), low_level_saliency=(8.0, 24.0), low_level_linear=True)
        assert len({net.lower_fingerprint(), plain.lower_fingerprint(), other.lower_fingerprint()}) == 3
        alone = small_network(low_level_saliency=(8.0,), low_level_linear=True)  # needs no blur radii
        assert alone.low_level.out_channels == 1 and alone(rgb).shape == rgb.shape
        # without a backbone, the map still differs across the photo: no LUT fast path
        assert not StyleNetwork(scales=(), low_level_saliency=(8.0,)).position_free
        assert StyleNetwork(scales=(), low_level=(float("inf"),)).position_free
        with pytest.raises(LumastyleError, match=r"model\.color_context\.saliency are smoothing radii in pixels"):
            small_network(low_level_saliency=(0.0,))

    def test_linear_path_needs_low_level_context(self):
        from lumastyle.errors import LumastyleError

        with pytest.raises(LumastyleError, match="low_level_linear needs colour context"):
            QuadraticHead(8, 2, low_level_linear=True)

    def test_every_head_is_given_the_low_level_channels(self):
        """The head contract: the network passes the low-level channels to every head through
        :class:`Head`'s constructor; a factory that does not take the contract's keywords is one line."""
        from lumastyle.errors import LumastyleError
        from lumastyle.heads import Head

        class PixelOnly(Head):
            def forward(self, lab_n, context):
                return lab_n

        net = StyleNetwork(head=PixelOnly, **SMALL, low_level=(4.0,))
        assert net.head.low_level_channels == net.low_level.out_channels == 3
        with pytest.raises(LumastyleError, match=r"model.head .*a head takes \(context_channels, num_scales, low_level_channels"):
            StyleNetwork(head=lambda channels, scales: PixelOnly(channels, scales), **SMALL, low_level=(4.0,))
