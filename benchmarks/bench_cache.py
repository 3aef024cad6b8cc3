"""Seconds per training epoch with and without the context cache, in one run (issue 13).

Trains one style with the CPU preset (``configs/cpu-small.yaml``: bundled VGG-16 conv1-conv5, frozen)
three ways, each in a fresh cache folder: (1) building the cache (the time ``prepare_data`` takes)
and training from it; (2) training from the cache again (a second run reuses it); (3) with
``--model.context.cache false`` (conv1-conv5 run on every training crop, every step). Every epoch is
timed from its first batch to the end of its validation; the first epoch of each run is reported
apart (worker start-up). Prints a Markdown table and the ratio uncached / cached.

    PYTHONPATH=. python benchmarks/bench_cache.py --style render_popout --epochs 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from lumastyle.cli import main as lumastyle_main

REPO = Path(__file__).resolve().parents[1]
TIMES: list[float] = []


class EpochTimer(L.Callback):
    """Seconds from each training epoch's start to the end of its validation, into ``TIMES``."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking and hasattr(self, "start"):
            TIMES.append(time.perf_counter() - self.start)


def run(style: str, epochs: int, workdir: Path, cache: Path, extra: list[str]) -> tuple[float, list[float]]:
    """Train; returns (seconds before the first epoch: setup and cache build, epoch times)."""
    import bench_cache  # the module the callback is loaded from by class path (not __main__)

    bench_cache.TIMES.clear()
    os.environ["LUMASTYLE_CACHE"] = str(cache)
    args = [
        "fit",
        "--config", str(REPO / "styles" / f"{style}.yaml"),
        "--config", str(REPO / "configs" / "cpu-small.yaml"),
        "--trainer.max_epochs", str(epochs),
        "--trainer.enable_model_summary", "false",
        "--trainer.callbacks+=bench_cache.EpochTimer",
        "--trainer.default_root_dir", str(workdir),
        *extra,
    ]  # fmt: skip
    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        lumastyle_main(args)
    total = time.perf_counter() - start
    return total - sum(bench_cache.TIMES), list(bench_cache.TIMES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", default="render_popout")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))  # the EpochTimer callback by class path
    torch.set_num_threads(os.cpu_count() or 1)
    tmp = Path(tempfile.mkdtemp(prefix="bench_cache-"))
    rows = {}
    try:
        cache = tmp / "cache"
        rows["cache built, then trained from"] = run(args.style, args.epochs, tmp / "r1", cache, [])
        rows["cache reused (a second run)"] = run(args.style, args.epochs, tmp / "r2", cache, [])
        rows["no cache (conv1-conv5 on every crop)"] = run(
            args.style, args.epochs, tmp / "r3", tmp / "unused", ["--model.context.cache", "false"]
        )
        n_files = len(list(cache.glob("*.pt")))
        size = sum(p.stat().st_size for p in cache.glob("*.pt"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"style {args.style}, {args.epochs} epochs each; cache: {n_files} files, {size / 2**20:.0f} MiB")
    print("| run | before the first epoch (s) | first epoch (s) | later epochs, median (s) |")
    print("|---|---:|---:|---:|")
    for name, (before, times) in rows.items():
        later = statistics.median(times[1:]) if len(times) > 1 else float("nan")
        print(f"| {name} | {before:.1f} | {times[0]:.1f} | {later:.1f} |")
    cached = statistics.median(rows["cache reused (a second run)"][1][1:])
    uncached = statistics.median(rows["no cache (conv1-conv5 on every crop)"][1][1:])
    print(f"epoch time without / with the cache: {uncached / cached:.1f}x")
    if args.out:
        args.out.write_text(
            json.dumps({k: {"before": b, "epochs": t} for k, (b, t) in rows.items()}, indent=2)
        )


if __name__ == "__main__":
    main()
