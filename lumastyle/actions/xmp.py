"""Lightroom / Camera Raw ``.xmp`` presets, mapped onto lumastyle's operations.

Raw-development settings have no exact public formulas; the mapping approximates each one with the
operations in :mod:`lumastyle.actions.ops` (tone settings through one master tone curve). Settings
that have no counterpart are named in one warning, never dropped silently.
"""

from __future__ import annotations

import os
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from lumastyle.actions.action import Action
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
_TONE = ("Exposure2012", "Contrast2012", "Highlights2012", "Shadows2012", "Whites2012", "Blacks2012")
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
             "CameraProfile", "Look"}  # fmt: skip
KNOWN = {*_TONE, *_CURVES, *_SPLIT, *_HSL, "Vibrance", "Saturation", *_METADATA}


def _settings(root: ET.Element) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for el in root.iter():
        for key, value in el.attrib.items():
            if key.startswith(f"{{{CRS}}}"):
                found[key[len(CRS) + 2 :]] = value
        if el.tag.startswith(f"{{{CRS}}}"):
            name = el.tag[len(CRS) + 2 :]
            items = [li.text or "" for li in el.iter(f"{{{RDF}}}li")]
            found[name] = items if items else (el.text or "").strip()
    return found


def _number(settings: dict[str, Any], key: str, path: Path) -> float:
    try:
        return float(str(settings.get(key, 0)).replace("+", ""))
    except ValueError:
        raise LumastyleError(f"{path}: crs:{key} is {settings[key]!r}, not a number") from None


def _curve(items: Any, key: str, path: Path) -> list[list[float]]:
    if not isinstance(items, list) or len(items) < 2:
        raise LumastyleError(f"{path}: crs:{key} must be a sequence of at least two 'x, y' points")
    try:
        points = [[float(v) / 255.0 for v in item.split(",")] for item in items]
    except ValueError:
        raise LumastyleError(f"{path}: crs:{key} has a point that is not 'x, y' numbers") from None
    if any(len(p) != 2 or not (0 <= p[0] <= 1 and 0 <= p[1] <= 1) for p in points):
        raise LumastyleError(f"{path}: crs:{key} points must be 'x, y' pairs in 0..255")
    return points


def read_xmp(path: str | os.PathLike) -> Action:
    """A Lightroom/Camera Raw preset as an action; unsupported settings are named in one warning."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise LumastyleError(f"{path}: cannot read ({err.strerror or err})") from None
    if len(data) > _MAX_BYTES:
        raise LumastyleError(f"{path}: {len(data)} bytes is too large for a preset (limit {_MAX_BYTES})")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise LumastyleError(f"{path}: DTDs and entities are not allowed in presets; remove them")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        raise LumastyleError(f"{path}: not well-formed XML ({err})") from None
    s = _settings(root)
    if not s:
        raise LumastyleError(f"{path}: no Camera Raw (crs:) settings found; is this a Lightroom preset?")
    unknown = sorted(k for k in s if k not in KNOWN)
    if unknown:
        warnings.warn(f"{path}: ignoring unsupported settings: {', '.join(unknown)}", stacklevel=2)
    n = {
        k: _number(s, k, path) / 100.0
        for k in (*_TONE[1:], "Vibrance", "Saturation", *_HSL, *_SPLIT[1::2], *_SPLIT[4:])
    }
    steps: list[tuple[str, dict[str, Any]]] = []
    if _number(s, "Exposure2012", path):
        steps.append(("exposure", {"stops": _number(s, "Exposure2012", path)}))
    tone = [n[k] for k in _TONE[1:]]
    if any(tone):
        c, hi, sh, wh, bl = tone
        points = [
            [0.0, min(max(0.1 * bl, 0.0), 0.2)],
            [0.25, 0.25 + 0.08 * sh - 0.05 * c],
            [0.5, 0.5],
            [0.75, 0.75 + 0.08 * hi + 0.05 * c],
            [1.0, max(min(1.0 + 0.1 * wh, 1.0), 0.8)],
        ]
        steps.append(("curves", {"master": points}))
    curves = {ch: _curve(s[key], key, path) for key, ch in _CURVES.items() if key in s}
    curves = {ch: pts for ch, pts in curves.items() if pts != [[0.0, 0.0], [1.0, 1.0]]}
    if curves:
        steps.append(("curves", curves))
    ranges = []
    for band, center in HSL_BANDS.items():
        h, sat, lum = (n[f"{kind}Adjustment{band}"] for kind in ("Hue", "Saturation", "Luminance"))
        if h or sat or lum:
            ranges.append(
                {
                    "center": center,
                    "width": 30,
                    "feather": 30,
                    "hue": 30 * h,
                    "saturation": sat,
                    "lightness": 0.5 * lum,
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
