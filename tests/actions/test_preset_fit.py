"""Lightroom presets written and fitted: ``write_xmp`` writes what ``read_xmp`` and exiftool read, the
rendering of fitted (tensor) settings is the rendering of the written file and is differentiable, and
``fit_preset`` recovers a real preset from what it does to photos, on other photos."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from lumastyle.actions import Action
from lumastyle.actions.preset_fit import CURVE_X, CURVES, fit_preset
from lumastyle.actions.registry import get_operation
from lumastyle.actions.xmp import RANGES, preset_steps, read_xmp, write_xmp
from lumastyle.color import lab_distance, rgb_to_lab

SETTINGS = {
    "HueAdjustmentOrange": -12.0, "SaturationAdjustmentBlue": -30.0, "LuminanceAdjustmentGreen": 20.0,
    "Saturation": 10.0, "Vibrance": -15.0, "SplitToningShadowHue": 210.0, "SplitToningShadowSaturation": 20.0,
    "SplitToningHighlightHue": 40.0, "SplitToningHighlightSaturation": 15.0, "SplitToningBalance": -20.0,
    "ColorGradeMidtoneHue": 300.0, "ColorGradeMidtoneSat": 10.0, "ColorGradeMidtoneLum": 8.0,
    "ColorGradeGlobalHue": 100.0, "ColorGradeGlobalSat": 5.0, "ColorGradeBlending": 70.0,
}  # fmt: skip
LOOKS = Path(__file__).resolve().parents[2] / "examples" / "looks"
CURVE = [(0, 20), (64, 60), (128, 140), (255, 240)]


def photos(n: int, seed: int, size: int = 48) -> list[torch.Tensor]:
    """Photo-like test images: smooth random colour fields (every hue and tone) with a dark-to-light ramp."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        field = F.interpolate(
            torch.rand(1, 3, 4, 4, generator=g), size=(size, size), mode="bicubic", align_corners=True
        )
        ramp = torch.linspace(0.15, 1.0, size).view(1, 1, 1, size)
        out.append((field * ramp).clamp(0, 1)[0])
    return out


def delta_e(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(lab_distance(rgb_to_lab(a), rgb_to_lab(b)).mean())


def render(settings: dict, image: torch.Tensor) -> torch.Tensor:
    for name, params in preset_steps(settings, "test"):
        image = get_operation(name).function(image, **params)
    return image


def test_written_preset_reads_back_as_its_settings(tmp_path):
    path = write_xmp(tmp_path / "look.xmp", SETTINGS, "a look", curves={"ToneCurvePV2012Red": CURVE})
    from_file = {**SETTINGS, "ToneCurvePV2012Red": [f"{x}, {y}" for x, y in CURVE]}
    image = torch.stack(photos(2, seed=1))
    want = Action(preset_steps(from_file, "settings"))(image)
    assert delta_e(read_xmp(path)(image), want) < 1e-4
    assert delta_e(want, image) > 2  # the settings do something
    text = path.read_text()
    assert 'crs:ProcessVersion="11.0"' in text and 'crs:HasSettings="True"' in text
    assert (
        write_xmp(
            tmp_path / "again.xmp", SETTINGS, "a look", curves={"ToneCurvePV2012Red": CURVE}
        ).read_text()
        == text
    )


@pytest.mark.parametrize(
    ("settings", "curves"),
    [({"Vibrance": 101.0}, {}), ({"SplitToningShadowHue": -3.0}, {}), ({"Clarity2012": 10.0}, {}),
     ({}, {"ToneCurvePV2012": [(0, 0), (256, 255)]}), ({}, {"ToneCurvePV2012": [(0, 0)]})],
)  # fmt: skip
def test_write_xmp_refuses_what_lightroom_cannot_hold(tmp_path, settings, curves):
    with pytest.raises(ValueError, match="crs:"):
        write_xmp(tmp_path / "bad.xmp", settings, "bad", curves=curves)


def test_exiftool_reads_every_setting_in_the_crs_namespace(tmp_path):
    exiftool = shutil.which("exiftool")
    if exiftool is None:
        pytest.skip("exiftool is not installed (Debian package libimage-exiftool-perl)")
    path = write_xmp(tmp_path / "look.xmp", SETTINGS, "my look", group="tests", curves={"ToneCurvePV2012": CURVE},
                     grayscale=True)  # fmt: skip
    done = subprocess.run(
        [exiftool, "-j", "-G1", "-struct", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    (tags,) = json.loads(done.stdout)
    crs = {key.split(":", 1)[1]: value for key, value in tags.items() if key.startswith("XMP-crs:")}
    others = [key for key in tags if key.startswith("XMP-") and not key.startswith(("XMP-crs:", "XMP-x:"))]
    assert not others
    for key, value in SETTINGS.items():
        assert float(crs[key]) == value, key
    assert crs["ToneCurvePV2012"] == [f"{x}, {y}" for x, y in CURVE]
    assert crs["ConvertToGrayscale"] is True or str(crs["ConvertToGrayscale"]).lower() == "true"
    assert str(crs["ProcessVersion"]) == "11.0" and str(crs["HasSettings"]).lower() == "true"
    assert crs["Name"] == "my look" and crs["Group"] == "tests"


def test_tensor_settings_render_as_the_file_does_and_differentiably():
    image = torch.stack(photos(1, seed=2, size=6)).double()
    as_file = {**SETTINGS, "ToneCurvePV2012": [f"{x}, {y}" for x, y in CURVE]}
    as_tensors = {k: torch.tensor(v, dtype=torch.float64) for k, v in SETTINGS.items()}
    as_tensors["ToneCurvePV2012"] = torch.tensor(CURVE, dtype=torch.float64)
    assert torch.allclose(render(as_tensors, image), render(as_file, image), atol=1e-6)

    keys = ["HueAdjustmentOrange", "Vibrance", "Saturation", "ColorGradeMidtoneLum", "SplitToningShadowSaturation",
            "SplitToningHighlightHue", "ColorGradeBlending"]  # fmt: skip

    def rendered(values: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        settings = {**as_tensors, **dict(zip(keys, values, strict=True))}
        settings["ToneCurvePV2012"] = torch.stack([as_tensors["ToneCurvePV2012"][:, 0], ys], dim=1)
        return render(settings, image)

    values = torch.tensor([SETTINGS[k] for k in keys], dtype=torch.float64, requires_grad=True)
    ys = torch.tensor([y for _, y in CURVE], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(rendered, (values, ys), eps=1e-4, atol=1e-5)


def test_fit_recovers_a_real_preset_on_other_photos():
    """warm_film.xmp (every setting a colour map): rendered onto photos, fitted back, within mean ΔE76
    1.5 of the original on photos it was not fitted on; the settings stay in Lightroom's ranges."""
    look = read_xmp(LOOKS / "warm_film.xmp")
    fit_on, held_out = photos(6, seed=3), photos(6, seed=4)
    fit = fit_preset(fit_on, [look(p) for p in fit_on], grayscale=False, steps=150, samples=6000)
    before = sum(delta_e(p, look(p)) for p in held_out) / len(held_out)
    after = sum(delta_e(fit.action()(p), look(p)) for p in held_out) / len(held_out)
    assert after < 1.5 < before
    assert fit.error < 1.5 and fit.history[-1] < fit.history[0]
    for key, value in fit.settings.items():
        low, high = RANGES[key]
        assert low <= value <= high and value == round(value), key
    assert set(fit.curves) == set(CURVES)
    assert all(
        [x for x, _ in pts] == list(CURVE_X) and all(0 <= y <= 255 for _, y in pts)
        for pts in fit.curves.values()
    )


def test_fit_chooses_black_and_white_for_a_black_and_white_look_and_finds_its_vignette():
    look = Action(
        [
            ("grayscale", {"amount": 1.0, "mix": {"red": 0.4, "blue": -0.5}}),
            ("curves", {"master": [[0, 0.1], [1, 0.9]]}),
            ("vignette", {"amount": -0.3, "midpoint": 0.5}),
        ]
    )
    fit_on = photos(3, seed=5, size=32)
    fit = fit_preset(fit_on, [look(p) for p in fit_on], steps=80, samples=3000)
    assert fit.grayscale and fit.error < 1.5
    assert fit.settings["GrayMixerRed"] > 10 and fit.settings["GrayMixerBlue"] < -10
    assert -45 <= fit.settings["PostCropVignetteAmount"] <= -15
    without = fit_preset(fit_on, [look(p) for p in fit_on], steps=80, samples=3000, vignette=False)
    assert fit.error < without.error - 0.2
