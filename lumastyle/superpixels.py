"""Superpixels: SLIC regions (scikit-image) of a photo and per-region means of any map.

Both the watercolor look (:func:`lumastyle.actions.local.watercolor`, each region painted its mean
colour) and the region context the head can read (:class:`lumastyle.context.LowLevelContext`'s
``regions``: each pixel sees its region's mean colour, an edge-aware regional colour no blur gives)
use them. SLIC (Achanta et al. 2012) clusters pixels by colour and position from a regular grid of
seeds; it runs in numpy on the CPU and its labels are not differentiable, so a network that uses it
cannot be exported to ONNX. The region means are torch, so gradients reach the averaged values.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def slic_labels(rgb: Tensor, segments: int, compactness: float) -> Tensor:
    """SLIC regions of one sRGB image (3, H, W) in [0, 1]: about ``segments`` regions, ``compactness``
    balancing colour against space. Returns (H*W,) int64 labels from 0 on the image's device.

    scikit-image rescales the image to [0, 1] and then converts it to CIELab itself; given Lab, it
    would rescale that too and compactness would mean something else, so it is always given sRGB."""
    from skimage.segmentation import slic  # scikit-image: the one dependency here that is not torch

    hwc = rgb.detach().permute(1, 2, 0).cpu().double().numpy()
    labels = slic(
        hwc, n_segments=max(1, int(segments)), compactness=compactness, start_label=0, channel_axis=2
    )
    return torch.from_numpy(labels.astype(np.int64)).to(rgb.device).flatten()


def region_means(values: Tensor, labels: Tensor) -> Tensor:
    """Each pixel of ``values`` (C, H, W) replaced by the mean over its region (``labels``, (H*W,))."""
    n = int(labels.max()) + 1
    flat = values.flatten(1)
    sums = torch.zeros(values.shape[0], n, dtype=values.dtype, device=values.device).index_add(
        1, labels, flat
    )
    counts = torch.bincount(labels, minlength=n).to(values.dtype)
    return (sums / counts)[:, labels].view_as(values)
