"""Every example look, and one synthetic Lightroom preset per setting, applied to the sample photos.

For each look file in ``examples/looks/``: its format, the operations it becomes, how many warnings
loading it gives, the mean per-pixel Lab distance it moves the photos by, and its speed. For each
Lightroom (crs:) setting lumastyle reads, and for common ones it does not: a preset holding that
setting (with the settings it needs to act, such as a hue's saturation), whether the setting is
applied (and by which operations) or named in the warning, and how far it moves the photos compared
with the same preset without it (0.00 would mean a setting said to be applied does nothing).

    PYTHONPATH=. python benchmarks/looks.py                 # markdown tables on stdout
    PYTHONPATH=. python benchmarks/looks.py --out looks.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import torch

from lumastyle.actions import load_action
from lumastyle.actions.xmp import _CURVES, _METADATA, KNOWN
from lumastyle.color import lab_distance, rgb_to_lab
from lumastyle.data.actions import sample_photos_dir
from lumastyle.data.base import fit_long_side
from lumastyle.io import list_images, read_image

REPO = Path(__file__).resolve().parents[1]
LOOKS = REPO / "examples" / "looks"
#: settings lumastyle does not read, as presets commonly hold them (each must be named in the warning)
UNSUPPORTED = {"Sharpness": "40", "LuminanceSmoothing": "20", "ColorNoiseReduction": "25", "Temperature": "5200",
               "Tint": "+8", "IncrementalTemperature": "+10", "IncrementalTint": "-5", "ParametricShadows": "+15",
               "ParametricHighlights": "-10", "LensProfileEnable": "1", "PostCropVignetteStyle": "2",
               "PostCropVignetteHighlightContrast": "30", "GrainSeed": "7"}  # fmt: skip
FORMATS = {".cube": "Adobe/Resolve .cube LUT", ".3dl": "Autodesk .3dl LUT", ".png": "Hald CLUT image",
           ".acv": "Photoshop curves", ".xmp": "Lightroom/Camera Raw preset"}  # fmt: skip


def partners(key: str) -> dict[str, str]:
    """The settings ``key`` needs beside it to change anything (a hue needs its saturation, ...)."""
    for wheel in ("Shadow", "Highlight"):
        if key in (f"SplitToning{wheel}Hue",):
            return {f"SplitToning{wheel}Saturation": "40"}
    if key == "SplitToningBalance":
        return {
            "SplitToningShadowSaturation": "40",
            "SplitToningHighlightSaturation": "40",
            "SplitToningHighlightHue": "40",
        }
    if key.startswith("ColorGrade") and key.endswith("Hue"):
        return {key[:-3] + "Sat": "40"}
    if key in ("ColorGradeBlending", "ColorGradeBalance"):
        return {"ColorGradeShadowHue": "220", "ColorGradeShadowSat": "60", "ColorGradeHighlightHue": "40",
                "ColorGradeHighlightSat": "60"}  # fmt: skip
    if key.startswith("GrayMixer"):
        return {"ConvertToGrayscale": "True"}
    if key.startswith("PostCropVignette") and key != "PostCropVignetteAmount":
        return {"PostCropVignetteAmount": "-40"}
    if key in ("GrainSize", "GrainFrequency"):
        return {"GrainAmount": "40"}
    return {}


def value(key: str) -> str:
    if key == "ConvertToGrayscale":
        return "True"
    if key.startswith("Exposure"):
        return "+0.50"
    if key.endswith("Hue") and ("SplitToning" in key or "ColorGrade" in key):
        return "200"
    if key == "ColorGradeBlending":
        return "90"
    return "+40"


def xmp(settings: dict[str, str]) -> str:
    attrs = " ".join(f'crs:{k}="{v}"' for k, v in settings.items() if k not in _CURVES)
    curves = "".join(
        f"<crs:{k}><rdf:Seq><rdf:li>0, 0</rdf:li><rdf:li>96, 128</rdf:li><rdf:li>255, 255</rdf:li></rdf:Seq></crs:{k}>"
        for k in settings
        if k in _CURVES
    )
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/" {attrs}>{curves}'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )


def load(path: Path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        action = load_action(str(path))
    return action, [str(w.message) for w in caught]


def change(photos: list[torch.Tensor], a, b=None) -> float:
    """Mean per-pixel Lab distance between ``b`` (default: the photo itself) and ``a`` applied."""
    total = count = 0.0
    with torch.no_grad():
        for rgb in photos:
            d = lab_distance(rgb_to_lab(a(rgb)), rgb_to_lab(rgb if b is None else b(rgb)))
            total, count = total + d.sum().item(), count + d.numel()
    return total / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long-side", type=int, default=256, help="photos are shrunk to this long side")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    photos = [fit_long_side(read_image(p)[0], args.long_side) for p in list_images(sample_photos_dir())]
    pixels = sum(p.shape[-1] * p.shape[-2] for p in photos)

    looks = []
    for path in sorted(p for p in LOOKS.iterdir() if p.suffix in FORMATS):
        action, said = load(path)
        start = time.perf_counter()
        moved = change(photos, action)
        seconds = time.perf_counter() - start
        steps = ", ".join(name for name, _ in action.steps)
        looks.append({"look": path.name, "format": FORMATS[path.suffix], "operations": steps,
                      "warnings": len(said), "mean Lab change": round(moved, 2),
                      "ms per MP": round(1000 * seconds / (pixels / 1e6))})  # fmt: skip

    settings = []
    keys = sorted(k for k in KNOWN if k not in _METADATA) + list(UNSUPPORTED)
    with tempfile.TemporaryDirectory() as tmp:
        for key in keys:
            base = partners(key)
            Path(tmp, "with.xmp").write_text(xmp({**base, key: UNSUPPORTED.get(key, value(key))}))
            action, said = load(Path(tmp, "with.xmp"))
            named = any(key in message.split(": ignoring unsupported settings: ", 1)[-1] for message in said)
            reference = None
            if base:
                Path(tmp, "without.xmp").write_text(xmp(base))
                reference = load(Path(tmp, "without.xmp"))[0]
            ops = sorted(
                {name for name, _ in action.steps} - ({n for n, _ in reference.steps} if reference else set())
            )
            settings.append({"setting": key, "needs": ", ".join(base) or "-",
                             "status": "named in the warning" if named else "applied",
                             "operations": ", ".join(ops) or ("(changes an operation's parameters)" if not named else "-"),
                             "mean Lab change": round(change(photos, action, reference), 2)})  # fmt: skip

    for rows in (looks, settings):
        keys = list(rows[0])
        print("| " + " | ".join(keys) + " |")
        print("|" + "---|" * len(keys))
        for row in rows:
            print("| " + " | ".join(str(row[k]) for k in keys) + " |")
        print()
    applied = sum(r["status"] == "applied" for r in settings)
    print(f"{applied} settings applied, {len(settings) - applied} named in the warning, "
          f"{len(looks)} example looks, {len(photos)} photos at long side {args.long_side}")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps({"looks": looks, "settings": settings}, indent=2))


if __name__ == "__main__":
    main()
