"""The context cache: a frozen lower backbone's maps of each whole photo, computed once, kept on disk.

When conv1-conv5 do not train (``model.backbone.freeze: conv1-conv5`` or ``conv1-conv7``), their maps of a
photo are the same in every epoch and every run. :class:`ContextCache` computes them once per photo (and per
orientation, when training flips photos) on the **whole photo** at the training scale, stores them as
float16, and hands the training loader the window of each map that a crop's pixels read
(:func:`lumastyle.context.take_window`). So the head trains on crops while its context comes from the
whole photo, as at ``stylize`` time, and an epoch costs conv6/conv7 and the head on the crops alone.

A cached file is named by a hash of everything its maps depend on: the photo's content (a BLAKE2b
hash of the file's bytes, :func:`file_digest`; not its path, so a copied, moved or renamed pairs
folder finds its maps), how it is decoded, the long sides it was shrunk to, the orientation, and
:meth:`lumastyle.network.StyleNetwork.lower_fingerprint` (weights, input normalisation, scales,
padding, low-level radii, contrast, regions and photo-level statistics). A changed photo or changed
weights get a new file; a stale map is never served. Each photo is hashed once per process (and again
only when its size or modification time changes).

Several runs (or DDP processes, or users) may share one folder:

- Files are written atomically (a temporary file renamed onto the name), so no reader sees a
  half-written entry; two processes writing the same entry write the same maps, and the last rename
  wins. That is what makes sharing correct. On top of it, a lock per entry (``fcntl.flock`` on
  ``.locks/NAME.lock``, released by the kernel when its process dies, so never stale) shares the work:
  a process skips an entry another is building and comes back to it after its own, waiting for it then.
- Each entry holds a format version and a BLAKE2b checksum of its maps and their geometry
  (:func:`check_record`). A process checks an entry once, the first time it opens it (:meth:`build`
  checks every entry a run uses before training, so the loader's workers, which receive the cache
  object, only compare the file's identity with the one checked); a file cut short, with changed bytes,
  of another format or unreadable is rebuilt and named in one warning line, never read as maps.
- The folder has a size limit (:func:`default_limit`: ``$LUMASTYLE_CACHE_LIMIT``, default 20 GiB): after
  a build, the least recently used entries go first (use is the file's modification time, set when a
  process first uses the entry: many filesystems do not keep access times), never an entry of a
  running fit: each run lists the entries it uses in ``.in-use/`` (:func:`hold`), a list that counts
  while its process holds a lock on it (a dead run's list is removed).
- A full disk (or quota) while writing an entry is one warning line; that photo's maps stay in memory
  for this run (they go with the cache object to the loader's workers) and are not cached.

Locks and in-use lists need POSIX ``fcntl`` (Linux, macOS); elsewhere entries are still written
atomically and checked, and nothing protects a running fit's entries from another run's eviction.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import socket
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor
from tqdm.auto import tqdm

from lumastyle.backbone import STRIDE, UPPER_MARGIN
from lumastyle.context import ContextMap, take_window, window_length, window_origin
from lumastyle.errors import LumastyleError
from lumastyle.io import atomic_path

try:
    import fcntl
except ImportError:  # Windows: no flock; entries are still atomic and checked
    fcntl = None  # type: ignore[assignment]

#: Where the cache lives when ``model.context.cache`` is true: ``$LUMASTYLE_CACHE`` or this.
DEFAULT_FOLDER = "~/.cache/lumastyle/context"
#: Version of the key: entries named under an earlier key are not read (they are simply rebuilt).
KEY_VERSION = "content1"
#: Version of an entry's contents: an entry of another one (1: before checksums) is rebuilt.
FORMAT = 2
#: The size limit of the folder when ``$LUMASTYLE_CACHE_LIMIT`` is not set.
DEFAULT_LIMIT = 20 * 2**30
#: An entry's file name: 20 hex digits of the key's hash.
ENTRY = re.compile(r"^[0-9a-f]{20}\.pt$")
#: Subfolders: per-entry build locks, and the lists of entries running fits use.
LOCKS, IN_USE = ".locks", ".in-use"
#: Errors of a write that more space would have let through.
FULL = (errno.ENOSPC, errno.EDQUOT)
UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def default_folder() -> Path:
    return Path(os.environ.get("LUMASTYLE_CACHE") or DEFAULT_FOLDER).expanduser()


def parse_size(text: str) -> int | None:
    """Bytes of a size such as ``20G``, ``500MiB``, ``1.5t`` or ``123456`` (powers of 1024); ``none``,
    ``off`` or ``0``: no limit (None)."""
    found = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?\s*", text.lower())
    if text.strip().lower() in ("none", "off", "no", "false", "0"):
        return None
    if not found:
        raise LumastyleError(
            f"LUMASTYLE_CACHE_LIMIT: expected a size such as 20G, 500M or none, got {text!r}"
        )
    return int(float(found.group(1)) * UNITS[found.group(2)])


def default_limit() -> int | None:
    """The cache's size limit in bytes: ``$LUMASTYLE_CACHE_LIMIT`` (:func:`parse_size`), else 20 GiB."""
    text = os.environ.get("LUMASTYLE_CACHE_LIMIT")
    return DEFAULT_LIMIT if text is None or not text.strip() else parse_size(text)


def format_size(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError  # unreachable


def file_digest(path: Path) -> str:
    """BLAKE2b (20 bytes) of a file's bytes, read in 1 MiB blocks (hashlib.file_digest does this from
    Python 3.11 only)."""
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# -- an entry's contents: format, checksum ------------------------------------------------------


def record_checksum(record: dict[str, Any], name: str) -> str:
    """BLAKE2b of an entry's maps (their bytes, shapes and types), their geometry, its format and its
    file name (so an entry copied under another's name does not pass)."""
    digest = hashlib.blake2b(digest_size=16)
    features = record["features"]
    geometry = {
        "format": record.get("format"),
        "name": name,
        **{k: record[k] for k in ("scaled_hw", "pad", "stride", "photo_hw")},
        "maps": [[list(f.shape), str(f.dtype)] for f in features],
    }
    digest.update(json.dumps(geometry, sort_keys=True).encode())
    for f in features:
        # bytes of the (memory-mapped) map: numpy's view reads the pages without copying them
        digest.update(f.contiguous().view(torch.uint8).numpy().data)
    return digest.hexdigest()


def make_record(maps: Sequence[ContextMap], photo_hw: Sequence[int], name: str) -> dict[str, Any]:
    """The entry of one photo's maps (float16), with its format and checksum."""
    record: dict[str, Any] = {
        "format": FORMAT,
        "features": [m.features[0].to("cpu", torch.float16).contiguous() for m in maps],
        "scaled_hw": [list(m.scaled_hw) for m in maps],
        "pad": [int(m.pad) for m in maps],
        "stride": [int(m.stride) for m in maps],
        "photo_hw": list(photo_hw),
    }
    record["checksum"] = record_checksum(record, name)
    return record


def check_record(record: object, name: str) -> str | None:
    """What is wrong with an entry read as ``record`` under the file name ``name`` (None: nothing)."""
    if not isinstance(record, dict) or not isinstance(record.get("features"), list):
        return "not a context cache entry"
    if record.get("format") != FORMAT:
        found = record.get("format", 1)
        return f"written by another version of lumastyle (format {found}; this one reads {FORMAT})"
    try:
        checksum = record_checksum(record, name)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        return f"incomplete ({err})"
    return None if checksum == record.get("checksum") else "its bytes changed (checksum mismatch)"


def read_entry(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """An entry's record (tensors memory-mapped) and what is wrong with it (None: nothing; then the
    record). A missing file raises FileNotFoundError; any other failure to read is a reason."""
    try:
        record = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch.load's errors of a cut or changed file are of many types
        reason = " ".join(str(err).split())[:120] or type(err).__name__
        return None, f"cut short or unreadable ({reason})"
    problem = check_record(record, path.stem)
    return (None, problem) if problem else (record, None)


def write_file(path: Path, data: memoryview) -> None:
    """Write ``data`` into the file ``path`` (made empty first); a full disk raises OSError ENOSPC.
    Not fsynced: a machine that stops before the data reaches the disk leaves an entry whose checksum
    fails, which the next run rebuilds."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)


def identity(stat: os.stat_result) -> tuple[int, int, int]:
    """What identifies a file once checked: a rename onto its name makes a new inode, a cut changes
    its size; its modification time is not part of it (it marks the entry's use)."""
    return (stat.st_dev, stat.st_ino, stat.st_size)


# -- locks and the lists of entries running fits use ------------------------------------------------


@contextmanager
def entry_lock(folder: Path, name: str, wait: bool) -> Iterator[bool]:
    """Hold the build lock of entry ``name`` (``wait``: until it is free); yields whether it is held.
    Lock files are left in place: removing one another process may be waiting on would let two
    processes build at once (harmless, entries are atomic, but wasted). Written by hand with
    ``fcntl.flock`` (released by the kernel when the process dies: no stale locks)."""
    if fcntl is None:
        yield True
        return
    try:
        (folder / LOCKS).mkdir(exist_ok=True)
        fd = os.open(folder / LOCKS / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:  # a read-only lock folder or a full disk: build without the lock
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


#: The in-use lists this process holds: folder -> (open file holding the shared lock, its path).
_HELD: dict[str, tuple[int, Path]] = {}


def hold(folder: Path, names: Iterable[str]) -> None:
    """List ``names`` as used by this process in ``folder/.in-use/`` until :func:`release` or its end
    (another list of this process for the folder is replaced): eviction and ``lumastyle cache clear``
    leave them. The list counts while this process holds a shared lock on it."""
    release(folder)
    if fcntl is None:
        return
    try:
        (folder / IN_USE).mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".part", dir=folder / IN_USE)
    except OSError:
        return  # cannot write the list: the entries are simply not protected
    try:
        os.write(fd, "\n".join(names).encode())
        fcntl.flock(fd, fcntl.LOCK_SH)  # locked before it gets its name, so it is never seen unlocked
        path = folder / IN_USE / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.names"
        os.replace(tmp, path)
    except OSError:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        return
    _HELD[os.fspath(folder)] = (fd, path)


def release(folder: Path) -> None:
    """Remove this process's list of entries in use in ``folder`` (:func:`hold`)."""
    held = _HELD.pop(os.fspath(folder), None)
    if held is not None:
        held[1].unlink(missing_ok=True)
        os.close(held[0])


def in_use(folder: Path) -> tuple[set[str], int]:
    """Names of the entries running fits use (their lists in ``.in-use/`` whose lock is held), and how
    many fits; the list of a process that ended is removed."""
    names: set[str] = set()
    fits = 0
    if fcntl is None:
        return names, fits
    for path in sorted((folder / IN_USE).glob("*.names")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                # held: a running fit (this process's own list included); or a lock that cannot be
                # asked for here (NFS emulates flock with POSIX locks, which refuse an exclusive lock on
                # a file opened read-only): taken as held, so nothing a fit may use is evicted
                with suppress(OSError):
                    names.update(Path(path).read_text().split())
                fits += 1
                continue
            with suppress(OSError):  # another user's list in a shared folder stays
                path.unlink(missing_ok=True)  # nobody holds it: its process ended
        finally:
            os.close(fd)
    return names, fits


class Stored(NamedTuple):
    """An entry file in the folder: its path, size and last use (modification time)."""

    path: Path
    size: int
    used: float


def stored_entries(folder: Path) -> list[Stored]:
    """The entry files in ``folder`` (no temporary files, locks or lists), least recently used first."""
    found = []
    try:
        with os.scandir(folder) as listing:
            for item in listing:
                if ENTRY.match(item.name):
                    try:
                        stat = item.stat()
                    except FileNotFoundError:  # removed meanwhile by another process
                        continue
                    found.append(Stored(Path(item.path), stat.st_size, stat.st_mtime))
    except FileNotFoundError:
        return []
    return sorted(found, key=lambda s: s.used)


def evict(folder: Path, limit: int | None, keep: Iterable[str] = ()) -> tuple[int, int]:
    """Remove the least recently used entries until the folder's entries fit ``limit`` bytes, except
    ``keep`` (names) and the entries of running fits (:func:`in_use`); returns (entries removed, bytes
    of entries left)."""
    entries = stored_entries(folder)
    total = sum(s.size for s in entries)
    if limit is None or total <= limit:
        return 0, total
    protected = set(keep) | in_use(folder)[0]
    removed = 0
    for s in entries:
        if total <= limit:
            break
        if s.path.name in protected:
            continue
        try:
            s.path.unlink()
        except FileNotFoundError:  # another process evicted it first
            pass
        except OSError:
            continue
        (folder / LOCKS / f"{s.path.name}.lock").unlink(missing_ok=True)
        total -= s.size
        removed += 1
    return removed, total


class CacheEntry(NamedTuple):
    """One photo's context image as training sees it: which file, how it is shrunk and oriented."""

    photo: Path
    decode: str  #: qualified name of the example's decode function ('' for plain sRGB)
    long_side: int | None  #: the DataModule's ``long_side`` (the photo as training loads it)
    context_long_side: int | None  #: a further cap on the context copy (validation: stylize's)
    flipped: bool


@dataclass(frozen=True)
class ContextCache:
    """Cached lower-context maps of whole photos (see the module docstring).

    Args:
        folder: where the files go (shared by runs; safe to delete).
        fingerprint: :meth:`~lumastyle.network.StyleNetwork.lower_fingerprint` of the network.
        scales: the network's context scales (the first ``len(scales)`` maps get conv6's margin).
        limit: the folder's size limit in bytes (None: none); default :func:`default_limit`.
    """

    folder: Path
    fingerprint: str
    scales: tuple[float, ...]
    limit: int | None = field(default_factory=default_limit)
    #: (photo path, size, modification time) -> its content digest, so each photo is hashed once per
    #: process; goes with the cache object to the loader's workers
    digests: dict[tuple[str, int, int], str] = field(default_factory=dict, compare=False, repr=False)
    #: entry path -> :func:`identity` of the file this process checked; goes to the loader's workers,
    #: which then read those files without checking them again
    checked: dict[str, tuple[int, int, int]] = field(default_factory=dict, compare=False, repr=False)
    #: entry file name -> the record of an entry that could not be written (a full disk): this run's
    #: maps of that photo, kept in memory
    memory: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)

    def content(self, photo: Path) -> str:
        """The photo's content digest (:func:`file_digest`), hashed again only when its size or
        modification time changed."""
        stat = photo.stat()
        known = (os.fspath(photo), stat.st_size, stat.st_mtime_ns)
        if known not in self.digests:
            self.digests[known] = file_digest(photo)
        return self.digests[known]

    def path(self, entry: CacheEntry) -> Path:
        key = "|".join(
            str(x)
            for x in (
                KEY_VERSION,
                self.content(entry.photo),
                entry.decode,
                entry.long_side,
                entry.context_long_side,
                entry.flipped,
                self.fingerprint,
            )
        )
        return self.folder / f"{hashlib.sha1(key.encode()).hexdigest()[:20]}.pt"

    def check(self, path: Path) -> str | None:
        """Whether the entry at ``path`` is usable: None when it is (checked in this process, or now,
        its use then marked: :func:`os.utime`), else what is wrong; FileNotFoundError when missing."""
        stat = path.stat()
        if self.checked.get(os.fspath(path)) == identity(stat):
            return None
        problem = read_entry(path)[1]
        if problem is None:
            self.checked[os.fspath(path)] = identity(stat)
            # used now: least recently used goes first (atime is often not kept); another user's
            # file on a shared folder may refuse it: its use is then not marked
            with suppress(OSError):
                os.utime(path)
        return problem

    def _usable(self, path: Path, damaged: dict[str, str]) -> bool:
        """Whether the entry at ``path`` is in memory or on disk and sound; a damaged one goes into
        ``damaged`` (file name -> reason)."""
        if path.name in self.memory:
            return True
        try:
            problem = self.check(path)
        except FileNotFoundError:
            return False
        if problem is not None:
            damaged[path.name] = problem
        return problem is None

    def build(
        self,
        entries: Sequence[CacheEntry],
        image: Callable[[CacheEntry], Tensor],
        lower_context: Callable[[Tensor], list[ContextMap]],
        device: torch.device | str = "cpu",
    ) -> int:
        """Check every entry (once per process), compute and store each one missing or damaged, with a
        progress bar, and keep the folder under its limit; returns how many this process computed (an
        entry another process was building is waited for and read, not computed again). The entries
        are listed as in use (:func:`hold`) until :meth:`release`.

        Args:
            entries: what the loaders will ask for.
            image: an entry's context image, sRGB (3, H, W).
            lower_context: the network's :meth:`~lumastyle.network.StyleNetwork.lower_context`.
            device: where to compute.
        """
        paths = {e: self.path(e) for e in dict.fromkeys(entries)}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise LumastyleError(
                f"cannot create the context cache folder {self.folder} ({err.strerror}); set model.context.cache "
                "to a writable folder, or false"
            ) from None
        hold(self.folder, [p.name for p in paths.values()])
        damaged: dict[str, str] = {}
        missing = [e for e, p in paths.items() if not self._usable(p, damaged)]
        if damaged:
            name, reason = next(iter(damaged.items()))
            more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
            warnings.warn(
                f"context cache {self.folder}: entry {name}: {reason}{more}; rebuilding it, its maps are "
                "not read",
                stacklevel=2,
            )
        if not missing:
            return 0
        damaged_entries = {e for e in missing if paths[e].name in damaged}
        full: list[str] = []
        made = 0
        with torch.no_grad(), tqdm(total=len(missing), desc="caching context", unit="photo") as bar:
            later = []
            for entry in missing:  # first those no other process is building, then the others
                with entry_lock(self.folder, paths[entry].name, wait=False) as locked:
                    if not locked:
                        later.append(entry)
                        continue
                    if entry in damaged_entries or not self._usable(paths[entry], {}):  # built meanwhile?
                        self._make(entry, paths[entry], image, lower_context, device, full)
                        made += 1
                    bar.update()
            for entry in later:
                with entry_lock(self.folder, paths[entry].name, wait=True):
                    if not self._usable(paths[entry], {}):  # the other process built it: checked once
                        self._make(entry, paths[entry], image, lower_context, device, full)
                        made += 1
                    bar.update()
        if full:
            warnings.warn(
                f"context cache {self.folder}: the disk is full; {len(full)} photo(s) are not cached, their "
                "maps are kept in memory for this run; free space there, lower LUMASTYLE_CACHE_LIMIT, or set "
                "model.context.cache to another folder",
                stacklevel=2,
            )
        self.trim({p.name for p in paths.values()})
        return made

    def _make(
        self,
        entry: CacheEntry,
        path: Path,
        image: Callable[[CacheEntry], Tensor],
        lower_context: Callable[[Tensor], list[ContextMap]],
        device: torch.device | str,
        full: list[str],
    ) -> None:
        """Compute one entry and write it atomically; on a full disk keep it in memory (``full``)."""
        rgb = image(entry).to(device).unsqueeze(0)
        record = make_record(lower_context(rgb), rgb.shape[-2:], path.stem)
        # serialised in memory, then written by os.write: torch.save's own writer reports a full disk
        # as a RuntimeError with no errno ("unexpected pos ..."), which could not be told apart
        serialised = io.BytesIO()
        torch.save(record, serialised)
        try:
            with atomic_path(path) as tmp:
                write_file(tmp, serialised.getbuffer())
        except OSError as err:
            if err.errno not in FULL:
                raise
            self.memory[path.name] = record
            full.append(path.name)
            return
        self.checked[os.fspath(path)] = identity(path.stat())

    def trim(self, keep: set[str]) -> None:
        """Evict least recently used entries down to the limit (:func:`evict`), keeping ``keep``."""
        _, left = evict(self.folder, self.limit, keep)
        if self.limit is not None and left > self.limit:
            warnings.warn(
                f"context cache {self.folder}: {format_size(left)} of entries in use by running fits, over "
                f"its limit of {format_size(self.limit)}; nothing more can be evicted now; raise "
                "LUMASTYLE_CACHE_LIMIT (such as 100G) to keep them",
                stacklevel=3,
            )

    def release(self) -> None:
        """This process no longer uses its entries (:func:`release`): they may be evicted."""
        release(self.folder)

    def load(self, entry: CacheEntry) -> dict[str, Any]:
        """An entry's record (tensors memory-mapped), checked unless this process checked that file."""
        path = self.path(entry)
        if path.name in self.memory:
            return self.memory[path.name]
        try:
            stat = path.stat()
            if self.checked.get(os.fspath(path)) == identity(stat):
                return torch.load(path, map_location="cpu", mmap=True, weights_only=True)
            record, problem = read_entry(path)
        except FileNotFoundError:
            raise LumastyleError(
                f"{path}: context cache entry for {entry.photo} is missing; it is built before training "
                "(prepare_data) — was the cache folder emptied during the run?"
            ) from None
        if record is None:
            raise LumastyleError(
                f"{path}: context cache entry for {entry.photo}: {problem}; run again: the next run "
                "rebuilds it before training"
            )
        self.checked[os.fspath(path)] = identity(stat)
        return record

    def margin(self, index: int) -> int:
        """Cells of margin a window of map ``index`` carries (conv6's reach for backbone maps)."""
        return UPPER_MARGIN if index < len(self.scales) else 0

    def windows(
        self,
        entry: CacheEntry,
        photo_hw: tuple[int, int],
        top_left: tuple[int, int] = (0, 0),
        crop: int | None = None,
    ) -> list[dict[str, Tensor]]:
        """Per map, the window a crop reads (``crop`` pixels square from ``top_left`` of a ``photo_hw``
        photo; None: the whole map), as a dict of the :class:`~lumastyle.context.ContextWindow` fields."""
        record = self.load(entry)
        strides = record.get("stride") or [STRIDE] * len(record["features"])
        out = []
        for i, features in enumerate(record["features"]):
            scaled_hw, pad, stride = tuple(record["scaled_hw"][i]), record["pad"][i], strides[i]
            map_hw = tuple(features.shape[-2:])
            m = self.margin(i)
            if crop is None:
                origin, size = (0, 0), map_hw
            else:
                origin = window_origin(scaled_hw, pad, map_hw, photo_hw, top_left, stride)
                scale = self.scales[i] if i < len(self.scales) else 1.0
                n = window_length(crop, scale, stride)
                size = (n, n)
            window = take_window(features, origin[0] - m, origin[1] - m, size[0] + 2 * m, size[1] + 2 * m)
            out.append(
                {
                    "features": window,
                    "offset": torch.tensor(origin),
                    "map_hw": torch.tensor(map_hw),
                    "scaled_hw": torch.tensor(scaled_hw),
                    "pad": torch.tensor(pad),
                    "stride": torch.tensor(stride),
                }
            )
        return out


def entry_of(
    example: Any, long_side: int | None, context_long_side: int | None, flipped: bool = False
) -> CacheEntry:
    """The cache entry of a DataModule example (:class:`lumastyle.data.base.Example`)."""
    decode = example.decode
    name = "" if decode is None else f"{decode.__module__}.{decode.__qualname__}"
    return CacheEntry(example.input, name, long_side, context_long_side, flipped)


def entries_of(
    examples: Iterable[Any],
    long_side: int | None,
    context_long_side: int | None,
    orientations: Sequence[bool],
) -> list[CacheEntry]:
    """Cache entries of DataModule examples, each in every orientation."""
    return [
        entry_of(ex, long_side, context_long_side, flipped) for ex in examples for flipped in orientations
    ]
