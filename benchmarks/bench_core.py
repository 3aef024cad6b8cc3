"""Core-model benchmark (issue 2): speed and peak memory of the StyleNetwork on this machine's CPU.

Reports, from one run:

1. forward+backward seconds per training crop (batch of 1, ``model.train()``, loss = mean squared
   Lab error against a random target): one warm-up step, then the median of ``--steps`` timed steps;
2. ``lumastyle.inference.stylize_tensor(network, rgb, context_long_side=640)`` seconds and peak memory for a 1 MP (1152x864) and a
   12 MP (4000x3000) photo (context on a copy with long side 640, head at full resolution in tiles);
3. training-step peak memory with the factorised head (``QuadraticHead(factorize=True)``) against the
   unfactorised one (``False``) at the same crop, and their ratio.

Every case runs in a fresh subprocess (this script with the hidden ``--case NAME``), which reads
``ru_maxrss`` at its end; the baseline is ``ru_maxrss`` right after imports and model construction.
Both the total peak RSS and the increase over the baseline are reported. Random backbone weights
(``backbone_weights=None``) cost the same time as ImageNet ones.

    python benchmarks/bench_core.py                # the paper's full width (slow on a CPU)
    python benchmarks/bench_core.py --quick        # width 0.125 smoke run
    python benchmarks/bench_core.py --out /tmp/core.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = ("train_factorised", "train_unfactorised", "stylize_1mp", "stylize_12mp")
PHOTO_HW = {"stylize_1mp": (864, 1152), "stylize_12mp": (3000, 4000)}  # (H, W)
CONTEXT_LONG_SIDE = 640
REPO = Path(__file__).resolve().parent.parent


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_case(case: str, width: float, crop: int, steps: int, warmup: int) -> dict:
    """One case in this (fresh) process; returns its timings and memory."""
    import torch

    from lumastyle.color import rgb_to_lab
    from lumastyle.heads import QuadraticHead
    from lumastyle.inference import stylize_tensor
    from lumastyle.network import StyleNetwork

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    factorize = case != "train_unfactorised"
    model = StyleNetwork(
        head=functools.partial(QuadraticHead, factorize=factorize),
        backbone_width=width,
        backbone_weights=None,
    )
    baseline = _peak_rss_mib()
    times: list[float] = []

    if case.startswith("train"):
        model.train()
        rgb = torch.rand(1, 3, crop, crop)
        batch = {"input": rgb, "target": torch.rand(1, 3, crop, crop)}
        for i in range(warmup + steps):
            model.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            _, lab_pred = model.forward_lab(batch["input"])  # the training loss, as LumaStyle computes it
            loss = (lab_pred - rgb_to_lab(batch["target"])).square().sum(dim=1).mean()
            loss.backward()
            dt = time.perf_counter() - t0
            if i >= warmup:
                times.append(dt)
            print(f"[{case}] step {i} ({'warm-up' if i < warmup else 'timed'}): {dt:.2f} s", file=sys.stderr)
    else:
        model.eval()
        h, w = PHOTO_HW[case]
        rgb = torch.rand(3, h, w)
        for i in range(warmup + steps):
            t0 = time.perf_counter()
            out = stylize_tensor(model, rgb, context_long_side=CONTEXT_LONG_SIDE)  # what stylize runs
            dt = time.perf_counter() - t0
            assert out.shape == rgb.shape
            del out
            if i >= warmup:
                times.append(dt)
            print(f"[{case}] run {i} ({'warm-up' if i < warmup else 'timed'}): {dt:.2f} s", file=sys.stderr)

    peak = _peak_rss_mib()
    return {
        "case": case,
        "seconds_median": statistics.median(times),
        "seconds_all": times,
        "peak_rss_mib": peak,
        "baseline_rss_mib": baseline,
        "increase_mib": peak - baseline,
    }


def _spawn(case: str, args: argparse.Namespace, width: float) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--case",
        case,
        "--width",
        str(width),
        "--crop",
        str(args.crop),
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"case {case} failed (exit {proc.returncode})")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = time.perf_counter() - t0
    print(f"  {case}: done in {result['wall_seconds']:.0f} s", file=sys.stderr, flush=True)
    return result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--width", type=float, default=1.0, help="backbone width (1.0 = the paper's full model)")
    p.add_argument("--crop", type=int, default=256, help="training crop side in pixels")
    p.add_argument("--quick", action="store_true", help="smoke run at width 0.125")
    p.add_argument("--steps", type=int, default=2, help="timed repetitions per case (median is reported)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up repetitions per case")
    p.add_argument("--out", type=str, default=None, help="also write the results as JSON to this path")
    p.add_argument("--case", choices=CASES, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    width = 0.125 if args.quick else args.width

    if args.case:
        print(json.dumps(run_case(args.case, width, args.crop, args.steps, args.warmup)), flush=True)
        return

    import torch

    machine = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    started = _dt.datetime.now().astimezone()
    print(
        f"machine: {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']}, "
        f"python {machine['python']}; width {width}, crop {args.crop}, "
        f"{args.warmup} warm-up + median of {args.steps}",
        file=sys.stderr,
        flush=True,
    )
    res = {case: _spawn(case, args, width) for case in CASES}

    tf, tu = res["train_factorised"], res["train_unfactorised"]
    s1, s12 = res["stylize_1mp"], res["stylize_12mp"]
    ratios = {
        "train_mem_factorised_over_unfactorised_increase": tf["increase_mib"] / tu["increase_mib"],
        "train_mem_factorised_over_unfactorised_total": tf["peak_rss_mib"] / tu["peak_rss_mib"],
        "stylize_time_12mp_over_1mp": s12["seconds_median"] / s1["seconds_median"],
    }

    rows = [
        (f"train step fwd+bwd, {args.crop}x{args.crop}, factorised", tf),
        (f"train step fwd+bwd, {args.crop}x{args.crop}, unfactorised", tu),
        (f"stylize 1 MP (1152x864), context {CONTEXT_LONG_SIDE}", s1),
        (f"stylize 12 MP (4000x3000), context {CONTEXT_LONG_SIDE}", s12),
    ]
    print()
    print(
        f"machine: {machine['cpu']} | {machine['cores']} cores | torch {machine['torch']} | "
        f"python {machine['python']} | {started:%Y-%m-%d}"
    )
    print(
        f"model: width {width} (1.0 = paper), backbone_weights=None, scales (1, 2), CPU, "
        f"{args.warmup} warm-up + median of {args.steps}"
    )
    head = f"{'case':<52} {'seconds':>9} {'peak RSS MiB':>13} {'+ over base':>12}"
    print(head)
    print("-" * len(head))
    for name, r in rows:
        print(f"{name:<52} {r['seconds_median']:>9.2f} {r['peak_rss_mib']:>13.0f} {r['increase_mib']:>12.0f}")
    print("-" * len(head))
    print(
        f"train memory factorised / unfactorised (increase over baseline): "
        f"{ratios['train_mem_factorised_over_unfactorised_increase']:.3f}"
    )
    print(
        f"train memory factorised / unfactorised (total peak RSS):         "
        f"{ratios['train_mem_factorised_over_unfactorised_total']:.3f}"
    )
    print(
        f"stylize time 12 MP / 1 MP:                                        "
        f"{ratios['stylize_time_12mp_over_1mp']:.3f}"
    )

    if args.out:
        payload = {
            "date": started.isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": machine,
            "width": width,
            "crop": args.crop,
            "steps": args.steps,
            "warmup": args.warmup,
            "context_long_side": CONTEXT_LONG_SIDE,
            "cases": res,
            "ratios": ratios,
        }
        Path(args.out).write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
