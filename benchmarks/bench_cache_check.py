"""What checking a context cache entry costs (issue 30), per photo, with the CPU preset's real maps.

Builds the cache of a sample-photo style with ``configs/cpu-small.yaml`` (bundled VGG-16 conv1-conv5 on
photos at long side 384, both orientations) in a fresh folder, then measures, from the page cache:

- the first opening of an entry in a process (:meth:`lumastyle.cache.ContextCache.check`: the whole
  file read memory-mapped, its BLAKE2b checksum; once per entry per process, before training);
- an opening after that (:meth:`~lumastyle.cache.ContextCache.load`: a ``stat`` of the file against the
  one checked, then the memory-mapped ``torch.load`` a loader worker did before checksums existed),
  against the bare ``torch.load``;
- writing an entry (``torch.save`` through the atomic rename) against computing its maps.

    PYTHONPATH=. python benchmarks/bench_cache_check.py --style spring
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from lumastyle.cache import ContextCache, make_record, read_entry
from lumastyle.cli import build_cli

REPO = Path(__file__).resolve().parents[1]


def per_call(function, repeat: int) -> float:
    """Median seconds of ``function()`` over ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", default="spring")
    parser.add_argument("--photos", type=int, default=6, help="photos to cache (each in two orientations)")
    args = parser.parse_args()
    cli = build_cli(
        [
            "--config",
            str(REPO / "styles" / f"{args.style}.yaml"),
            "--config",
            str(REPO / "configs" / "cpu-small.yaml"),
        ],
        run=False,
    )
    model, dm = cli.model, cli.datamodule
    dm.setup("fit")
    caching = model.context_caching()
    assert caching is not None
    folder = Path(tempfile.mkdtemp(prefix="bench_cache_check-"))
    try:
        cache = ContextCache(folder, caching.cache.fingerprint, caching.cache.scales, None)
        entries = dm.training_context_entries((False, True))[: 2 * args.photos]
        start = time.perf_counter()
        cache.build(entries, dm.context_image, model.network.lower_context)
        build = (time.perf_counter() - start) / len(entries)
        paths = [cache.path(e) for e in entries]
        size = statistics.mean(p.stat().st_size for p in paths)
        first = statistics.median(per_call(lambda p=p: read_entry(p), 5) for p in paths)
        checked = ContextCache(folder, cache.fingerprint, cache.scales, None)
        for p in paths:
            checked.check(p)
        again = statistics.median(per_call(lambda e=e: checked.load(e), 50) for e in entries)
        bare = statistics.median(
            per_call(lambda p=p: torch.load(p, map_location="cpu", mmap=True, weights_only=True), 50)
            for p in paths
        )
        record = torch.load(paths[0], weights_only=True)
        with torch.no_grad():
            rgb = dm.context_image(entries[0])[None]
            maps = model.network.lower_context(rgb)
        compute = per_call(lambda: model.network.lower_context(rgb), 3)
        write = per_call(
            lambda: torch.save(make_record(maps, rgb.shape[-2:], paths[0].stem), folder / "w.pt"), 5
        )
        del record
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"style {args.style}, CPU preset, {len(entries)} entries of {size / 2**20:.1f} MiB on average")
    print("| step | ms per entry |")
    print("|---|---:|")
    print(
        f"| build (compute, checksum, write), as measured over the {len(entries)} entries | {build * 1e3:.0f} |"
    )
    print(f"| compute the maps alone (conv1-conv5 of the whole photo) | {compute * 1e3:.0f} |")
    print(f"| checksum and write (make_record + torch.save) | {write * 1e3:.1f} |")
    print(f"| first opening in a process: read and check | {first * 1e3:.1f} |")
    print(f"| later openings (stat + memory-mapped torch.load) | {again * 1e3:.2f} |")
    print(f"| bare memory-mapped torch.load (before checksums) | {bare * 1e3:.2f} |")


if __name__ == "__main__":
    main()
