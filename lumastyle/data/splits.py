"""Seeded splits of a dataset's examples into train, validation and test, as pure functions.

The same names and seed give the same split on every machine and in every process: examples are
sorted by name, then shuffled by Python's ``random.Random(seed)`` (not torch's generator, which
training reseeds). Validation never takes test photos, so the best checkpoint is not chosen on them;
with three or more photos and a share asked for, at least one photo is held out.

Split files (a pairs folder's ``train.txt``, FiveK's and PPR10K's lists, the Uniform set's id files) are
read by :func:`read_split_file`: one name a line, and a line that would reach outside the dataset's
folder (absolute, or through ``..``) is a one-line error naming the file, the line and the value.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Protocol, TypeVar

from lumastyle.errors import LumastyleError


class Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


def shuffled(examples: list[T], seed: int) -> list[T]:
    """``examples`` sorted by name, then shuffled with ``seed``."""
    order = sorted(examples, key=lambda ex: ex.name)
    random.Random(seed).shuffle(order)
    return order


def held_out_count(n: int, fraction: float) -> int:
    """Photos held out of ``n``: at least one when a share is asked for and n >= 3."""
    return max(1, round(n * fraction)) if n >= 3 and fraction > 0 else 0


def seeded_split(examples: list[T], val_fraction: float, test_fraction: float, seed: int) -> dict[str, list[T]]:
    """{"train", "val", "test"}: seeded shares of ``examples`` (no test photos below three photos)."""
    order = shuffled(examples, seed)
    n = len(order)
    n_test = round(n * test_fraction) if n >= 3 else 0
    n_val = held_out_count(n, val_fraction)
    return {"val": order[:n_val], "test": order[n_val : n_val + n_test], "train": order[n_val + n_test :]}


def hold_out(train: list[T], fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """(train, val): a seeded ``fraction`` of the training examples held out for validation."""
    order = shuffled(train, seed)
    n_val = held_out_count(len(order), fraction)
    held = {ex.name for ex in order[:n_val]}
    return [ex for ex in train if ex.name not in held], order[:n_val]


def reaches_outside(name: str) -> bool:
    """Whether a listed name, joined to a folder, would leave it: absolute (``/x``, ``\\x``, ``C:x``) or
    with a ``..`` part (either separator). ``sub/x`` and ``a..b`` stay inside."""
    windows = PureWindowsPath(name)  # splits on both separators; a drive or root is absolute
    return PurePosixPath(name).is_absolute() or bool(windows.drive or windows.root) or ".." in windows.parts


def read_split_file(path: Path, drop_suffixes: Collection[str] = ()) -> list[str]:
    """The names a split file lists, one a line (surrounding blanks stripped, blank lines skipped; a name
    ending in one of ``drop_suffixes``, compared in lower case, loses it: ``a0001.jpg`` -> ``a0001``).
    A name that reaches outside the dataset's folder (:func:`reaches_outside`) is a one-line
    LumastyleError naming the file, the line number and the value."""
    names = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        name = line.strip()
        if name and reaches_outside(name):
            raise LumastyleError(
                f"{path}, line {number}: '{name}' is a path outside the dataset's folder (absolute or "
                "through '..'); list the photos' names relative to it, one a line"
            )
        suffix = PurePosixPath(name).suffix
        if suffix and suffix.lower() in drop_suffixes:
            name = name[: -len(suffix)]
        if name:
            names.append(name)
    return names
