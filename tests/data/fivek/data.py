#!/usr/bin/env python3
"""Make a tiny fake MIT-Adobe FiveK (480p) in the exact layout of Zeng et al.'s release
(github.com/HuiZeng/Image-Adaptive-3DLUT), which the image-adaptive LUT papers read: 8 names
(a0001-a0008; 3 in train_input.txt, 3 in train_label.txt, 2 in test.txt, one name a line without
extension), 24x36 photos. Run from anywhere; it writes FiveK/ beside this file.

    input/JPG/480p/<name>.jpg                  8-bit sRGB inputs
    input/PNG/480p_16bits_XYZ_WB/<name>.png    the same inputs as 16-bit linear CIE XYZ (D65)
    expertA/JPG/480p/<name>.jpg ... expertE    8-bit sRGB targets

The photos are smooth colour gradients; each expert's target is one simple colour change of its own
(per-channel gains and a gamma), the same for every photo, so a model can learn it in a test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lumastyle.io import write_image

HERE = Path(__file__).resolve().parent
NAMES = [f"a{k:04d}" for k in range(1, 9)]
TRAIN_INPUT, TRAIN_LABEL, TEST = NAMES[:3], NAMES[3:6], NAMES[6:]
H, W = 24, 36
#: expert -> (gains per channel, gamma)
EXPERTS = {
    "A": ((1.00, 0.95, 0.85), 0.80),
    "B": ((0.90, 0.95, 1.05), 1.00),
    "C": ((1.05, 0.97, 0.80), 0.70),
    "D": ((0.95, 1.00, 0.95), 1.20),
    "E": ((1.10, 1.00, 0.90), 0.90),
}
#: linear sRGB -> CIE XYZ (D65), IEC 61966-2-1
SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])


def photo(k: int) -> np.ndarray:
    rng = np.random.default_rng(k)
    ys, xs = np.mgrid[0:H, 0:W] / np.array([H, W]).reshape(2, 1, 1)
    base = rng.uniform(0.25, 0.7, size=3)
    tilt = rng.uniform(-0.3, 0.3, size=3)
    return np.clip(base + tilt * (ys - xs)[..., None] + 0.02 * rng.standard_normal((H, W, 3)), 0, 1)


def retouch(img: np.ndarray, expert: str) -> np.ndarray:
    gains, gamma = EXPERTS[expert]
    return np.clip(img**gamma * np.array(gains), 0, 1)


def to_xyz(srgb: np.ndarray) -> np.ndarray:
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    return np.clip(linear @ SRGB_TO_XYZ.T, 0, 1)


def save(path: Path, img: np.ndarray, bit_depth: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, torch.from_numpy(img).permute(2, 0, 1).float(), bit_depth=bit_depth)


def main() -> None:
    root = HERE / "FiveK"
    root.mkdir(parents=True, exist_ok=True)
    for file, names in (
        ("train_input.txt", TRAIN_INPUT),
        ("train_label.txt", TRAIN_LABEL),
        ("test.txt", TEST),
    ):
        (root / file).write_text("\n".join(names) + "\n")
    for k, name in enumerate(NAMES):
        img = photo(k)
        save(root / "input" / "JPG" / "480p" / f"{name}.jpg", img)
        save(root / "input" / "PNG" / "480p_16bits_XYZ_WB" / f"{name}.png", to_xyz(img), bit_depth=16)
        for expert in EXPERTS:
            save(root / f"expert{expert}" / "JPG" / "480p" / f"{name}.jpg", retouch(img, expert))


if __name__ == "__main__":
    main()
