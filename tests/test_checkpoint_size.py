"""Small checkpoints: frozen bundled conv1-conv5 are referred to (file name and SHA-256), not stored;
every way of loading puts them back; other weights are stored as before; format-2 checkpoints with
every weight inside still load; changed bundled weights are one line."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from torch.utils.data import DataLoader

from lumastyle.backbone import BUNDLED_WEIGHTS, bundled_features
from lumastyle.errors import LumastyleError
from lumastyle.model import LumaStyle, check_checkpoint
from lumastyle.options import BackboneOptions, ColorContextOptions, ContextOptions

REPO = Path(__file__).resolve().parents[1]


def bundled_model(freeze: str = "conv1-conv7", scales: tuple[float, ...] = (1.0,), **options) -> LumaStyle:
    """A model with the bundled conv1-conv5 (one context scale unless told: a width-1 backbone each)."""
    torch.manual_seed(0)
    return LumaStyle(
        backbone=BackboneOptions(weights="bundled", freeze=freeze, top_channels=8),
        context=ContextOptions(scales=scales, pad=8, cache=False),
        **options,
    )


def save(model: LumaStyle, path: Path) -> Path:
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(path)
    return path


def tensor_bytes(state: dict[str, torch.Tensor], keep=lambda name: True) -> int:
    return sum(t.numel() * t.element_size() for name, t in state.items() if keep(name))


def is_lower(name: str) -> bool:
    return ".features." in name


def assert_same_state(a: LumaStyle, b: LumaStyle) -> None:
    got, want = a.state_dict(), b.state_dict()
    assert got.keys() == want.keys()
    for name, value in want.items():
        assert torch.equal(got[name], value), name


def test_cpu_preset_checkpoint_holds_what_trained_and_a_reference(tmp_path: Path):
    """The CPU preset's model (configs/cpu-small.yaml's model block): its checkpoint holds no conv1-conv5
    weight, is the size of the other tensors (13 MB, README's figure; 131 MB with them), names the bundled
    file and its hash, and loads to the very same model."""
    block = yaml.safe_load((REPO / "configs" / "cpu-small.yaml").read_text())["model"]
    model = LumaStyle(
        backbone=BackboneOptions(**block["backbone"]),
        context=ContextOptions(**block["context"]),
        color_context=ColorContextOptions(**block["color_context"]),
    )
    path = save(model, tmp_path / "preset.ckpt")
    raw = torch.load(path, weights_only=True)
    assert not any(is_lower(k) for k in raw["state_dict"])
    reference = raw["lumastyle"]["bundled_backbone"]
    assert reference["file"] == BUNDLED_WEIGHTS and reference["sha256"] == bundled_features()[1]
    assert reference["backbones"] == ["network.context.backbones.0.", "network.context.backbones.1."]
    state = model.state_dict()
    rest = tensor_bytes(state, lambda name: not is_lower(name))
    size = path.stat().st_size
    assert rest <= size < rest + 200_000  # the other tensors and the small extras
    assert tensor_bytes(state) > 9 * size  # what the frozen weights would add
    assert size < 13.5e6  # README: 13 MB
    loaded = LumaStyle.from_checkpoint(path)
    assert_same_state(loaded, model)


def test_other_weights_stay_in_the_checkpoint(tmp_path: Path):
    """Fine-tuned (trainable) bundled weights, frozen weights that are not exactly the bundled ones, and
    random weights are stored, and round-trip."""
    tuned = bundled_model(freeze="none")
    changed = bundled_model(scales=(1.0, 2.0))
    with torch.no_grad():
        changed.network.context.backbones[1].features[0].weight[0, 0, 0, 0] += 0.5
    random = LumaStyle(
        backbone=BackboneOptions(width=1 / 16, weights=None, freeze="conv1-conv5", top_channels=8),
        context=ContextOptions(pad=8),
    )
    expected = {"tuned": (1, 0), "changed": (1, 1), "random": (2, 0)}  # backbones stored, referred to
    for name, model in (("tuned", tuned), ("changed", changed), ("random", random)):
        path = save(model, tmp_path / f"{name}.ckpt")
        raw = torch.load(path, weights_only=True)
        stored = {k.split(".features.")[0] for k in raw["state_dict"] if is_lower(k)}
        referred = raw["lumastyle"].get("bundled_backbone", {}).get("backbones", [])
        assert (len(stored), len(referred)) == expected[name], name
        assert_same_state(LumaStyle.from_checkpoint(path), model)


class Pairs(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(i)
        rgb = torch.rand(3, 8, 8, generator=g)
        return {"input": rgb, "target": rgb.sqrt()}


def fit(tmp_path: Path, epochs: int, ckpt_path: Path | None = None) -> LumaStyle:
    model = bundled_model(closed_form_start=False)
    model.network.needs_conv5_calibration = lambda: False  # (it reads a DataModule's photos)
    trainer = L.Trainer(
        default_root_dir=tmp_path, max_epochs=epochs, logger=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(model, DataLoader(Pairs(), batch_size=2), ckpt_path=ckpt_path)
    return model


def test_lightning_resumes_validates_and_loads_a_small_checkpoint(tmp_path: Path):
    """Through the Trainer (strict loading, optimiser state): a run resumed from a small checkpoint
    reaches the uninterrupted run's weights; validate with a model built without weights (as the CLI
    builds it for --ckpt_path) gets the bundled conv1-conv5 back."""
    fit(tmp_path / "first", 1)
    (checkpoint,) = (tmp_path / "first" / "checkpoints").glob("*.ckpt")
    assert not any(is_lower(k) for k in torch.load(checkpoint, weights_only=True)["state_dict"])
    resumed = fit(tmp_path / "resumed", 2, ckpt_path=checkpoint)
    whole = fit(tmp_path / "whole", 2)
    for name, value in whole.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], value, rtol=1e-5, atol=1e-6, msg=name)

    blank = LumaStyle(
        backbone=BackboneOptions(weights=None, freeze="conv1-conv7", top_channels=8, input_norm="caffe"),
        context=ContextOptions(scales=(1.0,), pad=8, cache=False),
    )
    assert not blank.network.context.backbones[0].holds_bundled_lower()
    evaluate = L.Trainer(
        default_root_dir=tmp_path, logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    evaluate.validate(blank, DataLoader(Pairs(), batch_size=2), ckpt_path=checkpoint, verbose=False)
    assert all(b.holds_bundled_lower() for b in blank.network.context.backbones)


def test_a_full_checkpoint_of_the_earlier_format_still_loads(tmp_path: Path):
    """A checkpoint written the earlier way (format 2, every weight inside, no reference) loads."""
    model = bundled_model()
    path = save(model, tmp_path / "small.ckpt")
    raw = torch.load(path, weights_only=True)
    raw["state_dict"] = dict(model.state_dict())
    del raw["lumastyle"]["bundled_backbone"]
    raw["lumastyle"]["format"] = 2
    torch.save(raw, tmp_path / "old.ckpt")
    assert (tmp_path / "old.ckpt").stat().st_size > 5 * path.stat().st_size
    check_checkpoint(tmp_path / "old.ckpt")
    assert_same_state(LumaStyle.from_checkpoint(tmp_path / "old.ckpt"), model)


def test_changed_bundled_weights_are_one_line(tmp_path: Path, monkeypatch):
    """A small checkpoint whose bundled weights this install no longer has (another hash) is refused in
    one line naming the checkpoint, by the check every command makes and by loading."""
    path = save(bundled_model(), tmp_path / "m.ckpt")
    features, _ = bundled_features()
    monkeypatch.setattr("lumastyle.checkpoints.bundled_features", lambda: (features, "0" * 64))
    for load in (check_checkpoint, LumaStyle.from_checkpoint):
        with pytest.raises(LumastyleError, match=rf"{path}: its frozen conv1-conv5 .* train it again") as err:
            load(path)
        assert "\n" not in str(err.value)
