"""Lightroom / Camera Raw .xmp preset tests."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from lumastyle.actions import load_action
from lumastyle.errors import LumastyleError

PRESET = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    crs:Version="15.0" crs:Exposure2012="+0.50" crs:Contrast2012="+20" crs:Vibrance="+25"
    crs:SaturationAdjustmentGreen="-40" crs:SplitToningShadowHue="220" crs:SplitToningShadowSaturation="30"
    crs:Clarity2012="+15" crs:Dehaze="+10">
   <crs:ToneCurvePV2012Red>
    <rdf:Seq><rdf:li>0, 0</rdf:li><rdf:li>128, 150</rdf:li><rdf:li>255, 255</rdf:li></rdf:Seq>
   </crs:ToneCurvePV2012Red>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def test_maps_settings_onto_operations(tmp_path: Path):
    (tmp_path / "p.xmp").write_text(PRESET)
    with pytest.warns(UserWarning, match=r"ignoring unsupported settings: Clarity2012, Dehaze") as record:
        action = load_action(str(tmp_path / "p.xmp"))
    assert len(record) == 1
    names = [name for name, _ in action.steps]
    assert names == ["exposure", "curves", "curves", "hue_saturation", "vibrance", "split_toning"]
    assert action.steps[0][1] == {"stops": 0.5}
    assert action.steps[2][1]["r"][1] == [128 / 255, 150 / 255]
    ranges = action.steps[3][1]["ranges"]
    assert ranges == [{"center": 120, "width": 30, "feather": 30, "hue": 0.0, "saturation": -0.4, "lightness": 0.0}]
    x = torch.rand(1, 3, 8, 8) * 0.5
    assert action(x).mean() > x.mean()  # +0.5 EV brightens


def test_known_settings_do_not_warn(tmp_path: Path):
    text = PRESET.replace(' crs:Clarity2012="+15" crs:Dehaze="+10"', "")
    (tmp_path / "p.xmp").write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_action(str(tmp_path / "p.xmp"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<x:xmpmeta", "not well-formed XML"),
        ('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', "DTDs and entities are not allowed"),
        ("<a/>", "no Camera Raw"),
        (PRESET.replace('"+0.50"', '"bright"'), "crs:Exposure2012 is 'bright'"),
    ],
)
def test_malformed(tmp_path: Path, text, message):
    (tmp_path / "bad.xmp").write_text(text)
    with pytest.raises(LumastyleError, match=message) as info:
        load_action(str(tmp_path / "bad.xmp"))
    assert "bad.xmp" in str(info.value)
