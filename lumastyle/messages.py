"""What the ``lumastyle`` command prints: one line for a user's mistake, one line per warning, and
none of the libraries' messages a user can do nothing about.

- :func:`one_line_parse_error`: jsonargparse's multi-line report of a bad option or value as one line
  naming the key, what it expected and the ``--help`` to read.
- :func:`find_user_error`: the :class:`~lumastyle.errors.LumastyleError` behind an exception (the
  command prints it as ``error: ...`` and exits 2 instead of a traceback).
- :func:`one_line_warning`: the warnings format, ``warning: ...`` on one line.
- :func:`quiet_library_noise`: Lightning's advert for its cloud logger and a deprecation inside its
  own pytree helper are dropped.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Sequence
from typing import Any

import lightning_utilities.core.rank_zero as lightning_rank_zero

from lumastyle.errors import LumastyleError


def one_line_parse_error(
    message: str, argv: Sequence[str] = (), commands: Sequence[tuple[str, ...]] = ()
) -> str:
    """jsonargparse's report of a bad option or value (a tree of lines: each key, each type it tried,
    the value) as one line, such as ``trainer.max_epochs: expected int, got 'x'; see 'lumastyle fit
    --help'``, for ``argv`` of a command among ``commands`` (each as its words). Written by hand:
    jsonargparse has no short form of its messages."""
    names = [" ".join(words) for words in commands]
    command = next((w for w in argv if not w.startswith("-")), "")
    command = next((" ".join(w) for w in commands if len(w) > 1 and tuple(argv[: len(w)]) == w), command)
    if "argument subcommand: invalid choice" in message or "to be one of {" in message:
        given = f"unknown command '{command}'" if command else "no command given"
        return f"{given}; use one of: {', '.join(names)} (lumastyle --help)"
    see = (
        f"see 'lumastyle {command} --help'"
        if command in names or command == "action"
        else "see 'lumastyle --help'"
    )
    key = ".".join(re.findall(r'Parser key "([^"]+)"', message))
    values = [
        v
        for v in re.findall(r"Given value: (.*?)(?:\. Got value:.*)?$", message, re.MULTILINE)
        if "NestedArg(" not in v
    ]
    given = f", got {values[0]!r}" if values else ""
    unknown = re.search(r"Option '([^']+)' is not accepted", message)
    if key and unknown:
        owner = re.search(r"given class_path '([^']+)'", message)
        return f"{key}.{unknown.group(1)}: no such option{' of ' + owner.group(1) if owner else ''}; {see}"
    literals = re.findall(r"Expected a typing\.Literal\[(.*?)\]", message)
    if key and literals:
        got = re.search(r"Expected a typing\.Literal\[.*?\]\. Got value: (.*)$", message, re.MULTILINE)
        given = f", got {got.group(1)!r}" if got else given
        return f"{key}: expected one of {', '.join(literals)}{given}; {see}"
    types = [t.rpartition(".")[2] for t in re.findall(r"Expected a <class '([^']+)'>", message)]
    types = [t for t in dict.fromkeys(types) if t != "NoneType"] or ["null"]
    if key and re.search(r"Expected a <class", message):
        return f"{key}: expected {' or '.join(types)}{given}; {see}"
    lines = [line.strip(" -") for line in message.strip().splitlines() if line.strip(" -")]
    text = " ".join(lines).rstrip(".")
    return f"{text if len(text) <= 300 else text[:297] + '...'}; {see}"


def one_line_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> str:
    return f"warning: {message}\n"


def _not_an_advert(record: logging.LogRecord) -> bool:
    return "litlogger" not in record.getMessage()


def quiet_library_noise() -> None:
    """Drop two messages users can do nothing about: Lightning's advert for its cloud logger and a
    deprecation inside Lightning's own pytree helper (torch >= 2.14)."""
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    rank_zero = getattr(lightning_rank_zero, "log", None)  # the logger Lightning's rank_zero_info writes to
    if isinstance(rank_zero, logging.Logger):
        rank_zero.addFilter(_not_an_advert)  # adding the same filter again is a no-op


def find_user_error(err: BaseException | None) -> LumastyleError | None:
    """The LumastyleError behind ``err``: jsonargparse wraps errors raised while it builds the DataModule."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, LumastyleError):
            return err
        seen.add(id(err))
        err = err.__cause__
    return None
