"""Lightroom settings beyond the basic panel, each checked on a ramp or a synthetic image: black and
white with its mix, Color Grading, process 2010 tone, camera calibration, Clarity/Texture, Dehaze,
vignette and grain, and that every setting is applied or named."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from lumastyle.actions import load_action
from lumastyle.actions.ops import luminance
from lumastyle.actions.xmp import KNOWN
from lumastyle.geometry import smooth


def preset(tmp_path: Path, **settings) -> str:
    attrs = " ".join(f'crs:{k}="{v}"' for k, v in settings.items())
    (tmp_path / "p.xmp").write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/" {attrs}/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    return str(tmp_path / "p.xmp")


def quiet(path: str):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every setting used here is applied: no warning
        return load_action(path)


def colours() -> torch.Tensor:
    """A red, a green and a blue patch over a grey ramp, (3, 8, 24)."""
    x = torch.linspace(0.1, 0.9, 24).view(1, 1, 24).expand(3, 8, 24).clone()
    x[:, :4, :8] = torch.tensor([0.7, 0.15, 0.1]).view(3, 1, 1)
    x[:, :4, 8:16] = torch.tensor([0.15, 0.6, 0.15]).view(3, 1, 1)
    x[:, :4, 16:] = torch.tensor([0.1, 0.2, 0.7]).view(3, 1, 1)
    return x


def test_black_and_white_presets_are_grey(tmp_path: Path):
    x = colours()
    out = quiet(preset(tmp_path, ConvertToGrayscale="True", SaturationAdjustmentRed="+50"))(x)
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])
    bright = quiet(preset(tmp_path, ConvertToGrayscale="True", GrayMixerRed="+80"))(x)
    dark = quiet(preset(tmp_path, ConvertToGrayscale="True", GrayMixerRed="-80"))(x)
    red, blue = (slice(None), slice(0, 4), slice(0, 8)), (slice(None), slice(0, 4), slice(16, 24))
    assert bright[red].mean() > out[red].mean() + 0.03 > dark[red].mean() + 0.06
    assert torch.allclose(bright[blue], out[blue], atol=1e-4) and torch.allclose(
        dark[blue], out[blue], atol=1e-4
    )


def test_a_colour_grading_shadow_wheel_tints_only_the_shadows(tmp_path: Path):
    ramp = torch.linspace(0, 1, 41).view(1, 1, 41).expand(3, 2, 41).clone()
    out = quiet(
        preset(tmp_path, ColorGradeShadowHue="240", ColorGradeShadowSat="80", ColorGradeBlending="50")
    )(ramp)
    assert (out[2, :, 2:8] > out[0, :, 2:8] + 0.02).all()  # luminance 0.05..0.2: blue
    assert torch.allclose(out[:, :, 34:], ramp[:, :, 34:], atol=1e-3)  # 0.85 and up: untouched
    lum = quiet(preset(tmp_path, ColorGradeGlobalLum="+40"))(ramp)
    assert (lum[:, :, 1:30] > ramp[:, :, 1:30]).all()


def test_split_toning_hues_become_the_wheels_of_a_colour_graded_preset(tmp_path: Path):
    action = quiet(
        preset(
            tmp_path,
            SplitToningShadowHue="200",
            SplitToningShadowSaturation="30",
            ColorGradeMidtoneLum="+10",
            SplitToningBalance="+20",
        )
    )
    ((name, params),) = action.steps
    assert name == "color_grading" and params["shadows"] == {
        "hue": 200.0,
        "saturation": 0.3,
        "luminance": 0.0,
    }
    assert params["midtones"]["luminance"] == pytest.approx(0.1) and params["balance"] == pytest.approx(0.2)


def test_process_2010_tone(tmp_path: Path):
    assert quiet(preset(tmp_path, Brightness="+50", Contrast="+25", Shadows="5")).steps == []  # its defaults
    ramp = torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95]).view(1, 1, 5).expand(3, 1, 5)
    ((name, params),) = quiet(preset(tmp_path, Exposure="+1.00")).steps
    assert (name, params) == ("exposure", {"stops": 1.0})
    fill = quiet(preset(tmp_path, FillLight="60"))(ramp)[0, 0]
    recovery = quiet(preset(tmp_path, HighlightRecovery="80"))(ramp)[0, 0]
    brighter = quiet(preset(tmp_path, Brightness="+100"))(ramp)[0, 0]
    assert fill[1] > 0.3 and recovery[3] < 0.72 and recovery[4] < 0.93 and brighter[2] > 0.53


def test_camera_calibration_primaries(tmp_path: Path):
    x = colours()
    out = quiet(preset(tmp_path, RedSaturation="-100"))(x)
    chroma = lambda img, cols: (img[:, :4, cols] - luminance(img)[:, :4, cols]).abs().mean()  # noqa: E731
    assert chroma(out, slice(0, 8)) < 0.2 * chroma(x, slice(0, 8))
    assert chroma(out, slice(16, 24)) == pytest.approx(float(chroma(x, slice(16, 24))), rel=1e-3)


@pytest.mark.parametrize(
    ("setting", "radius"), [("Clarity2012", 0.03), ("Texture", 0.005), ("Clarity", 0.03)]
)
def test_clarity_and_texture_add_local_contrast(tmp_path: Path, setting, radius):
    g = torch.Generator().manual_seed(0)
    grey = 0.5 + 0.1 * smooth(torch.randn(1, 150, 200, generator=g), 0.005)  # texture of a few pixels
    x = grey.expand(3, -1, -1).clamp(0, 1)
    out = quiet(preset(tmp_path, **{setting: "+80"}))(x)
    ((name, params),) = load_action(preset(tmp_path, **{setting: "+80"})).steps
    assert name == "clarity" and params["radius"] == radius
    detail = lambda img: (img - smooth(img, radius)).abs().mean()  # noqa: E731
    assert detail(out) > 1.2 * detail(x)


def test_dehaze_vignette_and_grain(tmp_path: Path):
    x = torch.full((3, 30, 40), 0.5)
    x[:, :6] = 0.95  # sky
    assert quiet(preset(tmp_path, Dehaze="+60"))(x).std() > x.std()
    corner = quiet(preset(tmp_path, PostCropVignetteAmount="-60", PostCropVignetteFeather="20"))(x)
    assert corner[:, -1, 0].max() < 0.4 and torch.allclose(corner[:, 15, 20], x[:, 15, 20])
    grainy = quiet(preset(tmp_path, GrainAmount="40", GrainSize="30", GrainFrequency="60"))
    assert (grainy(x) - x)[:, 10:].std() > 0.02
    with pytest.warns(UserWarning, match="grain"):
        assert grainy.for_training().steps == []


def test_every_setting_is_applied_or_named(tmp_path: Path):
    """A preset with every setting the reader knows, each away from neutral, warns about nothing; the
    settings it does not know, and vignette style at a value other than its default, are named once."""
    values = {k: "+20" for k in KNOWN}
    values.update(
        Exposure2012="+0.2",
        Exposure="+0.2",
        ConvertToGrayscale="True",
        ColorGradeBlending="40",
        ProcessVersion="11.0",
        Name="all",
    )
    values = {
        k: v for k, v in values.items() if not k.startswith("ToneCurvePV2012")
    }  # curves are element lists
    action = quiet(preset(tmp_path, **values))
    names = {name for name, _ in action.steps}
    assert names >= {"exposure", "curves", "clarity", "dehaze", "hue_saturation", "color_balance", "grayscale",
                     "color_grading", "vignette", "grain"}  # fmt: skip
    with pytest.warns(UserWarning) as record:
        load_action(preset(tmp_path, Exposure2012="+0.2", Sharpness="40", PostCropVignetteStyle="2",
                           PostCropVignetteHighlightContrast="0"))  # fmt: skip
    assert len(record) == 1
    message = str(record[0].message)
    assert "Sharpness, PostCropVignetteStyle" in message and "HighlightContrast" not in message
