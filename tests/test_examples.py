"""The example looks in examples/looks load cleanly, change a photo, and match their generator."""

from __future__ import annotations

import runpy
import shutil
import warnings
from pathlib import Path

import pytest
import torch

from lumastyle.actions import load_action
from lumastyle.actions.cube import read_cube
from lumastyle.color import lab_distance, rgb_to_lab

LOOKS = Path(__file__).resolve().parents[1] / "examples" / "looks"


@pytest.mark.parametrize("name", sorted(p.name for p in LOOKS.iterdir() if p.suffix != ".py"))
def test_look_loads_without_warnings_and_changes_colours(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        action = load_action(str(LOOKS / name))
    ramp = torch.linspace(0, 1, 64)
    image = torch.stack(
        [ramp.outer(ramp), ramp.flip(0).outer(ramp), ramp.outer(ramp.flip(0))]
    )  # varied colours
    out = action(image)
    assert out.shape == image.shape and out.min() >= 0 and out.max() <= 1
    assert lab_distance(rgb_to_lab(out), rgb_to_lab(image)).mean() > 2.0


def test_generator_reproduces_the_committed_files(tmp_path: Path):
    shutil.copy(LOOKS / "make_looks.py", tmp_path)
    runpy.run_path(str(tmp_path / "make_looks.py"), run_name="__main__")
    assert (tmp_path / "matte_fade.acv").read_bytes() == (LOOKS / "matte_fade.acv").read_bytes()
    fresh, committed = read_cube(tmp_path / "teal_orange.cube"), read_cube(LOOKS / "teal_orange.cube")
    assert torch.allclose(torch.as_tensor(fresh.table), torch.as_tensor(committed.table), atol=1e-5)
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    for name in ("cine_shaper.cube", "bleach_bypass.3dl", "cross_process.png"):
        assert (
            load_action(str(tmp_path / name))(image) - load_action(str(LOOKS / name))(image)
        ).abs().max() < 2e-3
