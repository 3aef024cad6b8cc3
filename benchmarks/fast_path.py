"""The fast path of ``lumastyle stylize`` against the exact one (issue 28): how far apart their outputs are
on real photos, and what each costs.

For each checkpoint: the first ``--photos`` photos of ../shared/photos (sorted by name; all are at most
640 px, see its MANIFEST.tsv), each measured two ways:

- **native**: the photo as it is, with the context copy's long side ``long side / --ratio`` (default
  10.4 = 4000 / 384: a 12 MP photo's pixels to the CPU preset's context copy), so each grid cell of the
  sliced path covers as many real pixels as it does on a 12 MP photo;
- **12 MP**: the photo upscaled to 4000x3000 (Pillow LANCZOS), at the checkpoint's own context cap.

Mean and 99th-percentile ΔE76 between :func:`lumastyle.inference.stylize_tensor` with ``fast=True`` and
``fast=False`` (every pixel of every photo), and the seconds of each on the 12 MP photos (the context
included; median over the photos). A colour-only checkpoint takes the LUT path; any other the sliced
head. ``--precision bf16-context`` compares that precision instead (fast path both ways, context in
float32 vs bfloat16).

    PYTHONPATH=. python benchmarks/fast_path.py --ckpt A.ckpt B.ckpt --photos 6 --out /tmp/fast_path.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lumastyle.color import lab_distance, rgb_to_lab
from lumastyle.inference import stylize_tensor
from lumastyle.io import read_image
from lumastyle.model import LumaStyle

REPO = Path(__file__).resolve().parents[1]


def upscaled(path: Path, size: tuple[int, int] = (4000, 3000)) -> torch.Tensor:
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = size if im.width >= im.height else size[::-1]
        big = im.resize((w, h), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(big).copy()).permute(2, 0, 1).float() / 255


class Distances:
    """Mean and 99th percentile of ΔE76 over every pixel added."""

    def __init__(self) -> None:
        self.parts: list[torch.Tensor] = []
        self.total, self.count = 0.0, 0

    def add(self, a: torch.Tensor, b: torch.Tensor) -> None:
        d = lab_distance(rgb_to_lab(a), rgb_to_lab(b)).flatten()
        self.parts.append(d[:: max(1, d.numel() // 2_000_000)])  # the 99th percentile on at most 2 M values a photo
        self.total += float(d.sum())
        self.count += d.numel()

    def row(self) -> tuple[float, float]:
        return self.total / self.count, float(torch.quantile(torch.cat(self.parts), 0.99))


def measure(ckpt: Path, photos: list[Path], ratio: float, precision: str) -> dict:
    model = LumaStyle.from_checkpoint(str(ckpt))
    net = model.network.eval()
    cap = model.context_long_side(None)
    pair = ("32", "bf16-context") if precision == "bf16-context" else ("32", "32")
    fast_pair = (True, True) if precision == "bf16-context" else (False, True)

    def run(rgb: torch.Tensor, side: int | None, which: int) -> torch.Tensor:
        return stylize_tensor(net, rgb, side, precision=pair[which], fast=fast_pair[which])  # type: ignore[arg-type]

    native, big = Distances(), Distances()
    seconds: tuple[list[float], list[float]] = ([], [])
    for path in photos:
        rgb = read_image(path)[0]
        side = max(16, round(max(rgb.shape[-2:]) / ratio))
        native.add(run(rgb, side, 1), run(rgb, side, 0))
        rgb = upscaled(path)
        outs = []
        for which in (0, 1):
            start = time.perf_counter()
            outs.append(run(rgb, cap, which))
            seconds[which].append(time.perf_counter() - start)
        big.add(outs[1], outs[0])
    (nm, np99), (bm, bp99) = native.row(), big.row()
    return {
        "ckpt": str(ckpt),
        "path": "lut" if net.position_free else "sliced",
        "context_long_side": cap,
        "native_mean": nm,
        "native_p99": np99,
        "mp12_mean": bm,
        "mp12_p99": bp99,
        "exact_s": statistics.median(seconds[0]),
        "fast_s": statistics.median(seconds[1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", nargs="+", type=Path, required=True)
    parser.add_argument("--photos", type=int, default=6)
    parser.add_argument("--folder", type=Path, default=REPO.parent / "shared" / "photos")
    parser.add_argument("--ratio", type=float, default=4000 / 384)
    parser.add_argument("--precision", choices=("32", "bf16-context"), default="32")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    photos = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    photos = photos[:: max(1, len(photos) // args.photos)][: args.photos]
    rows = []
    for ckpt in args.ckpt:
        with torch.no_grad():
            rows.append(measure(ckpt, photos, args.ratio, args.precision))
        print(json.dumps(rows[-1]), flush=True)
    what = "bf16-context vs float32 (fast path)" if args.precision == "bf16-context" else "fast vs exact"
    print(f"\n{what}, {len(photos)} photos")
    print(f"| checkpoint | path | native photos, grid 1/{args.ratio:.1f}: mean / p99 ΔE76 | 12 MP: mean / p99 ΔE76 | "
          "12 MP seconds, exact / fast |")  # fmt: skip
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {Path(r['ckpt']).name} | {r['path']} | {r['native_mean']:.3f} / {r['native_p99']:.2f} | "
              f"{r['mp12_mean']:.3f} / {r['mp12_p99']:.2f} | {r['exact_s']:.2f} / {r['fast_s']:.2f} |")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
