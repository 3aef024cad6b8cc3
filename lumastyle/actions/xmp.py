"""Lightroom / Camera Raw ``.xmp`` presets, mapped onto lumastyle's operations.

Raw-development settings have no public formulas; the mapping approximates each one with the
operations in :mod:`lumastyle.actions.ops` (the basic tone sliders through one master tone curve).
Settings without a counterpart are named in one warning, never dropped silently. Files with a DTD
or entity declarations are refused (they can expand into huge documents).
"""

from __future__ import annotations

import os
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from xml.parsers import expat

from lumastyle.actions.action import Action, read_look_file
from lumastyle.actions.ops import IDENTITY_CURVE
from lumastyle.errors import LumastyleError

CRS = "http://ns.adobe.com/camera-raw-settings/1.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_MAX_BYTES = 4 << 20
#: Lightroom's eight HSL colour bands and their hue centres in degrees.
HSL_BANDS = {
    "Red": 0,
    "Orange": 30,
    "Yellow": 60,
    "Green": 120,
    "Aqua": 180,
    "Blue": 240,
    "Purple": 270,
    "Magenta": 300,
}
_TONE = ("Contrast2012", "Highlights2012", "Shadows2012", "Whites2012", "Blacks2012")
_CURVES = {
    "ToneCurvePV2012": "master",
    "ToneCurvePV2012Red": "r",
    "ToneCurvePV2012Green": "g",
    "ToneCurvePV2012Blue": "b",
}
_SPLIT = ("SplitToningShadowHue", "SplitToningShadowSaturation", "SplitToningHighlightHue",
          "SplitToningHighlightSaturation", "SplitToningBalance")  # fmt: skip
_HSL = tuple(f"{kind}Adjustment{band}" for kind in ("Hue", "Saturation", "Luminance") for band in HSL_BANDS)
#: Descriptive settings that change nothing in the picture.
_METADATA = {"Version", "ProcessVersion", "HasSettings", "PresetType", "UUID", "SupportsAmount", "SupportsColor",
             "SupportsMonochrome", "SupportsHighDynamicRange", "SupportsNormalDynamicRange", "SupportsSceneReferred",
             "SupportsOutputReferred", "CameraModelRestriction", "Copyright", "ContactInfo", "Name", "ShortName",
             "SortName", "Group", "Description", "Cluster", "HasCrop", "AlreadyApplied", "ToneCurveName2012",
             "ToneCurveName", "CameraProfile", "Look", "RequiresRGBTables"}  # fmt: skip
#: Every crs setting the reader understands (anything else is named in a warning).
KNOWN = {"Exposure2012", *_TONE, *_CURVES, *_SPLIT, *_HSL, "Vibrance", "Saturation", *_METADATA}


class _Refused(Exception):
    pass


def _refuse(*_: Any) -> None:
    raise _Refused


def _parse(data: bytes, path: Path) -> ET.Element:
    """Parse XML, refusing DTDs and entity declarations before anything can expand."""
    guard = expat.ParserCreate()
    guard.StartDoctypeDeclHandler = _refuse
    guard.EntityDeclHandler = _refuse
    try:
        guard.Parse(data, True)
        return ET.fromstring(data)
    except _Refused:
        raise LumastyleError(
            f"{path}: DTDs and entities are not allowed in presets (a hostile file can expand without bound); remove them"
        ) from None
    except (expat.ExpatError, ET.ParseError) as err:
        raise LumastyleError(f"{path}: not well-formed XML ({err}); re-export the preset") from None


def _settings(root: ET.Element) -> dict[str, Any]:
    """crs settings, whether attributes of rdf:Description or child elements (curves: lists of rdf:li)."""
    prefix = f"{{{CRS}}}"
    found: dict[str, Any] = {}
    for el in root.iter():
        for key, value in el.attrib.items():
            if key.startswith(prefix):
                found[key[len(prefix) :]] = value
        if el.tag.startswith(prefix):
            items = [li.text or "" for li in el.iter(f"{{{RDF}}}li")]
            found[el.tag[len(prefix) :]] = items if items else (el.text or "").strip()
    return found


def _number(settings: dict[str, Any], key: str, path: Path) -> float:
    value = settings.get(key, 0)
    try:
        v = float(str(value).strip().replace("+", ""))
    except ValueError:
        v = float("nan")
    if v != v or abs(v) == float("inf"):
        raise LumastyleError(f"{path}: crs:{key} is {value!r}, not a number; fix the preset")
    return v


def _curve(items: Any, key: str, path: Path) -> list[list[float]]:
    if not isinstance(items, list) or len(items) < 2:
        raise LumastyleError(
            f"{path}: crs:{key} must be an rdf:Seq of at least two 'x, y' points; fix the preset"
        )
    try:
        points = [[float(v) / 255.0 for v in item.split(",")] for item in items]
    except ValueError:
        raise LumastyleError(
            f"{path}: crs:{key} has a point that is not 'x, y' numbers; fix the preset"
        ) from None
    if any(len(p) != 2 or not (0 <= p[0] <= 1 and 0 <= p[1] <= 1) for p in points):
        raise LumastyleError(f"{path}: crs:{key} points must be 'x, y' pairs in 0..255; fix the preset")
    return points


def _tone_curve(
    contrast: float, highlights: float, shadows: float, whites: float, blacks: float
) -> list[list[float]]:
    """Approximate the basic tone sliders (each -1..1) with one master curve."""
    black = [0.1 * -blacks, 0.0] if blacks < 0 else [0.0, 0.1 * blacks]  # crush or lift the blacks
    white = [1.0 - 0.1 * whites, 1.0] if whites > 0 else [1.0, 1.0 + 0.1 * whites]  # clip or dim the whites
    quarter = max(0.25 + 0.1 * shadows - 0.06 * contrast, black[1] + 0.01)
    three_quarter = min(0.75 + 0.1 * highlights + 0.06 * contrast, white[1] - 0.01)
    return [black, [0.25, quarter], [0.5, 0.5], [0.75, three_quarter], white]


def read_xmp(path: str | os.PathLike) -> Action:
    """A Lightroom/Camera Raw preset as an action; unsupported settings are named in one warning."""
    path = Path(path)
    data = read_look_file(path)
    if len(data) > _MAX_BYTES:
        raise LumastyleError(f"{path}: {len(data)} bytes is too large for a preset (limit {_MAX_BYTES})")
    s = _settings(_parse(data, path))
    if not s:
        raise LumastyleError(
            f"{path}: no Camera Raw (crs:) settings found; export a Lightroom/Camera Raw preset"
        )
    unknown = sorted(k for k in s if k not in KNOWN)
    if unknown:
        warnings.warn(
            f"{path}: ignoring unsupported settings: {', '.join(unknown)} (lumastyle has no counterpart)",
            stacklevel=2,
        )
    hues = ("SplitToningShadowHue", "SplitToningHighlightHue")  # degrees; the rest are -100..100 sliders
    n = {
        k: _number(s, k, path) / 100.0
        for k in (*_TONE, "Vibrance", "Saturation", *_HSL, *_SPLIT)
        if k not in hues
    }
    steps: list[tuple[str, dict[str, Any]]] = []
    stops = _number(s, "Exposure2012", path)
    if stops:
        steps.append(("exposure", {"stops": stops}))
    if any(n[k] for k in _TONE):
        steps.append(("curves", {"master": _tone_curve(*(n[k] for k in _TONE))}))
    curves = {ch: _curve(s[key], key, path) for key, ch in _CURVES.items() if key in s}
    curves = {ch: pts for ch, pts in curves.items() if pts != IDENTITY_CURVE}
    if curves:
        steps.append(("curves", curves))
    ranges = []
    for band, center in HSL_BANDS.items():
        hue, sat, lum = (n[f"{kind}Adjustment{band}"] for kind in ("Hue", "Saturation", "Luminance"))
        if hue or sat or lum:
            ranges.append(
                {
                    "hue": center,
                    "width": 30,
                    "feather": 30,
                    "hue_shift": 30 * hue,
                    "saturation": sat,
                    "lightness": 0.3 * lum,
                }
            )
    if n["Saturation"] or ranges:
        steps.append(("hue_saturation", {"saturation": n["Saturation"], "ranges": ranges}))
    if n["Vibrance"]:
        steps.append(("vibrance", {"amount": n["Vibrance"]}))
    if n["SplitToningShadowSaturation"] or n["SplitToningHighlightSaturation"]:
        steps.append(
            (
                "split_toning",
                {
                    "highlight_hue": _number(s, "SplitToningHighlightHue", path),
                    "highlight_saturation": n["SplitToningHighlightSaturation"],
                    "shadow_hue": _number(s, "SplitToningShadowHue", path),
                    "shadow_saturation": n["SplitToningShadowSaturation"],
                    "balance": n["SplitToningBalance"],
                },
            )
        )
    return Action(steps, str(path))
