#!/usr/bin/env python3
"""Make a tiny fake Uniform set in the exact layout of its release (github.com/stephenyan1231/
dl-image-enhance): 6 ids (4 train, 2 test), 16-bit ProPhoto-like TIFFs of 24x32 pixels, one target
folder per style. Run from anywhere; it writes dl-image-enhance/ beside this file.

The photos are smooth gradients; the targets are simple local edits (a brighter, more saturated centre
for pop-out, a cross-processed curve for xpro, a box blur for watercolor), enough to train on in a test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

HERE = Path(__file__).resolve().parent
IDS = [f"{k}00000000_abcdef{k:04d}_z" for k in range(6)]
TRAIN, TEST = IDS[:4], IDS[4:]
H, W = 24, 32


def photo(k: int) -> np.ndarray:
    rng = np.random.default_rng(k)
    ys, xs = np.mgrid[0:H, 0:W] / np.array([H, W]).reshape(2, 1, 1)
    base = rng.uniform(0.2, 0.7, size=3)
    tilt = rng.uniform(-0.3, 0.3, size=3)
    img = base + tilt * (ys - xs)[..., None] + 0.03 * rng.standard_normal((H, W, 3))
    return np.clip(img, 0, 1)


def popout(img: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[0:H, 0:W]
    centre = np.exp(-(((ys - H / 2) / (H / 4)) ** 2 + ((xs - W / 2) / (W / 4)) ** 2))[..., None]
    mean = img.mean(axis=2, keepdims=True)
    return np.clip(mean + (img - mean) * (0.5 + centre) + 0.1 * centre, 0, 1)


def xpro(img: np.ndarray) -> np.ndarray:
    return np.clip(np.stack([img[..., 0] ** 0.8, img[..., 1], img[..., 2] ** 1.3], axis=2), 0, 1)


def watercolor(img: np.ndarray) -> np.ndarray:
    padded = np.pad(img, ((2, 2), (2, 2), (0, 0)), mode="edge")
    return sum(padded[dy : dy + H, dx : dx + W] for dy in range(5) for dx in range(5)) / 25


def write(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, np.round(img * 65535).astype(np.uint16), photometric="rgb", compression="zlib")


def main() -> None:
    data = HERE / "dl-image-enhance" / "data"
    folder = data / "uniform_set"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "uniform_set.txt").write_text("\n".join(IDS) + "\n")
    (folder / "uniform_set_train_id.txt").write_text("\n".join(TRAIN) + "\n")
    (folder / "uniform_set_test_id.txt").write_text("\n".join(TEST) + "\n")
    for k, name in enumerate(IDS):
        img = photo(k)
        write(folder / "uniform_set_autotone_tif" / f"{name}.tif", img)
        for infix, edit in (("foregroundpopout", popout), ("xpro", xpro), ("watercolor", watercolor)):
            write(data / f"uniform_set_{infix}" / f"uniform_set_{infix}_tif" / f"{name}.tif", edit(img))


if __name__ == "__main__":
    main()
