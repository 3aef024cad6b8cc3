"""The bundled Spring and Cold looks: as strong as the paper's styles, and the same as the style files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from kornia.color import rgb_to_lab

from lumastyle.actions import bake_lut, load_action
from lumastyle.data.actions import sample_photos_dir
from lumastyle.io import list_images, read_image

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sample_pixels() -> torch.Tensor:
    """The bundled photos' pixels as one (3, 1, N) image; each photo shrunk to a long side of 128 first.

    Every operation is per pixel, so one call on all pixels renders the same as one call per photo
    (and is fast); shrinking barely moves the mean distance.
    """
    photos = []
    for path in list_images(sample_photos_dir()):
        rgb = read_image(path)[0]
        small = F.interpolate(
            rgb[None], scale_factor=128 / max(rgb.shape[-2:]), mode="bilinear", antialias=True
        )
        photos.append(small[0].clamp(0, 1).flatten(1))
    assert len(photos) >= 20
    return torch.cat(photos, dim=1)[:, None]


@pytest.fixture(scope="module")
def lab(sample_pixels: torch.Tensor) -> dict[str, torch.Tensor]:
    """CIELab (3, 1, N) of the sample pixels ("input") and of each preset rendered onto them."""
    return {"input": rgb_to_lab(sample_pixels)} | {
        name: rgb_to_lab(load_action(name)(sample_pixels)) for name in ("spring", "cold")
    }


@pytest.mark.parametrize(("name", "paper"), [("spring", 18.56), ("cold", 16.95)])
def test_preset_strength_like_the_paper(name, paper, lab):
    """Mean per-pixel Euclidean Lab distance, input to rendered look, is near the paper's (18.56 / 16.95)."""
    distance = (lab[name] - lab["input"]).norm(dim=0).mean().item()
    assert 14.0 <= distance <= 21.0 and abs(distance - paper) < 3.0


def test_presets_have_their_character(lab):
    """Spring: brighter and more colourful; Cold: bluer, less colourful, with faded (lifted) blacks."""
    chroma = {name: t[1:].norm(dim=0).mean().item() for name, t in lab.items()}
    lightness = {name: t[0].mean().item() for name, t in lab.items()}
    assert lightness["spring"] > lightness["input"] + 3 and chroma["spring"] > chroma["input"] * 1.1
    assert lab["cold"][2].mean() < lab["input"][2].mean() - 3 and chroma["cold"] < chroma["input"]
    assert rgb_to_lab(load_action("cold")(torch.zeros(3, 1, 1)))[0].item() > 5  # black becomes dark grey


@pytest.mark.parametrize("name", ["spring", "cold"])
def test_style_file_renders_the_preset(name):
    """styles/<name>.yaml holds the same look inline as the bundled preset (compared by what they render)."""
    style = yaml.safe_load((REPO / "styles" / f"{name}.yaml").read_text())
    inline = load_action(style["data"]["init_args"]["action"])
    assert torch.allclose(bake_lut(inline, size=9), bake_lut(name, size=9), atol=1e-6)
    # the style file itself is a look too (what `lumastyle action apply styles/spring.yaml ...` reads)
    assert torch.allclose(
        bake_lut(str(REPO / "styles" / f"{name}.yaml"), size=9), bake_lut(name, size=9), atol=1e-6
    )


def test_sample_photos_are_attributed():
    folder = sample_photos_dir()
    listed = {line.split("\t")[0] for line in (folder / "ATTRIBUTION.tsv").read_text().splitlines()[1:]}
    assert listed == {p.name for p in list_images(folder)} and len(listed) >= 20
