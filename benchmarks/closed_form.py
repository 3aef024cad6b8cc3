"""What the closed-form start alone reaches on the rendered styles, for each kind of low-level context.

The closed-form start (``model.closed_form_start`` with ``model.color_context.linear``) is the
least-squares colour map linear in each pixel's low-level context, its ridge chosen on the validation
photos. With no backbone (``scales: []``) and no training step it is a model in closed form, so it
shows in seconds what a kind of low-level context can carry of a look: the floor the CPU preset's
training starts from. Same photos, split and measure as ``benchmarks/tables.py`` (sample photos at
the CPU preset's long side 384; mean per-pixel Lab distance of the written image on the test photos),
with the per-photo oracle last (each test photo's own best quadratic map).

    PYTHONPATH=. python benchmarks/closed_form.py --styles render_popout render_watercolor
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
import yaml
from tables import (  # benchmarks/tables.py, beside this
    PAPER,
    mean_distance,
    model_predictor,
    per_photo_oracle,
    style_file,
    whole_pairs,
)

from lumastyle.data.actions import LookDataModule
from lumastyle.model import LumaStyle
from lumastyle.options import ColorContextOptions, ContextOptions

#: name -> the model's colour context options (the CPU preset's is the fourth; the last is
#: what render_watercolor.yaml adds to it)
CONTEXTS = {
    "global map (none)": {},
    "blur 4, 16": {"blur_radii": (4.0, 16.0)},
    "blur 4, 16, 48": {"blur_radii": (4.0, 16.0, 48.0)},
    "blur 4, 16, 48 + contrast": {"blur_radii": (4.0, 16.0, 48.0), "contrast": True},
    "+ regions 8, 16, 32": {
        "blur_radii": (4.0, 16.0, 48.0),
        "contrast": True,
        "regions": (8.0, 16.0, 32.0),
    },
    # styles/render_popout_global.yaml: the frequency-tuned saliency, normalised by each whole photo
    "blur 4, 16, 48 + contrast + saliency 16, 48": {
        "blur_radii": (4.0, 16.0, 48.0),
        "contrast": True,
        "saliency": (16.0, 48.0),
    },
    "photo-level alone": {"photo": True},
    "blur 4, 16, 48 + contrast + photo-level": {"blur_radii": (4.0, 16.0, 48.0), "contrast": True, "photo": True},
    # configs/photo-correction.yaml: the per-photo correction fitted first (on the style's relit
    # copies of the training photos when it gives data.variants), then the map linear in the context
    "blur 4, 16, 48 + contrast + photo-level + correction": {
        "blur_radii": (4.0, 16.0, 48.0),
        "contrast": True,
        "photo": True,
        "correction": True,
    },
    "photo-level + correction": {"photo": True, "correction": True},
}


def look_data(style: str, long_side: int) -> LookDataModule:
    """A style's LookDataModule: ``style`` is a name in styles/ or a style file's path."""
    data = yaml.safe_load(style_file(style).read_text())["data"]["init_args"]
    dm = LookDataModule(**{**data, "num_workers": 0, "long_side": long_side})
    dm.setup()
    return dm


def splits(style: str, long_side: int) -> dict[str, list[tuple[torch.Tensor, torch.Tensor]]]:
    dm = look_data(style, long_side)
    return {s: whole_pairs(dm, s) for s in ("train", "val", "test")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles", nargs="+", default=list(PAPER),
                        help=f"styles ({', '.join(PAPER)}) or style files (benchmarks/unseen/*.yaml)")  # fmt: skip
    parser.add_argument("--long-side", type=int, default=384)
    parser.add_argument("--contexts", nargs="+", default=list(CONTEXTS), choices=list(CONTEXTS),
                        help="which colour contexts (columns); the first is the ratios' reference")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    names = args.contexts
    print("| style | " + " | ".join(names) + " | per-photo oracle |")
    print("|---|" + "---:|" * (len(names) + 1))
    for style in args.styles:
        dm = look_data(style, args.long_side)
        photos = {s: whole_pairs(dm, s) for s in ("train", "val", "test")}
        errors = []
        for options in (CONTEXTS[name] for name in names):
            colour = ColorContextOptions(linear=bool(options), **options)
            model = LumaStyle(context=ContextOptions(scales=(), long_side=args.long_side if options else None),
                              color_context=colour, closed_form_start=True)  # fmt: skip
            model.network.start_from_closed_form(photos["train"], photos["val"], correction_pairs=dm.correction_pairs())
            with torch.no_grad():
                errors.append(mean_distance(photos["test"], model_predictor(model)))
        oracle = per_photo_oracle(photos["test"])
        row = [f"{e:.2f} ({e / errors[0]:.2f})" for e in [*errors, oracle]]
        print(f"| {Path(style).stem} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
