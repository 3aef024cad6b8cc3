"""``lumastyle cache info`` and ``lumastyle cache clear``: what the context cache holds, and emptying it.

Both take ``--folder`` (default: ``$LUMASTYLE_CACHE``, else ``~/.cache/lumastyle/context``; a run given
``--model.context.cache DIR`` uses DIR). ``clear`` removes every entry except those of running fits
(:func:`lumastyle.cache.in_use`): a fit reads its entries until it ends, so removing them would stop it;
it says how many it kept, and ``clear`` again after those fits end removes them. Temporary files of a
build that was killed are removed once they are an hour old (a younger one may still be written).
"""

from __future__ import annotations

import datetime
import os
import time
from contextlib import suppress
from pathlib import Path

from lumastyle.cache import LOCKS, default_folder, default_limit, format_size, in_use, stored_entries
from lumastyle.errors import LumastyleError

#: A temporary file older than this is left by a killed build.
STALE_PART_S = 3600


def _folder(folder: str | None) -> Path:
    path = default_folder() if folder is None else Path(folder).expanduser()
    if path.exists() and not path.is_dir():
        raise LumastyleError(f"{path}: not a folder; give the context cache folder (--folder DIR)")
    return path


def _when(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M")


def _parts(folder: Path) -> list[Path]:
    """Temporary files of entries being written (or left by a killed build)."""
    return [p for p in folder.glob(".*.part.pt") if p.is_file()] if folder.is_dir() else []


def cache_info(folder: str | None = None) -> None:
    """Show the context cache: its folder, entries and their size, its limit, the oldest and newest use.

    Args:
        folder: the cache folder (default: $LUMASTYLE_CACHE, else ~/.cache/lumastyle/context).
    """
    path = _folder(folder)
    entries = stored_entries(path)
    limit = default_limit()
    size = sum(s.size for s in entries)
    source = (
        "LUMASTYLE_CACHE_LIMIT"
        if os.environ.get("LUMASTYLE_CACHE_LIMIT")
        else "default; LUMASTYLE_CACHE_LIMIT sets it"
    )
    print(f"folder: {path}{'' if path.is_dir() else ' (not created yet)'}")
    print(f"entries: {len(entries)}, {format_size(size)}")
    print(f"limit: {format_size(limit) if limit is not None else 'none'} ({source})")
    if entries:
        print(f"last used: oldest {_when(entries[0].used)}, newest {_when(entries[-1].used)}")
    names, fits = in_use(path) if path.is_dir() else (set(), 0)
    if fits:
        print(f"in use: {len(names)} entries by {fits} running fit(s)")
    parts = _parts(path)
    if parts:
        print(f"being written or left by a killed build: {len(parts)} temporary file(s)")


def cache_clear(folder: str | None = None) -> None:
    """Empty the context cache, except the entries of fits running now.

    Args:
        folder: the cache folder (default: $LUMASTYLE_CACHE, else ~/.cache/lumastyle/context).
    """
    path = _folder(folder)
    names, fits = in_use(path) if path.is_dir() else (set(), 0)
    removed = kept = 0
    size = 0
    for s in stored_entries(path):
        if s.path.name in names:
            kept += 1
            continue
        try:
            s.path.unlink()
        except FileNotFoundError:
            continue
        except OSError as err:  # another user's entry in a shared folder, a read-only mount
            raise LumastyleError(
                f"cannot remove {s.path} ({err.strerror or err}); removed {removed} entries before it; "
                "check the folder's permissions"
            ) from None
        (path / LOCKS / f"{s.path.name}.lock").unlink(missing_ok=True)
        removed += 1
        size += s.size
    now = time.time()
    for part in _parts(path):
        with suppress(FileNotFoundError):  # written meanwhile: renamed onto its entry
            if now - part.stat().st_mtime > STALE_PART_S:
                part.unlink()
    line = f"removed {removed} entries ({format_size(size)}) from {path}"
    if kept:
        line += f"; kept {kept} in use by {fits} running fit(s): clear again after they end"
    print(line)
