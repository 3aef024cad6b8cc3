"""Stylize time and peak memory of a trained checkpoint on a photo of N megapixels (issue 16's goals).

Each case runs in a fresh subprocess through :func:`lumastyle.inference.stylize_tensor` (what
``lumastyle stylize`` runs; reading and writing the file are not timed): one warm-up on a small photo,
then the timed photo. Peak memory is the subprocess's ``ru_maxrss``.

    PYTHONPATH=. python benchmarks/bench_stylize.py --ckpt runs/spring/version_0/checkpoints/last.ckpt --megapixels 1 12
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def case(ckpt: str, megapixels: float, precision: str, threads: int) -> dict:
    import torch

    from lumastyle.model import LumaStyle

    torch.set_num_threads(threads)
    model = LumaStyle.from_checkpoint(ckpt)
    w = round((megapixels * 1e6 * 4 / 3) ** 0.5)
    h = round(w * 3 / 4)
    rgb = torch.rand(3, h, w, generator=torch.Generator().manual_seed(0))
    model.stylize(torch.rand(3, 240, 320), precision=precision)  # warm-up
    start = time.perf_counter()
    model.stylize(rgb, precision=precision)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"photo": f"{w}x{h}", "precision": precision, "seconds": round(seconds, 2), "peak MiB": round(peak)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--megapixels", type=float, nargs="+", default=[1.0, 12.0])
    parser.add_argument("--precision", nargs="+", default=["32"], choices=["32", "bf16"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--case", nargs=3, help=argparse.SUPPRESS)  # internal: one case in this process
    args = parser.parse_args()
    if args.case:
        print(json.dumps(case(args.ckpt, float(args.case[0]), args.case[1], int(args.case[2]))))
        return
    rows = []
    for mp in args.megapixels:
        for precision in args.precision:
            done = subprocess.run(
                [sys.executable, __file__, "--ckpt", args.ckpt, "--case", str(mp), precision, str(args.threads)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    print("| photo | precision | seconds | peak RSS (MiB) |\n|---|---|---:|---:|")
    for r in rows:
        print(f"| {r['photo']} | {r['precision']} | {r['seconds']} | {r['peak MiB']} |")


if __name__ == "__main__":
    main()
