"""What the ``lumastyle`` command prints: one line for a user's mistake, one line per warning, and
none of the libraries' messages a user can do nothing about.

- :func:`one_line_parse_error`: jsonargparse's multi-line report of a bad option or value as one line
  naming the key, what it expected and the ``--help`` to read.
- :func:`find_user_error`: the :class:`~lumastyle.errors.LumastyleError` behind an exception (the
  command prints it as ``error: ...`` and exits 2 instead of a traceback).
- :func:`one_line_warning`: the warnings format, ``warning: ...`` on one line.
- :func:`did_you_mean`: the nearest of the names a mistyped command or option could have been.
- :func:`wrote_line`: what a command wrote, in one line: the file, or the folder and how many.
- :func:`quiet_library_noise`: Lightning's advert for its cloud logger, a deprecation inside its own
  pytree helper, and its lines on every run (the seed, which accelerators are available) are dropped.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning_utilities.core.rank_zero as lightning_rank_zero

from lumastyle.errors import LumastyleError


def did_you_mean(word: str, names: Sequence[str], cutoff: float = 0.6) -> str:
    """`` (did you mean 'NAME'?)`` for the name nearest to ``word`` among ``names`` (difflib's
    ratio, at least ``cutoff``), else ''."""
    found = difflib.get_close_matches(word, list(dict.fromkeys(names)), n=1, cutoff=cutoff)
    return f" (did you mean '{found[0]}'?)" if found else ""


def one_line_parse_error(
    message: str,
    argv: Sequence[str] = (),
    commands: Sequence[tuple[str, ...]] = (),
    options: Sequence[str] = (),
    class_options: Sequence[str] = (),
) -> str:
    """jsonargparse's report of a bad option or value (a tree of lines: each key, each type it tried,
    the value) as one line, such as ``trainer.max_epochs: expected int, got 'x'; see 'lumastyle fit
    --help'``, for ``argv`` of a command among ``commands`` (each as its words). An unknown command
    or option gets the nearest of ``commands``, ``options`` (the command's ``--option`` strings) or
    ``class_options`` (the init arguments of the class the option belongs to, such as the DataModule's):
    :func:`did_you_mean`. Written by hand: jsonargparse has no short form of its messages."""
    names = [" ".join(words) for words in commands]
    command = next((w for w in argv if not w.startswith("-")), "")
    command = next((" ".join(w) for w in commands if len(w) > 1 and tuple(argv[: len(w)]) == w), command)
    groups = {w[0] for w in commands if len(w) > 1}  # words that start commands of their own: 'action'
    if command in groups and command not in names and len(argv) == 1:
        under = [n for n in names if n.startswith(f"{command} ")]
        return f"no command given after '{command}'; use: {', '.join(under)} (lumastyle {command} --help)"
    if command in groups and command not in names and len(argv) > 1:
        command = f"{command} {argv[1]}"  # a group's word and what followed it: 'action aply'
    if "argument subcommand: invalid choice" in message or "to be one of {" in message:
        given = (
            f"unknown command '{command}'{did_you_mean(command, names)}" if command else "no command given"
        )
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
        near = did_you_mean(unknown.group(1), class_options)
        near = near.replace("'", f"'--{key}.", 1) if near else ""
        help_of = (
            f"see 'lumastyle {command} --{key}.help {owner.group(1).rpartition('.')[2]}'" if owner else see
        )
        return f"{key}.{unknown.group(1)}: no such option{' of ' + owner.group(1) if owner else ''}{near}; {help_of}"
    unrecognized = re.match(r"unrecognized arguments: (\S+)", message)
    if unrecognized and options:
        given_option = unrecognized.group(1).split("=", 1)[0]
        # options share long prefixes (--trainer.): a near match must be nearer than a command's
        return f"{message.strip()}{did_you_mean(given_option, options, cutoff=0.8)}; {see}"
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


def shown(path: str | os.PathLike) -> str:
    """``path`` as a user would type it here: relative to the working folder when inside it."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def wrote_line(paths: Sequence[Path]) -> str:
    """What a command wrote, for its last line: ``wrote FILE`` for one file, ``wrote N files to
    FOLDER`` for several (the folder they share); a page among them (``.html``, first) is named too,
    as the file to open."""
    if len(paths) == 1:
        return f"wrote {shown(paths[0])}"
    folder = os.path.commonpath([os.path.abspath(p) for p in paths])
    line = f"wrote {len(paths)} files to {shown(folder)}"
    return line + f"; open {shown(paths[0])}" if paths[0].suffix == ".html" else line


#: Lightning's lines of every run that say nothing a user acts on: the seed (``seed_everything``),
#: which accelerators exist ("GPU available: False, used: False", TPU, HPU) and the CUDA devices seen.
ROUTINE = re.compile(
    r"^(\[rank: \d+\] )?(Seed set to|GPU available:|TPU available:|HPU available:|LOCAL_RANK: \d+ - CUDA_VISIBLE)"
)


def _worth_printing(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return "litlogger" not in message and not ROUTINE.match(message)


def quiet_library_noise() -> None:
    """Drop messages users can do nothing about: Lightning's advert for its cloud logger, a
    deprecation inside Lightning's own pytree helper (torch >= 2.14), and the :data:`ROUTINE` lines
    of every run (the seed is in the run's config.yaml; the accelerator used is the one asked for)."""
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    rank_zero = getattr(lightning_rank_zero, "log", None)  # the logger Lightning's rank_zero_info writes to
    # a filter acts on the records of its own logger only: each logger that writes one of them
    loggers = [
        rank_zero,  # rank_zero_info: the advert, GPU/TPU available
        logging.getLogger("lightning.fabric.utilities.seed"),  # Seed set to N
        logging.getLogger("lightning.pytorch.accelerators.cuda"),  # LOCAL_RANK: 0 - CUDA_VISIBLE_DEVICES
    ]
    for logger in loggers:
        if isinstance(logger, logging.Logger):
            logger.addFilter(_worth_printing)  # adding the same filter again is a no-op


def find_user_error(err: BaseException | None) -> LumastyleError | None:
    """The LumastyleError behind ``err``: jsonargparse wraps errors raised while it builds the DataModule."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, LumastyleError):
            return err
        seen.add(id(err))
        err = err.__cause__
    return None
