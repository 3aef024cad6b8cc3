#!/usr/bin/env python3
"""Make a tiny fake PPR10K (360p) in the exact layout of its release (github.com/csjliang/PPR10K:
``train_val_images_tif_360p`` and ``masks_360p``): 4 groups of 2 photos (groups 0-2 in train/,
group 3 in val/), 24x36 photos named <group>_<photo>.tif. Run from anywhere; it writes PPR10K/
beside this file.

    train/source/<g>_<p>.tif         16-bit sRGB TIFF inputs
    train/source_aug/<g>_<p>.tif     the inputs again, and <g>_<p>_<k>.tif (k = 1, 2): brighter and
                                     darker versions (the release's augmentation, here 2 instead of 5)
    train/target_a|b|c/<g>_<p>.tif   8-bit sRGB TIFF targets of experts a, b, c
    train/masks/<g>_<p>.png          binary 8-bit greyscale human-region masks
    val/source, val/target_a|b|c, val/masks

The photos are smooth colour gradients; each expert's target is one simple colour change of its own
(per-channel gains and a gamma), so a model can learn it in a test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lumastyle.io import write_image

HERE = Path(__file__).resolve().parent
TRAIN = [f"{g}_{p}" for g in range(3) for p in range(2)]
VAL = [f"3_{p}" for p in range(2)]
H, W = 24, 36
EXPERTS = {"a": ((1.05, 0.97, 0.85), 0.75), "b": ((0.92, 0.98, 1.05), 0.95), "c": ((1.08, 1.02, 0.92), 0.85)}
AUGMENT = {1: 1.15, 2: 0.85}  # k -> exposure gain of the augmented input


def photo(k: int) -> np.ndarray:
    rng = np.random.default_rng(100 + k)
    ys, xs = np.mgrid[0:H, 0:W] / np.array([H, W]).reshape(2, 1, 1)
    base = rng.uniform(0.25, 0.7, size=3)
    tilt = rng.uniform(-0.3, 0.3, size=3)
    return np.clip(base + tilt * (xs - ys)[..., None] + 0.02 * rng.standard_normal((H, W, 3)), 0, 1)


def retouch(img: np.ndarray, expert: str) -> np.ndarray:
    gains, gamma = EXPERTS[expert]
    return np.clip(img**gamma * np.array(gains), 0, 1)


def save_mask(path: Path) -> None:
    """A binary 8-bit greyscale mask (255 inside a centred ellipse), as the release's masks are."""
    ys, xs = np.mgrid[0:H, 0:W]
    inside = ((ys - H / 2) / (H / 3)) ** 2 + ((xs - W / 2) / (W / 4)) ** 2 <= 1
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((inside * 255).astype(np.uint8)).save(path)  # 2-D uint8: greyscale


def save(path: Path, img: np.ndarray, bit_depth: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, torch.from_numpy(img).permute(2, 0, 1).float(), bit_depth=bit_depth)


def main() -> None:
    root = HERE / "PPR10K"
    for k, name in enumerate(TRAIN + VAL):
        split = "train" if name in TRAIN else "val"
        img = photo(k)
        save(root / split / "source" / f"{name}.tif", img, bit_depth=16)
        for expert in EXPERTS:
            save(root / split / f"target_{expert}" / f"{name}.tif", retouch(img, expert))
        save_mask(root / split / "masks" / f"{name}.png")
        if split == "train":
            save(root / split / "source_aug" / f"{name}.tif", img, bit_depth=16)
            for aug, gain in AUGMENT.items():
                save(
                    root / split / "source_aug" / f"{name}_{aug}.tif", np.clip(img * gain, 0, 1), bit_depth=16
                )


if __name__ == "__main__":
    main()
