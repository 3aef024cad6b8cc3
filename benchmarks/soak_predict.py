"""Soak test of ``lumastyle predict --data PhotoFolderDataModule`` (issue 30): a catalogue of a few
thousand small photos with bad files mixed in, written once each, with memory that stays flat.

Made in ``--workdir``: ``--count`` photos of 16x16 (every other one a JPEG at quality 95, the rest PNG,
8-bit), of which ``--bad`` percent are bad files spread evenly among them (in turn: zero bytes, a JPEG
cut after its header, text named .png); and a colour-only checkpoint saved without training (its
head's weights nudged off the identity, as tests/test_predict_folder.py makes it).

Then, in a fresh process as a user runs it (``python -m lumastyle.cli predict ... --data.output OUT``,
plus ``--predict-args``, e.g. ``--config configs/cpu-ddp.yaml``): the wall time, and the resident memory
of the whole process tree (the predict processes and their loader workers: the sum of VmRSS over
/proc, read by hand as psutil is not a dependency) sampled every ``--every`` seconds together with how
many outputs exist. Memory is flat when the RSS after 90% of the outputs is no more than after 20%
(printed: RSS at 20/50/90% of the outputs, the peak, and the slope between 20% and 90% in MB per
1000 photos). Checked: every good photo's output exists once, nothing else is in OUT but the
records, and the summary line's counts (written, failed, the failed names) are right. A second run
after ``--redo`` outputs are deleted (a restart) must write exactly those and skip the rest.

    PYTHONPATH=. python benchmarks/soak_predict.py --workdir /tmp/soak
    PYTHONPATH=. python benchmarks/soak_predict.py --workdir /tmp/soak --predict-args="--config configs/cpu-ddp.yaml"
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
RECORDS = "lumastyle-predictions"


def make_catalogue(folder: Path, count: int, bad_percent: float, size: int = 16) -> list[str]:
    """``count`` photos in ``folder`` (made once); the names of the bad ones."""
    from lumastyle.io import write_image

    bad_every = round(100 / bad_percent) if bad_percent > 0 else 0
    bad: list[str] = []
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    for k in range(count):
        suffix = ".jpg" if k % 2 == 0 else ".png"
        path = folder / f"p{k:05d}{suffix}"
        if bad_every and k % bad_every == bad_every // 2:
            kind = len(bad) % 3
            if kind == 0:
                path.write_bytes(b"")
            elif kind == 1:
                write_image(path, torch.rand(3, size, size, generator=g))
                path.write_bytes(path.read_bytes()[:40])
            else:
                path.write_text("not a photo")
            bad.append(path.name)
        elif not path.is_file():
            write_image(path, torch.rand(3, size, size, generator=g))
    return bad


def make_checkpoint(path: Path) -> Path:
    import lightning as L

    from lumastyle.model import LumaStyle
    from lumastyle.options import ContextOptions

    torch.manual_seed(0)
    model = LumaStyle(context=ContextOptions(scales=()))
    with torch.no_grad():
        for p in model.network.head.parameters():
            p.add_(0.05 * torch.randn_like(p))
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(path)
    return path


def tree_rss(pid: int) -> int:
    """Bytes resident in ``pid`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def outputs(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if not p.name.startswith(RECORDS) and not p.name.startswith(".")] if folder.is_dir() else []


def run(command: list[str], out: Path, every: float, cwd: Path) -> tuple[float, list[tuple[float, int, int]], str]:
    """Run ``command``; (wall seconds, samples of (seconds, tree RSS, outputs so far), its output)."""
    log = cwd / "predict.log"
    start = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(command, cwd=cwd, stdout=f, stderr=subprocess.STDOUT)
        samples = []
        while proc.poll() is None:
            samples.append((time.perf_counter() - start, tree_rss(proc.pid), len(outputs(out))))
            time.sleep(every)
    wall = time.perf_counter() - start
    said = log.read_text()
    if proc.returncode != 0:
        sys.exit(f"predict failed ({proc.returncode}):\n{said[-3000:]}")
    return wall, samples, said


def rss_at(samples: list[tuple[float, int, int]], done: int) -> int:
    """The RSS of the first sample with at least ``done`` outputs."""
    return next((rss for _, rss, n in samples if n >= done), samples[-1][1])


def repo_paths(words: list[str]) -> list[str]:
    """``--config FILE`` relative to the repository (the command runs in the work folder)."""
    return [str(REPO / w) if i and words[i - 1] == "--config" and not Path(w).is_absolute() else w
            for i, w in enumerate(words)]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lumastyle-soak"))
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--bad", type=float, default=1.0, help="percent of bad files")
    parser.add_argument("--predict-args", default="", help="more arguments of lumastyle predict")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between memory samples")
    parser.add_argument("--redo", type=int, default=50, help="outputs deleted before the restart run")
    args = parser.parse_args()

    work = args.workdir
    photos, out = work / "photos", work / "out"
    bad = make_catalogue(photos, args.count, args.bad)
    ckpt = make_checkpoint(work / "colour.ckpt")
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "lumastyle.cli", "predict", "--data", "PhotoFolderDataModule",
               "--data.root", str(photos), "--data.output", str(out), "--ckpt_path", str(ckpt),
               "--trainer.enable_progress_bar", "false", "--trainer.logger", "false",
               *repo_paths(shlex.split(args.predict_args))]  # fmt: skip
    wall, samples, said = run(command, out, args.every, work)
    good = args.count - len(bad)
    written = outputs(out)
    summary = next(line for line in said.splitlines() if line.startswith("wrote "))
    failed_names = re.findall(r"(p\d{5}\.\w+) \(", summary.partition("; failed ")[2])
    checks = {
        "every good photo written once": len(written) == good
        and {p.stem for p in written} == {p.stem for p in photos.iterdir() if p.name not in bad},
        "summary counts": summary.startswith(f"wrote {good} photo(s)") and f"; failed {len(bad)}: " in summary,
        "failed photos named": sorted(failed_names) == sorted(bad),
    }
    marks = {f: rss_at(samples, int(f * good)) for f in (0.2, 0.5, 0.9)}
    slope = (marks[0.9] - marks[0.2]) / (0.7 * good) * 1000 / 2**20
    peak = max(rss for _, rss, _ in samples)
    print(f"{args.count} photos ({len(bad)} bad), {shlex.join(shlex.split(args.predict_args)) or 'one process'}: "
          f"{wall:.1f} s wall, {good / wall:.0f} photos/s")  # fmt: skip
    print("tree RSS at 20/50/90% of the outputs: " + " / ".join(f"{marks[f] / 2**20:.0f}" for f in marks)
          + f" MB; peak {peak / 2**20:.0f} MB; slope 20->90%: {slope:+.2f} MB per 1000 photos")  # fmt: skip
    # a restart: delete some outputs, run again: exactly those are written
    redo = sorted(written)[:: max(1, len(written) // max(1, args.redo))][: args.redo]
    for p in redo:
        p.unlink()
    wall2, _, said2 = run(command, out, args.every, work)
    summary2 = next(line for line in said2.splitlines() if line.startswith("wrote "))
    checks["restart writes the deleted outputs alone"] = summary2.startswith(
        f"wrote {len(redo)} photo(s)"
    ) and f"skipped {good - len(redo)} whose output exists" in summary2 and len(outputs(out)) == good
    print(f"restart after deleting {len(redo)} outputs: {wall2:.1f} s; {summary2[:120]}")
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    if not all(checks.values()):
        print(summary)
        sys.exit(1)


if __name__ == "__main__":
    main()
