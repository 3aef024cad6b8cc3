"""Paths written in config files do not climb out of their folder by accident.

Contract: :func:`check_config_file` reads a ``--config`` file (a style, a preset, a config of your
own) and raises a one-line :class:`~lumastyle.errors.LumastyleError` at the first string value, at
any depth (``data.init_args.root``, ``data.init_args.photos``, ``data.init_args.action``,
``trainer.default_root_dir``, ``trainer.logger[0].init_args.save_dir``, a plugin's own options), that
is a relative path climbing above the folder it is read from through ``..`` (:func:`climbs_out`:
``../x``, ``a/../../x``, ``..\\x``). The line names the file, the key and the value, and says what to
do: write an absolute path, or give the value on the command line.

Relative paths in a config are read from the folder lumastyle runs in (jsonargparse keeps the
values as written: lumastyle's path options are plain strings, not its path types), as before; the
check does not change that. What passes: absolute paths (``/data/x``, ``C:\\x``, ``~/x``: explicit),
URLs (``s3://...``), ``..`` that stays inside (``a/../b``), names that merely contain dots
(``a..b``), text that is not a path (``see ../x``), interpolations (``${trainer.default_root_dir}``,
resolved after the files are merged), and every value given on the command line (``--data.root
../x``: the user's own typing). A file that is not there or not YAML is left to jsonargparse, which
names it. A run's own ``config.yaml`` (beside its ``checkpoints/``, :func:`is_run_config`) records
command-line values as typed and is not checked. Split files have the stricter rule of
:func:`lumastyle.data.splits.read_split_file`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import yaml

from lumastyle.errors import LumastyleError


def climbs_out(value: str) -> bool:
    """Whether ``value``, a relative path, goes above its starting folder through ``..`` (either
    separator). Absolute paths, ``~`` paths and URLs do not: they say where they go."""
    if "://" in value or value.startswith("~"):
        return False
    windows = PureWindowsPath(value)  # splits on both separators; a drive or root is absolute
    if PurePosixPath(value).is_absolute() or windows.drive or windows.root:
        return False
    depth = 0
    for part in windows.parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part != ".":
            depth += 1
    return False


def _strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, value) of every string in a parsed YAML document, lists as ``key[i]``."""
    if isinstance(node, str):
        yield key, node
    elif isinstance(node, dict):
        for name, value in node.items():
            yield from _strings(value, f"{key}.{name}" if key else str(name))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, f"{key}[{i}]")


def check_config_file(path: str | os.PathLike) -> None:
    """Raise a one-line LumastyleError at the first value of the config file ``path`` that
    :func:`climbs_out` (see the module's contract); a file that cannot be read is not checked."""
    if is_run_config(Path(path)):
        return  # lumastyle wrote it: it records what was typed on the command line, '..' and all
    try:
        content = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return  # not there or not YAML: jsonargparse names it in its own line
    for key, value in _strings(content):
        if climbs_out(value):
            option = "" if "[" in key else f" (--{key.replace('.init_args.', '.')})"
            raise LumastyleError(
                f"{path}: {key} '{value}' reaches outside the current folder through '..' (a relative "
                "path in a config is read from the folder lumastyle runs in); write an absolute path "
                f"if you mean it, or give it on the command line{option}"
            )


def is_run_config(path: Path) -> bool:
    """Whether ``path`` is a run's own record of its configuration (``config.yaml``, or ``test-``/
    ``predict-config.yaml``, beside the run's ``checkpoints/``), written by lumastyle from what was
    given, command-line values included: given back as ``--config`` it is not checked."""
    return path.name.endswith("config.yaml") and (path.parent / "checkpoints").is_dir()


def check_config_files(paths: Sequence[str | os.PathLike]) -> None:
    """:func:`check_config_file` for each of ``paths`` (the ``--config`` files of a command), in order."""
    for path in paths:
        check_config_file(path)
