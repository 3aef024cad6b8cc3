"""The bundled Spring and Cold looks: as strong as the paper's styles, and the same as the style files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lumastyle.actions import load_action
from lumastyle.color import lab_distance, rgb_to_lab
from lumastyle.data.actions import sample_photos_dir
from lumastyle.data.base import fit_long_side
from lumastyle.io import list_images, read_image

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("name", "paper"), [("spring", 18.56), ("cold", 16.95)])
def test_preset_strength_like_the_paper(name, paper):
    """Mean input-to-target Lab distance over the bundled photos is within 15..20 (paper: 18.56 / 16.95)."""
    action = load_action(name)
    total = count = 0.0
    for path in list_images(sample_photos_dir()):
        rgb = fit_long_side(read_image(path)[0], 192)  # smaller copies: the mean barely moves, the test is fast
        d = lab_distance(rgb_to_lab(action(rgb)), rgb_to_lab(rgb))
        total, count = total + d.sum().item(), count + d.numel()
    assert 15.0 <= total / count <= 20.0


@pytest.mark.parametrize("name", ["spring", "cold"])
def test_style_file_holds_the_preset(name):
    style = yaml.safe_load((REPO / "styles" / f"{name}.yaml").read_text())
    assert load_action(style["data"]["init_args"]["action"]).to_spec() == load_action(name).to_spec()


def test_sample_photos_are_attributed():
    folder = sample_photos_dir()
    listed = {line.split("\t")[0] for line in (folder / "ATTRIBUTION.tsv").read_text().splitlines()[1:]}
    assert listed == {p.name for p in list_images(folder)} and len(listed) >= 20
