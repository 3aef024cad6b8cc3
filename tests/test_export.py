"""``lumastyle export``: ONNX (checked with onnxruntime) and torch.export files that take
photos of any size and give what ``stylize`` gives, and .cube LUTs checked with lumastyle's own LUT
operation."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from conftest import COLOUR_ONLY, smooth_photo, train

from lumastyle.actions import load_action
from lumastyle.cli import main
from lumastyle.errors import LumastyleError
from lumastyle.export import _TOLERANCE, Stylizer
from lumastyle.inference import stylize_tensor
from lumastyle.io import write_image
from lumastyle.model import LumaStyle


@pytest.fixture(scope="module")
def context_model(tmp_path_factory) -> Path:
    """A model with two-scale context and low-level context (with the contrast channels, as the CPU
    preset's, and photo-level context, linear in the colour matrix as configs/photo-context.yaml
    makes it, the per-photo correction of configs/photo-correction.yaml, and the saliency context of
    styles/render_popout_global.yaml), its context capped at 48 pixels."""
    return train(tmp_path_factory.mktemp("ctx"), "ctx", "--model.color_context.blur_radii", "[4.0, 16.0]",
                 "--model.color_context.contrast", "true", "--model.color_context.photo", "true",
                 "--model.color_context.linear", "true", "--model.context.long_side", "48",
                 "--model.color_context.correction", "true", "--model.closed_form_start", "true",
                 "--model.color_context.saliency", "[8.0]")  # fmt: skip


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory) -> Path:
    """A model whose transform depends on colour alone (no context at all)."""
    return train(tmp_path_factory.mktemp("colour"), "colour", *COLOUR_ONLY)


def stylized(ckpt: Path, rgb: torch.Tensor) -> torch.Tensor:
    return LumaStyle.from_checkpoint(ckpt).stylize(rgb)


def load_each_pt2_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """``torch.export.load`` reads each file once: the export's self-check loads the file it wrote, and
    a later load of that file (unchanged since) gets what that load read. Reading a .pt2 back rebuilds
    every symbolic size expression with sympy (tens of seconds a load on 2 cores)."""
    load, loaded = torch.export.load, {}

    def load_once(path, *args, **kwargs):
        key = (str(path), Path(path).stat().st_mtime_ns)
        if key not in loaded:
            loaded[key] = load(path, *args, **kwargs)
        return loaded[key]

    monkeypatch.setattr(torch.export, "load", load_once)


def noise(h: int, w: int, seed: int) -> torch.Tensor:
    """A photo of seeded noise (as the export's self-check uses): its context moves with every pixel
    of the context copy's size."""
    return torch.rand(3, h, w, generator=torch.Generator().manual_seed(seed))


#: the sizes (H, W) the exported files are compared with stylize on (the context cap is 48): below the
#: cap, at it (a cap one lower shrinks 36x48), above it both ways round (90x60 and 70x130 capped to
#: 48x32 and 26x48; a cap one higher or lower changes both)
FILE_SIZES = [(30, 40), (36, 48), (90, 60), (70, 130)]


@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
def test_a_model_for_any_photo_size(context_model: Path, tmp_path: Path, fmt, monkeypatch):
    """The exported file, read back as its runtime reads it (onnxruntime, ``torch.export.load``), gives
    what ``stylize`` gives, to the export's tolerance (1e-4), on photo sizes other than the self-check's:
    below the context cap, at it and above it both ways round."""
    load_each_pt2_once(monkeypatch)  # the pt2 file is read from disk once, by the export's self-check
    out = tmp_path / f"model.{fmt}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main(["export", str(context_model), "--format", fmt, "--output", str(out)])
    # the self-check's comparison is quiet (a pt2 program's outputs carried grad, and torch warned)
    assert not [w for w in caught if "requires_grad" in str(w.message)], [str(w.message) for w in caught]
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        run = lambda x: torch.from_numpy(session.run(None, {"image": x.numpy()})[0])  # noqa: E731
    else:
        run = torch.export.load(str(out)).module()
    model = LumaStyle.from_checkpoint(context_model)
    cap = model.context_long_side()
    for seed, (h, w) in enumerate(FILE_SIZES):
        rgb = noise(h, w, seed)
        with torch.no_grad():
            expected = stylize_tensor(model.network, rgb, cap, 1 << 30)  # stylize's exact path
        got = torch.as_tensor(run(rgb[None]))[0]
        assert got.shape == rgb.shape
        # the export's own tolerance: onnxruntime is within 1e-5 of PyTorch (pt2 equal), a context cap
        # one pixel off moves the output by more (test_the_file_follows_the_cap_to_the_pixel)
        assert (got - expected).abs().max() < _TOLERANCE, (h, w)


def test_the_file_follows_the_cap_to_the_pixel(context_model):
    """The comparison of test_a_model_for_any_photo_size fails for a file whose context cap is one
    pixel off: a Stylizer capped one pixel lower, and one capped one pixel higher, each differ from
    stylize by more than twice the tolerance on the photo at the cap or the one above it (of FILE_SIZES,
    with their seeds; below the cap the context is the photo whatever the cap)."""
    model = LumaStyle.from_checkpoint(context_model)
    cap = model.context_long_side()
    worst = {-1: 0.0, 1: 0.0}
    for seed, (h, w) in list(enumerate(FILE_SIZES))[1::2]:  # 36x48 and 70x130
        rgb = noise(h, w, seed)[None]
        with torch.no_grad():
            right = stylize_tensor(model.network, rgb, cap, 1 << 30)
            for drift in worst:
                wrong = Stylizer(model.network, cap + drift)(rgb)
                worst[drift] = max(worst[drift], float((wrong - right).abs().max()))
    assert min(worst.values()) > 2 * _TOLERANCE, worst


def test_the_self_check_photos_lie_on_both_sides_of_the_cap():
    from lumastyle.export import _check_sizes
    from lumastyle.geometry import capped_size

    for cap in (9, 48, 512, 1024):
        sizes = _check_sizes(cap)
        assert any(max(hw) < cap for hw in sizes) and any(max(hw) == cap for hw in sizes)
        halves = [hw for hw in sizes if max(hw) > cap and min(hw) * cap % max(hw) * 2 == max(hw)]
        assert {hw[::-1] for hw in halves} == set(halves) and halves  # an exact half, both ways round
        for h, w in halves:  # where Python's half-to-even round gives one pixel fewer
            assert round(min(h, w) * cap / max(h, w)) == min(capped_size(h, w, cap)) - 1


def _floor_capped(h: int, w: int, cap: int | None) -> tuple[int, int]:
    """The capped size rounded down: at the self-check's exact halves, what Python's round gives."""
    assert cap
    m = torch.sym_max(h, w)
    return tuple(torch.sym_max(1, torch.sym_min(n, n * cap // m)) for n in (h, w))  # type: ignore[return-value]


def test_an_export_rounding_its_context_size_the_old_way_is_refused(context_model, tmp_path, monkeypatch):
    """The export's size arithmetic drifting from ``stylize``'s by one pixel at the exact halves (the
    bug lumastyle.geometry fixed, Python's round against half up) is refused and nothing is written.
    (The file is written and removed for real; the self-check runs the program it saved without reading
    it back from disk, which test_a_model_for_any_photo_size[pt2] covers.)"""
    import lumastyle.export

    monkeypatch.setattr(lumastyle.export, "capped_size", _floor_capped)  # the Stylizer's, not stylize's
    saved, save = {}, torch.export.save

    def save_and_keep(program, f, *args, **kwargs):
        saved[str(f)] = program
        save(program, f, *args, **kwargs)

    monkeypatch.setattr(torch.export, "save", save_and_keep)
    monkeypatch.setattr(torch.export, "load", lambda f, *args, **kwargs: saved[str(f)])
    out = tmp_path / "model.pt2"
    with pytest.raises(
        LumastyleError, match=r"the pt2 export differs from PyTorch by [\d.]+ on a (96x73|73x96) photo"
    ):
        lumastyle.export.export(str(context_model), "pt2", str(out))
    assert not out.exists()


def test_the_self_check_sees_a_context_cap_one_pixel_off(context_model):
    """What the self-check compares, without the export: a Stylizer whose cap is one pixel lower (caught
    at the photo whose long side is the cap) or higher (at the exact halves) differs from ``stylize``
    by well over the tolerance on at least one checked photo. (Both drifts in one test: the right
    output of each checked photo is computed once.)"""
    from lumastyle.export import _TOLERANCE, Stylizer, _check_sizes
    from lumastyle.inference import stylize_tensor

    model = LumaStyle.from_checkpoint(context_model)
    cap = model.context_long_side()
    worst = {-1: 0.0, 1: 0.0}
    for i, hw in enumerate(_check_sizes(cap)):
        x = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(i))
        with torch.no_grad():
            right = Stylizer(model.network, cap)(x)
            assert (right - stylize_tensor(model.network, x, cap, 1 << 30)).abs().max() < _TOLERANCE / 10
            for drift in worst:
                wrong = Stylizer(model.network, cap + drift)(x)
                worst[drift] = max(worst[drift], float((wrong - right).abs().max()))
    for drift, seen in worst.items():
        assert seen > 2 * _TOLERANCE, (drift, seen)


def test_a_format_export_does_not_write_is_one_line_before_the_checkpoint_is_read(tmp_path: Path):
    """From Python as from the command line (whose choices refuse it first, tests/test_cli.py), a
    format that is not written (torchscript, dropped for pt2) names the ones that are."""
    from lumastyle.export import export

    with pytest.raises(LumastyleError, match=r"^--format 'torchscript': choose one of onnx, pt2, cube"):
        export(str(tmp_path / "none.ckpt"), "torchscript")  # type: ignore[arg-type]


def test_region_context_is_refused_in_one_line_and_still_stylizes_and_bakes_a_cube(tmp_path: Path):
    """Region context runs scikit-image's SLIC, which no exported graph holds: onnx and pt2 are refused
    naming the option and writing nothing; the model trains, stylizes and bakes a .cube."""
    from lumastyle.export import export

    ckpt = train(tmp_path, "regions", "--model.color_context.regions", "[6.0]")
    photo = smooth_photo(40, 52, seed=3)
    assert stylized(ckpt, photo).shape == photo.shape
    for fmt in ("onnx", "pt2"):
        with pytest.raises(LumastyleError, match=r"model\.color_context\.regions") as err:
            export(str(ckpt), fmt, output=str(tmp_path / f"model.{fmt}"))
        assert "\n" not in str(err.value) and not (tmp_path / f"model.{fmt}").exists()
    write_image(tmp_path / "reference.png", photo)
    reference = str(tmp_path / "reference.png")
    (cube,) = export(str(ckpt), "cube", output=str(tmp_path / "look.cube"), size=5, reference=reference)
    assert cube.is_file()


def test_a_colour_only_model_becomes_an_exact_cube(colour_model: Path, tmp_path: Path):
    main(
        [
            "export",
            str(colour_model),
            "--format",
            "cube",
            "--size",
            "33",
            "--output",
            str(tmp_path / "m.cube"),
        ]
    )
    rgb = smooth_photo(40, 50, seed=3)
    through_lut = load_action(str(tmp_path / "m.cube"))(rgb)
    assert (through_lut - stylized(colour_model, rgb)).abs().mean() < 1 / 255  # trilinear between 33^3 points


def test_a_context_model_needs_a_reference_photo_for_a_cube(context_model: Path, tmp_path: Path):
    with pytest.raises(LumastyleError, match=r"depend on each pixel's surroundings.*--reference PHOTO"):
        from lumastyle.export import export

        export(str(context_model), "cube", str(tmp_path / "m.cube"))
    from lumastyle.io import write_image

    write_image(tmp_path / "ref.png", smooth_photo(40, 50, seed=4))
    main(["export", str(context_model), "--format", "cube", "--reference", str(tmp_path / "ref.png"),
          "--output", str(tmp_path / "m.cube")])  # fmt: skip
    assert load_action(str(tmp_path / "m.cube")).steps[0][0] == "lut3d"
