"""The whole ``lumastyle stylize`` command on a catalogue of 12 MP JPEGs, against this machine's limits (issue 28).

The catalogue: the first ``--count`` photos of ../shared/photos (sorted by name; their sources are in
its MANIFEST.tsv), each upscaled with Pillow's LANCZOS to ``--megapixels`` at 4:3 (4000x3000 at 12 MP,
3000x4000 for a portrait photo) and written as a JPEG at quality 95, 4:4:4; made once and kept in
``--workdir``.

Measured in the same run:

- **the machine's limits**: float32 FLOP/s as the best of a 4096x4096 matrix product and a 3x3
  convolution of 256 channels, and copy bandwidth (:func:`bench_stylize.machine_peaks`, with
  ``os.cpu_count()`` threads), and Pillow's single-thread JPEG decode and encode rates (MP/s; quality 95,
  4:4:4) on the catalogue's first photo: the best of ``--repeats``.
- **the command**, for each ``--ckpt``: ``lumastyle stylize --ckpt CKPT --input CATALOGUE --output NEW``
  (plus ``--stylize-args``) in a fresh process, as a user runs it (the venv's ``lumastyle`` script, else
  ``python -m lumastyle.cli``): wall seconds / photos, and the process's peak RSS (its own ``ru_maxrss``,
  from ``os.wait4``). The same command on the first photo alone separates the fixed start-up (imports,
  the checkpoint) from the per-photo cost: per photo = (t_N - t_1) / (N - 1), start-up = t_1 - per
  photo. ``--repeats`` runs of each: the median, and the range.
- **the parts of one photo**, in a fresh process (the first photo; the median of ``--repeats`` after a
  warm-up), as the command does them: decode (:func:`lumastyle.io.read_photo`: an 8-bit JPEG as its
  levels), the network loaded as the command loads it (``stylize`` with the
  command's ``--fast``, ``--precision`` and ``--context_long_side``) split into the context (the
  context copy and ``encode_context``, as benchmarks/bench_stylize.py times it) and the per-pixel rest,
  and encode (:func:`lumastyle.io.write_image` to a JPEG at the command's ``--quality``). Decode and
  encode are given as a fraction of Pillow's rates; the network's parts as a fraction of the FLOP peak
  (matrix/convolution FLOPs, torch's FlopCounterMode), the per-pixel part also as its memory traffic
  (twice the bytes its ops write, :func:`bench_stylize._written_bytes`) against the copy bandwidth.

Prints one markdown row per checkpoint and the machine line; ``--out`` writes them as JSON. The
figures go to benchmarks/README.md.

    PYTHONPATH=. python benchmarks/bench_catalogue.py --ckpt runs/cpu/version_0/checkpoints/last.ckpt \\
        runs/spring/version_0/checkpoints/last.ckpt --labels cpu-preset global-look --out /tmp/catalogue.json
    PYTHONPATH=. python benchmarks/bench_catalogue.py --ckpt last.ckpt --stylize-args="--fast false"
    PYTHONPATH=. python benchmarks/bench_catalogue.py --ckpt last.ckpt --megapixels 0.3 --count 2 --repeats 1  # a smoke test
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_stylize import _written_bytes, machine_peaks  # benchmarks/bench_stylize.py, beside this
from PIL import Image, ImageOps

from lumastyle.io import list_images

REPO = Path(__file__).resolve().parents[1]


def photo_size(megapixels: float) -> tuple[int, int]:
    w = round((megapixels * 1e6 * 4 / 3) ** 0.5)
    return w, round(w * 3 / 4)


def catalogue(shared: Path, workdir: Path, count: int, megapixels: float) -> Path:
    """The folder of ``count`` JPEGs of ``megapixels`` (made once: a photo already there is kept)."""
    w, h = photo_size(megapixels)
    sources = list_images(shared)[:count] if shared.is_dir() else []
    if len(sources) < count:
        raise SystemExit(f"{shared} has {len(sources)} photos; --count {count} needs as many")
    folder = workdir / f"catalogue_{w}x{h}_{count}"
    folder.mkdir(parents=True, exist_ok=True)
    for source in sources:
        out = folder / f"{source.stem}.jpg"
        if out.is_file():
            continue
        with Image.open(source) as im:
            im = ImageOps.exif_transpose(im).convert("RGB")
            big = im.resize((w, h) if im.width >= im.height else (h, w), Image.Resampling.LANCZOS)
        part = out.with_name(out.name + ".part")  # not a photo's name: a killed run leaves no half JPEG
        big.save(part, format="JPEG", quality=95, subsampling=0)
        os.replace(part, out)
    return folder


def first_alone(folder: Path) -> Path:
    """A folder holding the catalogue's first photo only (a hard link where the file system has them)."""
    first = list_images(folder)[0]
    alone = folder.with_name(folder.name + "_first")
    alone.mkdir(exist_ok=True)
    if not (alone / first.name).is_file():
        try:
            os.link(first, alone / first.name)
        except OSError:
            shutil.copy2(first, alone / first.name)
    return alone


def pillow_rates(photo: Path, repeats: int) -> dict:
    """Pillow's JPEG decode and encode (quality 95, 4:4:4) of ``photo`` on one thread, MP/s: the best run."""
    data = photo.read_bytes()
    decode, encode = [], []
    for _ in range(max(2, repeats)):
        start = time.perf_counter()
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            decode.append(time.perf_counter() - start)
            start = time.perf_counter()
            im.save(io.BytesIO(), format="JPEG", quality=95, subsampling=0)
            encode.append(time.perf_counter() - start)
            megapixels = im.width * im.height / 1e6
    return {"Pillow decode MP/s": megapixels / min(decode), "Pillow encode MP/s": megapixels / min(encode)}


def command_line(ckpt: str, input: Path, output: Path, stylize_args: str) -> list[str]:
    """``lumastyle stylize`` as a user types it: the venv's console script beside this Python, else ``-m``."""
    script = Path(sys.executable).with_name("lumastyle")
    head = [str(script)] if script.is_file() else [sys.executable, "-m", "lumastyle.cli"]
    return [
        *head,
        "stylize",
        "--ckpt",
        ckpt,
        "--input",
        str(input),
        "--output",
        str(output),
        *shlex.split(stylize_args),
    ]


def timed(command: list[str], log: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of ``command`` run to its end (its output goes to ``log``)."""
    with open(log, "w") as out:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage, not all children's so far
        seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise SystemExit(f"{shlex.join(command)} failed (exit {child.returncode}):\n{tail}")
    kib = 1 / 1024 if sys.platform == "darwin" else 1  # ru_maxrss: bytes on macOS, KiB on Linux
    return seconds, usage.ru_maxrss * kib / 1024


def run_command(ckpt: str, folder: Path, workdir: Path, stylize_args: str) -> tuple[float, float]:
    """One run of the command on ``folder`` into a fresh output folder (checked, then removed)."""
    output = Path(tempfile.mkdtemp(prefix="out_", dir=workdir))
    shutil.rmtree(output)  # the command makes it: a missing output folder, as a first run has
    try:
        seconds, peak = timed(command_line(ckpt, folder, output, stylize_args), workdir / "last_command.log")
        made, want = len(list_images(output)), len(list_images(folder))
        if made != want:
            raise SystemExit(f"the command wrote {made} photos of {want}; see {workdir / 'last_command.log'}")
    finally:
        shutil.rmtree(output, ignore_errors=True)
    return seconds, peak


def command_options(stylize_args: str) -> dict:
    """The options of ``stylize_args`` that change what the network does (the command's defaults else)."""
    from lumastyle.stylize import stylize

    defaults = {name: p.default for name, p in inspect.signature(stylize).parameters.items()}
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for name in ("fast", "precision", "context_long_side", "quality"):
        parser.add_argument(f"--{name}")
    given = vars(parser.parse_known_args(shlex.split(stylize_args))[0])
    options = {name: defaults.get(name) if value is None else value for name, value in given.items()}
    if isinstance(options["fast"], str):
        options["fast"] = options["fast"].lower() in ("true", "1", "yes", "on")
    if options["context_long_side"] in ("null", "none", "None"):
        options["context_long_side"] = None
    for name in ("context_long_side", "quality"):
        options[name] = None if options[name] is None else int(options[name])
    options["precision"] = options["precision"] or "auto"
    return options


def parts(ckpt: str, photo: Path, stylize_args: str, repeats: int) -> dict:
    """Seconds of decode, network (context, per-pixel) and encode of ``photo``; the network's FLOPs and bytes."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from lumastyle.inference import context_copy, resolve_precision
    from lumastyle.io import read_photo, write_image
    from lumastyle.stylize import trained_network

    options = command_options(stylize_args)
    model = trained_network(Path(ckpt), torch.device("cpu"))  # as the command loads it
    precision = resolve_precision(options["precision"], torch.device("cpu"))
    fast = {"fast": options["fast"]} if "fast" in inspect.signature(model.stylize).parameters else {}

    def network(rgb: torch.Tensor) -> torch.Tensor:
        return model.stylize(rgb, options["context_long_side"], precision, **fast)

    decode, whole, context, encode = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        network(torch.rand(3, 240, 320))  # warm-up: the first call of each part pays for lazy set-up
        write_image(Path(tmp) / photo.name, read_photo(photo, levels=True).image, quality=options["quality"])
        for _ in range(repeats):
            start = time.perf_counter()
            read = read_photo(photo, levels=True)  # as the command reads it: an 8-bit JPEG as its levels
            rgb, depth = read.image, read.bit_depth
            decode.append(time.perf_counter() - start)
            start = time.perf_counter()
            result = network(rgb)
            whole.append(time.perf_counter() - start)
            start = time.perf_counter()
            write_image(Path(tmp) / photo.name, result, bit_depth=depth, quality=options["quality"])
            encode.append(time.perf_counter() - start)
    del result
    dtype = torch.float16 if precision == "16" else torch.bfloat16
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype, enabled=precision != "32"):
        floats = rgb.float() / 255 if rgb.dtype == torch.uint8 else rgb
        for _ in range(repeats):  # a colour-only network computes no context (no context copy either)
            start = time.perf_counter()
            if not model.network.colour_only:
                small = context_copy(floats[None], model.context_long_side(options["context_long_side"]))
                model.network.encode_context(small)
            context.append(time.perf_counter() - start)
        with FlopCounterMode(display=False) as counter:
            if not model.network.colour_only:
                model.network.encode_context(small)
        context_flops = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        written = _written_bytes(lambda: network(rgb))  # both counted in one run of the network
    return {
        "photo": f"{rgb.shape[-1]}x{rgb.shape[-2]}", "threads": torch.get_num_threads(),
        "options": {**options, "precision": precision},
        "decode s": statistics.median(decode), "network s": statistics.median(whole),
        "context s": statistics.median(context), "encode s": statistics.median(encode),
        "network GFLOP": counter.get_total_flops() / 1e9, "context GFLOP": context_flops / 1e9,
        "network GB written": written / 1e9,
    }  # fmt: skip


def row(label: str, ckpt: str, folder: Path, workdir: Path, args: argparse.Namespace, limits: dict) -> dict:
    photos = list_images(folder)
    alone = first_alone(folder)
    whole, one, peaks, one_peaks = [], [], [], []
    for _ in range(args.repeats):  # interleaved: a busy spell of the machine slows both alike
        seconds, peak = run_command(ckpt, folder, workdir, args.stylize_args)
        whole.append(seconds)
        peaks.append(peak)
        if len(photos) > 1:
            seconds, peak = run_command(ckpt, alone, workdir, args.stylize_args)
            one.append(seconds)
            one_peaks.append(peak)
    n = len(photos)
    per_photo = [t / n for t in whole]
    marginal = (statistics.median(whole) - statistics.median(one)) / (n - 1) if one else None
    done = subprocess.run(
        [sys.executable, __file__, "--ckpt", ckpt, "--parts", str(photos[0]), "--repeats", str(args.repeats),
         f"--stylize-args={args.stylize_args}"],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"timing the parts of {photos[0]} failed:\n{done.stderr[-3000:]}")
    p = json.loads(done.stdout.strip().splitlines()[-1])
    megapixels = list(map(int, p["photo"].split("x")))
    megapixels = megapixels[0] * megapixels[1] / 1e6
    flops = max(limits["matmul GFLOP/s"], limits["conv3x3 GFLOP/s"])
    pixel_s = max(p["network s"] - p["context s"], 1e-9)
    return {
        "checkpoint": label, "ckpt": ckpt, "photos": n, "photo": p["photo"], "stylize args": args.stylize_args,
        "options": p["options"], "threads": p["threads"],
        "s/photo": statistics.median(per_photo), "s/photo range": [min(per_photo), max(per_photo)],
        "command s": whole, "one-photo command s": one,
        "start-up s": None if marginal is None else statistics.median(one) - marginal,
        "s/photo after start-up": marginal,
        "peak RSS MiB": max(peaks), "one-photo peak RSS MiB": max(one_peaks) if one_peaks else None,
        "decode s": p["decode s"], "decode of Pillow": megapixels / p["decode s"] / limits["Pillow decode MP/s"],
        "network s": p["network s"], "network GFLOP": p["network GFLOP"],
        "network of FLOP peak": p["network GFLOP"] / p["network s"] / flops,
        "context s": p["context s"], "context GFLOP": p["context GFLOP"],
        "context of FLOP peak": p["context GFLOP"] / p["context s"] / flops,
        "per-pixel s": pixel_s, "per-pixel of FLOP peak": (p["network GFLOP"] - p["context GFLOP"]) / pixel_s / flops,
        "per-pixel GB/s": 2 * p["network GB written"] / pixel_s,
        "per-pixel of copy bandwidth": 2 * p["network GB written"] / pixel_s / limits["copy GB/s"],
        "encode s": p["encode s"], "encode of Pillow": megapixels / p["encode s"] / limits["Pillow encode MP/s"],
    }  # fmt: skip


def table(rows: list[dict], limits: dict, threads: int) -> str:
    def s(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    def pct(x: float) -> str:
        return f"{x:.1%}" if x < 0.1 else f"{x:.0%}"

    lines = [
        f"machine ({threads} threads): float32 {limits['matmul GFLOP/s']:.0f} GFLOP/s in a matrix product, "
        f"{limits['conv3x3 GFLOP/s']:.0f} in a 3x3 convolution; {limits['copy GB/s']:.1f} GB/s copying; Pillow on "
        f"one thread decodes {limits['Pillow decode MP/s']:.0f} MP/s and encodes {limits['Pillow encode MP/s']:.0f} "
        f"MP/s of {limits['photo']} JPEG (quality 95, 4:4:4)",
        "",
        "| checkpoint | photos | s/photo (median, range) | start-up s | s/photo after start-up | peak RSS MiB "
        "| decode s (of Pillow) | network s (of FLOP peak) | context s (of peak) "
        "| per-pixel s (of peak; GB/s, of copy) | encode s (of Pillow) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        low, high = r["s/photo range"]
        lines.append(
            f"| {r['checkpoint']} | {r['photos']} x {r['photo']} | {s(r['s/photo'])} ({s(low)}-{s(high)}) "
            f"| {s(r['start-up s'])} | {s(r['s/photo after start-up'])} | {r['peak RSS MiB']:.0f} "
            f"| {s(r['decode s'])} ({pct(r['decode of Pillow'])}) | {s(r['network s'])} ({pct(r['network of FLOP peak'])}) "
            f"| {s(r['context s'])} ({pct(r['context of FLOP peak'])}) "
            f"| {s(r['per-pixel s'])} ({pct(r['per-pixel of FLOP peak'])}; {r['per-pixel GB/s']:.1f}, "
            f"{pct(r['per-pixel of copy bandwidth'])}) | {s(r['encode s'])} ({pct(r['encode of Pillow'])}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", nargs="+", required=True, help="checkpoints, each measured")
    parser.add_argument("--labels", nargs="+", help="a name for each checkpoint (default: its file name)")
    parser.add_argument("--count", type=int, default=12, help="photos in the catalogue")
    parser.add_argument("--megapixels", type=float, default=12.0, help="size of each photo (4:3)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each command (the median, and the range)"
    )
    parser.add_argument(
        "--stylize-args", default="", help='passed to the command, e.g. --stylize-args="--fast false"'
    )
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "photos")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "bench_catalogue")
    parser.add_argument("--out", type=Path, help="write the machine line's figures and the rows here (JSON)")
    parser.add_argument("--parts", type=Path, help=argparse.SUPPRESS)  # internal: PHOTO, in this process
    args = parser.parse_args()
    if args.parts:
        print(json.dumps(parts(args.ckpt[0], args.parts, args.stylize_args, args.repeats)))
        return
    labels = args.labels or [Path(c).name for c in args.ckpt]
    if len(labels) != len(args.ckpt):
        parser.error(f"{len(labels)} --labels for {len(args.ckpt)} --ckpt")
    args.workdir.mkdir(parents=True, exist_ok=True)
    folder = catalogue(args.shared, args.workdir, args.count, args.megapixels)
    first = list_images(folder)[0]
    threads = os.cpu_count() or 1
    with Image.open(first) as im:
        size = f"{im.width}x{im.height}"
    limits = {**machine_peaks(threads), **pillow_rates(first, args.repeats), "photo": size}
    print({k: round(v, 1) if isinstance(v, float) else v for k, v in limits.items()}, flush=True)
    rows = []
    for label, ckpt in zip(labels, args.ckpt, strict=True):
        rows.append(row(label, ckpt, folder, args.workdir, args, limits))
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()}, flush=True)
    print()
    print(table(rows, limits, threads))
    if args.out:
        args.out.write_text(
            json.dumps({"machine": {**limits, "threads": threads}, "rows": rows}, indent=1) + "\n"
        )


if __name__ == "__main__":
    main()
