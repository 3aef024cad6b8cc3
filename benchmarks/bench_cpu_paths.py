"""Two CPU-side choices of ``lumastyle stylize`` measured on this machine (issue 28).

- **bf16 or float32 context**: each convolution shape of the CPU preset's context (VGG-16 conv1-conv5,
  dilated, at the 384-px copy and its 2x copy) in float32 and in bfloat16, the best of 3 after a
  warm-up, and the ratio :func:`lumastyle.inference.cpu_bf16_speedup` measures for ``--precision auto``
  (float32 time / bf16 time: above :data:`~lumastyle.inference.BF16_MIN_SPEEDUP` the context runs in
  bf16). Whether the CPU reports bf16 is printed beside it: a CPU can report it and be slower in it.
- **8-bit tiles to Lab and back**: a 12 MP photo's levels, in the tiles ``stylize`` uses, converted to
  Lab and back to levels with kornia on floats (what stylize did before: levels / 255, ``rgb_to_lab``;
  ``lab_to_rgb``, rounded) and by table (:func:`lumastyle.color.levels_to_lab`,
  :func:`lumastyle.color.lab_to_levels`); alternating, ``--repeats`` times: the median and range.

    PYTHONPATH=. python benchmarks/bench_cpu_paths.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from lumastyle.color import lab_to_levels, lab_to_rgb, levels_to_lab, rgb_to_lab
from lumastyle.inference import TILE_PIXELS, cpu_bf16_speedup, cpu_has_bf16, to_8bit

#: (input channels, output channels, height, width, dilation) of the context's convolutions at the
#: 384x288 copy (1/1, 1/2, 1/4, 1/8 of it) and at its 2x copy; the first layer of each scale.
SHAPES = [
    (3, 64, 576, 768, 1),
    (64, 64, 576, 768, 1),
    (128, 128, 288, 384, 1),
    (256, 256, 144, 192, 1),
    (512, 512, 72, 96, 1),
    (512, 512, 72, 96, 2),
]


def best_of(run, repeats: int = 3) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def convolutions() -> None:
    print(f"CPU reports bf16: {cpu_has_bf16()}; cpu_bf16_speedup (what --precision auto reads): {cpu_bf16_speedup():.2f}")
    print("| convolution | float32 ms (GFLOP/s) | bf16 ms (GFLOP/s) | float32 / bf16 |\n|---|---:|---:|---:|")
    with torch.no_grad():
        for cin, cout, h, w, dilation in SHAPES:
            x, weight = torch.randn(1, cin, h, w), torch.randn(cout, cin, 3, 3) / (3 * cin**0.5)
            flop = 2 * cin * cout * 9 * h * w / 1e9
            t = {}
            for dtype in (torch.float32, torch.bfloat16):
                xd, wd = x.to(dtype), weight.to(dtype)
                t[dtype] = best_of(lambda: F.conv2d(xd, wd, padding=dilation, dilation=dilation))  # noqa: B023
            f32, b16 = t[torch.float32], t[torch.bfloat16]
            name = f"{cin}->{cout} 3x3{' dilated 2' if dilation > 1 else ''} on {h}x{w}"
            print(f"| {name} | {f32 * 1e3:.0f} ({flop / f32:.0f}) | {b16 * 1e3:.0f} ({flop / b16:.0f}) | {f32 / b16:.2f} |")


def conversions(repeats: int) -> None:
    h, w = 3000, 4000
    levels = torch.randint(0, 256, (1, 3, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    step = TILE_PIXELS // w
    tiles = [levels[..., r : r + step, :] for r in range(0, h, step)]
    labs = [rgb_to_lab(t.float() / 255) for t in tiles]
    ways = {
        "to Lab, kornia on floats": lambda: [rgb_to_lab(t.float().div_(255)) for t in tiles],
        "to Lab, by table": lambda: [levels_to_lab(t) for t in tiles],
        "to levels, kornia on floats": lambda: [to_8bit(lab_to_rgb(lab)) for lab in labs],
        "to levels, by table": lambda: [lab_to_levels(lab) for lab in labs],
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    with torch.no_grad():
        for _ in range(repeats):
            for name, run in ways.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    print(f"\n| a 12 MP photo's tiles ({step} rows) | s (median, range of {repeats}) |\n|---|---:|")
    for name, t in times.items():
        print(f"| {name} | {statistics.median(t):.3f} ({min(t):.3f}-{max(t):.3f}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} threads, torch {torch.__version__}")
    convolutions()
    conversions(args.repeats)


if __name__ == "__main__":
    main()
