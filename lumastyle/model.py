"""The LightningModule: trains, evaluates and predicts with the plain-torch :class:`StyleNetwork`.

``LumaStyle`` builds the network from its constructor arguments (what ``model:`` in a config sets)
and adds only what needs a trainer: the paper's loss, metrics measured on the image a user gets (the
prediction clipped to sRGB, through :func:`lumastyle.inference.stylize_tensor`, the same path as
``stylize``), the optimiser and schedule from the config's ``optimizer:``/``lr_scheduler:`` blocks
(:mod:`lumastyle.optim`), a non-finite-loss guard that costs no host-device sync per step, and the
checkpoint section ``stylize`` needs (:mod:`lumastyle.checkpoints`).

Everything else lives where it can be used and tested without Lightning, and the model calls it from
its hooks: the context calibration and the closed-form start (:mod:`lumastyle.fitting`, through
:meth:`StyleNetwork.calibrate_conv5` and :meth:`StyleNetwork.start_from_closed_form`), the context
cache's build and serving (:mod:`lumastyle.caching`). What it asks of a DataModule is typed in
:mod:`lumastyle.style_data`. Callbacks read what the steps return (``validation_step`` returns the
written images), never attributes they set on the model. Checkpoints load through Lightning's
``LumaStyle.load_from_checkpoint`` (see :meth:`LumaStyle.from_checkpoint`) and never download weights.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor

from lumastyle.backbone import DilatedVGG16, InputNorm, resolve_input_norm
from lumastyle.caching import ContextCaching
from lumastyle.checkpoints import (
    check_checkpoint,
    extra_state,
    leave_out_bundled,
    restore_bundled,
    restore_random_state,
)
from lumastyle.color import lab_distance, lab_to_rgb, rgb_to_lab
from lumastyle.context import ContextWindow
from lumastyle.correction import upgrade_state
from lumastyle.errors import LumastyleError
from lumastyle.heads import ColorMapHead, HeadFactory, QuadraticHead
from lumastyle.inference import TILE_PIXELS, Precision, resolve_precision
from lumastyle.loading import CheckpointMismatch, TrainedNetwork, build_network, check_fits
from lumastyle.metrics import StyleMetrics
from lumastyle.optim import (
    LinearWarmup,
    default_optimizer,
    parameter_groups,
    scale_learning_rates,
    scheduler_config,
)
from lumastyle.options import (
    DEFAULT_BACKBONE,
    DEFAULT_COLOR_CONTEXT,
    DEFAULT_CONTEXT,
    FLAT_NAMES,
    WEIGHTS_NOT_GIVEN,
    BackboneOptions,
    ColorContextOptions,
    ContextOptions,
    FreezeOption,
    LumastyleDeprecationWarning,
    from_flat_names,
    refuse_silent_combinations,
)
from lumastyle.style_data import CachedContextData, Prediction, PredictionBatch, TrainingBatch, TrainingPhotos

__all__ = ["LumaStyle", "check_checkpoint"]


class LumaStyle(L.LightningModule):
    """Zhu & Yu's automatic stylization network (arXiv:1811.10872) as a LightningModule.

    Args:
        head: the per-pixel head: ``quadratic`` (the paper's 3x10 quadratic colour transform), ``affine``,
            or any :class:`~lumastyle.heads.Head` subclass by ``class_path`` with its own ``init_args``.
        backbone: the dilated VGG-16 that gives the context (:class:`~lumastyle.options.BackboneOptions`:
            width, weights, input_norm, freeze, top_channels, share, lr_scale).
        context: what the backbone looks at (:class:`~lumastyle.options.ContextOptions`: scales, pad,
            long_side, cache).
        color_context: regional colour beside the backbone's context, not in the paper
            (:class:`~lumastyle.options.ColorContextOptions`: blur_radii, contrast, regions, saliency,
            linear, photo, correction).
        closed_form_start: before the first step, fit the best single global colour map on the head's
            basis to the training photos by least squares and start the head there (it learns the
            residual): from step 0 the model is as good as the global fit. With
            ``color_context.linear`` the map is also linear in the colour context, its ridge chosen on
            the validation photos (:func:`lumastyle.fitting.fit_closed_form`). Not redone on resume.
        check_finite_every_n_steps: how often (in steps) a non-finite training loss is looked for; it is
            also looked for at every epoch end and before every checkpoint is written.
        optimizer: set by the config's top-level ``optimizer:`` block (null here: Adam, lr 1e-4).
        lr_scheduler: set by the config's top-level ``lr_scheduler:`` block (null: none).
        backbone_width, backbone_weights, backbone_input_norm, freeze, top_channels, share_backbone,
            backbone_lr_scale, scales, context_pad, context_long_side, context_cache, low_level,
            low_level_contrast, low_level_regions, low_level_linear: the flat names of earlier
            releases, read into the blocks for this release with one deprecation line
            (:data:`lumastyle.options.FLAT_NAMES`); checkpoints written before the blocks load so.
        tile_pixels: deprecated: a run setting, no longer stored with the model (:meth:`stylize` takes it).
    """

    def __init__(
        self,
        head: str | HeadFactory = QuadraticHead,
        backbone: BackboneOptions = DEFAULT_BACKBONE,
        context: ContextOptions = DEFAULT_CONTEXT,
        color_context: ColorContextOptions = DEFAULT_COLOR_CONTEXT,
        closed_form_start: bool = False,
        check_finite_every_n_steps: int = 50,
        optimizer: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = LinearWarmup,
        # the flat names of earlier releases (lumastyle.options.FLAT_NAMES), read for this release
        backbone_width: float | None = None,
        backbone_weights: str | None = WEIGHTS_NOT_GIVEN,
        backbone_input_norm: InputNorm | None = None,
        freeze: FreezeOption | None = None,
        scales: tuple[float, ...] | None = None,
        share_backbone: bool | None = None,
        context_pad: int | None = None,
        low_level: tuple[float, ...] | None = None,
        context_long_side: int | None = None,
        tile_pixels: int | None = None,
        backbone_lr_scale: float | None = None,
        top_channels: int | None = None,
        context_cache: bool | str | None = None,
        low_level_linear: bool | None = None,
        low_level_contrast: bool | None = None,
        low_level_regions: tuple[float, ...] | None = None,
    ) -> None:
        super().__init__()
        arguments = locals()
        flat = {name: arguments[name] for name in FLAT_NAMES}
        backbone, context, color_context = from_flat_names(flat, backbone, context, color_context)
        if tile_pixels is not None:
            warnings.warn(
                "model.tile_pixels is a run setting and no longer an option of the model (it is ignored); "
                "the old name is read for this release only",
                LumastyleDeprecationWarning,
                stacklevel=2,
            )
        refuse_silent_combinations(backbone, context, color_context)
        if check_finite_every_n_steps < 1:
            raise LumastyleError(
                f"model.check_finite_every_n_steps must be at least 1, got {check_finite_every_n_steps}"
            )
        # checkpoints record the normalisation itself: they load with backbone weights null
        backbone = dataclasses.replace(
            backbone, input_norm=resolve_input_norm(backbone.weights, backbone.input_norm)
        )
        self.backbone_options, self.context_options, self.color_options = backbone, context, color_context
        if color_context.correction and not closed_form_start:
            raise LumastyleError(
                "model.color_context.correction is fitted by the closed-form start before training: set "
                "model.closed_form_start true"
            )
        self.closed_form_start = closed_form_start
        self.check_finite_every_n_steps = check_finite_every_n_steps
        # the optimiser is configuration of a run (config.yaml records it), not of the network; the
        # flat names are stored as the blocks they were read into
        self.save_hyperparameters(ignore=["optimizer", "lr_scheduler", "tile_pixels", *FLAT_NAMES])
        self.hparams.update(
            backbone=dataclasses.asdict(backbone),
            context=dataclasses.asdict(context),
            color_context=dataclasses.asdict(color_context),
        )
        _plain_hparams(self.hparams)  # checkpoints then load with torch.load(weights_only=True)
        self.network = build_network(head, backbone, context, color_context)
        self.set_optimisation(optimizer, lr_scheduler)
        #: long side of the training photos (the scale the context learned); saved in checkpoints
        self.trained_long_side: int | None = None
        # first training step whose loss was not finite (-1: none yet); kept on the device, read rarely
        self.first_nonfinite_step: Tensor
        self.register_buffer("first_nonfinite_step", torch.tensor(-1), persistent=False)
        self.val_metrics = StyleMetrics(full=False)  # the paper's Lab distance and PSNR, every epoch
        self.test_metrics = StyleMetrics(full=True)  # and ΔE76, CIEDE2000, SSIM (see lumastyle.metrics)
        self._caching: ContextCaching | None = None

    def forward(self, rgb: Tensor, context_rgb: Tensor | None = None) -> Tensor:
        """Stylize sRGB (B, 3, H, W) in [0, 1] (the network's forward: no tiling, no context cap)."""
        return self.network(rgb, context_rgb)

    def set_optimisation(
        self, optimizer: OptimizerCallable | None, lr_scheduler: LRSchedulerCallable | None
    ) -> None:
        """Use these instead of the constructor's ``optimizer``/``lr_scheduler`` (the CLI passes its
        top-level blocks here); ``optimizer`` None means Adam with lr 1e-4, ``lr_scheduler`` None none."""
        self.optimizer_factory = optimizer or default_optimizer
        self.lr_scheduler_factory = lr_scheduler

    def context_long_side(self, requested: int | None = None) -> int | None:
        """The context cap inference uses: ``requested``, else ``model.context.long_side``, else the
        training scale stored in the checkpoint."""
        return self.trained_network().context_long_side(requested)

    def trained_network(self) -> TrainedNetwork:
        """The network with what inference needs beside it (what :func:`lumastyle.loading.load_network`
        gives without Lightning)."""
        return TrainedNetwork(self.network, self.context_options.long_side, self.trained_long_side)

    def stylize(
        self,
        rgb: Tensor,
        context_long_side: int | None = None,
        precision: Precision = "32",
        tile_pixels: int = TILE_PIXELS,
        fast: bool = False,
        strength: float = 1.0,
    ) -> Tensor:
        """A photo (3, H, W) or batch as ``lumastyle stylize`` renders it (see :mod:`lumastyle.inference`;
        ``fast``: its fast path, what ``stylize`` and ``predict`` take by default; ``strength``: the
        look's amount, 0 the photo, 1 the look, up to 2 to exaggerate it)."""
        return self.trained_network().stylize(rgb, context_long_side, precision, tile_pixels, fast, strength)

    # -- training ------------------------------------------------------------------------------

    def _predict_lab(self, batch: TrainingBatch) -> Tensor:
        """The unclipped Lab prediction for a batch: from windows of its photos' cached context when
        the loader gives them, else from the batch's own pixels."""
        if "context" not in batch:
            return self.network.forward_lab(batch["input"], photo=batch.get("photo"))[1]
        windows = self.network.encode_windows([ContextWindow(**w) for w in batch["context"]])
        lab = rgb_to_lab(batch["input"])
        return self.network.transform_windows(lab, windows, batch["origin"], batch["photo_hw"])

    def training_step(self, batch: TrainingBatch, batch_idx: int) -> Tensor:
        lab_pred = self._predict_lab(batch)
        lab_target = rgb_to_lab(batch["target"])
        # the paper's loss: squared L2 per pixel in Lab units (averaged over pixels here, not summed)
        loss = (lab_pred - lab_target).square().sum(dim=1).mean()
        self._note_nonfinite(loss)
        bs = batch["input"].shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        self.log("train/lab_distance", lab_distance(lab_pred, lab_target).mean().detach(), batch_size=bs)
        return loss

    def _note_nonfinite(self, loss: Tensor) -> None:
        """Remember the first step with a non-finite loss, on the device (no sync)."""
        step = torch.full_like(self.first_nonfinite_step, self.global_step)
        first = (~torch.isfinite(loss.detach())) & (self.first_nonfinite_step < 0)
        self.first_nonfinite_step = torch.where(first, step, self.first_nonfinite_step)

    def check_finite(self) -> None:
        """Raise a LumastyleError naming the first step whose training loss was not finite.

        Every process calls this at the same points (it reduces across processes under DDP), so all
        of them stop together instead of one raising while the others wait.
        """
        seen = self.first_nonfinite_step.double()
        seen = torch.where(seen < 0, torch.full_like(seen, math.inf), seen)
        trainer = self._trainer
        if trainer is not None and trainer.world_size > 1:
            seen = trainer.strategy.reduce(seen, reduce_op="min")
        step = seen.item()
        if math.isfinite(step):
            raise LumastyleError(
                f"the training loss became NaN or infinite at step {int(step)}; lower the learning rate "
                "(--optimizer.lr) or check the photos; checkpoints written before that step are kept"
            )

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if (batch_idx + 1) % self.check_finite_every_n_steps == 0:
            self.check_finite()

    def on_train_epoch_end(self) -> None:
        self.check_finite()

    # -- evaluation: on what the user gets -------------------------------------------------------

    def _evaluate(self, batch: TrainingBatch, stage: str, metrics: StyleMetrics) -> dict[str, Tensor]:
        """The loss and metrics of the written image (clipped sRGB, as stylize writes it, from the cached
        context of the copy stylize computes it on when the loader gives it: the same pixels); returns
        ``loss`` and the ``written`` images, which callbacks read (``on_validation_batch_end``)."""
        cached = "context" in batch
        written = lab_to_rgb(self._predict_lab(batch)) if cached else self.stylize(batch["input"])
        per_pixel = metrics.update(written, batch["target"].float())
        loss = per_pixel.square().mean()
        bs = batch["input"].shape[0]
        self.log(f"{stage}/loss", loss, batch_size=bs, sync_dist=True)
        for name, metric in metrics.items():
            self.log(f"{stage}/{name}", metric, prog_bar=name == "lab_distance", batch_size=bs)
        return {"loss": loss, "written": written.detach()}

    def validation_step(self, batch: TrainingBatch, batch_idx: int) -> dict[str, Tensor]:
        return self._evaluate(batch, "val", self.val_metrics)

    def test_step(self, batch: TrainingBatch, batch_idx: int) -> dict[str, Tensor]:
        return self._evaluate(batch, "test", self.test_metrics)

    def predict_step(self, batch: PredictionBatch, batch_idx: int) -> Prediction:
        """The stylized photos and what PredictionWriter needs to write them as ``stylize`` would.

        A batch may hold no photo (a process's share of a folder that is all done); a batch of photos
        whose decoded sizes differ (``input`` a list, :class:`lumastyle.data.folder.FolderDataset`) is
        stylized one photo at a time."""
        precision = resolve_precision("auto", self.device)  # as `lumastyle stylize` renders by default
        images: Any = batch["input"]
        if isinstance(images, list):
            output: Any = [self.stylize(image[None], precision=precision, fast=True)[0] for image in images]
        else:
            output = self.stylize(images, precision=precision, fast=True) if len(images) else images
        return {
            "output": output,
            "name": batch["name"],
            "path": batch["path"],
            "bit_depth": batch["bit_depth"],
        }

    # -- optimisation (lumastyle.optim) ----------------------------------------------------------

    def configure_optimizers(self) -> Any:
        groups = parameter_groups(self.network.head, self.network.context, self.backbone_options.lr_scale)
        optimizer = scale_learning_rates(self.optimizer_factory(groups))
        if self.lr_scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler_config(self.lr_scheduler_factory(optimizer))}

    # -- the context cache (lumastyle.caching) ----------------------------------------------------

    def context_caching(self) -> ContextCaching | None:
        """The caching of this network's lower context, or None when it is off or would not help (the
        lower backbone trains, or there is no backbone)."""
        if self._caching is None:
            self._caching = ContextCaching.for_network(
                self.network, self.context_options.cache, self.context_options.long_side
            )
        return self._caching

    def _datamodule(self) -> object:
        """The run's DataModule, or None (Lightning sets ``trainer.datamodule``; its type does not say so)."""
        trainer = self._trainer
        return None if trainer is None else trainer.datamodule  # type: ignore[attr-defined]

    def _fit_caching(self) -> tuple[ContextCaching, CachedContextData] | None:
        """The caching and the fit's DataModule when that DataModule serves from a cache and it applies."""
        data = self._datamodule()
        if self._trainer is None or self._trainer.state.fn != "fit" or not isinstance(data, CachedContextData):
            return None
        caching = self.context_caching()
        return None if caching is None else (caching, data)

    def prepare_data(self) -> None:
        """Build the context cache (Lightning runs this in one process per node, before setup)."""
        if (fit := self._fit_caching()) is not None:
            fit[0].prepare(fit[1], self.trainer.strategy.root_device)

    def setup(self, stage: str) -> None:
        if (fit := self._fit_caching()) is not None:
            fit[0].attach(fit[1])

    def teardown(self, stage: str) -> None:
        if (fit := self._fit_caching()) is not None:
            fit[0].detach(fit[1])

    # -- before the first step (lumastyle.fitting) ----------------------------------------------

    def on_fit_start(self) -> None:
        data = self._datamodule()
        if self.color_options.saliency and self._fit_caching() is None:
            rank_zero_warn(
                "model.color_context.saliency: the training crops do not read their whole photo's context from "
                "the cache, so each crop's saliency is relative to the crop's own mean colour and maximum, not "
                "its photo's as stylize computes it; train with a frozen, cached backbone "
                "(--config configs/cpu-small.yaml) for crops that read their whole photo's"
            )
        long_side = data.image_long_side if isinstance(data, TrainingPhotos) else None  # reads headers
        if long_side:
            self.trained_long_side = int(long_side)
        if self.trainer.ckpt_path is not None:  # resumed: the calibration and the start are in the checkpoint
            return
        if self.network.needs_conv5_calibration():
            self.network.calibrate_conv5(self._training_conv5_maps(data))
        if not self.closed_form_start:
            return
        if not isinstance(self.network.head, ColorMapHead):  # a preset asked; this head cannot
            warnings.warn(
                f"model.closed_form_start: {type(self.network.head).__name__} has no colour basis to start "
                "from; it starts as it is built",
                stacklevel=2,
            )
            return
        if not isinstance(data, TrainingPhotos):
            raise LumastyleError(
                "model.closed_form_start needs a lumastyle DataModule (it reads the training photos)"
            )
        fit = self.network.start_from_closed_form(
            data.training_pairs(), data.validation_pairs(), correction_pairs=data.correction_pairs()
        )
        correction = self.network.correction
        if correction is not None:
            if self.trainer.world_size > 1:  # the same fit on every process; made certain with one exchange
                state = self.trainer.strategy.broadcast(correction.state_dict(), src=0)
                correction.load_state_dict(state)
            rank_zero_info(
                "closed-form start: each photo's white balance, exposure and levels, and the look's tone "
                "curves, fitted on the training photos"
            )
        if fit.errors:
            photo = f", photo-level ridge {fit.photo_ridge:g}" if self.color_options.photo else ""
            rank_zero_info(
                f"closed-form start: colour map linear in the low-level context, ridge {fit.ridge:g}{photo}, "
                f"chosen on {fit.validation_photos} validation photos (Lab distance {fit.error:.2f}; the "
                f"global map's {fit.global_error:.2f})"
            )
            if fit.validation_photos < 3:  # one photo chooses both the ridge and the best checkpoint
                rank_zero_warn(
                    f"closed-form start: the ridge was chosen on {fit.validation_photos} validation photo(s), "
                    "which may suit them and not the style; add photos, or hold out more for validation "
                    "(--data.val_fraction 0.2, or a val.txt of at least 3 stems in the pairs folder)"
                )

    def _training_conv5_maps(self, data: Any) -> Iterator[list[Tensor]]:
        """Each training photo's conv5 maps: from the context cache when one is attached, else computed."""
        caching = self.context_caching()
        if caching is not None and isinstance(data, CachedContextData) and data.context_cache is not None:
            yield from caching.training_conv5_maps(data)
            return
        if not isinstance(data, TrainingPhotos):
            raise LumastyleError(
                "calibrating the context needs a lumastyle DataModule (it reads the training photos)"
            )
        yield from self.network.conv5_maps(rgb for rgb, _ in data.training_pairs())

    # -- checkpoints (lumastyle.checkpoints) ----------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.check_finite()  # never write weights trained on a NaN
        checkpoint["lumastyle"] = extra_state(self.trained_long_side)
        # frozen bundled conv1-conv5 are referred to, not stored (lumastyle.checkpoints)
        backbones = {f"{name}.": m for name, m in self.named_modules() if isinstance(m, DilatedVGG16)}
        leave_out_bundled(checkpoint, backbones)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Lightning calls this before it loads checkpoint["state_dict"] (strict): left-out bundled
        # weights go back in first
        trainer = self._trainer
        restore_bundled(checkpoint, trainer.ckpt_path if trainer is not None else None)
        upgrade_state(checkpoint["state_dict"], "network.correction.")  # earlier corrections load as they were
        check_fits(checkpoint["state_dict"], self.state_dict(), trainer.ckpt_path if trainer is not None else None)
        extra = checkpoint.get("lumastyle", {})
        self.trained_long_side = extra.get("trained_long_side")
        if trainer is not None and trainer.state.fn == "fit":
            # resuming: nothing draws random numbers between here and the next epoch's first shuffle
            # (Lightning isolates the sanity check's), so each process draws what it drew uninterrupted
            restore_random_state(extra, trainer.global_rank, trainer.world_size, trainer.ckpt_path)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> LumaStyle:
        """An eval-mode model from a checkpoint written by ``lumastyle fit``, through Lightning's
        ``load_from_checkpoint``; the weights come from the checkpoint, nothing is downloaded.

        A path that is not such a checkpoint raises a one-line :class:`LumastyleError`.
        """
        saved = check_checkpoint(path).get("hyper_parameters", {})
        # the weights come from the checkpoint: build the backbone without loading any
        if isinstance(saved.get("backbone"), dict):
            no_weights: dict[str, Any] = {"backbone": {**saved["backbone"], "weights": None}}
        else:  # written before the option blocks
            no_weights = {"backbone_weights": None}
        try:
            model = cls.load_from_checkpoint(Path(path), map_location=map_location, weights_only=True, **no_weights)
        except CheckpointMismatch as mismatch:
            raise LumastyleError(f"{path}: {mismatch}") from None
        return model.eval()


def _plain_hparams(hparams: Any) -> None:
    """Classes and functions given in Python become their import path, as a config would name them,
    and loading rebuilds them the way LightningCLI does (through jsonargparse)."""
    hparams.setdefault("_instantiator", "lightning.pytorch.cli.instantiate_module")
    for key, value in hparams.items():
        if isinstance(value, type):
            hparams[key] = {"class_path": f"{value.__module__}.{value.__qualname__}"}
        elif isinstance(value, types.FunctionType):
            hparams[key] = f"{value.__module__}.{value.__qualname__}"
