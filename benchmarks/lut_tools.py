"""How closely other programs apply the LUTs ``lumastyle export`` writes: mean ΔE76 per format and tool.

Two colour-only models (no context, so a LUT is all of them): the Spring preset fitted in closed form
(the best quadratic colour map on the photos, as ``model.closed_form_start`` fits it) and the strong
look of tests/test_export_luts.py. Each is exported as .cube (33 points), .3dl (17) and a Hald CLUT
(level 8, 16-bit; and the same table as an 8-bit PNG, to show why 16), and each file applied to the
photos by ffmpeg's ``lut3d`` (16-bit input, rgb48 throughout), OpenColorIO's FileTransform (linear)
and ImageMagick's ``-hald-clut`` (Q16), against lumastyle's own reader of the same file and against
the model's ``stylize`` output. Photos: the first ``--photos`` of ../shared/photos when present (JPEG,
long side at most 640, given to the tools as 16-bit PNGs of the same pixels), else a generated one.

    PYTHONPATH=. python benchmarks/lut_tools.py [--shared ../shared/photos] [--photos 12]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import lightning as L
import numpy as np
import torch

from lumastyle.actions import Action, load_action
from lumastyle.actions.hald import read_hald, write_hald
from lumastyle.color import fit_color_map, lab_distance, normalize_lab, rgb_to_lab
from lumastyle.export import export
from lumastyle.io import list_images, read_image, write_image
from lumastyle.model import LumaStyle
from lumastyle.options import BackboneOptions, ContextOptions

#: the strong look of tests/test_export_luts.py (normalised Lab, quadratic basis)
STRONG_LOOK = [
    [-0.25, 0, 0, 0, 0, 0, 0.9, 0, 0, 0.1],
    [0, 0, 0, 0, 0, 0, 0, 1.4, 0.3, 0.04],
    [0, 0, 0, 0, 0.2, 0, 0, -0.2, 1.3, 0.08],
]


def delta_e(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(lab_distance(rgb_to_lab(a), rgb_to_lab(b)).mean())


def colour_model(matrix: torch.Tensor, path: Path) -> Path:
    """A checkpoint of a colour-only model whose colour map is ``matrix``, written without training."""
    model = LumaStyle(context=ContextOptions(scales=()), backbone=BackboneOptions(weights=None))
    model.network.head.start_from(matrix.float())
    trainer = L.Trainer(logger=False, enable_checkpointing=False, accelerator="cpu", enable_model_summary=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(path)
    return path


def photos(shared: Path, count: int) -> list[torch.Tensor]:
    if shared.is_dir():
        return [read_image(p)[0] for p in list_images(shared)[:count]]
    ys = torch.linspace(0, 1, 64).view(64, 1).expand(64, 96)
    xs = torch.linspace(0, 1, 96).view(1, 96).expand(64, 96)
    return [torch.stack([xs, 0.15 + 0.7 * ys, 1 - 0.8 * xs * ys])]


def run(command: list[str], hw: tuple[int, int], endian: str = "<") -> torch.Tensor:
    out = subprocess.run(command, capture_output=True, check=True, timeout=120).stdout
    array = np.frombuffer(out, f"{endian}u2").reshape(*hw, 3).astype(np.float32) / 65535
    return torch.from_numpy(array).permute(2, 0, 1)


def ffmpeg(lut: Path, png: Path, rgb: torch.Tensor) -> torch.Tensor:
    graph = f"format=rgb48le,lut3d=file={lut}"
    return run(["ffmpeg", "-v", "error", "-i", str(png), "-vf", graph, "-f", "rawvideo", "-pix_fmt", "rgb48le", "-"],
               tuple(rgb.shape[-2:]))  # fmt: skip


def opencolorio(lut: Path, png: Path, rgb: torch.Tensor) -> torch.Tensor:
    import PyOpenColorIO as ocio

    ocio.ClearAllCaches()  # OpenColorIO keeps a file it read by its path: the next look's file has the same one
    transform = ocio.FileTransform(src=str(lut), interpolation=ocio.INTERP_LINEAR)
    processor = ocio.Config.CreateRaw().getProcessor(transform).getDefaultCPUProcessor()
    pixels = np.ascontiguousarray(rgb.permute(1, 2, 0).numpy(), dtype=np.float32)
    processor.applyRGB(pixels)
    return torch.from_numpy(pixels).permute(2, 0, 1)


def imagemagick(hald: Path, png: Path, rgb: torch.Tensor) -> torch.Tensor:
    magick = shutil.which("convert-im6.q16") or shutil.which("magick") or "convert"
    return run([magick, str(png), str(hald), "-hald-clut", "-depth", "16", "-endian", "LSB", "rgb:-"],
               tuple(rgb.shape[-2:]))  # fmt: skip


TOOLS = {"ffmpeg": ffmpeg, "OpenColorIO": opencolorio, "ImageMagick": imagemagick}
ROWS = [  # (label, file key, tool)
    (".cube, 33 points", "cube", "ffmpeg"),
    (".cube, 33 points", "cube", "OpenColorIO"),
    (".3dl, 17 points, 12-bit", "3dl", "ffmpeg"),
    (".3dl, 17 points, 12-bit", "3dl", "OpenColorIO"),
    ("Hald .png, level 8, 16-bit", "hald", "ImageMagick"),
    ("Hald .png, level 8, 8-bit", "hald8", "ImageMagick"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/photos"))
    parser.add_argument("--photos", type=int, default=12)
    args = parser.parse_args()
    images = photos(args.shared, args.photos)
    spring = Action.from_spec("spring")
    with torch.no_grad():
        pairs = [(normalize_lab(rgb_to_lab(x)), normalize_lab(rgb_to_lab(spring(x)))) for x in images]
    looks = {"Spring (closed form)": fit_color_map(pairs), "strong look (tests)": torch.tensor(STRONG_LOOK)}
    work = Path(tempfile.mkdtemp(prefix="lut_tools_"))
    pngs = [write_image(work / f"photo{i}.png", x, bit_depth=16) for i, x in enumerate(images)]
    images = [read_image(p)[0] for p in pngs]
    results: dict[tuple[str, str, str], tuple[float, float, float]] = {}
    for look, matrix in looks.items():
        ckpt = colour_model(matrix, work / "model.ckpt")
        model = LumaStyle.from_checkpoint(ckpt)
        styled = [model.stylize(x) for x in images]
        files = {fmt: export(str(ckpt), fmt, str(work / f"look.{fmt}"))[0] for fmt in ("cube", "3dl")}
        files["hald"] = export(str(ckpt), "hald", str(work / "look.png"))[0]
        files["hald8"] = write_hald(work / "look8.png", read_hald(files["hald"]).steps[0][1]["table"], bit_depth=8)
        for label, key, tool in ROWS:
            ours = load_action(str(files[key]))
            scores = []
            for png, rgb, want in zip(pngs, images, styled, strict=True):
                theirs = TOOLS[tool](files[key], png, rgb)
                mine = ours(rgb)
                scores.append((delta_e(theirs, mine), delta_e(theirs, want), delta_e(mine, want)))
            mean = np.mean(np.array(scores), axis=0)
            results[(label, tool, look)] = (float(mean[0]), float(mean[1]), float(mean[2]))
        print(f"{look}: the look moves the photos by {np.mean([delta_e(s, x) for s, x in zip(styled, images, strict=True)]):.2f}")
    source = f"{len(images)} photos of {args.shared}" if args.shared.is_dir() else "the generated photo"
    print(f"\nmean ΔE76 on {source}: tool vs lumastyle's reader of the file / tool vs the model / lumastyle's reader vs the model\n")
    print("| format | tool | " + " | ".join(looks) + " |")
    print("|---|---|" + "---:|" * len(looks))
    for label, _, tool in ROWS:
        cells = [" / ".join(f"{v:.3f}" for v in results[(label, tool, look)]) for look in looks]
        print(f"| {label} | {tool} | " + " | ".join(cells) + " |")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
