"""Image geometry (lumastyle.geometry): one capped size, rounded half up, for data, inference and export;
the resize, blur and padding helpers on every batch shape and dtype. Reference values are exact."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
from torch import Tensor, nn

from lumastyle.errors import LumastyleError
from lumastyle.geometry import (
    blur,
    capped_size,
    fit_long_side,
    flat_batch,
    resize,
    scaled_length,
    scaled_size,
    smooth,
)


def reference_capped(h: int, w: int, cap: int) -> tuple[int, int]:
    """capped_size by its definition, in exact fractions: each side times cap / long side, rounded
    half up, at least 1, never enlarged."""
    m = max(h, w)
    return tuple(max(1, min(n, math.floor(Fraction(n * cap, m) + Fraction(1, 2)))) for n in (h, w))


#: (h, w, cap) whose short side, capped, is an exact half: x.5 with x even, where Python's round
#: (half to even) gives one pixel fewer than half up
EXACT_HALVES = [
    (681, 1024, 512),  # 340.5 -> 341
    (1024, 681, 512),
    (5, 8, 4),  # 2.5 -> 3
    (9, 200, 100),  # 4.5 -> 5
    (73, 96, 48),  # 36.5 -> 37 (the export's self-check size at cap 48)
    (3000, 1, 1500),  # 0.5 -> 1
    (2049, 4000, 1000),  # 512.25: not a half, a control
]


class TestCappedSize:
    @pytest.mark.parametrize(
        ("hw", "cap", "expected"),
        [
            ((681, 1024), 512, (341, 512)),
            ((1024, 681), 512, (512, 341)),
            ((5, 8), 4, (3, 4)),
            ((8, 5), 4, (4, 3)),
            ((9, 200), 100, (5, 100)),
            ((3000, 1), 1500, (1500, 1)),
            ((3, 2000), 500, (1, 500)),  # 0.75 -> 1
            ((1, 5000), 10, (1, 10)),  # 0.002: never 0
            ((2049, 4000), 1000, (512, 1000)),
            ((120, 200), 50, (30, 50)),
        ],
    )
    def test_reference_values(self, hw, cap, expected):
        assert capped_size(*hw, cap) == expected

    @pytest.mark.parametrize(("h", "w", "cap"), EXACT_HALVES)
    def test_exact_halves_round_up_like_fractions_do(self, h, w, cap):
        got = capped_size(h, w, cap)
        assert got == reference_capped(h, w, cap)
        assert capped_size(w, h, cap) == got[::-1]  # both orientations
        assert max(got) == cap

    def test_python_round_would_differ_at_these_halves(self):
        """The cases above are the ones the old half-to-even paths got one pixel short."""
        for h, w, cap in EXACT_HALVES[:-1]:
            short = min(h, w)
            assert round(short * cap / max(h, w)) == min(capped_size(h, w, cap)) - 1

    def test_every_small_size_never_enlarged_never_zero(self):
        for cap in (1, 2, 7, 16, 33):
            for h in range(1, 41):
                for w in range(1, 41):
                    got = capped_size(h, w, cap)
                    assert got == reference_capped(h, w, cap)
                    assert 1 <= got[0] <= h and 1 <= got[1] <= w
                    assert max(got) == min(max(h, w), cap)

    @pytest.mark.parametrize("cap", [None, 0])
    def test_no_cap(self, cap):
        assert capped_size(681, 1024, cap) == (681, 1024)

    def test_ints_and_integral_floats(self):
        out = capped_size(681, 1024, 512.0)
        assert out == (341, 512) and all(type(n) is int for n in out)

    @pytest.mark.parametrize("cap", [-1, 2.5, "512"])
    def test_bad_cap_is_one_line(self, cap):
        with pytest.raises(LumastyleError, match="long-side cap") as info:
            capped_size(10, 20, cap)
        assert "\n" not in str(info.value)

    def test_scaled_length_rounds_the_same_way(self):
        assert [scaled_length(n, 0.5) for n in (1, 5, 9, 681)] == [1, 3, 5, 341]
        assert scaled_size((75, 50), 2.0) == (150, 100)
        assert scaled_size((5, 9), 1 / 3) == (2, 3)  # 1.67 -> 2, 3


class TestFitLongSide:
    def test_reference_values(self):
        """A 4-pixel ramp halved: torch's antialiased bilinear, triangle weights 1/8, 3/8, 3/8, 1/8
        renormalised at the border."""
        ramp = torch.tensor([[[0.0, 1.0, 2.0, 3.0]]])  # (1, 1, 4)
        out = fit_long_side(ramp, 2)
        assert out.shape == (1, 1, 2)
        torch.testing.assert_close(out, torch.tensor([[[5 / 7, 16 / 7]]]))

    @pytest.mark.parametrize("shape", [(3, 681, 1024), (2, 3, 681, 1024), (2, 1, 3, 1024, 681)])
    def test_batch_shapes(self, shape):
        x = torch.rand(shape)
        out = fit_long_side(x, 512)
        hw = capped_size(shape[-2], shape[-1], 512)
        assert out.shape == (*shape[:-2], *hw)
        flat = x.reshape(-1, *shape[-3:])
        expected = nn.functional.interpolate(flat, size=hw, mode="bilinear", antialias=True)
        assert torch.equal(out.reshape(-1, *out.shape[-3:]), expected)

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_dtype_kept(self, dtype):
        assert fit_long_side(torch.rand(3, 20, 30, dtype=dtype), 10).dtype == dtype

    @pytest.mark.parametrize("cap", [None, 0, 30, 100])
    def test_never_enlarges_and_returns_the_photo_itself(self, cap):
        x = torch.rand(3, 20, 30)
        assert fit_long_side(x, cap) is x

    def test_constant_stays_constant(self):
        x = torch.full((3, 99, 40), 0.25)
        torch.testing.assert_close(fit_long_side(x, 33), torch.full((3, 33, 13), 0.25))


class _Recorder(nn.Module):
    """Stands in for the network: records the context copy it is given (and returns it, so an
    exported program's output has the context copy's size)."""

    colour_only = False  # it has context: stylize_tensor makes the context copy it records

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, int]] = []

    def forward(self, rgb: Tensor, context: Tensor) -> Tensor:
        return context

    def encode_context(self, context: Tensor) -> list:
        self.seen.append(tuple(context.shape[-2:]))
        return []

    def transform(self, lab: Tensor, maps: list, hw: tuple[int, int], rows: tuple[int, int]) -> Tensor:
        return lab


@pytest.mark.parametrize(("h", "w", "cap"), [(681, 1024, 512), (1024, 681, 512), (73, 96, 48), (9, 200, 100)])
def test_data_inference_and_export_agree_at_exact_halves(h, w, cap):
    """The training data, stylize and an exported file compute the context on the same size (before
    lumastyle.geometry, data and stylize rounded 340.5 to 340 and the export to 341)."""
    from lumastyle.data.base import fit_long_side as data_fit
    from lumastyle.export import Stylizer
    from lumastyle.inference import context_copy, stylize_tensor

    expected = reference_capped(h, w, cap)
    photo = torch.rand(1, 3, h, w)
    assert tuple(data_fit(photo[0], cap).shape[-2:]) == expected
    assert tuple(context_copy(photo, cap).shape[-2:]) == expected
    recorder = _Recorder()
    stylize_tensor(recorder, photo, cap)  # type: ignore[arg-type]
    assert recorder.seen == [expected]
    stylizer = Stylizer(recorder, cap)  # type: ignore[arg-type]
    assert tuple(stylizer(photo).shape[-2:]) == expected
    assert torch.equal(stylizer(photo), context_copy(photo, cap))


def test_an_exported_graph_computes_the_same_size_for_any_photo():
    """capped_size on SymInts: one export (traced on one size) gives the capped size of every other
    size, exact halves both ways round included, and leaves photos that fit as they are."""
    from lumastyle.export import Stylizer

    dims = {2: torch.export.Dim("height", min=8, max=4096), 3: torch.export.Dim("width", min=8, max=4096)}
    program = torch.export.export(
        Stylizer(_Recorder(), 48), (torch.rand(1, 3, 30, 40),), dynamic_shapes=(dims,)
    )
    run = program.module()
    for h, w in [(30, 40), (48, 36), (73, 96), (96, 73), (9, 200), (200, 9), (681, 1024), (1024, 681)]:
        photo = torch.rand(1, 3, h, w)
        out = run(photo)
        assert tuple(out.shape[-2:]) == reference_capped(h, w, 48)
        torch.testing.assert_close(out, fit_long_side(photo, 48), atol=1e-6, rtol=0)


class TestFilters:
    @pytest.mark.parametrize("lead", [(), (2,), (2, 3)])
    def test_flat_batch(self, lead):
        x = torch.rand(*lead, 3, 5, 7)
        flat, got = flat_batch(x)
        assert flat.shape == (math.prod(lead), 3, 5, 7) and tuple(got) == lead
        assert torch.equal(flat.reshape(x.shape), x)

    def test_smooth_is_blur_in_fractions_of_the_long_side(self):
        x = torch.rand(2, 3, 20, 40)
        assert torch.equal(smooth(x, 0.05), blur(x, 2.0))

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    @pytest.mark.parametrize("lead", [(), (2,), (2, 2)])
    def test_blur_keeps_shape_dtype_and_constants(self, dtype, lead):
        x = torch.full((*lead, 3, 17, 9), 0.5, dtype=dtype)
        for sigma in (0.0, 1.5, 12.0):  # none, direct, on a shrunk copy
            out = blur(x, sigma)
            assert out.shape == x.shape and out.dtype == dtype
            torch.testing.assert_close(out, x)

    def test_blur_reference_value(self):
        """An impulse blurred: kornia's normalised Gaussian kernel, outer product of its 1D taps."""
        x = torch.zeros(1, 1, 15, 15, dtype=torch.float64)
        x[..., 7, 7] = 1.0
        out = blur(x, 1.0)
        taps = torch.exp(-(torch.arange(-3.0, 4.0, dtype=torch.float64) ** 2) / 2)
        taps = taps / taps.sum()
        torch.testing.assert_close(out[0, 0, 4:11, 4:11], taps[:, None] * taps[None, :])

    def test_resize_to_its_own_size_is_the_identity(self):
        x = torch.rand(2, 3, 11, 13)
        assert resize(x, (11, 13)) is x
        assert torch.equal(resize(x, (11, 13), antialias=True), x)
