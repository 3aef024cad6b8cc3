"""Action tests: recipes from lists, YAML files and preset names; one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lumastyle.actions import Action, load_action, preset_names
from lumastyle.actions import ops
from lumastyle.errors import LumastyleError


def test_steps_apply_in_order():
    x = torch.rand(2, 3, 4, 4)
    action = load_action([{"exposure": {"stops": 0.5}}, {"hue_saturation": {"saturation": -1.0}}])
    expected = ops.hue_saturation(ops.exposure(x, stops=0.5), saturation=-1.0)
    assert torch.allclose(action(x), expected)


def test_yaml_file(tmp_path: Path):
    (tmp_path / "look.yaml").write_text("- levels: {gamma: 1.2}\n- vibrance: {amount: 0.3}\n")
    action = load_action(str(tmp_path / "look.yaml"))
    assert [name for name, _ in action.steps] == ["levels", "vibrance"]
    assert load_action(action) is action


def test_presets_exist():
    assert {"spring", "cold"} <= set(preset_names())
    assert isinstance(load_action("spring"), Action)


def test_to_spec_round_trip():
    spec = [{"curves": {"master": [[0, 0], [0.5, 0.6], [1, 1]]}}, {"vibrance": {"amount": 0.2}}]
    action = load_action(spec)
    assert action.to_spec() == spec
    assert load_action(action.to_spec()).fingerprint() == action.fingerprint()
    assert load_action([{"vibrance": {"amount": 0.3}}]).fingerprint() != action.fingerprint()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([{"blur": {}}], r"unknown operation 'blur'; choose one of: curves"),
        ([{"levels": {"gama": 1}}], r"unknown parameter\(s\) gama; it takes: in_black"),
        ([{"levels": {}, "curves": {}}], "must be one 'operation: {parameters}' mapping"),
        ({"levels": {}}, "a recipe is a list of steps"),
        ([{"levels": 3}], "parameters must be a mapping"),
        ("no-such-look", "not a file, and not a preset"),
        ("missing.cube", "does not exist"),
    ],
)
def test_bad_specs_are_one_line(spec, message):
    with pytest.raises(LumastyleError, match=message) as info:
        load_action(spec)
    assert "\n" not in str(info.value)


def test_bad_parameter_value_names_the_step():
    action = load_action([{"vibrance": {}}, {"channel_mixer": {"matrix": [[1, 0], [0, 1]]}}])
    with pytest.raises(LumastyleError, match=r"recipe: step 2 \(channel_mixer\): channel_mixer\.matrix must be 3x3"):
        action(torch.rand(3, 2, 2))


def test_bad_yaml(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text("- levels: {gamma: [1, 2\n")
    with pytest.raises(LumastyleError, match=r"bad\.yaml: not valid YAML"):
        load_action(str(tmp_path / "bad.yaml"))


def test_unknown_format(tmp_path: Path):
    (tmp_path / "look.lut").write_text("x")
    with pytest.raises(LumastyleError, match="unknown action format"):
        load_action(str(tmp_path / "look.lut"))
