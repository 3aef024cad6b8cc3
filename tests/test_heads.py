"""Head registry tests."""

from __future__ import annotations

import pytest
import torch

from lumastyle.color import normalize_lab, rgb_to_lab
from lumastyle.errors import LumastyleError
from lumastyle.heads import HEADS, AffineHead, ColorTransformHead, QuadraticHead, get_head, register_head


def test_registry_has_the_papers_head():
    assert get_head("quadratic") is QuadraticHead
    assert get_head("affine") is AffineHead


def test_unknown_head_lists_valid_names():
    with pytest.raises(LumastyleError, match="quadratic") as info:
        get_head("cubic")
    assert "unknown head 'cubic'" in str(info.value)


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


@pytest.mark.parametrize("name", ["quadratic", "affine"])
def test_starts_as_identity(name):
    head = get_head(name)(context_channels=8, num_scales=2, hidden=(16, 16))
    lab_n = normalize_lab(rgb_to_lab(torch.rand(2, 3, 5, 6)))
    out = head(lab_n, torch.randn(2, 16, 5, 6))
    assert out.shape == lab_n.shape
    assert (out - lab_n).abs().max() < 0.05


def test_quadratic_head_outputs_30_channels():
    head = QuadraticHead(context_channels=8, num_scales=2, hidden=(16, 8))
    assert head.out.out_channels == 30
    assert head.predict_phi(torch.rand(1, 3, 2, 2), None).shape == (1, 30, 2, 2)


def test_colour_only_head():
    head = QuadraticHead(context_channels=1, num_scales=0)
    assert len(head.context_in) == 0
    assert head(torch.rand(1, 3, 4, 4), None).shape == (1, 3, 4, 4)


def test_bad_hidden():
    with pytest.raises(LumastyleError, match="hidden"):
        QuadraticHead(8, 2, hidden=(16,))
