"""The LightningModule: learning, the optimiser channel, metrics on the written image, the non-finite
loss guard, checkpoints through Lightning's loading."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from lumastyle.color import lab_distance, normalize_lab, rgb_to_lab
from lumastyle.errors import LumastyleError
from lumastyle.heads import Head, QuadraticHead
from lumastyle.model import LumaStyle, check_checkpoint
from lumastyle.optim import LinearWarmup
from lumastyle.options import BackboneOptions, ColorContextOptions, ContextOptions

SMALL = {"backbone": BackboneOptions(width=1 / 16, weights=None), "context": ContextOptions(pad=8)}


def small(backbone: dict | None = None, context: dict | None = None, **options) -> dict:
    """SMALL with more backbone or context options, and any other model options."""
    return {
        "backbone": BackboneOptions(**{"width": 1 / 16, "weights": None, **(backbone or {})}),
        "context": ContextOptions(**{"pad": 8, **(context or {})}),
        **options,
    }


def colour(*radii: float, **options) -> ColorContextOptions:
    """Colour context blurred at ``radii``, linear in the colour matrix."""
    return ColorContextOptions(blur_radii=radii, linear=True, **options)


class TinyHead(QuadraticHead):
    """A head defined outside lumastyle (here, in the test module)."""

    def __init__(self, context_channels: int, num_scales: int, width: int = 8) -> None:
        super().__init__(context_channels, num_scales, hidden=(width,))


class KeepColours(Head):
    """A head without a colour basis: returns each pixel's colour."""

    def forward(self, lab_n: torch.Tensor, context) -> torch.Tensor:
        return lab_n.float()


def quiet_trainer(tmp_path: Path, **kwargs) -> L.Trainer:
    defaults = {
        "default_root_dir": tmp_path,
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "accelerator": "cpu",
    }
    return L.Trainer(**{**defaults, **kwargs})


def test_loss_goes_down_on_a_learnable_style(photo, style):
    """20 Adam steps take the loss below a fifth of where it started (a step costs about the same at
    any photo size this small, so it is the steps that are kept few)."""
    torch.manual_seed(0)
    model = LumaStyle(**SMALL, optimizer=lambda p: torch.optim.Adam(p, lr=3e-3), lr_scheduler=None)
    inputs = torch.stack([photo(32, 32, seed=k) for k in range(4)])
    batch = {"input": inputs, "target": torch.stack([style(x) for x in inputs])}
    opt = model.configure_optimizers()
    losses = []
    for _ in range(20):
        _, lab_pred = model.network.forward_lab(batch["input"])
        loss = (lab_pred - rgb_to_lab(batch["target"])).square().sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


class TestOptimiser:
    def test_default_is_adam_1e4_with_warmup(self):
        conf = LumaStyle(**SMALL).configure_optimizers()
        opt, sched = conf["optimizer"], conf["lr_scheduler"]
        assert isinstance(opt, torch.optim.Adam) and isinstance(sched["scheduler"], LinearWarmup)
        assert sched["interval"] == "step" and sched["scheduler"].warmup_steps == 20
        assert opt.param_groups[0]["lr"] == pytest.approx(1e-4 / 20)  # the first step of the ramp

    def test_warmup_ramp(self):
        conf = LumaStyle(
            **SMALL, lr_scheduler=lambda o: LinearWarmup(o, warmup_steps=4)
        ).configure_optimizers()
        opt, ramp = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
        seen = []
        for _ in range(6):
            seen.append(opt.param_groups[0]["lr"])
            opt.step()
            ramp.step()
        assert seen == pytest.approx([2.5e-5, 5e-5, 7.5e-5, 1e-4, 1e-4, 1e-4])

    def test_no_scheduler(self):
        assert isinstance(LumaStyle(**SMALL, lr_scheduler=None).configure_optimizers(), torch.optim.Adam)

    def test_optimizer_settings_and_backbone_scale_reach_the_groups(self):
        model = LumaStyle(
            **small(backbone={"lr_scale": 0.1}),
            optimizer=lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.05),
            lr_scheduler=None,
        )
        opt = model.configure_optimizers()
        head, backbone = opt.param_groups
        assert isinstance(opt, torch.optim.AdamW)
        assert head["lr"] == pytest.approx(1e-3) and backbone["lr"] == pytest.approx(1e-4)
        assert head["weight_decay"] == backbone["weight_decay"] == 0.05
        assert {id(p) for p in backbone["params"]} == {id(p) for p in model.network.context.parameters()}

    def test_frozen_backbone_not_optimised(self):
        model = LumaStyle(**small(backbone={"freeze": "conv1-conv7"}), lr_scheduler=None)
        params = {id(p) for group in model.configure_optimizers().param_groups for p in group["params"]}
        assert all(id(p) not in params for p in model.network.context.parameters())
        assert all(id(p) in params for p in model.network.head.parameters())

    def test_backbone_scale_without_a_trained_backbone_is_refused(self):
        with pytest.raises(LumastyleError, match=r"model.backbone.lr_scale 0.1 would do nothing: the whole backbone is frozen"):
            LumaStyle(**small(backbone={"freeze": "conv1-conv7", "lr_scale": 0.1}))

    def test_plateau_scheduler_watches_validation(self):
        model = LumaStyle(**SMALL, lr_scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau)
        sched = model.configure_optimizers()["lr_scheduler"]
        assert sched["monitor"] == "val/lab_distance" and sched["interval"] == "epoch"


def test_validation_measures_the_written_image(tmp_path):
    """A prediction beyond sRGB white, clipped to white, matches a white target: the metric is 0 on the
    written image though the unclipped Lab is far off."""
    model = LumaStyle(context=ContextOptions(scales=()))
    with torch.no_grad():
        model.network.head.out.bias.view(3, 10)[0, 9] = 0.6  # +30 L everywhere: far beyond white
    rgb = torch.full((1, 3, 8, 8), 0.97)
    target = torch.ones(1, 3, 8, 8)
    unclipped = lab_distance(model.network.forward_lab(rgb)[1], rgb_to_lab(target)).mean()
    assert unclipped > 20
    batches = [{"input": rgb, "target": target, "name": ["white"]}]
    result = quiet_trainer(tmp_path).validate(model, DataLoader(batches, batch_size=None), verbose=False)
    assert result[0]["val/lab_distance"] < 0.05
    assert result[0]["val/psnr"] > 60


class NanAt(torch.utils.data.Dataset):
    """Training pairs; the pair served at ``bad_index`` has a NaN pixel."""

    def __init__(self, n: int, bad_index: int) -> None:
        self.n, self.bad_index = n, bad_index

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(index)
        rgb = torch.rand(3, 16, 16, generator=g)
        if index == self.bad_index:
            rgb[0, 3, 3] = float("nan")
        return {"input": rgb, "target": rgb.flip(0)}


class TestNonFiniteLoss:
    def test_named_with_its_step_and_no_nan_checkpoint(self, tmp_path):
        torch.manual_seed(0)
        model = LumaStyle(**SMALL, lr_scheduler=None)
        checkpoints = L.pytorch.callbacks.ModelCheckpoint(tmp_path / "ckpt", save_top_k=-1, monitor=None)
        trainer = quiet_trainer(tmp_path, max_epochs=3, callbacks=[checkpoints], limit_val_batches=0)
        loader = DataLoader(NanAt(8, bad_index=6), batch_size=2)  # 4 steps an epoch; index 6 is step 3
        with pytest.raises(LumastyleError, match="at step 3;"):
            trainer.fit(model, loader)
        assert not list((tmp_path / "ckpt").glob("*.ckpt"))  # caught at the end of epoch 0, before its save

    def test_earlier_checkpoints_are_kept_and_finite(self, tmp_path):
        torch.manual_seed(0)
        model = LumaStyle(**SMALL, lr_scheduler=None, check_finite_every_n_steps=1)
        checkpoints = L.pytorch.callbacks.ModelCheckpoint(tmp_path / "ckpt", save_top_k=-1, monitor=None)
        trainer = quiet_trainer(tmp_path, max_epochs=3, callbacks=[checkpoints], limit_val_batches=0)

        class SecondEpochNan(NanAt):
            def __getitem__(self, index):
                item = super().__getitem__(index)
                if trainer.current_epoch == 1 and index == 0:
                    item["input"][0, 0, 0] = float("inf")
                return item

        with pytest.raises(LumastyleError, match="at step 4;"):
            trainer.fit(model, DataLoader(SecondEpochNan(8, bad_index=-1), batch_size=2))
        saved = list((tmp_path / "ckpt").glob("*.ckpt"))
        assert [p.name for p in saved] == ["epoch=0-step=4.ckpt"]
        state = torch.load(saved[0], weights_only=True)["state_dict"]
        assert all(torch.isfinite(v).all() for v in state.values())

    def test_a_save_after_the_nan_step_is_refused(self, tmp_path, tally):
        """A checkpoint every step, the loss checked only every 50: Lightning's ModelCheckpoint saves
        in on_train_batch_end before the model's own check runs, so the save itself (on_save_checkpoint)
        must refuse the weights the NaN step trained. Steps 1-3 are saved and finite; step 4's is not
        written."""
        torch.manual_seed(0)
        model = LumaStyle(**SMALL, lr_scheduler=None)  # check_finite_every_n_steps: 50
        checkpoints = L.pytorch.callbacks.ModelCheckpoint(
            tmp_path / "ckpt", every_n_train_steps=1, save_top_k=-1, monitor=None
        )
        trainer = quiet_trainer(tmp_path, max_epochs=1, callbacks=[checkpoints], limit_val_batches=0)
        with pytest.raises(LumastyleError, match="at step 3;"):
            trainer.fit(model, DataLoader(NanAt(8, bad_index=6), batch_size=2))  # index 6: step 3
        saved = sorted(p.name for p in (tmp_path / "ckpt").glob("*.ckpt"))
        assert saved == [f"epoch=0-step={n}.ckpt" for n in (1, 2, 3)]
        for name in saved:
            state = torch.load(tmp_path / "ckpt" / name, weights_only=True)["state_dict"]
            assert all(torch.isfinite(v).all() for v in state.values()), name
        tally("checkpoint saves after a NaN step refused")

    def test_under_ddp_every_process_stops(self):
        """Two DDP processes (gloo, CPU); only process 1 sees the NaN. Both stop with the error at the
        same check instead of one waiting forever for the other (a hang fails by the timeout)."""
        import subprocess
        import sys

        script = Path(__file__).parent / "helpers" / "ddp_nonfinite.py"
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=240, check=False
        )
        said = done.stdout
        for rank in (0, 1):
            assert f"process {rank} stopped: the training loss became NaN or infinite at step 2;" in said, (
                said + done.stderr[-2000:]
            )

    def test_no_host_sync_between_checks(self):
        """The guard records on the device: no .item() (a sync) happens in a training step."""
        model = LumaStyle(**SMALL)
        calls = []
        original = torch.Tensor.item
        torch.Tensor.item = lambda self: calls.append(1) or original(self)
        try:
            model._note_nonfinite(torch.tensor(float("nan")))
            model._note_nonfinite(torch.tensor(1.0))
        finally:
            torch.Tensor.item = original
        assert not calls and int(model.first_nonfinite_step) == 0


class TestCheckpoints:
    def save(self, model: LumaStyle, path: Path) -> Path:
        trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
        trainer.strategy.connect(model)
        trainer.save_checkpoint(path)
        return path

    def test_round_trip_through_lightning(self, tmp_path: Path):
        torch.manual_seed(0)
        model = LumaStyle(**SMALL, head=TinyHead)
        for p in model.network.head.parameters():
            p.data.normal_(0, 0.1)
        model.trained_long_side = 321
        loaded = LumaStyle.from_checkpoint(self.save(model, tmp_path / "m.ckpt"))
        assert loaded.trained_long_side == 321 and not loaded.training
        assert type(loaded.network.head) is TinyHead and loaded.network.head.out.in_channels == 8
        rgb = torch.rand(1, 3, 24, 24)
        assert torch.allclose(loaded(rgb), model.eval()(rgb), atol=1e-6)

    def test_never_downloads(self, tmp_path: Path, no_download, as_if_trained_from_imagenet):
        LumaStyle.from_checkpoint(
            as_if_trained_from_imagenet(self.save(LumaStyle(**SMALL), tmp_path / "m.ckpt"))
        )

    def test_missing(self, tmp_path: Path):
        with pytest.raises(LumastyleError, match="does not exist"):
            LumaStyle.from_checkpoint(tmp_path / "none.ckpt")

    def test_not_a_checkpoint(self, tmp_path: Path):
        (tmp_path / "x.ckpt").write_text("hello")
        with pytest.raises(LumastyleError, match="not a readable checkpoint"):
            LumaStyle.from_checkpoint(tmp_path / "x.ckpt")

    def test_other_checkpoint(self, tmp_path: Path):
        torch.save({"state_dict": {}}, tmp_path / "y.ckpt")
        with pytest.raises(LumastyleError, match="not a lumastyle checkpoint"):
            LumaStyle.from_checkpoint(tmp_path / "y.ckpt")

    @pytest.mark.parametrize(("version", "says"), [(1, "older lumastyle"), (99, "newer lumastyle")])
    def test_other_format(self, tmp_path: Path, version, says):
        torch.save({"state_dict": {}, "lumastyle": {"format": version}}, tmp_path / "z.ckpt")
        with pytest.raises(LumastyleError, match=says):
            check_checkpoint(tmp_path / "z.ckpt")


def test_bad_options_are_one_line(no_download):  # a wrong head name is reported before any download
    with pytest.raises(LumastyleError, match="unknown head 'nope'"):
        LumaStyle(**small(backbone={"weights": "imagenet"}), head="nope")
    with pytest.raises(LumastyleError, match=r"model\.context\.scales must be positive"):
        LumaStyle(**small(context={"scales": (1.0, -2.0)}))
    with pytest.raises(LumastyleError, match=r"model\.backbone\.lr_scale must be >= 0"):
        LumaStyle(**small(backbone={"lr_scale": -1}))


class TestClosedFormStart:
    def training_error(self, model: LumaStyle, pairs) -> float:
        with torch.no_grad():
            errors = [
                lab_distance(model.network.forward_lab(a.unsqueeze(0))[1], rgb_to_lab(b.unsqueeze(0))).mean()
                for a, b in pairs
            ]
        return float(torch.stack(errors).mean())

    def global_fit_error(self, pairs, context=None) -> float:
        """The best global quadratic map, fitted independently of lumastyle: sRGB -> CIELab, the
        quadratic terms and the least squares are numpy written here (the Lab is the model's: D65, the
        sRGB matrix kornia uses). With ``context`` (per photo (C, H, W)), the best map linear in it:
        the products of the quadratic terms with [1, context]."""
        import itertools

        import numpy as np

        def lab(rgb) -> np.ndarray:  # (3, H, W) sRGB in [0, 1] -> (N, 3) CIELab
            c = np.clip(rgb.double().numpy(), 0, 1)
            linear = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
            to_xyz = np.array([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],
                               [0.019334, 0.119193, 0.950227]])  # fmt: skip
            t = np.einsum("ij,jhw->ihw", to_xyz, linear) / np.array([0.95047, 1.0, 1.08883])[:, None, None]
            f = np.where(t > 0.008856, np.cbrt(np.maximum(t, 0.008856)), 7.787 * t + 4 / 29)
            return np.stack([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])]).reshape(3, -1).T

        def terms(rgb, ctx) -> np.ndarray:
            c = lab(rgb) / 100  # scaled for the conditioning: the same span of quadratics
            pairs_of_channels = itertools.combinations_with_replacement(range(3), 2)
            squares = [c[:, i] * c[:, j] for i, j in pairs_of_channels]
            v = np.stack([np.ones(len(c)), *c.T, *squares], axis=1)  # every monomial of degree <= 2: 10
            if ctx is None:
                return v
            f = np.concatenate([np.ones((len(v), 1)), ctx.double().flatten(1).T.numpy()], axis=1)
            return (v[:, :, None] * f[:, None, :]).reshape(len(v), -1)

        context = context or [None] * len(pairs)
        v = np.concatenate([terms(a, c) for (a, _), c in zip(pairs, context, strict=True)])
        m = np.linalg.lstsq(v, np.concatenate([lab(b) for _, b in pairs]), rcond=None)[0]
        errors = [
            np.linalg.norm(terms(a, c) @ m - lab(b), axis=1).mean()
            for (a, b), c in zip(pairs, context, strict=True)
        ]
        return float(np.mean(errors))

    def test_from_step_0_as_good_as_the_global_fit(self, pairs_root):
        from lumastyle.data import PairDataModule

        torch.manual_seed(0)
        dm = PairDataModule(str(pairs_root), num_workers=0, crop_size=16)
        dm.setup()
        pairs = list(dm.training_pairs())
        model = LumaStyle(**SMALL, closed_form_start=True)
        before = self.training_error(model, pairs)
        trainer = quiet_trainer(Path(dm.root), max_steps=0, enable_checkpointing=False)
        trainer.fit(model, dm)  # the start is fitted in on_fit_start, before any step
        after, best = self.training_error(model, pairs), self.global_fit_error(pairs)
        assert after == pytest.approx(best, rel=1e-3, abs=1e-3)
        assert after < 0.5 * before

    def test_a_low_level_linear_head_starts_from_the_best_local_map(self, pairs_root):
        """With ``low_level_linear`` (and no validation photos to choose a ridge on), the start is the
        least-squares map linear in each pixel's low-level context: the training error is numpy's fit
        of that map, below the global fit."""
        from lumastyle.context import sample_context
        from lumastyle.data import PairDataModule

        torch.manual_seed(0)
        dm = PairDataModule(str(pairs_root), num_workers=0, crop_size=16)
        dm.setup()
        pairs = list(dm.training_pairs())
        model = LumaStyle(**SMALL, color_context=colour(2.0), closed_form_start=True)
        model.network.start_from_closed_form(pairs)
        with torch.no_grad():
            maps = [model.network.low_level(normalize_lab(rgb_to_lab(a[None]))) for a, _ in pairs]
            context = [
                sample_context(m.features, m.scaled_hw, m.pad, a.shape[-2:])[0]
                for m, (a, _) in zip(maps, pairs, strict=True)
            ]
        after, best = self.training_error(model, pairs), self.global_fit_error(pairs, context)
        assert after == pytest.approx(best, rel=1e-3, abs=1e-3)
        assert after < self.global_fit_error(pairs) - 1e-3

    def test_the_ridge_is_chosen_on_the_validation_photos(self):
        """Training targets that depend on the neighbourhood (a blur), validation photos left as they
        are: the local terms fit the training photos only, so the validation photos choose the global map
        (no low-level terms)."""
        from lumastyle.geometry import blur

        g = torch.Generator().manual_seed(0)
        train = [torch.rand(3, 24, 24, generator=g) for _ in range(3)]
        train = [(a, blur(a[None], 2.0)[0]) for a in train]
        val = [(a, a) for a in (torch.rand(3, 24, 24, generator=g) for _ in range(2))]
        model = LumaStyle(**SMALL, color_context=colour(2.0), closed_form_start=True)
        local = model.network.start_from_closed_form(train, val).matrix
        assert torch.equal(local[..., 1:], torch.zeros_like(local[..., 1:]))
        assert torch.equal(
            model.network.head.low_linear.weight, torch.zeros_like(model.network.head.low_linear.weight)
        )
        assert self.training_error(model, train) == pytest.approx(self.global_fit_error(train), rel=1e-3)
        # without validation photos the same training photos give the local map
        assert model.network.start_from_closed_form(train).matrix[..., 1:].abs().max() > 1e-2

    def test_not_redone_when_resuming(self, pairs_root, tmp_path):
        from lumastyle.data import PairDataModule

        dm = PairDataModule(str(pairs_root), num_workers=0, crop_size=16)
        model = LumaStyle(**SMALL, closed_form_start=True)
        trainer = quiet_trainer(tmp_path, max_steps=1, limit_val_batches=0)
        trainer.fit(model, dm)
        trainer.save_checkpoint(tmp_path / "one.ckpt")
        saved = model.network.head.out.bias.detach().clone()
        resumed = LumaStyle(**SMALL, closed_form_start=True)
        quiet_trainer(tmp_path, max_steps=1, limit_val_batches=0).fit(
            resumed, dm, ckpt_path=tmp_path / "one.ckpt"
        )
        assert torch.equal(resumed.network.head.out.bias, saved)

    def test_saliency_on_crops_without_the_cache_is_a_warning(self, pairs_root):
        """Without the context cache a crop's saliency is its own, not its photo's: said once at fit start."""
        from lumastyle.data import PairDataModule

        model = LumaStyle(**SMALL, color_context=ColorContextOptions(saliency=(4.0,), linear=True))
        dm = PairDataModule(str(pairs_root), num_workers=0, crop_size=16)
        with pytest.warns(UserWarning, match=r"model\.color_context\.saliency: the training crops do not read"):
            quiet_trainer(Path(dm.root), max_steps=1, limit_val_batches=0, enable_checkpointing=False).fit(
                model, dm
            )

    def test_a_head_without_a_basis_starts_as_built_with_a_warning(self, pairs_root):
        """A preset asks for the closed-form start and the linear path; a head with neither trains anyway."""
        from lumastyle.data import PairDataModule

        class Plain(Head):
            def __init__(self, context_channels, num_scales, low_level_channels=0, low_level_linear=False):
                super().__init__(context_channels, num_scales, low_level_channels, low_level_linear)
                self.gain = torch.nn.Parameter(torch.ones(()))

            def forward(self, lab_n, context):
                return lab_n * self.gain

        with pytest.warns(UserWarning, match="color_context.linear: Plain has no linear low-level path"):
            model = LumaStyle(**SMALL, head=Plain, color_context=colour(2.0), closed_form_start=True)
        dm = PairDataModule(str(pairs_root), num_workers=0, crop_size=16)
        with pytest.warns(UserWarning, match="closed_form_start: Plain has no colour basis"):
            quiet_trainer(Path(dm.root), max_steps=1, limit_val_batches=0, enable_checkpointing=False).fit(
                model, dm
            )

    def test_needs_a_head_with_a_basis(self):
        model = LumaStyle(**SMALL, head=KeepColours)
        with pytest.raises(LumastyleError, match="closed_form_start needs a head"):
            model.network.start_from_closed_form([])


def closed_form_held_out_error(look, photos, sizes: tuple[int, int, int], **colour_options) -> float:
    """Error on held-out photos of the closed-form start (colour context ``colour_options``, blurs at 3
    and 12 pixels) fitted to ``look`` on ``sizes`` (train, validation, held out) photos from ``photos()``."""
    train, validation, held_out = ([(x, look(x)) for x in (photos() for _ in range(n))] for n in sizes)
    model = LumaStyle(**SMALL, color_context=colour(3.0, 12.0, **colour_options), closed_form_start=True)
    model.network.start_from_closed_form(train, validation)
    return TestClosedFormStart().training_error(model, held_out)


def test_contrast_context_learns_a_pop_out_in_closed_form():
    """A centre-surround pop-out (render_popout's look) on photos of coloured patches: which patch is
    popped out depends on how far it stands out from its surroundings, a distance the blurred colours
    are not linear in. The closed-form start with the contrast channels does better on photos it
    did not fit than the same start without them."""
    from lumastyle.actions.local import popout

    g = torch.Generator().manual_seed(0)

    def photo() -> torch.Tensor:
        x = torch.rand(3, 1, 1, generator=g).expand(3, 64, 64).clone()
        for _ in range(4):  # patches, some close to the background's colour, some far from it
            r, c = torch.randint(0, 48, (2,), generator=g).tolist()
            x[:, r : r + 14, c : c + 14] = x[:, :1, :1] + 0.5 * (torch.rand(3, 1, 1, generator=g) - 0.5)
        return (x + 0.1 * torch.rand(3, 64, 64, generator=g) - 0.05).clamp(0, 1)  # every colour nearby

    def look(x: torch.Tensor) -> torch.Tensor:
        return popout(x, 0.9, 0.3, -0.8, softness=0.02, surround=0.15, scale=25.0)

    errors = {}
    for contrast in (False, True):
        g.manual_seed(0)  # the same photos for both
        errors[contrast] = closed_form_held_out_error(look, photo, (12, 4, 6), contrast=contrast)
    assert errors[True] < 0.85 * errors[False], errors


def test_saliency_context_learns_a_photo_wide_pop_out_in_closed_form():
    """The frequency-tuned pop-out (render_popout_global's look) on photos of coloured patches: how
    much a patch pops out is its distance from the photo's mean colour over the most salient patch's,
    a whole-photo normalisation that the blurs and their contrast channels do not show. The closed-form
    start with the saliency channels beside the contrast channels does better on photos it did not fit
    than the same start without them."""
    from lumastyle.actions.local import popout

    g = torch.Generator().manual_seed(0)

    def photo() -> torch.Tensor:
        x = torch.rand(3, 1, 1, generator=g).expand(3, 64, 64).clone()
        for _ in range(3):  # patches at different distances from the photo's mean colour
            r, c = torch.randint(0, 44, (2,), generator=g).tolist()
            x[:, r : r + 20, c : c + 20] = x[:, :1, :1] + 0.8 * (torch.rand(3, 1, 1, generator=g) - 0.5)
        return (x + 0.1 * torch.rand(3, 64, 64, generator=g) - 0.05).clamp(0, 1)

    def look(x: torch.Tensor) -> torch.Tensor:
        return popout(x, 0.7, 0.25, -0.7, softness=0.04, surround=math.inf, scale=0.0)

    errors = {}
    for saliency in ((), (4.0, 12.0)):
        g.manual_seed(0)  # the same photos for both
        errors[saliency] = closed_form_held_out_error(look, photo, (12, 4, 6), contrast=True, saliency=saliency)
    assert errors[(4.0, 12.0)] < 0.8 * errors[()], errors


def test_region_context_learns_a_watercolor_in_closed_form():
    """A watercolor look (SLIC regions painted their mean colour) on photos of textured patches: a blur
    smears each patch's colour into its neighbours, region means stop at the patch edges. The
    closed-form start with region context does better on photos it did not fit than with blurs alone."""
    from lumastyle.actions.local import watercolor

    g = torch.Generator().manual_seed(0)

    def photo() -> torch.Tensor:
        x = (0.2 + 0.6 * torch.rand(3, 1, 1, generator=g)).expand(3, 96, 96).clone()
        for _ in range(8):
            r, c = torch.randint(0, 72, (2,), generator=g).tolist()
            x[:, r : r + 24, c : c + 24] = 0.2 + 0.6 * torch.rand(3, 1, 1, generator=g)
        return (x + 0.2 * torch.rand(3, 96, 96, generator=g) - 0.1).clamp(0, 1)  # texture to flatten

    def look(x: torch.Tensor) -> torch.Tensor:
        return watercolor(x, segments=64, compactness=10.0)

    errors = {}
    for regions in ((), (8.0, 16.0)):
        g.manual_seed(0)  # the same photos for both
        errors[regions] = closed_form_held_out_error(look, photo, (8, 3, 4), regions=regions)
    assert errors[(8.0, 16.0)] < 0.8 * errors[()], errors
