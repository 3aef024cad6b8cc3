"""The model's option blocks: settings that would do nothing are refused in one line, and the flat
names of the previous release (configs, command lines and checkpoints) still work, with one
deprecation line."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from conftest import QUICK, make_pairs

from lumastyle.cli import main
from lumastyle.errors import LumastyleError
from lumastyle.model import LumaStyle
from lumastyle.options import (
    FLAT_NAMES,
    BackboneOptions,
    ColorContextOptions,
    ContextOptions,
    LumastyleDeprecationWarning,
)

TINY = BackboneOptions(width=1 / 16, weights=None)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"context": ContextOptions(scales=()), "backbone": BackboneOptions(width=0.5, weights=None)},
         r"model\.context\.scales \[\] has no backbone, so model\.backbone\.width would do nothing"),
        ({"context": ContextOptions(scales=(), pad=8, cache=True)},
         r"so model\.context\.pad, model\.context\.cache would do nothing"),
        ({"context": ContextOptions(scales=(), long_side=64)}, r"so model\.context\.long_side would do nothing"),
        ({"backbone": TINY, "context": ContextOptions(cache="some/folder")},
         r"model\.context\.cache 'some/folder' would do nothing: conv1-conv5 train"),
        ({"backbone": BackboneOptions(width=1 / 16, weights=None, freeze="conv1-conv7", lr_scale=0.1)},
         r"model\.backbone\.lr_scale 0\.1 would do nothing: the whole backbone is frozen"),
        ({"backbone": BackboneOptions(width=1 / 16, weights=None, share=True), "context": ContextOptions(scales=(1.0,))},
         r"model\.backbone\.share would do nothing with one context scale"),
        ({"backbone": TINY, "color_context": ColorContextOptions(blur_radii=(4.0,), contrast=True)},
         r"model\.color_context\.contrast compares blurred copies"),
        ({"backbone": TINY, "color_context": ColorContextOptions(linear=True)},
         r"model\.color_context\.linear needs colour context"),
    ],
)  # fmt: skip
def test_a_setting_that_would_do_nothing_is_one_line(options, says):
    with pytest.raises(LumastyleError, match=says) as info:
        LumaStyle(**options)
    assert "\n" not in str(info.value)


def test_what_still_means_something_is_accepted():
    """The same settings where they apply: a cap sizes the colour context's copy without a backbone,
    a cache of frozen conv1-conv5, a learning-rate scale with conv6/conv7 training."""
    LumaStyle(context=ContextOptions(scales=(), long_side=64), color_context=ColorContextOptions(blur_radii=(4.0,)))
    LumaStyle(backbone=BackboneOptions(width=1 / 16, weights=None, freeze="conv1-conv5"), context=ContextOptions(cache=True))
    LumaStyle(backbone=BackboneOptions(width=1 / 16, weights=None, freeze="conv1-conv5", lr_scale=0.1))


FLAT = {
    "backbone_width": 1 / 16, "backbone_weights": None, "freeze": "features", "top_channels": 8,
    "context_pad": 8, "context_long_side": 48, "context_cache": True, "low_level": (4.0, 16.0),
    "low_level_contrast": True, "low_level_linear": True,
}  # fmt: skip
BLOCKS = {
    "backbone": BackboneOptions(width=1 / 16, weights=None, freeze="conv1-conv5", top_channels=8),
    "context": ContextOptions(pad=8, long_side=48),
    "color_context": ColorContextOptions(blur_radii=(4.0, 16.0), contrast=True, linear=True),
}


def test_the_flat_names_of_the_last_release_build_the_same_model_with_one_deprecation_line():
    with pytest.warns(LumastyleDeprecationWarning) as seen:
        torch.manual_seed(0)
        old = LumaStyle(**FLAT)
    assert len(seen) == 1
    line = str(seen[0].message)
    assert "\n" not in line and "backbone_width -> backbone.width" in line and "low_level -> color_context.blur_radii" in line
    with warnings.catch_warnings():
        warnings.simplefilter("error", LumastyleDeprecationWarning)
        torch.manual_seed(0)
        new = LumaStyle(**BLOCKS)
    assert dict(old.hparams) == dict(new.hparams)
    assert old.state_dict().keys() == new.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(old.state_dict().values(), new.state_dict().values(), strict=True))
    assert set(FLAT_NAMES) <= set(LumaStyle.__init__.__code__.co_varnames)  # every old name is still read


def test_a_checkpoint_written_with_the_flat_names_loads_and_stylizes_the_same(tmp_path: Path):
    """A checkpoint of the previous release records the flat names (and tile_pixels) as its
    hyperparameters: it loads, with the deprecation line, into the same model."""
    torch.manual_seed(0)
    model = LumaStyle(**BLOCKS)
    path = tmp_path / "new.ckpt"
    state = {"state_dict": model.state_dict(), "lumastyle": {"format": 2, "trained_long_side": 48},
             "hyper_parameters": dict(model.hparams), "pytorch-lightning_version": "2.6.0"}  # fmt: skip
    torch.save(state, path)
    old_hparams = {key: value for key, value in model.hparams.items() if key not in BLOCKS}
    old_hparams.update({**FLAT, "tile_pixels": 1 << 16, "backbone_input_norm": "imagenet", "scales": (1.0, 2.0)})
    torch.save({**state, "hyper_parameters": old_hparams}, tmp_path / "old.ckpt")
    rgb = torch.rand(3, 40, 56)
    expected = LumaStyle.from_checkpoint(path).stylize(rgb)
    with pytest.warns(LumastyleDeprecationWarning):
        old = LumaStyle.from_checkpoint(tmp_path / "old.ckpt")
    assert old.backbone_options == LumaStyle.from_checkpoint(path).backbone_options
    assert torch.equal(old.stylize(rgb), expected)


def test_the_old_flags_on_the_command_line_still_train(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = make_pairs(tmp_path / "pairs", n=4)
    quick = [a for a in QUICK]
    quick[quick.index("--model.backbone.width")] = "--model.backbone_width"  # the previous release's flag
    with pytest.warns(LumastyleDeprecationWarning, match=r"model options were renamed \(backbone_width -> backbone\.width\)"):
        main(["fit", "--config", "pairs", *quick, "--data.root", str(root), "--trainer.max_epochs", "1"])
    ckpt = torch.load(tmp_path / "runs" / "pairs" / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["hyper_parameters"]["backbone"]["width"] == 0.0625 and "backbone_width" not in ckpt["hyper_parameters"]


def test_the_look_datamodule_under_its_old_name():
    """GlobalActionDataModule (it renders local looks too) is now LookDataModule; the old name still
    works, with one deprecation line."""
    from lumastyle.data import GlobalActionDataModule, LookDataModule

    with pytest.warns(LumastyleDeprecationWarning, match="GlobalActionDataModule is now LookDataModule") as seen:
        old = GlobalActionDataModule(action="cold", num_workers=0)
    assert len(seen) == 1 and isinstance(old, LookDataModule)
    assert old.action.steps == LookDataModule(action="cold", num_workers=0).action.steps
