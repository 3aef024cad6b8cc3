"""``lumastyle stylize``: apply a trained style to photos of any size, at full resolution.

The checkpoint loads through Lightning (:meth:`LumaStyle.from_checkpoint`) and every photo goes
through :func:`lumastyle.inference.stylize_tensor`, the path ``lumastyle predict`` also takes.
"""

from __future__ import annotations

import queue
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import torch
from tqdm.auto import tqdm

from lumastyle.errors import LumastyleError
from lumastyle.inference import check_strength, resolve_precision
from lumastyle.io import (
    DEFAULT_JPEG_QUALITY,
    OUTPUT_FORMATS,
    output_name,
    photos_at,
    read_photo,
    read_size,
    write_image,
)
from lumastyle.io import max_pixels as pixel_limit
from lumastyle.loading import LightningLoads, TrainedNetwork, load_network
from lumastyle.metadata import Metadata
from lumastyle.profiles import OUTPUT_PROFILES, srgb_profile
from lumastyle.runs import find_checkpoint


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise LumastyleError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise LumastyleError(f"device {device!r} asked for but no CUDA GPU is available; use --device cpu")
    return resolved


def stylize(
    ckpt: str,
    input: str,
    output: str,
    context_long_side: int | None = None,
    device: str = "auto",
    precision: Literal["auto", "32", "bf16", "bf16-context"] = "auto",
    batch_size: int | None = None,
    skip_existing: bool = False,
    on_bad_file: Literal["error", "skip"] = "error",
    max_pixels: int | None = None,
    format: Literal["auto", "jpeg", "png", "tiff"] = "auto",
    quality: int = DEFAULT_JPEG_QUALITY,
    fast: bool = True,
    strength: float = 1.0,
    output_profile: Literal["input", "srgb"] = "input",
) -> list[Path]:
    """Stylize a photo or a folder of photos with a trained checkpoint; outputs keep size and name.

    The output's format follows the input's (``format`` ``auto``): a JPEG gives a JPEG (same name and
    suffix, at ``quality`` with 4:4:4 chroma), PNG and TIFF keep their format, 16-bit depth and alpha,
    anything else becomes PNG. Outputs are written atomically into the output folder: an interrupted
    run leaves no partial file under a final name, and is restarted with ``--skip_existing``. Inputs
    are never written over, and two inputs that would write one file are a one-line error first.

    A photo that embeds an RGB colour profile is converted from it to sRGB, the network's space, and
    its output is converted back and embeds the same profile (``output_profile``); EXIF, XMP and IPTC
    are carried into the output, with the orientation reset (the pixels are upright) and the
    Software tag naming lumastyle (:mod:`lumastyle.profiles`, :mod:`lumastyle.metadata`).

    An 8-bit sRGB photo (most JPEGs) is read, stylized and written as its 8-bit levels: the bytes its
    float image would give, without making the whole photo float (:mod:`lumastyle.inference`). The
    checkpoint is loaded without Lightning (:func:`trained_network`).

    A folder streams through: a reader thread decodes the next batch of photos while the network runs
    on this one, and a writer thread encodes and writes finished ones, at most one batch ahead and two
    behind, so memory stays bounded for any number of photos. An error in either thread (a failed
    write) stops the run at the end of the batch being computed with its one-line error; the thread
    writing finishes or removes its file first, so nothing partial is left.

    Args:
        ckpt: checkpoint written by ``lumastyle fit``, or its run folder (``runs/NAME``: the newest
            version's best checkpoint, as ``report`` takes it; :func:`lumastyle.runs.find_checkpoint`).
        input: a photo, or a folder of photos.
        output: folder for the stylized photos (created if missing).
        context_long_side: long side of the copy the context is computed on (default: the training scale).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``32``, ``bf16`` (autocast; the colour layer stays float32), ``bf16-context`` (the
            context network alone in bf16), or ``auto``: bf16 on a
            GPU that supports it; on a CPU, the context alone in bf16 where the CPU computes in bf16
            natively (avx512_bf16, AMX) and a convolution timed at start-up runs faster in it, else 32
            (:func:`lumastyle.inference.resolve_precision`).
        batch_size: photos of the same size stylized together (default: 4 on a GPU, which keeps busy;
            1 on a CPU, which gains nothing from batches and holds less: a 12 MP photo is 144 MB in
            float32, and the reader and writer threads hold batches of their own; at most
            :data:`BATCH_PIXELS` pixels a batch, so memory stays bounded for any photo size).
        skip_existing: leave photos whose output already exists (a restarted run goes on where it stopped).
        on_bad_file: a photo that cannot be read stops the run (``error``) or is left out and named in
            one summary line at the end (``skip``).
        max_pixels: the largest photo read, in pixels (default 200 MP; a guard against decompression bombs).
        format: the output format: ``auto`` (follow the input, as above), ``jpeg`` (8-bit, alpha
            dropped), ``png`` or ``tiff`` (16-bit and alpha kept where the input has them); a photo
            whose suffix is not of the chosen format gets ``.jpg``, ``.png`` or ``.tif``.
        quality: JPEG quality, 1-100 (default 95); used for JPEG outputs only.
        fast: the fast path (:mod:`lumastyle.inference`): a colour-only model as a LUT, any other
            model's colour matrices predicted on the context copy's grid and interpolated at every
            pixel; ``--fast false`` runs the head at every pixel (the exact path; the difference is
            stated in benchmarks/README.md).
        strength: the look's amount, as Lightroom's profile Amount: 0 gives the photo back, 1 the learned
            look (the default), in between a blend in CIELab, up to 2 to exaggerate it; on the fast
            path's LUT the blend is baked into the table.
        output_profile: ``input`` (the input's colour profile, embedded; an untagged photo stays
            untagged sRGB) or ``srgb`` (sRGB pixels, with an sRGB profile embedded).
    """
    in_path, out_dir = Path(input).expanduser(), Path(output).expanduser()
    photos = photos_at(in_path, "--input")
    if out_dir.exists() and not out_dir.is_dir():
        raise LumastyleError(f"--output {out_dir} is a file; give a folder")
    if in_path.is_dir() and out_dir.exists() and out_dir.resolve() == in_path.resolve():
        raise LumastyleError(
            f"--output {out_dir} is the input folder; give another folder so inputs are kept"
        )
    if on_bad_file not in ("error", "skip"):
        raise LumastyleError(f"--on_bad_file must be 'error' or 'skip', got {on_bad_file!r}")
    if format not in OUTPUT_FORMATS:
        raise LumastyleError(f"--format must be one of {', '.join(OUTPUT_FORMATS)}, got {format!r}")
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise LumastyleError(
            f"--quality must be a JPEG quality from 1 to 100 (default {DEFAULT_JPEG_QUALITY}), got {quality!r}"
        )
    if output_profile not in OUTPUT_PROFILES:
        raise LumastyleError(
            f"--output_profile must be one of {', '.join(OUTPUT_PROFILES)}, got {output_profile!r}"
        )
    max_pixels = pixel_limit(max_pixels)  # a bad value stops here, before any photo is read
    check_strength(strength)  # and a bad --strength, before the checkpoint is loaded
    todo, existing = plan_outputs(photos, out_dir, format, skip_existing)
    dev = _resolve_device(device)
    model = trained_network(find_checkpoint(ckpt), dev)
    run_precision = resolve_precision(precision, dev)
    if batch_size is None:
        batch_size = 4 if dev.type == "cuda" else 1
    if batch_size < 1:
        raise LumastyleError(f"--batch_size must be at least 1, got {batch_size}")
    skipped: list[str] = []
    batches = _batches(todo, batch_size, max_pixels)
    # a with block: the bar is closed (its line ended), and both threads stopped, before an error line
    # is printed
    with (
        tqdm(total=len(todo), desc="stylizing", unit="photo", disable=len(todo) < 2) as bar,
        _Stream(batches, max_pixels, on_bad_file, bar, quality, output_profile) as stream,
    ):
        for loaded in stream.decoded():
            # a photo that cannot be read comes as its error (the reader stops after it with "error")
            unreadable = [item[2] for item in loaded if isinstance(item[2], LumastyleError)]
            groups = _same_size([item for item in loaded if not isinstance(item[2], LumastyleError)])
            del loaded  # each group's photos are let go once stacked (memory stays bounded)
            if unreadable and on_bad_file == "error":
                stream.finish()  # the photos of the batches before it are written, as when read one by one
                raise LumastyleError(f"{unreadable[0]} (or pass --on_bad_file skip)") from None
            for err in unreadable:
                where, _, reason = str(err).partition(": ")
                skipped.append(f"{where} ({reason})")
                bar.update()
            while groups:
                group = groups.pop(0)
                start = time.perf_counter()
                rgb = torch.stack([image[:3] for _, _, image, _ in group]).to(dev)
                # alpha is carried through unchanged (copied: the decoded photo itself can go now)
                done = [
                    (out, image[3:].clone() if image.shape[0] == 4 else None, depth)
                    for _, out, image, depth in group
                ]
                name = group[-1][0].name
                del group
                results = model.stylize(rgb, context_long_side, run_precision, fast=fast, strength=strength).cpu()
                del rgb
                bar.set_postfix_str(f"{name} {(time.perf_counter() - start) / len(done):.1f}s/photo")
                stream.write(
                    [
                        (out, result, alpha, depth)
                        for (out, alpha, depth), result in zip(done, results, strict=True)
                    ]
                )
                del results
    if existing:
        print(f"left {existing} photo(s) whose output exists (--skip_existing)")
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} unreadable photo(s) (--on_bad_file skip): {'; '.join(skipped)}",
            stacklevel=2,
        )
    return stream.written


def trained_network(ckpt: Path, device: torch.device) -> TrainedNetwork:
    """The checkpoint's network, loaded without Lightning (:func:`lumastyle.loading.load_network`), or
    through :class:`lumastyle.model.LumaStyle` for a checkpoint that needs it."""
    try:
        return load_network(ckpt, device)
    except LightningLoads:
        from lumastyle.model import LumaStyle  # only such a checkpoint pays for importing Lightning

        return LumaStyle.from_checkpoint(ckpt, map_location=device).trained_network()


#: The most pixels stylized in one batch (photos of one size): 4 photos of 12 MP.
BATCH_PIXELS = 48_000_000


def _batches(
    todo: list[tuple[Path, Path]], batch_size: int, max_pixels: int | None = None
) -> list[list[tuple[Path, Path]]]:
    """Runs of consecutive photos whose headers give the same size, at most ``batch_size`` photos and
    :data:`BATCH_PIXELS` pixels each (a photo whose header cannot be read goes alone: reading it says why)."""
    batches: list[list[tuple[Path, Path]]] = []
    last = None
    for photo, out in todo:
        try:
            size = read_size(photo, max_pixels)
        except LumastyleError:
            size = None
        fits = (
            batches
            and size is not None
            and size == last
            and len(batches[-1]) < batch_size
            and (len(batches[-1]) + 1) * size[0] * size[1] <= BATCH_PIXELS
        )
        if fits:
            batches[-1].append((photo, out))
        else:
            batches.append([(photo, out)])
        last = size
    return batches


def _same_size(loaded: list) -> list[list]:
    """``loaded`` (photo, output, image, depth) split where the decoded size (headers can lie) or the
    pixels' type (8-bit levels or float) changes."""
    groups: list[list] = []
    for item in loaded:
        last = groups[-1][0][2] if groups else None
        if last is not None and (last.shape[-2:], last.dtype) == (item[2].shape[-2:], item[2].dtype):
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


def plan_outputs(
    photos: list[Path],
    out_dir: Path,
    format: str = "auto",
    skip_existing: bool = False,
    option: str = "--output",
) -> tuple[list[tuple[Path, Path]], int]:
    """The (photo, output file) pairs still to write, each output in ``out_dir`` named by
    :func:`~lumastyle.io.output_name` for ``format``, and how many photos were left out because their
    output exists (``skip_existing``). An output that would be an input, or two photos writing one file
    (``a.png`` and ``a.tif`` both become ``a.jpg`` with ``--format jpeg``), is a one-line error naming
    ``option`` (the output folder's option) before anything is written. ``stylize`` and ``predict
    --data PhotoFolderDataModule`` (``data.output``) both plan with it, so a photo gets one name."""
    inputs = {p.resolve() for p in photos}
    todo: list[tuple[Path, Path]] = []
    taken: dict[Path, Path] = {}
    existing = 0
    for photo in photos:
        out = out_dir / output_name(photo, format)
        if out.resolve() in inputs:
            raise LumastyleError(
                f"{option} {out_dir}: stylizing {photo.name} would write over the input {out}; give another folder"
            )
        if out in taken:
            raise LumastyleError(
                f"{photo} and {taken[out]} would both be written to {out}; rename one or stylize them apart"
            )
        taken[out] = photo
        if skip_existing and out.is_file():
            existing += 1
        else:
            todo.append((photo, out))
    return todo, existing


#: Seconds a thread of :class:`_Stream` waits on a queue before it looks again whether the run stopped.
_POLL = 0.05


class _Stream:
    """The reader and writer threads of one ``stylize`` run, so decoding and encoding overlap with the
    network (Pillow, tifffile and zlib let go of the GIL while they work).

    The reader decodes ``batches`` in order, at most one batch ahead of the one being computed
    (:meth:`decoded` yields each as a list of ``(photo, output, image, depth)``, where ``image`` is the
    :class:`LumastyleError` of a photo that cannot be read; with ``on_bad_file`` ``error`` the reader
    stops after it). :meth:`write` hands finished ``(output, result, alpha, depth)`` photos to the
    writer, which writes them in order (appending to :attr:`written`, one bar update a photo); it
    blocks while a batch is being written and another waits, so memory stays bounded. Each photo's
    colour profile and metadata go from the reader to the writer beside the batches (keyed by the
    output), so the main thread handles pixels alone.

    The first exception in either thread stops both, and the main thread raises it at its next call.
    Leaving the ``with`` block normally waits until everything is written (:meth:`finish`); leaving it
    on an error or Ctrl-C stops both threads, each after its current photo (the writer's file is
    finished or removed: atomic writes, nothing partial is left), and waits for them. Both threads
    are daemons: a second Ctrl-C never hangs on them.
    """

    def __init__(
        self,
        batches: list[list[tuple[Path, Path]]],
        max_pixels: int,
        on_bad_file: str,
        bar: Any,
        quality: int,
        output_profile: str = "input",
    ) -> None:
        self.written: list[Path] = []
        self._output_profile = output_profile
        self._info: dict[Path, tuple[bytes | None, Metadata]] = {}  # output -> (profile, metadata)
        self._batches, self._max_pixels, self._on_bad_file = batches, max_pixels, on_bad_file
        self._bar, self._quality = bar, quality
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._ahead = threading.Semaphore(1)  # decoded batches not yet taken, plus the one decoding
        self._decoded: queue.Queue[list[tuple[Path, Path, Any, int]]] = queue.Queue()
        self._finished: queue.Queue[list[tuple[Path, torch.Tensor, torch.Tensor | None, int]] | None] = (
            queue.Queue(maxsize=1)
        )
        self._reader = threading.Thread(
            target=self._run, args=(self._read,), name="lumastyle-reader", daemon=True
        )
        self._writer = threading.Thread(
            target=self._run, args=(self._write,), name="lumastyle-writer", daemon=True
        )

    def __enter__(self) -> _Stream:
        self._reader.start()
        self._writer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.finish()
            return
        self._stop.set()
        for thread in (self._writer, self._reader):  # each stops after its current photo
            while thread.is_alive():  # a join with a timeout: Ctrl-C still interrupts it
                thread.join(_POLL)

    # -- the main thread's side ---------------------------------------------------------------------

    def decoded(self) -> Iterator[list[tuple[Path, Path, Any, int]]]:
        """Each batch decoded, in order."""
        for _ in self._batches:
            yield self._take()

    def write(self, photos: list[tuple[Path, torch.Tensor, torch.Tensor | None, int]] | None) -> None:
        """Hand finished photos to the writer (``None``: there are no more)."""
        while True:
            self._check()
            try:
                self._finished.put(photos, timeout=_POLL)
                return
            except queue.Full:
                if not self._writer.is_alive():
                    self._check()
                    raise RuntimeError("the writer thread stopped early") from None

    def finish(self) -> None:
        """Wait until every photo handed over is written; raise the first error of either thread."""
        if self._writer.is_alive():
            self.write(None)
        while self._writer.is_alive():
            self._writer.join(_POLL)
        self._check()
        self._stop.set()  # the reader, if a bad photo stopped the run before the end
        while self._reader.is_alive():
            self._reader.join(_POLL)

    def _take(self) -> list[tuple[Path, Path, Any, int]]:
        while True:
            self._check()
            try:
                loaded = self._decoded.get(timeout=_POLL)
            except queue.Empty:
                if not self._reader.is_alive() and self._decoded.empty():
                    self._check()
                    raise RuntimeError("the reader thread stopped early") from None
                continue
            self._ahead.release()
            return loaded

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    # -- the threads --------------------------------------------------------------------------------

    def _run(self, body: Callable[[], None]) -> None:
        try:
            body()
        except BaseException as err:  # handed to the main thread, which raises it
            if self._error is None:
                self._error = err
            self._stop.set()

    def _wait(self, acquire: Callable[..., bool]) -> bool:
        while not self._stop.is_set():
            if acquire(timeout=_POLL):
                return True
        return False

    def _read(self) -> None:
        for batch in self._batches:
            if not self._wait(self._ahead.acquire):
                return
            loaded: list[tuple[Path, Path, Any, int]] = []
            for photo, out in batch:
                if self._stop.is_set():
                    return
                try:
                    # an 8-bit sRGB photo stays 8-bit levels to its output (stylize_tensor, write_image)
                    read = read_photo(photo, alpha=True, max_pixels=self._max_pixels, levels=True)
                    self._info[out] = (read.profile, read.metadata)
                    loaded.append((photo, out, read.image, read.bit_depth))
                    del read
                except LumastyleError as err:
                    loaded.append((photo, out, err, 0))
                    if self._on_bad_file == "error":
                        self._decoded.put(loaded)
                        return
            self._decoded.put(loaded)
            del loaded

    def _write(self) -> None:
        while not self._stop.is_set():
            try:
                photos = self._finished.get(timeout=_POLL)
            except queue.Empty:
                continue
            if photos is None:
                return
            self._write_all(photos)
            del photos  # the batch's memory goes before the next one is waited for

    def _write_all(self, photos: list[tuple[Path, torch.Tensor, torch.Tensor | None, int]]) -> None:
        while photos:
            out, result, alpha, depth = photos.pop(0)
            if self._stop.is_set():
                return
            image = result if alpha is None else torch.cat([result, alpha])
            profile, metadata = self._info.pop(out, (None, None))
            if self._output_profile == "srgb":
                profile = srgb_profile()
            self.written.append(
                write_image(
                    out, image, bit_depth=depth, quality=self._quality, profile=profile, metadata=metadata
                )
            )
            self._bar.update()
