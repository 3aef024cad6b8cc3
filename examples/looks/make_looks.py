"""Regenerate the example looks in this folder from the recipes below (run from anywhere).

``teal_orange.cube`` is a 3D LUT baked from a recipe, as a grading tool would export it;
``matte_fade.acv`` is a set of Photoshop curves. ``warm_film.xmp`` is a hand-written Lightroom preset
and is not generated.
"""

from __future__ import annotations

from pathlib import Path

from lumastyle.actions import Action, bake_lut, write_cube
from lumastyle.actions.acv import write_acv

HERE = Path(__file__).resolve().parent

#: Teal shadows, orange highlights, a little more contrast: the blockbuster grade.
TEAL_ORANGE = [
    {"split_toning": {"shadow_hue": 190, "shadow_saturation": 0.8, "highlight_hue": 30,
                      "highlight_saturation": 0.7, "balance": 0.1}},
    {"brightness_contrast": {"contrast": 0.15}},
    {"vibrance": {"amount": 0.2}},
]  # fmt: skip

#: Lifted blacks, rolled-off whites and slightly blue shadows: a matte print.
MATTE_FADE = {
    "master": [[0.0, 0.12], [0.25, 0.27], [0.75, 0.76], [1.0, 0.92]],
    "b": [[0.0, 0.05], [0.5, 0.5], [1.0, 0.98]],
}


def main() -> None:
    write_cube(
        HERE / "teal_orange.cube", bake_lut(Action.from_spec(TEAL_ORANGE), size=17), title="teal orange"
    )
    write_acv(HERE / "matte_fade.acv", MATTE_FADE)


if __name__ == "__main__":
    main()
