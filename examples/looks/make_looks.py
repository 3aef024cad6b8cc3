"""Regenerate the example looks in this folder from the recipes below (run from anywhere).

``teal_orange.cube`` is a 3D LUT baked from a recipe, as a grading tool would export it;
``matte_fade.acv`` is a set of Photoshop curves; ``cine_shaper.cube`` a Resolve-style .cube with a 1D
shaper before its 3D table; ``bleach_bypass.3dl`` an Autodesk integer 3D LUT; ``cross_process.png`` a
Hald CLUT image (level 6). The ``.xmp`` Lightroom presets are hand-written and not generated.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lumastyle.actions import Action, bake_lut, write_cube
from lumastyle.actions.acv import write_acv
from lumastyle.actions.cube import CubeLUT, identity_lut
from lumastyle.actions.hald import identity_hald
from lumastyle.actions.threedl import write_3dl
from lumastyle.io import write_image

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


#: A teal-and-orange grade with more contrast, for the shaper .cube.
CINE = [
    {
        "color_grading": {
            "shadows": {"hue": 190, "saturation": 0.5},
            "highlights": {"hue": 35, "saturation": 0.4},
        }
    },
    {"curves": {"master": [[0.0, 0.0], [0.25, 0.2], [0.75, 0.8], [1.0, 1.0]]}},
]
#: Bleach bypass: most colour gone, hard contrast.
BLEACH = [{"hue_saturation": {"saturation": -0.6}}, {"brightness_contrast": {"contrast": 0.3}}]
#: Cross processing: crossed channel curves, as slide film in negative chemistry.
CROSS = [
    {"curves": {"r": [[0.0, 0.0], [0.3, 0.22], [0.7, 0.8], [1.0, 1.0]],
                "g": [[0.0, 0.02], [0.5, 0.55], [1.0, 0.97]],
                "b": [[0.0, 0.12], [0.5, 0.45], [1.0, 0.85]]}},
]  # fmt: skip
SHAPER_GAMMA = 0.6  # the shaper: x ** 0.6, more lattice points in the shadows


def shaper_lut(recipe: list, size: int = 17, shaper_size: int = 256) -> CubeLUT:
    """``recipe`` as a 1D shaper x ** SHAPER_GAMMA followed by a 3D table of the recipe applied at the
    shaper's inverse of each lattice point, so shaper then table render the recipe."""
    x = torch.linspace(0, 1, shaper_size)
    shaper = CubeLUT((x**SHAPER_GAMMA)[:, None].expand(-1, 3).contiguous())
    lattice = identity_lut(size) ** (1 / SHAPER_GAMMA)
    image = lattice.reshape(size * size, size, 3).permute(2, 0, 1)
    with torch.no_grad():
        table = Action.from_spec(recipe)(image).permute(1, 2, 0).reshape(size, size, size, 3)
    return CubeLUT(table, shaper=shaper)


def main() -> None:
    write_cube(
        HERE / "teal_orange.cube", bake_lut(Action.from_spec(TEAL_ORANGE), size=17), title="teal orange"
    )
    write_acv(HERE / "matte_fade.acv", MATTE_FADE)
    write_cube(HERE / "cine_shaper.cube", shaper_lut(CINE), title="cine with a shaper")
    write_3dl(HERE / "bleach_bypass.3dl", bake_lut(Action.from_spec(BLEACH), size=17))
    write_image(HERE / "cross_process.png", Action.from_spec(CROSS)(identity_hald(6)), bit_depth=8)


if __name__ == "__main__":
    main()
