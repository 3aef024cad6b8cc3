"""The LightningModule: trains, evaluates and predicts with the plain-torch :class:`StyleNetwork`.

``LumaStyle`` builds the network from its constructor arguments (what ``model:`` in a config sets)
and adds what Lightning needs: the paper's loss, metrics measured on the image a user gets (the
prediction clipped to sRGB, through :func:`lumastyle.inference.stylize_tensor`, the same path as
``stylize``), the optimiser and schedule from the config's ``optimizer:``/``lr_scheduler:`` blocks,
a non-finite-loss guard that costs no host-device sync per step, and the extra checkpoint state
``stylize`` needs (the training scale). When the lower backbone is frozen it builds the context cache
(:mod:`lumastyle.cache`) in ``prepare_data`` and trains on windows of whole-photo context. Checkpoints
load through Lightning's ``LumaStyle.load_from_checkpoint`` (see :meth:`LumaStyle.from_checkpoint`)
and never download weights.
"""

from __future__ import annotations

import math
import os
import types
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor
from torch.optim.lr_scheduler import ReduceLROnPlateau

from lumastyle.backbone import Freeze, InputNorm, resolve_input_norm
from lumastyle.cache import ContextCache, default_folder
from lumastyle.checkpoints import random_state, set_random_state
from lumastyle.color import (
    apply_local_color_map,
    color_map_equations,
    denormalize_lab,
    lab_distance,
    lab_to_rgb,
    normalize_lab,
    rgb_to_lab,
)
from lumastyle.context import ContextWindow, sample_context
from lumastyle.errors import LumastyleError
from lumastyle.heads import HeadFactory, QuadraticHead
from lumastyle.inference import stylize_tensor
from lumastyle.metrics import StyleMetrics
from lumastyle.network import StyleNetwork
from lumastyle.optim import LinearWarmup, default_optimizer

#: Version of the extra state lumastyle stores in checkpoints (``checkpoint["lumastyle"]``).
CHECKPOINT_FORMAT = 2
#: Ridges the closed-form start of a ``low_level_linear`` head tries on the validation photos (see
#: :meth:`LumaStyle.start_from_global_fit`); ``inf`` is the global colour map.
CLOSED_FORM_RIDGES = (0.0, 1e-3, 1e-2, 1e-1, 1.0, math.inf)
#: The metric the default checkpoint callback and ReduceLROnPlateau watch.
MONITOR = "val/lab_distance"


class LumaStyle(L.LightningModule):
    """Zhu & Yu's automatic stylization network (arXiv:1811.10872) as a LightningModule.

    Args:
        head: the per-pixel head: ``quadratic`` (the paper's 3x10 quadratic colour transform), ``affine``,
            or any :class:`~lumastyle.heads.Head` subclass by ``class_path`` with its own ``init_args``.
        backbone_width: factor on every backbone channel count (1.0 = the paper's VGG-16; small for CPU runs).
        backbone_weights: ``bundled`` (VGG-16 conv1-conv5 ImageNet weights shipped with lumastyle, works
            offline), ``imagenet`` (torchvision download, adds fc6/fc7 for conv6/conv7), a VGG-16 state
            dict file, or null (random init).
        backbone_input_norm: input normalisation the weights expect: ``imagenet`` (torchvision) or ``caffe``;
            null: what the named weights expect (``caffe`` for ``bundled``), else ``imagenet``.
        freeze: backbone parameters kept fixed: ``none``, ``features`` (conv1-conv5) or ``all``.
        scales: upsampling factor of each context copy (the paper: [1, 2]); [] trains a colour-only model.
        share_backbone: one backbone for all scales instead of one copy per scale.
        context_pad: reflection padding in pixels added on every side of each scaled copy.
        low_level: blur radii in pixels (at the training scale) of low-level context for the head: the
            Lab image blurred at each radius (not in the paper; [] for none; ``.inf``: the photo's mean
            colour).
        context_long_side: long side of the copy the context is computed on outside training (null: the
            long side of the training photos, stored in the checkpoint).
        tile_pixels: at most this many pixels go through the per-pixel head at once outside training
            (2^16 keeps a tile in a CPU's cache; see :mod:`lumastyle.inference`).
        optimizer: set by the config's top-level ``optimizer:`` block (null here: Adam, lr 1e-4).
        lr_scheduler: set by the config's top-level ``lr_scheduler:`` block (null: none).
        backbone_lr_scale: the backbone's trainable parameters learn at the optimizer's lr times this.
        check_finite_every_n_steps: how often (in steps) a non-finite training loss is looked for; it is
            also looked for at every epoch end and before every checkpoint is written.
        top_channels: channels of conv6/conv7, the trainable part above a frozen conv1-conv5 (null: 4096
            times ``backbone_width``, the paper's).
        context_cache: with a frozen lower backbone (``freeze: features`` or ``all``), compute its maps
            once per whole photo and keep them on disk (see :mod:`lumastyle.cache`): true (in
            ``$LUMASTYLE_CACHE``, default ``~/.cache/lumastyle/context``), a folder, or false (compute
            them on each training crop, every step).
        low_level_linear: the low-level context also enters the head's colour matrix linearly (not in the
            paper; QuadraticHead, AffineHead; another head is built without it, with a warning), so the
            closed-form start is the best colour map linear in that context.
        low_level_contrast: the low-level context also holds, for every two of its radii, the Lab
            distance between the two blurred copies: how much a region stands out from its
            surroundings (not in the paper; needs two or more ``low_level`` radii).
        low_level_regions: superpixel sizes in pixels: the low-level context also holds the mean Lab
            of each pixel's SLIC superpixel of about that side (scikit-image), regional colour that
            stops at edges, for looks that flatten regions (not in the paper; the model then cannot be
            exported; the low-level map is kept at full resolution).
        closed_form_start: before the first step, fit the best single global colour map on the head's
            basis to the training photos by least squares and start the head there (it learns the
            residual): from step 0 the model is as good as the global fit. With a ``low_level_linear``
            head the map is also linear in the low-level context, its ridge chosen on the validation
            photos (:meth:`start_from_global_fit`). Not redone on resume.
    """

    def __init__(
        self,
        head: str | HeadFactory = QuadraticHead,
        backbone_width: float = 1.0,
        backbone_weights: str | None = "imagenet",
        backbone_input_norm: InputNorm | None = None,
        freeze: Freeze = "none",
        scales: tuple[float, ...] = (1.0, 2.0),
        share_backbone: bool = False,
        context_pad: int = 32,
        low_level: tuple[float, ...] = (),
        context_long_side: int | None = None,
        tile_pixels: int = 1 << 16,
        optimizer: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = LinearWarmup,
        backbone_lr_scale: float = 1.0,
        check_finite_every_n_steps: int = 50,
        closed_form_start: bool = False,
        top_channels: int | None = None,
        context_cache: bool | str = True,
        low_level_linear: bool = False,
        low_level_contrast: bool = False,
        low_level_regions: tuple[float, ...] = (),
    ) -> None:
        super().__init__()
        # the optimiser is configuration of a run (config.yaml records it), not of the network
        self.save_hyperparameters(ignore=["optimizer", "lr_scheduler"])
        # checkpoints record the normalisation itself: they load with backbone_weights null
        self.hparams["backbone_input_norm"] = resolve_input_norm(backbone_weights, backbone_input_norm)
        _plain_hparams(self.hparams)  # checkpoints then load with torch.load(weights_only=True)
        if check_finite_every_n_steps < 1:
            raise LumastyleError(
                f"model.check_finite_every_n_steps must be at least 1, got {check_finite_every_n_steps}"
            )
        if backbone_lr_scale < 0:
            raise LumastyleError(f"model.backbone_lr_scale must be >= 0, got {backbone_lr_scale}")
        self.network = StyleNetwork(
            head,
            backbone_width,
            backbone_weights,
            self.hparams["backbone_input_norm"],
            freeze,
            scales,
            share_backbone,
            context_pad,
            low_level,
            top_channels,
            low_level_linear,
            low_level_contrast,
            low_level_regions,
        )
        self.set_optimisation(optimizer, lr_scheduler)
        #: long side of the training photos (the scale the context learned); saved in checkpoints
        self.trained_long_side: int | None = None
        # first training step whose loss was not finite (-1: none yet); kept on the device, read rarely
        self.register_buffer("first_nonfinite_step", torch.tensor(-1), persistent=False)
        self.val_metrics = StyleMetrics(full=False)  # the paper's Lab distance and PSNR, every epoch
        self.test_metrics = StyleMetrics(full=True)  # and ΔE76, CIEDE2000, SSIM (see lumastyle.metrics)
        self._context_cache: ContextCache | None = None
        #: the first validation photos of an epoch as (input, written, target), for pictures
        #: (lumastyle.callbacks.ValidationImages sets how many it wants)
        self.keep_validation_images = 0
        self.validation_images: list[tuple[Tensor, Tensor, Tensor]] = []

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
        """The context cap inference uses: ``requested``, else ``model.context_long_side``, else the
        training scale stored in the checkpoint."""
        cap = requested or self.hparams.context_long_side or self.trained_long_side
        return int(cap) if cap else None

    def stylize(self, rgb: Tensor, context_long_side: int | None = None, precision: str = "32") -> Tensor:
        """A photo (3, H, W) or batch as ``lumastyle stylize`` renders it (see :mod:`lumastyle.inference`)."""
        return stylize_tensor(
            self.network, rgb, self.context_long_side(context_long_side), self.hparams.tile_pixels, precision
        )

    # -- training ------------------------------------------------------------------------------

    def _predict_lab(self, batch: dict[str, Any]) -> Tensor:
        """The unclipped Lab prediction for a batch: from windows of its photos' cached context when
        the loader gives them, else from the batch's own pixels."""
        if "context" not in batch:
            return self.network.forward_lab(batch["input"])[1]
        windows = self.network.encode_windows([ContextWindow(**w) for w in batch["context"]])
        lab = rgb_to_lab(batch["input"])
        return self.network.transform_windows(lab, windows, batch["origin"], batch["photo_hw"])

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
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
        if (batch_idx + 1) % self.hparams.check_finite_every_n_steps == 0:
            self.check_finite()

    def on_train_epoch_end(self) -> None:
        self.check_finite()

    # -- evaluation: on what the user gets -------------------------------------------------------

    def _evaluate(self, batch: dict[str, Any], stage: str, metrics: StyleMetrics) -> Tensor:
        # clipped sRGB, as stylize writes it (from the cached context of the copy stylize computes it on,
        # when the loader gives it: the same pixels)
        cached = "context" in batch
        written = lab_to_rgb(self._predict_lab(batch)) if cached else self.stylize(batch["input"])
        per_pixel = metrics.update(written, batch["target"].float())
        if stage == "val":
            for photo in zip(batch["input"], written, batch["target"], strict=True):
                if len(self.validation_images) < self.keep_validation_images:
                    self.validation_images.append(tuple(t.detach().float().cpu() for t in photo))
        loss = per_pixel.square().mean()
        bs = batch["input"].shape[0]
        self.log(f"{stage}/loss", loss, batch_size=bs, sync_dist=True)
        for name, metric in metrics.items():
            self.log(f"{stage}/{name}", metric, prog_bar=name == "lab_distance", batch_size=bs)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        return self._evaluate(batch, "val", self.val_metrics)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        return self._evaluate(batch, "test", self.test_metrics)

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        """The stylized photos and what PredictionWriter needs to write them as ``stylize`` would."""
        kept = {key: batch[key] for key in ("name", "path", "bit_depth") if key in batch}
        return {**kept, "output": self.stylize(batch["input"])}

    # -- optimisation --------------------------------------------------------------------------

    def configure_optimizers(self) -> Any:
        network = self.network
        head = [p for p in network.head.parameters() if p.requires_grad]
        backbone = [p for p in (network.context.parameters() if network.context else []) if p.requires_grad]
        groups: list[dict[str, Any]] = [{"params": head}]
        if backbone:
            groups.append({"params": backbone, "lr_scale": self.hparams.backbone_lr_scale})
        elif self.hparams.backbone_lr_scale != 1.0:
            warnings.warn(
                f"model.backbone_lr_scale {self.hparams.backbone_lr_scale} has no effect: no backbone "
                f"parameter is trained (model.freeze {self.hparams.freeze!r}, scales {list(self.hparams.scales)})",
                stacklevel=2,
            )
        optimizer = self.optimizer_factory(groups)
        for group in optimizer.param_groups:
            group["lr"] *= group.get("lr_scale", 1.0)
        if self.lr_scheduler_factory is None:
            return optimizer
        scheduler = self.lr_scheduler_factory(optimizer)
        config = {"scheduler": scheduler, "interval": getattr(scheduler, "interval", "epoch")}
        if isinstance(scheduler, ReduceLROnPlateau):
            config["monitor"] = MONITOR
        return {"optimizer": optimizer, "lr_scheduler": config}

    # -- the context cache ---------------------------------------------------------------------

    def context_cache(self) -> ContextCache | None:
        """The cache of this network's lower context, or None when it is off or would not help (the
        lower backbone trains, or there is no backbone)."""
        setting = self.hparams.context_cache
        if not setting or not self.network.lower_frozen():
            return None
        if self._context_cache is None:
            folder = default_folder() if setting is True else Path(str(setting)).expanduser()
            scales = self.network.context.scales
            self._context_cache = ContextCache(folder, self.network.lower_fingerprint(), scales)
        return self._context_cache

    def _cached_datamodule(self) -> Any:
        """The fit's DataModule when it can serve from the context cache and the cache applies."""
        trainer = self._trainer
        if trainer is None or trainer.state.fn != "fit" or self.context_cache() is None:
            return None
        datamodule = getattr(trainer, "datamodule", None)
        return datamodule if hasattr(datamodule, "attach_context_cache") else None

    def _validation_context_long_side(self, datamodule: Any) -> int | None:
        return self.hparams.context_long_side or datamodule.image_long_side

    def prepare_data(self) -> None:
        """Build the context cache (Lightning runs this in one process per node, before setup)."""
        datamodule = self._cached_datamodule()
        if datamodule is None:
            return
        entries = datamodule.context_entries(self._validation_context_long_side(datamodule))
        device = self.trainer.strategy.root_device
        self.network.to(device)
        try:
            self.context_cache().build(entries, datamodule.context_image, self.network.lower_context, device)
        finally:
            self.network.to("cpu")

    def setup(self, stage: str) -> None:
        datamodule = self._cached_datamodule()
        if datamodule is not None:
            datamodule.attach_context_cache(
                self.context_cache(), self._validation_context_long_side(datamodule)
            )

    def teardown(self, stage: str) -> None:
        datamodule = self._cached_datamodule()
        if datamodule is not None:
            datamodule.attach_context_cache(None, None)

    # -- checkpoints ---------------------------------------------------------------------------

    def on_fit_start(self) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        long_side = getattr(datamodule, "image_long_side", None)
        if long_side:
            self.trained_long_side = int(long_side)
        if self.trainer.ckpt_path is None and self.needs_context_calibration():  # resumed: in the checkpoint
            self.calibrate_context(self._training_conv5_maps(datamodule))
        if self.hparams.closed_form_start and self.trainer.ckpt_path is None:  # a resumed run has its weights
            if not hasattr(self.network.head, "start_from"):  # a preset asked; this head cannot
                warnings.warn(
                    f"model.closed_form_start: {type(self.network.head).__name__} has no colour basis to start "
                    "from; it starts as it is built",
                    stacklevel=2,
                )
                return
            pairs = getattr(datamodule, "training_pairs", None)
            if pairs is None:
                raise LumastyleError(
                    "model.closed_form_start needs a lumastyle DataModule (it reads the training photos)"
                )
            validation = getattr(datamodule, "validation_pairs", None)
            self.start_from_global_fit(pairs(), validation() if validation is not None else ())

    def needs_context_calibration(self) -> bool:
        """Whether conv6 starts untrained above a frozen pretrained conv1-conv5: their maps are then
        scaled to unit RMS (:meth:`calibrate_context`)."""
        context = self.network.context
        if context is None or not self.network.lower_frozen() or self.hparams.backbone_weights is None:
            return False
        return not any(b.top_pretrained for b in context.backbones)

    def _training_conv5_maps(self, datamodule: Any) -> Iterable[list[Tensor]]:
        """Each training photo's conv5 maps: from the context cache when there is one, else computed."""
        if getattr(datamodule, "context_cache", None) is not None:
            for entry in datamodule.training_context_entries():
                yield datamodule.context_cache.load(entry)["features"][: self.network.num_scales]
            return
        pairs = getattr(datamodule, "training_pairs", None)
        if pairs is None:
            raise LumastyleError(
                "calibrating the context needs a lumastyle DataModule (it reads the training photos)"
            )
        with torch.no_grad():
            for rgb, _ in pairs():
                rgb = rgb.to(self.device)
                yield [m.features[0] for m in self.network.context.lower(rgb[None])]

    def calibrate_context(self, maps: Iterable[Sequence[Tensor]]) -> list[float]:
        """Set each backbone's ``conv5_scale`` to 1 / RMS of its conv5 maps over the training photos
        (``maps``: per photo, one map per scale), so the untrained conv6 above frozen pretrained weights
        sees unit-scale input (a fixed, data-dependent input scaling; the paper's fc6 weights expect the
        raw maps and keep 1). Pretrained VGG conv5 maps are large (RMS ~15 with the bundled weights), and
        without this the head's context input dwarfs its pixel input and Adam's steps shake it."""
        context = self.network.context
        sums = [torch.zeros((), dtype=torch.float64) for _ in context.backbones]
        counts = [0 for _ in context.backbones]
        for photo_maps in maps:
            for i, features in enumerate(photo_maps):
                b = i if len(context.backbones) > 1 else 0
                sums[b] += features.double().square().sum().cpu()
                counts[b] += features.numel()
        scales = []
        for b, backbone in enumerate(context.backbones):
            rms = math.sqrt(sums[b].item() / counts[b]) if counts[b] else 0.0
            scale = 1.0 / rms if rms > 0 else 1.0
            backbone.conv5_scale.fill_(scale)
            scales.append(scale)
        return scales

    def start_from_global_fit(
        self, pairs: Iterable[tuple[Tensor, Tensor]], validation: Iterable[tuple[Tensor, Tensor]] = ()
    ) -> Tensor:
        """Fit the least-squares colour map (normalised Lab, the head's basis) to the (input, target)
        sRGB pairs and start the head from it; returns the map: (3, K), or (3, K, 1 + C) for a
        ``low_level_linear`` head, whose map is also linear in the C low-level channels of each photo
        (computed on the whole photo, as training and ``stylize`` see them).

        The low-level terms are fitted with each ridge of :data:`CLOSED_FORM_RIDGES` (the last,
        ``inf``, is the global map) and the one with the lowest error on the ``validation`` pairs is
        kept, so a context that only fits the training photos is not where training starts (no
        validation pairs: plain least squares). Every process reads the same photos and gets the same
        map, so no exchange is needed.
        """
        head = self.network.head
        if not hasattr(head, "start_from"):
            raise LumastyleError(
                f"model.closed_form_start needs a head with a colour basis (QuadraticHead, AffineHead); "
                f"{type(head).__name__} has no start_from"
            )
        basis = type(head).basis
        local = getattr(head, "low_linear", None) is not None
        try:
            equations = color_map_equations((self._closed_form_terms(a, b, local) for a, b in pairs), basis)
        except ValueError:
            raise LumastyleError("model.closed_form_start found no training photos") from None
        if not local:
            matrix = equations.solve(math.inf)[..., 0]
            head.start_from(matrix)
            return matrix
        held_out = [self._closed_form_terms(a, b, True) for a, b in validation]
        candidates = {ridge: equations.solve(ridge) for ridge in (CLOSED_FORM_RIDGES if held_out else (0.0,))}
        errors = (
            {ridge: _local_map_error(m, held_out, basis) for ridge, m in candidates.items()}
            if held_out
            else {}
        )
        ridge = min(errors, key=errors.get) if errors else 0.0
        if errors:
            rank_zero_info(
                f"closed-form start: colour map linear in the low-level context, ridge {ridge:g}, chosen on "
                f"{len(held_out)} validation photos (Lab distance {errors[ridge]:.2f}; the global map's "
                f"{errors[math.inf]:.2f})"
            )
        matrix = candidates[ridge]
        head.start_from(matrix[..., 0], matrix[..., 1:])
        return matrix

    def _closed_form_terms(
        self, rgb: Tensor, target: Tensor, local: bool
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """(source, target, low-level context) of one photo for the closed-form fit, normalised Lab."""
        context = self._low_level_at_pixels(rgb) if local else None
        return normalize_lab(rgb_to_lab(rgb)), normalize_lab(rgb_to_lab(target)), context

    def _low_level_at_pixels(self, rgb: Tensor) -> Tensor:
        """The low-level context of a whole photo (3, H, W) sampled at its pixels: (C, H, W) on the CPU."""
        with torch.no_grad():
            batch = rgb[None].to(self.device)
            m = self.network.low_level(normalize_lab(rgb_to_lab(batch)))
            sampled = sample_context(m.features, m.scaled_hw, m.pad, tuple(rgb.shape[-2:]), stride=m.stride)
            return sampled[0].cpu()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.check_finite()  # never write weights trained on a NaN
        checkpoint["lumastyle"] = {
            "format": CHECKPOINT_FORMAT,
            "trained_long_side": self.trained_long_side,
            "random_state": random_state(),  # a resume draws what the next epoch would have drawn
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        extra = checkpoint.get("lumastyle", {})
        self.trained_long_side = extra.get("trained_long_side")
        trainer = self._trainer
        if extra.get("random_state") is not None and trainer is not None and trainer.state.fn == "fit":
            # resuming: nothing draws random numbers between here and the next epoch's first shuffle
            # (Lightning isolates the sanity check's), so it draws what the uninterrupted run drew
            set_random_state(extra["random_state"])

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> LumaStyle:
        """An eval-mode model from a checkpoint written by ``lumastyle fit``, through Lightning's
        ``load_from_checkpoint``; the weights come from the checkpoint, nothing is downloaded.

        A path that is not such a checkpoint raises a one-line :class:`LumastyleError`.
        """
        check_checkpoint(path)
        model = cls.load_from_checkpoint(
            path, map_location=map_location, weights_only=True, backbone_weights=None
        )
        return model.eval()


def _local_map_error(matrix: Tensor, triples: Sequence[tuple[Tensor, Tensor, Tensor]], basis: Any) -> float:
    """Mean per-pixel Lab distance of a local colour map's written (clipped sRGB) image on the triples."""
    total, count = 0.0, 0
    for source, target, context in triples:
        predicted = lab_to_rgb(denormalize_lab(apply_local_color_map(matrix, source, context, basis)).float())
        d = lab_distance(rgb_to_lab(predicted), denormalize_lab(target))
        total, count = total + d.sum().item(), count + d.numel()
    return total / count


def check_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint at ``path`` (tensors memory-mapped), or a one-line LumastyleError saying why not."""
    if not os.path.isfile(path):
        raise LumastyleError(
            f"checkpoint {path} does not exist; pass a .ckpt file written by 'lumastyle fit'"
        )
    try:
        raw = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except Exception as err:  # torch raises many types for a file that is not a checkpoint
        raise LumastyleError(
            f"{path}: not a readable checkpoint ({type(err).__name__}); pass a .ckpt from 'lumastyle fit'"
        ) from None
    extra = raw.get("lumastyle") if isinstance(raw, dict) else None
    if not isinstance(extra, dict) or "state_dict" not in raw:
        raise LumastyleError(f"{path}: not a lumastyle checkpoint (no model state or lumastyle section)")
    found = extra.get("format", 0)
    if found > CHECKPOINT_FORMAT:
        raise LumastyleError(f"{path}: written by a newer lumastyle (format {found}); upgrade lumastyle")
    if found < CHECKPOINT_FORMAT:
        raise LumastyleError(
            f"{path}: written by an older lumastyle (checkpoint format {found}, this one reads "
            f"{CHECKPOINT_FORMAT}); train it again with this version"
        )
    return raw


def _plain_hparams(hparams: dict[str, Any]) -> None:
    """Classes and functions given in Python become their import path, as a config would name them,
    and loading rebuilds them the way LightningCLI does (through jsonargparse)."""
    hparams.setdefault("_instantiator", "lightning.pytorch.cli.instantiate_module")
    for key, value in hparams.items():
        if isinstance(value, type):
            hparams[key] = {"class_path": f"{value.__module__}.{value.__qualname__}"}
        elif isinstance(value, types.FunctionType):
            hparams[key] = f"{value.__module__}.{value.__qualname__}"
