"""What each part of the photo-level context is worth, in closed form (issue 26).

The photo-level statistics (:func:`lumastyle.context.photo_statistics`) are four groups of numbers:
the photo's mean Lab, its lightness at the 1st, 50th and 99th percentiles, its sRGB channels' means,
and their 99th percentiles. For each style this fits the closed-form start with photo-level context
alone (no backbone, no blurred colour context, no training step: the least-squares colour map
linear in the statistics, its ridge chosen on the validation photos) keeping only some groups (the
others are set to 0, which leaves their terms out of the least-squares solution), and prints the test
error with its ratio to the global map's, and the per-photo oracle. Same photos, split and measure as
``benchmarks/tables.py`` and ``benchmarks/closed_form.py``.

    PYTHONPATH=. python benchmarks/photo_context.py --styles render_autotone render_autolevels
"""

from __future__ import annotations

import argparse
import os
from unittest import mock

import torch
from closed_form import splits  # benchmarks/closed_form.py, beside this
from tables import PAPER, mean_distance, model_predictor, per_photo_oracle  # benchmarks/tables.py

import lumastyle.context
from lumastyle.model import LumaStyle
from lumastyle.options import ColorContextOptions, ContextOptions

#: the groups of photo_statistics' channels, in its order
GROUPS = {"mean Lab": range(0, 3), "L percentiles": range(3, 6), "sRGB means": range(6, 9), "sRGB 99th": range(9, 12)}
#: the columns: which groups each keeps
KEEP = {
    "mean Lab": ["mean Lab"],
    "+ L percentiles": ["mean Lab", "L percentiles"],
    "sRGB means + 99th": ["sRGB means", "sRGB 99th"],
    "all (the option)": list(GROUPS),
}


def only(groups: list[str]):
    """photo_statistics with every channel outside ``groups`` set to 0."""
    full = lumastyle.context.photo_statistics
    keep = torch.zeros(lumastyle.context.PHOTO_CHANNELS, dtype=torch.bool)
    for g in groups:
        keep[list(GROUPS[g])] = True

    def statistics(lab_n: torch.Tensor) -> torch.Tensor:
        return full(lab_n) * keep.to(lab_n.device)

    return statistics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles", nargs="+", default=["render_autotone", "render_autolevels"], choices=list(PAPER))
    parser.add_argument("--long-side", type=int, default=384)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    print("| style | global map | " + " | ".join(KEEP) + " | per-photo oracle |")
    print("|---|" + "---:|" * (len(KEEP) + 2))
    for style in args.styles:
        photos = splits(style, args.long_side)
        plain = LumaStyle(context=ContextOptions(scales=()), closed_form_start=True)
        plain.network.start_from_closed_form(photos["train"], photos["val"])
        with torch.no_grad():
            errors = [mean_distance(photos["test"], model_predictor(plain))]
        for groups in KEEP.values():
            with mock.patch.object(lumastyle.context, "photo_statistics", only(groups)):
                model = LumaStyle(context=ContextOptions(scales=(), long_side=args.long_side),
                                  color_context=ColorContextOptions(photo=True, linear=True), closed_form_start=True)  # fmt: skip
                model.network.start_from_closed_form(photos["train"], photos["val"])
                with torch.no_grad():
                    errors.append(mean_distance(photos["test"], model_predictor(model)))
        errors.append(per_photo_oracle(photos["test"]))
        print(f"| {style} | " + " | ".join(f"{e:.2f} ({e / errors[0]:.2f})" for e in errors) + " |", flush=True)


if __name__ == "__main__":
    main()
