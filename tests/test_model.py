"""LightningModule tests: factorised head equivalence, tiling, learning, precision, stylize, checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lumastyle.color import rgb_to_lab
from lumastyle.errors import LumastyleError
from lumastyle.model import LumaStyle, load_checkpoint

SMALL = {"backbone_width": 1 / 16, "backbone_weights": None, "hidden": (16, 16), "context_pad": 8}


@pytest.fixture
def model() -> LumaStyle:
    torch.manual_seed(0)
    m = LumaStyle(**SMALL)
    # move the head away from its identity start so the context path matters
    for p in m.head.parameters():
        p.data.normal_(0, 0.1)
    return m


def test_forward_keeps_size(model):
    rgb = torch.rand(2, 3, 37, 51)
    assert model(rgb).shape == rgb.shape


def test_factorised_head_equals_unfactorised(model):
    """Applying the first 1x1 layer before or after interpolation is the same network."""
    rgb = torch.rand(2, 3, 40, 56)
    model.factorize_context = True
    fact = model.forward_lab(rgb)[1]
    model.factorize_context = False
    full = model.forward_lab(rgb)[1]
    assert torch.allclose(fact, full, atol=1e-3, rtol=1e-4)
    assert not torch.allclose(fact, rgb_to_lab(rgb), atol=1e-1)  # the context/head really did something


def test_tiled_head_equals_whole(model):
    rgb = torch.rand(1, 3, 45, 33)
    model.eval()
    model.tile_pixels = 1 << 30
    whole = model(rgb)
    model.tile_pixels = 100  # three rows per tile
    assert torch.allclose(model(rgb), whole, atol=1e-5)


def test_context_matters_and_scales_are_used(model):
    rgb = torch.rand(1, 3, 32, 32)
    other = torch.rand(1, 3, 32, 32)
    assert not torch.allclose(model(rgb), model(rgb, context_rgb=other), atol=1e-4)
    assert len(model.context.backbones) == 2
    assert len(LumaStyle(**SMALL, share_backbone=True).context.backbones) == 1


def test_colour_only_model():
    m = LumaStyle(**SMALL, scales=())
    assert m.context is None
    assert m(torch.rand(1, 3, 8, 8)).shape == (1, 3, 8, 8)


def test_learning_rate_warms_up():
    conf = LumaStyle(**SMALL, lr=1e-3, warmup_steps=4).configure_optimizers()
    opt, ramp = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    seen = []
    for _ in range(6):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        ramp.step()
    assert seen == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])
    assert "lr_scheduler" not in LumaStyle(**SMALL, warmup_steps=0).configure_optimizers()


def test_loss_goes_down_on_a_learnable_style(photo, style):
    torch.manual_seed(0)
    m = LumaStyle(**SMALL, lr=3e-3)
    inputs = torch.stack([photo(32, 32, seed=k) for k in range(4)])
    batch = {"input": inputs, "target": torch.stack([style(x) for x in inputs])}
    opt = m.configure_optimizers()["optimizer"]
    losses = []
    for _ in range(40):
        loss, _, _ = m._step(batch, "training")
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


def test_bf16_autocast_keeps_colour_layer_float32(model):
    rgb = torch.rand(1, 3, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        lab_in, lab_out = model.forward_lab(rgb)
    assert lab_in.dtype == torch.float32 and lab_out.dtype == torch.float32
    assert torch.allclose(lab_out, model.forward_lab(rgb)[1], atol=2.0)


def test_frozen_backbone_not_optimised():
    m = LumaStyle(**SMALL, freeze="all")
    params = {id(p) for group in m.configure_optimizers()["optimizer"].param_groups for p in group["params"]}
    assert all(id(p) not in params for p in m.context.parameters())
    assert all(id(p) in params for p in m.head.parameters())


def test_stylize_caps_context_resolution(model, monkeypatch):
    seen = []
    original = model.context.forward
    monkeypatch.setattr(model.context, "forward", lambda x: seen.append(tuple(x.shape[-2:])) or original(x))
    rgb = torch.rand(3, 120, 200)
    out = model.eval().stylize(rgb, context_long_side=50)
    assert out.shape == rgb.shape
    assert seen == [(30, 50)]
    model.trained_long_side = 100
    model.stylize(rgb)
    assert seen[-1] == (60, 100)


def test_bad_options_are_one_line():
    with pytest.raises(LumastyleError, match="unknown head 'nope'"):
        LumaStyle(**SMALL, head="nope")
    with pytest.raises(LumastyleError, match="scales"):
        LumaStyle(**SMALL, scales=(1.0, -2.0))


class TestLoadCheckpoint:
    def test_round_trip(self, model, tmp_path: Path):
        import lightning as L

        trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
        trainer.strategy.connect(model)
        model.trained_long_side = 321
        trainer.save_checkpoint(tmp_path / "m.ckpt")
        loaded = load_checkpoint(str(tmp_path / "m.ckpt"))
        assert loaded.trained_long_side == 321 and not loaded.training
        rgb = torch.rand(1, 3, 24, 24)
        assert torch.allclose(loaded(rgb), model.eval()(rgb), atol=1e-6)

    def test_missing(self, tmp_path: Path):
        with pytest.raises(LumastyleError, match="does not exist"):
            load_checkpoint(str(tmp_path / "none.ckpt"))

    def test_not_a_checkpoint(self, tmp_path: Path):
        (tmp_path / "x.ckpt").write_text("hello")
        with pytest.raises(LumastyleError, match="not a readable checkpoint"):
            load_checkpoint(str(tmp_path / "x.ckpt"))

    def test_other_checkpoint(self, tmp_path: Path):
        torch.save({"state_dict": {}}, tmp_path / "y.ckpt")
        with pytest.raises(LumastyleError, match="not a lumastyle checkpoint"):
            load_checkpoint(str(tmp_path / "y.ckpt"))
