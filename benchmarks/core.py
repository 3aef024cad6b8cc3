"""Speed and memory of the paper's full-width model on this machine (CPU unless --device cuda).

Prints, in one run:
- forward+backward seconds per 256x256 training crop (batch of 1),
- ``stylize`` seconds and peak memory for a 1 MP and a 12 MP photo (context capped at 640 px),
- training-step peak memory with the factorised head against the unfactorised one, and their ratio.

Each case runs in a fresh subprocess so its peak resident memory (ru_maxrss) is its own; the
increase over the process's state after building the model is reported beside the total.

    python benchmarks/core.py                 # the paper's width (slow on a CPU: minutes)
    python benchmarks/core.py --width 0.125   # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import torch

CASES = ("train_factorised", "train_unfactorised", "stylize_1mp", "stylize_12mp")
SIZES = {"stylize_1mp": (864, 1152), "stylize_12mp": (3000, 4000)}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_case(case: str, width: float, crop: int, steps: int, device: str) -> dict:
    from lumastyle.color import rgb_to_lab
    from lumastyle.model import LumaStyle

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    dev = torch.device(device)
    model = LumaStyle(
        backbone_width=width, backbone_weights=None, factorize_context=case != "train_unfactorised"
    )
    model.to(dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    baseline = peak_rss_mib()
    times = []
    if case.startswith("train"):
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        rgb = torch.rand(1, 3, crop, crop, device=dev)
        target = rgb_to_lab(torch.rand(1, 3, crop, crop, device=dev))
        for i in range(steps + 1):  # the first step warms up and is not timed
            start = time.perf_counter()
            loss = (model.forward_lab(rgb)[1] - target).square().sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - start)
    else:
        model.eval()
        rgb = torch.rand(3, *SIZES[case], device=dev)
        for _ in range(2 if dev.type == "cuda" else 1):
            start = time.perf_counter()
            model.stylize(rgb, context_long_side=640)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    result = {
        "case": case,
        "seconds": sorted(times)[len(times) // 2],
        "peak_rss_mib": round(peak_rss_mib()),
        "increase_mib": round(peak_rss_mib() - baseline),
    }
    if dev.type == "cuda":
        result["cuda_peak_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
    return result


def machine() -> str:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu}, {os.cpu_count()} cores{gpu}, torch {torch.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=1.0, help="backbone width (1.0 = the paper)")
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--steps", type=int, default=1, help="timed training steps after one warm-up step")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--out", help="also write the results as JSON here")
    args = parser.parse_args()
    if args.case:  # child process: one case, result as JSON on the last line
        print(json.dumps(run_case(args.case, args.width, args.crop, args.steps, args.device)))
        return

    print(f"machine: {machine()}")
    print(f"model: backbone width {args.width}, crop {args.crop}, device {args.device}\n")
    results = {}
    for case in args.cases:
        cmd = [sys.executable, __file__, "--case", case, "--width", str(args.width), "--crop", str(args.crop)]
        cmd += ["--steps", str(args.steps), "--device", args.device]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        results[case] = json.loads(out)
        r = results[case]
        print(
            f"{case:20s} {r['seconds']:8.2f} s   peak RSS {r['peak_rss_mib']:6d} MiB (+{r['increase_mib']} MiB)",
            flush=True,
        )

    print()
    if "train_factorised" in results and "train_unfactorised" in results:
        f, u = results["train_factorised"], results["train_unfactorised"]
        print(
            f"training step: factorised / unfactorised memory increase = {f['increase_mib'] / u['increase_mib']:.3f}"
        )
        print(f"training step: factorised / unfactorised time = {f['seconds'] / u['seconds']:.3f}")
    if "stylize_1mp" in results and "stylize_12mp" in results:
        ratio = results["stylize_12mp"]["seconds"] / results["stylize_1mp"]["seconds"]
        print(f"stylize: 12 MP / 1 MP time = {ratio:.2f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(
                {"machine": machine(), "width": args.width, "crop": args.crop, "results": results},
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
