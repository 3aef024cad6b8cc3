"""Lightroom / Camera Raw .xmp preset tests: tiny presets written in the test."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from lumastyle.actions import load_action
from lumastyle.actions.xmp import read_xmp
from lumastyle.errors import LumastyleError

PRESET = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    crs:Version="15.0" crs:Exposure2012="+0.50" crs:Contrast2012="+20" crs:Vibrance="+25"
    crs:SaturationAdjustmentGreen="-40" crs:SplitToningShadowHue="220" crs:SplitToningShadowSaturation="30"
    crs:Clarity2012="+15" crs:Dehaze="+10" crs:Sharpness="40">
   <crs:Saturation>-10</crs:Saturation>
   <crs:ToneCurvePV2012Red>
    <rdf:Seq><rdf:li>0, 0</rdf:li><rdf:li>128, 150</rdf:li><rdf:li>255, 255</rdf:li></rdf:Seq>
   </crs:ToneCurvePV2012Red>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def write(tmp_path: Path, text: str, name: str = "p.xmp") -> str:
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


def test_maps_settings_onto_operations(tmp_path: Path):
    with pytest.warns(UserWarning, match=r"ignoring unsupported settings: Sharpness \(") as record:
        action = load_action(write(tmp_path, PRESET))
    assert len(record) == 1 and "\n" not in str(record[0].message)
    names = [name for name, _ in action.steps]
    assert names == [
        "exposure",
        "curves",
        "curves",
        "clarity",
        "dehaze",
        "hue_saturation",
        "vibrance",
        "split_toning",
    ]
    steps = [params for _, params in action.steps]
    assert steps[0] == {"stops": 0.5}
    assert steps[2] == {"r": [[0.0, 0.0], [128 / 255, 150 / 255], [1.0, 1.0]]}
    assert steps[3] == {"amount": pytest.approx(0.12), "radius": 0.03}
    assert steps[4] == {"amount": pytest.approx(0.1)}
    assert steps[5]["saturation"] == pytest.approx(-0.1)  # a child element, not an attribute
    assert steps[5]["ranges"] == [
        {"hue": 120, "width": 30, "feather": 30, "hue_shift": 0.0, "saturation": -0.4, "lightness": 0.0}
    ]
    assert steps[6] == {"amount": 0.25}
    assert steps[7]["shadow_hue"] == 220 and steps[7]["shadow_saturation"] == pytest.approx(0.3)
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.5
    assert action(x).mean() > x.mean()  # +0.5 EV brightens


def test_contrast_is_an_s_curve(tmp_path: Path):
    text = PRESET.split("<rdf:Description")[0] + (
        '<rdf:Description xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/" crs:Contrast2012="+100"/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    action = read_xmp(write(tmp_path, text))
    x = torch.tensor([0.2, 0.5, 0.8]).view(1, 1, 3).expand(3, 1, 3)
    out = action(x)[0, 0]
    assert out[0] < 0.2 and out[1] == pytest.approx(0.5, abs=1e-6) and out[2] > 0.8


@pytest.mark.parametrize(
    ("setting", "check"),
    [
        ("Blacks2012", lambda x, y: y[0] < x[0]),  # negative blacks crush the darkest tones
        ("Whites2012", lambda x, y: y[-1] < x[-1]),  # negative whites dim the brightest tones
        ("Shadows2012", lambda x, y: y[1] < x[1]),
        ("Highlights2012", lambda x, y: y[3] < x[3]),
    ],
)
def test_tone_sliders(tmp_path: Path, setting, check):
    text = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/" crs:{setting}="-60"/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    action = read_xmp(write(tmp_path, text))
    x = torch.tensor([0.05, 0.25, 0.5, 0.75, 0.97])
    y = action(x.view(1, 1, 5).expand(3, 1, 5))[0, 0]
    assert check(x, y)


def test_known_settings_do_not_warn(tmp_path: Path):
    path = write(tmp_path, PRESET.replace(' crs:Sharpness="40"', ""))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_action(path)


BOMB = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>'
    "<lolz>&lol2;</lolz>"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<x:xmpmeta", "not well-formed XML"),
        ("", "not well-formed XML"),
        (
            '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>',
            "DTDs and entities are not allowed",
        ),
        (BOMB, "DTDs and entities are not allowed"),
        ('<!DOCTYPE a SYSTEM "http://example.com/a.dtd"><a/>', "DTDs and entities are not allowed"),
        ("<a>&undefined;</a>", "not well-formed XML"),
        ("<a/>", "no Camera Raw"),
        (PRESET.replace('"+0.50"', '"bright"'), "crs:Exposure2012 is 'bright', not a number"),
        (
            PRESET.replace("<rdf:li>128, 150</rdf:li>", "<rdf:li>128; 150</rdf:li>"),
            "crs:ToneCurvePV2012Red has a point",
        ),
        (PRESET.replace("<rdf:li>128, 150</rdf:li>", "<rdf:li>128, 300</rdf:li>"), "pairs in 0..255"),
        (PRESET.replace("<rdf:li>128, 150</rdf:li><rdf:li>255, 255</rdf:li>", ""), "at least two"),
    ],
)
def test_malformed(tmp_path: Path, text, message):
    path = write(tmp_path, text, "bad.xmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(LumastyleError, match=message) as info:
            load_action(path)
    assert "bad.xmp" in str(info.value) and "\n" not in str(info.value)
