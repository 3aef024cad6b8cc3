"""The paper's Tables 1 (local styles) and 2 (global styles) on lumastyle's bundled sample photos,
or Table 1 on the paper's Uniform set when it is given (``--uniform``).

For each style rendered from a look (Spring, Cold; the local render_popout, render_watercolor,
render_clarity; the per-photo render_autotone, render_autolevels, render_popout_global): the mean
per-pixel CIELab distance between input and target on the test photos, the error of the best single
global quadratic-basis colour map fitted by least squares on the training photos, the per-photo
oracle (the best quadratic map fitted on each test photo's own target: the bound of every
image-adaptive global method, which gives each photo one colour map), the test error of a model
trained with ``lumastyle fit``, its ratios to the global fit and to the oracle, and the paper's
figures for the style it stands for (on the Uniform set, so comparable in kind, not in value).

    python benchmarks/tables.py                      # CPU preset (configs/cpu-small.yaml), 30 epochs a style
    python benchmarks/tables.py --styles spring cold # Table 2 only
    python benchmarks/tables.py --uniform dl-image-enhance   # Table 1 on the paper's Uniform set
    python benchmarks/tables.py --extra-config configs/gpu.yaml   # on a GPU
    python benchmarks/tables.py --reuse --sheet benchmarks    # re-evaluate the trained runs, draw STYLE.jpg
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

import torch
import yaml

from lumastyle.cli import main as lumastyle_main
from lumastyle.color import (
    apply_color_transform,
    denormalize_lab,
    fit_color_map,
    lab_distance,
    lab_to_rgb,
    normalize_lab,
    quadratic_basis,
    rgb_to_lab,
)
from lumastyle.data.actions import LookDataModule
from lumastyle.data.base import StyleDataModule
from lumastyle.data.uniform import UniformDataModule
from lumastyle.model import LumaStyle

REPO = Path(__file__).resolve().parents[1]
#: style -> (the paper's table and style it stands for, input vs target, the paper's model)
PAPER = {
    "spring": ("2: Spring", 18.56, 3.56),
    "cold": ("2: Cold", 16.95, 1.98),
    "render_popout": ("1: Foreground Pop-out", 13.86, 7.10),
    "render_watercolor": ("1: Watercolor", 15.30, 6.88),
    "render_clarity": ("- (no counterpart)", None, None),
    "render_autotone": ("- (per-photo: auto white balance and exposure, then a look)", None, None),
    "render_autolevels": ("- (per-photo: auto levels and contrast, then a look)", None, None),
    "render_popout_global": ("- (per-photo: the photo-wide, frequency-tuned pop-out)", None, None),
}
#: the paper's own Table 1 styles, on the Uniform set (``--uniform ROOT``)
UNIFORM = {
    "foreground_popout": ("1: Foreground Pop-out", 13.86, 7.10),
    "local_xpro": ("1: Local Xpro", 19.71, 6.98),
    "watercolor": ("1: Watercolor", 15.30, 6.88),
}


def run_data(ckpt: Path) -> StyleDataModule:
    """The DataModule the run trained on, rebuilt from the config.yaml beside its checkpoints (same split)."""
    data = yaml.safe_load((ckpt.parent.parent / "config.yaml").read_text())["data"]
    classes = {cls.__name__: cls for cls in (LookDataModule, UniformDataModule)}
    name = data["class_path"].rsplit(".", 1)[-1]
    if name not in classes:
        raise SystemExit(f"error: {ckpt} was not trained on a look or on the Uniform set ({name})")
    dm = classes[name](**{**data["init_args"], "num_workers": 0})
    dm.setup()
    return dm


def whole_pairs(dm: LookDataModule, split: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [ex.load(dm.long_side) for ex in dm.splits[split]]


def mean_distance(pairs: list[tuple[torch.Tensor, torch.Tensor]], predict=None) -> float:
    """Mean per-pixel Lab distance over all pixels of all photos (the paper's metric), measured on the
    image a user gets: each predictor returns sRGB clipped to [0, 1]."""
    total, count = 0.0, 0
    for rgb, target in pairs:
        written = rgb if predict is None else predict(rgb)
        d = lab_distance(rgb_to_lab(written), rgb_to_lab(target))
        total += d.sum().item()
        count += d.numel()
    return total / count


def fit_global_quadratic(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Least-squares 3x10 matrix M with target ~ M V(input), both normalised Lab, over all training pixels
    (what ``model.closed_form_start`` starts the head from)."""
    return fit_color_map((normalize_lab(rgb_to_lab(a)), normalize_lab(rgb_to_lab(b))) for a, b in pairs)


def per_photo_oracle(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """The mean distance (as :func:`mean_distance`) when every photo gets the best quadratic map fitted
    on its own target: what no method that gives each photo one global colour map can beat."""
    total, count = 0.0, 0
    for rgb, target in pairs:
        written = apply_global(fit_global_quadratic([(rgb, target)]))(rgb)
        d = lab_distance(rgb_to_lab(written), rgb_to_lab(target))
        total += d.sum().item()
        count += d.numel()
    return total / count


def apply_global(matrix: torch.Tensor):
    def predict(rgb: torch.Tensor) -> torch.Tensor:
        v = quadratic_basis(normalize_lab(rgb_to_lab(rgb.double())))
        lab = denormalize_lab(apply_color_transform(matrix.reshape(30, 1, 1), v))
        return lab_to_rgb(lab.float())  # clipped sRGB

    return predict


def model_predictor(model: LumaStyle):
    def predict(rgb: torch.Tensor) -> torch.Tensor:
        return model.stylize(rgb)  # lumastyle.inference: what `lumastyle stylize` writes

    return predict


def style_file(style: str) -> Path:
    """A style's file: a name in styles/, or a style file's path (benchmarks/unseen/*.yaml)."""
    return Path(style).resolve() if style.endswith(".yaml") else REPO / "styles" / f"{style}.yaml"


def style_name(style: str) -> str:
    return Path(style).stem


def train(style: str, workdir: Path, epochs: int, extra: list[str], uniform: Path | None = None) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    args = [
        "fit",
        "--config",
        str(style_file(style)),
        "--config",
        str(REPO / "configs" / "cpu-small.yaml"),
    ]
    for cfg in extra:
        args += ["--config", str(REPO / cfg)]
    args += ["--trainer.max_epochs", str(epochs), "--trainer.enable_model_summary", "false"]
    if style in UNIFORM:
        args += ["--data.root", str(uniform)]
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        lumastyle_main(args)
    finally:
        os.chdir(cwd)


def newest_checkpoint(workdir: Path, which: str) -> Path:
    """The newest run's ``best-*.ckpt`` (the epoch with the lowest validation error) or ``last.ckpt``."""
    pattern = "best-*.ckpt" if which == "best" else "last.ckpt"
    found = list(workdir.glob(f"runs/**/{pattern}"))
    if not found:
        raise SystemExit(f"error: no runs/**/{pattern} under {workdir}; run without --reuse first")
    return max(found, key=lambda p: p.stat().st_mtime)


def contact_sheet(
    path: Path, pairs: list[tuple[torch.Tensor, torch.Tensor]], columns: dict, height: int = 150
) -> None:
    """One row per photo: the input, then each predictor's rendering (sRGB), captioned on top."""
    from PIL import Image, ImageDraw

    def tile(rgb: torch.Tensor) -> Image.Image:
        array = (rgb.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        im = Image.fromarray(array)
        return im.resize((round(im.width * height / im.height), height), Image.LANCZOS)

    rows = []
    for rgb, target in pairs:
        with torch.no_grad():
            renders = [rgb, target] + [fn(rgb) for fn in columns.values()]
        rows.append([tile(x) for x in renders])
    widths = [max(row[i].width for row in rows) for i in range(len(rows[0]))]
    gap, caption = 4, 16
    sheet = Image.new(
        "RGB", (sum(widths) + gap * (len(widths) - 1), caption + len(rows) * (height + gap)), "white"
    )
    draw = ImageDraw.Draw(sheet)
    for i, name in enumerate(["input", "target (recipe)", *columns]):
        draw.text((sum(widths[:i]) + gap * i + 2, 2), name, fill="black")
    for r, row in enumerate(rows):
        for i, im in enumerate(row):
            sheet.paste(im, (sum(widths[:i]) + gap * i, caption + r * (height + gap)))
    sheet.save(path, quality=88)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles", nargs="+", default=None,
                        help=f"styles ({', '.join([*PAPER, *UNIFORM])}) or style files (benchmarks/unseen/*.yaml)")  # fmt: skip
    parser.add_argument(
        "--uniform",
        type=Path,
        default=None,
        help="the Uniform set (a clone of github.com/stephenyan1231/dl-image-enhance): Table 1 on its "
        "three styles instead of the rendered local looks",
    )
    parser.add_argument("--epochs", type=int, default=30, help="training epochs (the CPU preset's own: 30)")
    parser.add_argument("--extra-config", nargs="*", default=[], help="more configs after the CPU preset")
    parser.add_argument("--workdir", type=Path, default=Path("runs/tables"))
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here")
    parser.add_argument(
        "--reuse", action="store_true", help="evaluate the newest run in --workdir again, no training"
    )
    parser.add_argument(
        "--checkpoint",
        choices=["best", "last"],
        default="best",
        help="score the epoch with the lowest validation error (best, what lumastyle fit keeps as "
        "best-*.ckpt; never chosen on the test photos) or the last epoch",
    )
    parser.add_argument(
        "--sheet", type=Path, default=None, help="draw STYLE.jpg of 4 test photos in this folder"
    )
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)

    if args.uniform is not None:
        args.uniform = args.uniform.resolve()  # training runs inside --workdir
    if args.styles is None:
        args.styles = [
            "spring",
            "cold",
            *(UNIFORM if args.uniform else [k for k in PAPER if k.startswith("render")]),
        ]
    if any(style in UNIFORM for style in args.styles) and args.uniform is None:
        raise SystemExit("error: the Uniform styles need --uniform ROOT")
    unknown = [s for s in args.styles if s not in PAPER and s not in UNIFORM and not style_file(s).is_file()]
    if unknown:
        names = ", ".join([*PAPER, *UNIFORM])
        raise SystemExit(f"error: --styles: no style {unknown[0]!r}; give one of {names} or a style file")
    rows = []
    for style in args.styles:
        start = time.time()
        if not args.reuse:
            with contextlib.redirect_stdout(sys.stderr):
                train(style, args.workdir / style_name(style), args.epochs, args.extra_config, args.uniform)
        ckpt = newest_checkpoint(args.workdir / style_name(style), args.checkpoint)
        dm = run_data(ckpt)
        train_pairs, val_pairs, test_pairs = (whole_pairs(dm, s) for s in ("train", "val", "test"))
        baseline = mean_distance(test_pairs)
        model = model_predictor(LumaStyle.from_checkpoint(ckpt))
        global_map = apply_global(fit_global_quadratic(train_pairs))
        with torch.no_grad():
            global_fit = mean_distance(test_pairs, global_map)
            oracle = per_photo_oracle(test_pairs)
            model_err = mean_distance(test_pairs, model)
        if args.sheet:
            args.sheet.mkdir(parents=True, exist_ok=True)
            columns = {"global quadratic fit": global_map, "lumastyle": model}
            contact_sheet(args.sheet / f"{style_name(style)}.jpg", test_pairs[:4], columns)
        paper = {**PAPER, **UNIFORM}.get(style, ("-", None, None))
        rows.append(
            {
                "style": style_name(style),
                "train/val/test photos": f"{len(train_pairs)}/{len(val_pairs)}/{len(test_pairs)}",
                "input vs target": round(baseline, 2),
                "global quadratic fit": round(global_fit, 2),
                "per-photo oracle": round(oracle, 2),
                "lumastyle": round(model_err, 2),
                "epoch": torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)["epoch"],
                "lumastyle / global fit": round(model_err / global_fit, 2),
                "lumastyle / oracle": round(model_err / oracle, 2),
                "paper table": paper[0],
                "paper input vs target": paper[1],
                "paper model": paper[2],
                "seconds": round(time.time() - start),
            }
        )
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
