"""lumastyle.loading: a checkpoint's network without Lightning is the network LumaStyle loads (every
weight, the context cap, the stylized photo), bundled weights left out of the file included; a
checkpoint that does not fit is one line; earlier checkpoints go to Lightning's loading; and
``lumastyle stylize`` runs without importing Lightning at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import smooth_photo

from lumastyle.errors import LumastyleError
from lumastyle.loading import LightningLoads, load_network
from lumastyle.model import LumaStyle
from lumastyle.options import FLAT_NAMES, BackboneOptions, ColorContextOptions, ContextOptions
from lumastyle.stylize import trained_network


def assert_same_network(path: Path) -> None:
    loaded, model = load_network(path), LumaStyle.from_checkpoint(path)
    ours, theirs = loaded.network.state_dict(), model.network.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[key], theirs[key]) for key in ours)
    assert not loaded.network.training
    assert loaded.context_long_side() == model.context_long_side()
    assert loaded.context_long_side(20) == model.context_long_side(20) == 20
    photo = smooth_photo(40, 56, seed=3)
    for fast in (False, True):
        assert torch.equal(loaded.stylize(photo, fast=fast), model.stylize(photo, fast=fast))


def test_the_network_of_a_trained_checkpoint_is_lumastyles(quick_checkpoint):
    assert_same_network(quick_checkpoint)


def test_bundled_weights_left_out_of_the_file_are_put_back(tmp_path: Path):
    """A frozen bundled conv1-conv5 is referred to, not stored (lumastyle.checkpoints); the loader puts
    it back as LumaStyle's loading does, with the correction and photo-level context beside it."""
    torch.manual_seed(0)
    model = LumaStyle(
        backbone=BackboneOptions(weights="bundled", freeze="conv1-conv7", top_channels=8),
        context=ContextOptions(scales=(1.0,), pad=8, long_side=48),
        color_context=ColorContextOptions(blur_radii=(4.0,), linear=True, photo=True, correction=True),
        closed_form_start=True,
    )
    with torch.no_grad():
        model.network.correction.mlp[-1].weight.normal_(0, 0.1)  # a correction that does something
    trainer = L.Trainer(logger=False, enable_checkpointing=False, accelerator="cpu", enable_model_summary=False)
    trainer.strategy.connect(model)
    path = tmp_path / "bundled.ckpt"
    trainer.save_checkpoint(path)
    saved = torch.load(path, weights_only=True)["state_dict"]
    assert not any(".features." in key for key in saved)  # conv1-conv5 left out
    assert_same_network(path)
    assert load_network(path).network.correction.mlp[-1].weight.abs().sum() > 0


def test_a_checkpoint_whose_weights_do_not_fit_is_one_line(quick_checkpoint, tmp_path: Path):
    broken = torch.load(quick_checkpoint, weights_only=False)
    key = next(k for k in broken["state_dict"] if k.endswith(".weight"))
    broken["state_dict"][key] = broken["state_dict"][key][..., :1]
    torch.save(broken, tmp_path / "broken.ckpt")
    with pytest.raises(LumastyleError, match=r"broken\.ckpt: its weights do not fit .* there") as info:
        load_network(tmp_path / "broken.ckpt")
    assert "\n" not in str(info.value)


def test_a_checkpoint_with_the_flat_option_names_loads_through_lightning(quick_checkpoint, tmp_path: Path):
    """A checkpoint of the release before the option blocks is left to LumaStyle's loading (stylize
    takes it that way) and stylizes as the same checkpoint with the blocks."""
    old = torch.load(quick_checkpoint, weights_only=False)
    hparams = old["hyper_parameters"]
    for name, (block, field) in FLAT_NAMES.items():
        hparams[name] = hparams[block][field]
    for block in ("backbone", "context", "color_context"):
        hparams.pop(block)
    torch.save(old, tmp_path / "flat.ckpt")
    with pytest.raises(LightningLoads):
        load_network(tmp_path / "flat.ckpt")
    with pytest.warns(Warning, match="model options were renamed"):
        flat = trained_network(tmp_path / "flat.ckpt", torch.device("cpu"))
    photo = smooth_photo(40, 56, seed=4)
    assert torch.equal(flat.stylize(photo), load_network(quick_checkpoint).stylize(photo))


def test_stylize_imports_no_lightning(quick_checkpoint, tmp_path: Path):
    """The whole command, as the console script runs it, never imports Lightning (its start-up is
    torch's and the checkpoint's)."""
    from lumastyle.io import write_image

    write_image(tmp_path / "in" / "a.jpg", smooth_photo(30, 40, seed=5))
    code = (
        "import sys; from lumastyle.cli import main; "
        f"main(['stylize', '--ckpt', {str(quick_checkpoint)!r}, '--input', {str(tmp_path / 'in')!r}, "
        f"'--output', {str(tmp_path / 'out')!r}]); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "out" / "a.jpg").is_file()
