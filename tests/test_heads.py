"""Heads: the interface, the paper's head, short names and heads defined outside lumastyle."""

from __future__ import annotations

import pytest
import torch

from lumastyle.color import normalize_lab, rgb_to_lab
from lumastyle.errors import LumastyleError
from lumastyle.heads import (
    HEADS,
    AffineHead,
    ColorTransformHead,
    Head,
    LUTBlendHead,
    QuadraticHead,
    build_head,
    get_head,
    register_head,
)


def test_short_names_of_the_papers_head_and_affine():
    assert get_head("quadratic") is QuadraticHead
    assert get_head("affine") is AffineHead
    assert isinstance(build_head("quadratic", 8, 2), QuadraticHead)


def test_a_registered_head_by_its_full_path():
    """A config that sets no head holds the default as the class's path (what jsonargparse writes)."""
    assert get_head("lumastyle.heads.QuadraticHead") is QuadraticHead
    assert get_head("lumastyle.heads.LUTBlendHead") is LUTBlendHead
    with pytest.raises(LumastyleError, match=r"unknown head 'lumastyle\.heads\.CubicHead'"):
        get_head("lumastyle.heads.CubicHead")


def test_unknown_head_lists_valid_names():
    with pytest.raises(LumastyleError, match="quadratic") as info:
        get_head("cubic")
    assert "unknown head 'cubic'" in str(info.value) and "class_path" in str(info.value)


def test_register_new_head():
    @register_head("test-linear")
    class LinearHead(ColorTransformHead):
        basis = staticmethod(lambda c: c)
        n_basis = 3
        linear_index = 0

    try:
        assert get_head("test-linear") is LinearHead
        with pytest.raises(LumastyleError, match="already registered"):
            register_head("test-linear")(QuadraticHead)
    finally:
        HEADS.pop("test-linear")


def test_a_factory_must_build_a_head():
    with pytest.raises(LumastyleError, match=r"not a lumastyle\.heads\.Head"):
        build_head(lambda channels, scales, **given: torch.nn.Identity(), 8, 2)


def sampled_context(head: Head, b: int, h: int, w: int) -> list[torch.Tensor]:
    maps = [torch.randn(b, head.context_channels, h, w) for _ in range(head.num_scales)]
    return [head.encode_context(i, m) for i, m in enumerate(maps)]


@pytest.mark.parametrize("name", ["quadratic", "affine", "lut_blend"])
def test_starts_as_identity(name):
    head = get_head(name)(context_channels=8, num_scales=2, hidden=(16, 16))
    lab_n = normalize_lab(rgb_to_lab(torch.rand(2, 3, 5, 6)))
    out = head(lab_n, sampled_context(head, 2, 5, 6))
    assert out.shape == lab_n.shape
    assert (out - lab_n).abs().max() < 0.05


def test_encode_context_is_the_first_layer_when_factorised():
    head = QuadraticHead(context_channels=8, num_scales=2, hidden=(16, 8))
    features = torch.randn(1, 8, 3, 3)
    assert head.encode_context(1, features).shape == (1, 16, 3, 3)
    assert torch.equal(QuadraticHead(8, 2, factorize=False).encode_context(1, features), features)


@pytest.mark.parametrize("hidden", [(16,), (16, 8), (32, 16, 8)])
def test_any_number_of_hidden_layers(hidden):
    head = QuadraticHead(context_channels=8, num_scales=2, hidden=hidden)
    assert head.out.in_channels == hidden[-1] and head.out.out_channels == 30
    convs = [m for m in head.mlp if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == list(hidden[1:])
    assert head.predict_phi(torch.rand(1, 3, 2, 2), sampled_context(head, 1, 2, 2)).shape == (1, 30, 2, 2)


def test_colour_only_head():
    head = QuadraticHead(context_channels=1, num_scales=0)
    assert len(head.context_in) == 0
    assert head(torch.rand(1, 3, 4, 4), []).shape == (1, 3, 4, 4)


def test_bad_hidden():
    with pytest.raises(LumastyleError, match="hidden"):
        QuadraticHead(8, 2, hidden=())
    with pytest.raises(LumastyleError, match="hidden"):
        QuadraticHead(8, 2, hidden=(16, 0))


class TestLUTBlendHead:
    def test_a_linear_table_is_read_exactly_on_its_axes(self):
        """A LUT tabulating f(L, a, b) = (0.1 L + 0.2 a, -0.3 b, 0.05) (trilinear is exact for it) adds
        f to the base map: a reader mixing up the axes would add something else."""
        from lumastyle.heads import LUTBlendHead

        head = LUTBlendHead(8, 2, hidden=(8,), luts=1, size=5)
        axis = torch.linspace(-1, 1, 5)
        L, a, b = torch.meshgrid(axis, axis, axis, indexing="ij")  # table axes (D, H, W) = (L, a, b)
        with torch.no_grad():
            head.luts[0] = torch.stack([0.1 * L + 0.2 * a, -0.3 * b, torch.full_like(L, 0.05)])
            head.out.weight.zero_()  # weight 1 everywhere
        lab_n = torch.rand(2, 3, 4, 5) * 1.6 - 0.8
        out = head(lab_n, sampled_context(head, 2, 4, 5))
        f = torch.stack(
            [0.1 * lab_n[:, 0] + 0.2 * lab_n[:, 1], -0.3 * lab_n[:, 2], torch.full_like(lab_n[:, 0], 0.05)], 1
        )
        assert torch.allclose(out, lab_n + f, atol=1e-5)

    def test_starts_from_a_global_map(self):
        from lumastyle.color import apply_color_transform, quadratic_basis
        from lumastyle.heads import LUTBlendHead

        head = LUTBlendHead(8, 2, hidden=(8,))
        matrix = torch.randn(3, 10) * 0.1
        head.start_from(matrix)
        lab_n = torch.rand(1, 3, 4, 5) - 0.5
        expected = apply_color_transform(matrix.reshape(30, 1, 1), quadratic_basis(lab_n))
        assert torch.allclose(head(lab_n, sampled_context(head, 1, 4, 5)), expected, atol=1e-5)
