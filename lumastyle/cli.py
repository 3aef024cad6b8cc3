"""The ``lumastyle`` command: LightningCLI's fit/validate/test/predict plus ``stylize``, ``action
apply``, ``export``, ``report``, ``plugins`` and ``cache info|clear``.

This module dispatches: fit/validate/test/predict go to LightningCLI (:mod:`lumastyle.training_cli`,
imported only for them), the other commands to their functions (:mod:`lumastyle.commands`), so
``stylize`` starts without importing Lightning. The run folders (names, versions, resuming) are
:mod:`lumastyle.runs` and what the command prints (one-line errors and warnings) is
:mod:`lumastyle.messages`. A path in a ``--config`` file that climbs out through ``..`` is one line
before anything is parsed (:mod:`lumastyle.config_paths`). ``lumastyle --help`` lists every command
of :data:`COMMANDS` with its one sentence; each command says where it wrote (the file, or the folder
and how many).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lumastyle.backbone import ImageNetUnavailable
from lumastyle.commands import (  # noqa: F401  (COMMANDS, SUBCOMMANDS: the commands, named here too)
    COMMANDS,
    EXTRA_COMMANDS,
    SUBCOMMANDS,
    command_function,
    help_page,
    parse_error,
    run_function,
)
from lumastyle.messages import find_user_error, one_line_warning, quiet_library_noise, shown, wrote_line
from lumastyle.plugins import load_plugins

if TYPE_CHECKING:
    from lumastyle.training_cli import LumaStyleCLI


def _cpu_preset_command(argv: Sequence[str]) -> str:
    """``argv`` (a fit) with the CPU preset added after its last ``--config``: the command that trains
    without torchvision's download."""
    preset = Path("configs") / "cpu-small.yaml"
    if not preset.is_file():  # run from elsewhere: the repository's, where lumastyle runs from a clone
        beside = Path(__file__).resolve().parents[1] / "configs" / "cpu-small.yaml"
        preset = Path(shown(beside)) if beside.is_file() else preset
    words = list(argv)
    last = max(
        (i for i, w in enumerate(words) if w in ("--config", "-c") or w.startswith("--config=")), default=-1
    )
    at = last + (1 if last >= 0 and "=" in words[last] else 2) if last >= 0 else len(words)
    words[at:at] = ["--config", str(preset)]
    return "lumastyle " + " ".join(words)


def main(args: Sequence[str] | None = None) -> None:
    """Entry point of the ``lumastyle`` console script (``args``: its arguments, default sys.argv[1:])."""
    argv = list(sys.argv[1:] if args is None else args)
    formatwarning = warnings.formatwarning
    warnings.formatwarning = one_line_warning
    try:
        with warnings.catch_warnings():  # the filters set while running stay with this run
            quiet_library_noise()
            _run(argv)
    finally:
        warnings.formatwarning = formatwarning
        if "wandb" in sys.modules and sys.modules["wandb"].run is not None:
            sys.modules[
                "wandb"
            ].finish()  # a run that stopped early: the next command of this process starts afresh


def build_cli(argv: Sequence[str], run: bool = True) -> LumaStyleCLI:
    """:func:`lumastyle.training_cli.build_cli` (imported now: only the commands that train, evaluate or
    predict import Lightning)."""
    from lumastyle.training_cli import build_cli as build

    return build(argv, run)


def _help_asked(argv: Sequence[str]) -> str | None:
    """The page of ``lumastyle --help`` or ``lumastyle action --help``, when that is what was asked."""
    if argv[:1] in (["-h"], ["--help"]):
        return help_page()
    if argv[:1] in (["action"], ["cache"]) and len(argv) > 1 and argv[1] in ("-h", "--help"):
        return help_page((argv[0],))
    return None


def _run(argv: list[str]) -> None:
    page = _help_asked(argv)
    if page is not None:
        print(page, end="")
        return
    try:
        load_plugins()  # before anything is parsed: plugins' classes, heads, looks and styles resolve
        words = next((w for w in EXTRA_COMMANDS if tuple(argv[: len(w)]) == w), None)
        if words is not None:
            function, positional = command_function(words)
            rest = argv[len(words) :]
            if words == ("report",) and len(rest) > 1 and not rest[1].startswith("-"):
                rest = [rest[0], "--compare", *rest[1:]]  # lumastyle report RUN_A RUN_B
            written = run_function(" ".join(words), function, positional, rest)
            if isinstance(written, list) and written:
                print(wrote_line(written))
            return
        build_cli(argv)
    except argparse.ArgumentError as err:
        print(f"error: {parse_error(str(err), argv)}", file=sys.stderr)
        sys.exit(2)
    except Exception as err:
        user_error = find_user_error(err)
        if user_error is None:
            raise
        if isinstance(user_error, ImageNetUnavailable) and argv[:1] == ["fit"]:
            user_error = ImageNetUnavailable(user_error.reason, _cpu_preset_command(argv))
        print(f"error: {user_error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
