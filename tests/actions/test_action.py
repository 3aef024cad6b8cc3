"""Action tests: recipes from lists, YAML files and preset names; parameters checked at load; one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from lumastyle.actions import Action, get_operation, load_action, local, operations, ops, preset_names
from lumastyle.actions.cube import identity_lut
from lumastyle.errors import LumastyleError


def image(*shape, dtype=torch.float32):
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(0)) * 0.9 + 0.05).to(dtype)


def test_steps_apply_in_order():
    x = image(2, 3, 4, 4)
    action = load_action([{"exposure": {"stops": 0.5}}, {"hue_saturation": {"saturation": -1.0}}])
    expected = ops.hue_saturation(ops.exposure(x, stops=0.5), saturation=-1.0)
    assert torch.allclose(action(x), expected)
    assert len(action) == 2 and "exposure" in repr(action)


def test_every_operation_is_registered():
    """Each module-level operation is in the one registry, with what it needs: the per-pixel ones of
    ops.py, the whole-photo ones of local.py, and grain as the one a colour map cannot learn."""
    per_pixel = {"curves", "levels", "brightness_contrast", "exposure", "hue_saturation", "vibrance", "color_balance",
                 "channel_mixer", "photo_filter", "split_toning", "grayscale", "color_grading", "lut3d", "lut1d"}  # fmt: skip
    whole = {"clarity", "watercolor", "popout", "dehaze", "vignette", "grain"}
    assert set(operations()) >= per_pixel | whole
    assert all(get_operation(n).function is getattr(ops, n) and not get_operation(n).whole_photo for n in per_pixel)
    assert all(get_operation(n).function is getattr(local, n) and get_operation(n).whole_photo for n in whole)
    assert [n for n, op in operations().items() if not op.learnable] == ["grain"]


@pytest.mark.parametrize("name", sorted(operations()))
def test_every_operation_defaults_to_the_identity(name):
    x = image(3, 9, 11)
    out = get_operation(name).function(x) if name not in ("lut3d", "lut1d") else x
    assert torch.allclose(out, x, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_keeps_shape_and_dtype(dtype):
    action = load_action("spring")
    for shape in [(3, 5, 6), (2, 3, 5, 6)]:
        out = action(image(*shape, dtype=dtype))
        assert out.shape == shape and out.dtype == dtype


def test_gradients_flow_through_the_action():
    x = image(1, 3, 4, 4).requires_grad_()
    load_action("cold")(x).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_empty_recipe_is_the_identity():
    x = image(3, 4, 4)
    assert torch.equal(load_action([])(x), x)


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_yaml_file(tmp_path: Path, suffix):
    (tmp_path / f"look{suffix}").write_text(
        "- levels: {gamma: 1.2}\n- vibrance: {amount: 0.3}\n- exposure:\n"
    )
    action = load_action(str(tmp_path / f"look{suffix}"))
    assert [name for name, _ in action.steps] == ["levels", "vibrance", "exposure"]
    assert load_action(tmp_path / f"look{suffix}").to_spec() == action.to_spec()  # a Path works too
    assert load_action(action) is action


def test_style_config_gives_its_look(tmp_path: Path):
    recipe = [{"exposure": {"stops": 0.5}}]
    (tmp_path / "inline.yaml").write_text(
        yaml.safe_dump({"model": {}, "data": {"init_args": {"action": recipe}}})
    )
    assert load_action(str(tmp_path / "inline.yaml")).steps == [("exposure", {"stops": 0.5})]
    (tmp_path / "named.yaml").write_text(yaml.safe_dump({"data": {"init_args": {"action": "cold"}}}))
    assert load_action(str(tmp_path / "named.yaml")).to_spec() == load_action("cold").to_spec()
    (tmp_path / "pairs.yaml").write_text(yaml.safe_dump({"data": {"init_args": {"root": "x"}}}))
    with pytest.raises(LumastyleError, match=r"pairs.yaml: a config without data.init_args.action"):
        load_action(str(tmp_path / "pairs.yaml"))


def test_folder_named_like_a_preset_does_not_hide_it(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spring").mkdir()
    assert len(load_action("spring")) > 0


def test_presets_by_bare_name():
    assert {"spring", "cold"} <= set(preset_names())
    action = load_action("spring")
    assert isinstance(action, Action) and action.source.endswith("spring.yaml")
    preset_file = Path(action.source).read_text()
    assert load_action(yaml.safe_load(preset_file)).fingerprint() == action.fingerprint()


def test_to_spec_round_trip():
    spec = [{"curves": {"master": [[0, 0], [0.5, 0.6], [1, 1]]}}, {"vibrance": {"amount": 0.2}}]
    action = load_action(spec)
    assert action.to_spec() == spec
    assert load_action(action.to_spec()).fingerprint() == action.fingerprint()
    assert load_action([{"vibrance": {"amount": 0.3}}]).fingerprint() != action.fingerprint()
    action.to_spec()[0]["curves"]["master"][1][1] = 0.9  # a copy: the action is unchanged
    assert action.to_spec() == spec


def test_to_spec_turns_tables_into_lists():
    table = identity_lut(3) ** 2
    action = load_action([{"lut3d": {"table": table}}])
    spec = action.to_spec()
    assert isinstance(spec[0]["lut3d"]["table"], list)
    x = image(3, 4, 4)
    assert torch.allclose(load_action(spec)(x), action(x))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([{"blur": {}}], r"recipe: step 1 uses unknown operation 'blur'; choose one of: curves, levels"),
        ([{"levels": {"gama": 1}}], r"step 1 \(levels\) has unknown parameter\(s\) gama; it takes: in_black"),
        ([{"levels": {}, "curves": {}}], "must be one 'operation: {parameters}' mapping"),
        ({"levels": {}}, "a recipe is a list of steps"),
        ([{"levels": 3}], "parameters must be a mapping"),
        (
            [{"vibrance": {}}, {"channel_mixer": {"matrix": [[1, 0], [0, 1]]}}],
            r"step 2 \(channel_mixer\): matrix must be 3x3",
        ),
        ([{"levels": {"in_black": 0.9, "in_white": 0.1}}], r"step 1 \(levels\): .*in_white > in_black"),
        ([{"curves": {"r": [[0, 0]]}}], r"step 1 \(curves\): r: a curve needs at least two points"),
        (
            [{"vibrance": {"amount": "lots"}}],
            r"step 1 \(vibrance\): amount: Expected a float. Got value: lots",
        ),
        ([{"hue_saturation": {"ranges": [{"width": 3}]}}], r"ranges\[0\] needs 'hue'"),
        ([{"lut3d": {"table": [[1, 2, 3]]}}], r"step 1 \(lut3d\): table must have shape \(N, N, N, 3\)"),
        ([{"lut3d": {}}], r"step 1 \(lut3d\): needs table"),
        ("no-such-look", "not a file, and not a preset"),
        ("missing.cube", "does not exist"),
    ],
)
def test_bad_specs_are_one_line(spec, message):
    with pytest.raises(LumastyleError, match=message) as info:
        load_action(spec)
    assert "\n" not in str(info.value)


def test_bad_value_in_a_file_names_the_file(tmp_path: Path):
    (tmp_path / "look.yaml").write_text("- exposure: {stops: 0.3}\n- photo_filter: {density: 3}\n")
    with pytest.raises(
        LumastyleError, match=r"look\.yaml: step 2 \(photo_filter\): density must be within"
    ) as info:
        load_action(str(tmp_path / "look.yaml"))
    assert "\n" not in str(info.value)


def test_bad_yaml(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text("- levels: {gamma: [1, 2\n")
    with pytest.raises(LumastyleError, match=r"bad\.yaml: not valid YAML") as info:
        load_action(str(tmp_path / "bad.yaml"))
    assert "\n" not in str(info.value)


def test_unknown_format(tmp_path: Path):
    (tmp_path / "look.lut").write_text("x")
    with pytest.raises(LumastyleError, match=r"look\.lut: unknown action format '\.lut'"):
        load_action(str(tmp_path / "look.lut"))


def test_bad_image_is_a_value_error():
    with pytest.raises(ValueError, match="3, H, W"):
        load_action("cold")(torch.rand(4, 5, 5))
