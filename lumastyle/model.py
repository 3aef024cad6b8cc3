"""The LightningModule: photo -> Lab -> two-scale context -> head -> Lab -> photo.

Composes the dilated VGG-16 backbone(s) (lumastyle.backbone), the two-scale context
(lumastyle.context), a head from the registry (lumastyle.heads) and the kornia colour layer
(lumastyle.color). Its constructor arguments are what ``model:`` in a YAML config sets.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torchmetrics import MeanMetric
from torchmetrics.image import PeakSignalNoiseRatio

from lumastyle.backbone import DilatedVGG16, Freeze, InputNorm
from lumastyle.color import denormalize_lab, lab_distance, lab_to_rgb, normalize_lab, rgb_to_lab
from lumastyle.context import ContextMap, TwoScaleContext, resize, sample_context
from lumastyle.errors import LumastyleError
from lumastyle.heads import get_head

#: Version of the extra state lumastyle stores in checkpoints (``checkpoint["lumastyle"]``).
CHECKPOINT_FORMAT = 1


class LumaStyle(L.LightningModule):
    """Zhu & Yu's automatic stylization network (arXiv:1811.10872) as a LightningModule.

    Args:
        head: name of the head in the registry (``quadratic`` is the paper's 3x10 quadratic colour transform).
        hidden: widths of the head's two hidden 1x1 layers (the paper leaves them open).
        backbone_width: factor on every backbone channel count (1.0 = the paper's VGG-16; small for CPU runs).
        backbone_weights: ``imagenet`` (torchvision download), a VGG-16 state dict file, or null (random init).
        backbone_input_norm: input normalisation the weights expect: ``imagenet`` (torchvision) or ``caffe``.
        freeze: backbone parameters kept fixed: ``none``, ``features`` (conv1-conv5) or ``all``.
        scales: upsampling factor of each context copy (the paper: [1, 2]); [] trains a colour-only model.
        share_backbone: one backbone for all scales instead of one copy per scale.
        context_pad: reflection padding in pixels added on every side of each scaled copy.
        factorize_context: apply the head's first layer to the context at 1/8 resolution (same result, less memory).
        context_long_side: long side of the copy the context is computed on at stylize time (null: the training scale).
        tile_pixels: at most this many pixels go through the per-pixel head at once outside training.
        lr: learning rate of Adam (used unless the config gives ``optimizer:``).
        backbone_lr: learning rate of the trainable backbone parameters (null: same as ``lr``).
        weight_decay: Adam weight decay.
        warmup_steps: steps over which the learning rate ramps up linearly from lr/warmup_steps (0: none).
    """

    def __init__(
        self,
        head: str = "quadratic",
        hidden: tuple[int, int] = (64, 64),
        backbone_width: float = 1.0,
        backbone_weights: str | None = "imagenet",
        backbone_input_norm: InputNorm = "imagenet",
        freeze: Freeze = "none",
        scales: tuple[float, ...] = (1.0, 2.0),
        share_backbone: bool = False,
        context_pad: int = 32,
        factorize_context: bool = True,
        context_long_side: int | None = None,
        tile_pixels: int = 1 << 18,
        lr: float = 1e-4,
        backbone_lr: float | None = None,
        weight_decay: float = 0.0,
        warmup_steps: int = 20,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if context_pad < 0:
            raise LumastyleError(f"model.context_pad must be >= 0, got {context_pad}")
        if any(s <= 0 for s in scales):
            raise LumastyleError(f"model.scales must be positive, got {list(scales)}")
        head_cls = get_head(head)
        self.context: TwoScaleContext | None = None
        context_channels = 1
        if scales:
            n = 1 if share_backbone else len(scales)
            backbones = [
                DilatedVGG16(backbone_width, backbone_weights, backbone_input_norm, freeze) for _ in range(n)
            ]
            self.context = TwoScaleContext(backbones, scales, context_pad)
            context_channels = backbones[0].out_channels
        self.head = head_cls(context_channels, len(scales), hidden)
        self.factorize_context = factorize_context
        self.tile_pixels = tile_pixels
        #: long side of the training photos (the scale the context learned); saved in checkpoints
        self.trained_long_side: int | None = None
        self.val_distance = MeanMetric()
        self.test_distance = MeanMetric()
        self.val_psnr = PeakSignalNoiseRatio(data_range=1.0, reduction="elementwise_mean", dim=(1, 2, 3))
        self.test_psnr = PeakSignalNoiseRatio(data_range=1.0, reduction="elementwise_mean", dim=(1, 2, 3))

    # -- the network ---------------------------------------------------------------------------

    def compute_context(self, context_rgb: Tensor) -> list[ContextMap]:
        """Backbone maps for each scale; projected by the head's first layer when factorised."""
        if self.context is None:
            return []
        maps = self.context(context_rgb)
        if self.factorize_context:
            maps = [m._replace(features=self.head.project_context(i, m.features)) for i, m in enumerate(maps)]
        return maps

    def _context_rows(
        self, maps: list[ContextMap], out_hw: tuple[int, int], rows: tuple[int, int]
    ) -> Tensor | None:
        total = None
        for i, m in enumerate(maps):
            sampled = sample_context(m.features, m.scaled_hw, m.pad, out_hw, rows)
            if not self.factorize_context:
                sampled = self.head.project_context(i, sampled)
            total = sampled if total is None else total + sampled
        return total

    def forward_lab(self, rgb: Tensor, context_rgb: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """sRGB (B, 3, H, W) -> (input Lab, predicted Lab), context from ``context_rgb`` (default: ``rgb``).

        Outside training the per-pixel head runs over blocks of rows of at most ``tile_pixels`` pixels.
        """
        lab = rgb_to_lab(rgb)
        lab_n = normalize_lab(lab)
        maps = self.compute_context(rgb if context_rgb is None else context_rgb)
        h, w = rgb.shape[-2:]
        step = h if self.training else max(1, self.tile_pixels // max(1, w * rgb.shape[0]))
        outputs = []
        for r0 in range(0, h, step):
            rows = (r0, min(h, r0 + step))
            ctx = self._context_rows(maps, (h, w), rows)
            outputs.append(self.head(lab_n[..., rows[0] : rows[1], :], ctx))
        out_n = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-2)
        return lab, denormalize_lab(out_n)

    def forward(self, rgb: Tensor, context_rgb: Tensor | None = None) -> Tensor:
        """Stylize sRGB (B, 3, H, W) in [0, 1]; returns sRGB in [0, 1] of the same size."""
        return lab_to_rgb(self.forward_lab(rgb, context_rgb)[1])

    @torch.no_grad()
    def stylize(self, rgb: Tensor, context_long_side: int | None = None) -> Tensor:
        """Stylize one photo (3, H, W) of any size: context on a copy capped at ``context_long_side``."""
        cap = context_cap(self, context_long_side)
        batch = rgb.unsqueeze(0)
        context_rgb = batch
        long_side = max(rgb.shape[-2:])
        if cap and long_side > cap:
            f = cap / long_side
            context_rgb = resize(batch, (max(1, round(rgb.shape[-2] * f)), max(1, round(rgb.shape[-1] * f))))
        return self(batch, context_rgb)[0]

    # -- training ------------------------------------------------------------------------------

    def _step(self, batch: dict[str, Any], stage: str) -> tuple[Tensor, Tensor, Tensor]:
        _, lab_pred = self.forward_lab(batch["input"])
        lab_target = rgb_to_lab(batch["target"])
        # the paper's loss: squared L2 per pixel in Lab units (averaged over pixels here, not summed)
        loss = (lab_pred - lab_target).square().sum(dim=1).mean()
        if not torch.isfinite(loss):
            raise LumastyleError(
                f"the {stage} loss became {loss.item()} at step {self.global_step}; lower model.lr or check the data"
            )
        return loss, lab_pred, lab_target

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        loss, lab_pred, lab_target = self._step(batch, "training")
        bs = batch["input"].shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        self.log("train/lab_distance", lab_distance(lab_pred, lab_target).mean().detach(), batch_size=bs)
        return loss

    def _evaluate(
        self, batch: dict[str, Any], stage: str, distance: MeanMetric, psnr: PeakSignalNoiseRatio
    ) -> Tensor:
        loss, lab_pred, lab_target = self._step(batch, stage)
        per_pixel = lab_distance(lab_pred, lab_target)
        distance.update(per_pixel)  # mean over all pixels of all images, reduced correctly across processes
        psnr.update(lab_to_rgb(lab_pred), batch["target"].float())
        bs = batch["input"].shape[0]
        self.log(f"{stage}/loss", loss, batch_size=bs, sync_dist=True)
        self.log(f"{stage}/lab_distance", distance, prog_bar=True, batch_size=bs)
        self.log(f"{stage}/psnr", psnr, batch_size=bs)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        return self._evaluate(batch, "val", self.val_distance, self.val_psnr)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        return self._evaluate(batch, "test", self.test_distance, self.test_psnr)

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        return {"name": batch["name"], "output": self(batch["input"])}

    def configure_optimizers(self) -> dict[str, Any]:
        backbone = [p for p in (self.context.parameters() if self.context else []) if p.requires_grad]
        head = [p for p in self.head.parameters() if p.requires_grad]
        groups = [{"params": head, "lr": self.hparams.lr}]
        if backbone:
            groups.append({"params": backbone, "lr": self.hparams.backbone_lr or self.hparams.lr})
        optimizer = torch.optim.Adam(groups, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        # Adam's first steps move every weight by about lr; a short ramp keeps the quadratic head from
        # overshooting before its moment estimates settle
        warmup = self.hparams.warmup_steps
        if warmup <= 0:
            return {"optimizer": optimizer}
        ramp = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": ramp, "interval": "step"}}

    # -- checkpoints ---------------------------------------------------------------------------

    def on_fit_start(self) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        long_side = getattr(datamodule, "image_long_side", None)
        if long_side:
            self.trained_long_side = int(long_side)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["lumastyle"] = {"format": CHECKPOINT_FORMAT, "trained_long_side": self.trained_long_side}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        extra = checkpoint.get("lumastyle", {})
        self.trained_long_side = extra.get("trained_long_side")


def context_cap(model: LumaStyle, requested: int | None) -> int | None:
    """The context long side ``stylize`` will use: the request, else the config, else the training scale."""
    cap = requested or model.hparams.context_long_side or model.trained_long_side
    return int(cap) if cap else None


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> LumaStyle:
    """Load a checkpoint written by ``lumastyle fit`` as an eval-mode model, without downloading weights."""
    if not os.path.isfile(path):
        raise LumastyleError(
            f"checkpoint {path} does not exist; pass a .ckpt file written by 'lumastyle fit'"
        )
    try:
        raw = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise LumastyleError(
            f"{path}: not a readable checkpoint ({type(err).__name__}); pass a .ckpt from 'lumastyle fit'"
        ) from None
    if not isinstance(raw, dict) or "state_dict" not in raw or "lumastyle" not in raw:
        raise LumastyleError(f"{path}: not a lumastyle checkpoint (no model state or lumastyle section)")
    if raw["lumastyle"].get("format", 0) > CHECKPOINT_FORMAT:
        raise LumastyleError(
            f"{path}: written by a newer lumastyle (format {raw['lumastyle']['format']}); upgrade lumastyle"
        )
    accepted = inspect.signature(LumaStyle.__init__).parameters
    hparams = {k: v for k, v in raw.get("hyper_parameters", {}).items() if k in accepted}
    hparams["backbone_weights"] = None  # the checkpoint holds the trained weights; never download
    model = LumaStyle(**hparams)
    model.load_state_dict(raw["state_dict"])
    model.on_load_checkpoint(raw)
    return model.eval().to(map_location)
