"""Stylize time and peak memory of a trained checkpoint on a photo of N megapixels (issue 16's goals).

Each case runs in a fresh subprocess through :func:`lumastyle.inference.stylize_tensor` (what
``lumastyle stylize`` runs; reading and writing the file are not timed): one warm-up on a small photo,
then the timed photo. Peak memory is the subprocess's ``ru_maxrss``. The run also measures this
machine's matrix-multiply FLOP/s and copy bandwidth, times the context network alone and counts the
matrix/convolution FLOPs of it and of the per-pixel part (torch's FlopCounterMode), and reports the
fraction of the peak each part reaches.

    PYTHONPATH=. python benchmarks/bench_stylize.py --ckpt runs/spring/version_0/checkpoints/last.ckpt --megapixels 1 12
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def machine_peaks(threads: int) -> dict:
    """This machine's float32 arithmetic peak, as the best of a 4096x4096 matrix product and a
    3x3 convolution of 256 channels on 96x128 (oneDNN's convolutions outrun the BLAS product here),
    and its memory bandwidth (bytes read + written per second copying 512 MiB); measured now."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)

    def rate(work: float, run, repeats: int = 3) -> float:
        run()
        start = time.perf_counter()
        for _ in range(repeats):
            run()
        return repeats * work / (time.perf_counter() - start)

    a, b = torch.rand(4096, 4096), torch.rand(4096, 4096)
    x, k = torch.rand(1, 256, 96, 128), torch.rand(256, 256, 3, 3)
    matmul = rate(2 * 4096**3, lambda: torch.mm(a, b))
    conv = rate(2 * 256 * 256 * 9 * 96 * 128, lambda: F.conv2d(x, k, padding=1))
    src, dst = torch.rand(1 << 27), torch.empty(1 << 27)
    bandwidth = rate(2 * src.numel() * 4, lambda: dst.copy_(src), repeats=5)
    return {"matmul GFLOP/s": matmul / 1e9, "conv3x3 GFLOP/s": conv / 1e9, "copy GB/s": bandwidth / 1e9}


def _written_bytes(run) -> int:
    """Bytes of every new tensor the ops of ``run()`` write (views excluded): a floor on the memory
    traffic of code whose intermediates do not fit in cache (each is written, then read)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    class Count(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            inputs = {
                t.untyped_storage().data_ptr()
                for t in tree_leaves((args, kwargs))
                if isinstance(t, torch.Tensor)
            }
            for t in tree_leaves(out):
                if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in inputs:
                    Count.total += t.numel() * t.element_size()
            return out

    with Count():
        run()
    return Count.total


def case(ckpt: str, megapixels: float, precision: str, threads: int, repeats: int) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from lumastyle.color import lab_to_rgb, rgb_to_lab
    from lumastyle.inference import TILE_PIXELS, context_copy
    from lumastyle.model import LumaStyle

    torch.set_num_threads(threads)
    model = LumaStyle.from_checkpoint(ckpt)
    w = round((megapixels * 1e6 * 4 / 3) ** 0.5)
    h = round(w * 3 / 4)
    rgb = torch.rand(3, h, w, generator=torch.Generator().manual_seed(0))
    model.stylize(torch.rand(3, 240, 320), precision=precision)  # warm-up
    times = []
    for _ in range(repeats):  # this VM's times vary run to run (up to ~1.7x): the median, and the range
        start = time.perf_counter()
        model.stylize(rgb, precision=precision)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # the two parts, timed and counted apart: the context network on the capped copy, and the
    # per-pixel part (sampling, head, colour layer) as the rest of the run
    network, cap = model.network, model.context_long_side()
    with torch.no_grad():
        small = context_copy(rgb[None], cap)
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            maps = network.encode_context(small)
        context_seconds = time.perf_counter() - start
        with FlopCounterMode(display=False) as counter:
            network.encode_context(small)
        context_flops = counter.get_total_flops()
        rows = max(1, TILE_PIXELS // w)
        tile = rgb[None, :, :rows]

        def one_tile():
            return lab_to_rgb(network.transform(rgb_to_lab(tile), maps, (h, w), (0, rows)))

        with FlopCounterMode(display=False) as counter:
            one_tile()
        pixel_flops = counter.get_total_flops() * h / rows
        pixel_bytes = 2 * _written_bytes(one_tile) * h / rows
    return {
        "photo": f"{w}x{h}", "precision": precision, "seconds": round(seconds, 2), "peak MiB": round(peak),
        "range": f"{min(times):.1f}-{max(times):.1f}",
        "context s": round(context_seconds, 2), "context GFLOP": context_flops / 1e9,
        "per-pixel s": round(seconds - context_seconds, 2), "per-pixel GFLOP": pixel_flops / 1e9,
        "per-pixel GB": pixel_bytes / 1e9,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--megapixels", type=float, nargs="+", default=[1.0, 12.0])
    parser.add_argument("--precision", nargs="+", default=["32"], choices=["32", "bf16"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (the median is reported)")
    parser.add_argument("--case", nargs=4, help=argparse.SUPPRESS)  # internal: one case in this process
    parser.add_argument("--peaks", type=int, help=argparse.SUPPRESS)  # internal: the machine's peaks
    args = parser.parse_args()
    if args.peaks:
        print(json.dumps(machine_peaks(args.peaks)))
        return
    if args.case:
        print(
            json.dumps(
                case(args.ckpt, float(args.case[0]), args.case[1], int(args.case[2]), int(args.case[3]))
            )
        )
        return
    peaks = json.loads(
        subprocess.run(
            [sys.executable, __file__, "--ckpt", args.ckpt, "--peaks", str(args.threads)],
            capture_output=True, text=True, check=True,
        ).stdout.strip().splitlines()[-1]
    )  # fmt: skip
    print(peaks, flush=True)
    rows = []
    for mp in args.megapixels:
        for precision in args.precision:
            done = subprocess.run(
                [sys.executable, __file__, "--ckpt", args.ckpt, "--case", str(mp), precision, str(args.threads), str(args.repeats)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    flops, bandwidth = max(peaks["matmul GFLOP/s"], peaks["conv3x3 GFLOP/s"]), peaks["copy GB/s"]
    print(
        f"\nmachine ({args.threads} threads): float32 {peaks['matmul GFLOP/s']:.0f} GFLOP/s in a matrix product, "
        f"{peaks['conv3x3 GFLOP/s']:.0f} in a 3x3 convolution; {bandwidth:.1f} GB/s copying"
    )
    print(
        "| photo | precision | seconds (median, range) | peak RSS (MiB) | context s (GFLOP/s, of peak) "
        "| per-pixel s (GFLOP/s, of peak) | per-pixel traffic GB/s (of copy bandwidth) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        context = r["context GFLOP"] / r["context s"]
        pixel = r["per-pixel GFLOP"] / r["per-pixel s"]
        traffic = r["per-pixel GB"] / r["per-pixel s"]
        print(
            f"| {r['photo']} | {r['precision']} | {r['seconds']} ({r['range']}) | {r['peak MiB']} "
            f"| {r['context s']} ({context:.0f}, {context / flops:.0%}) | {r['per-pixel s']} ({pixel:.0f}, {pixel / flops:.0%}) "
            f"| {traffic:.1f} ({traffic / bandwidth:.0%}) |"
        )


if __name__ == "__main__":
    main()
