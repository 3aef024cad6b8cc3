"""The commands of ``lumastyle``: their names and sentences (:data:`COMMANDS`), ``lumastyle --help``
(:func:`help_page`), parse errors in one line (:func:`parse_error`), and the commands beside
LightningCLI's run from their functions' signatures (:func:`run_function`). Shared by the dispatcher
(:mod:`lumastyle.cli`) and LightningCLI's side (:mod:`lumastyle.training_cli`); imports no Lightning.
"""

from __future__ import annotations

import argparse
import importlib
import re
from collections.abc import Callable, Sequence
from typing import Any

from jsonargparse import ArgumentParser

from lumastyle.errors import LumastyleError
from lumastyle.messages import one_line_parse_error

#: The fit/validate/test/predict of LightningCLI (:mod:`lumastyle.training_cli`).
SUBCOMMANDS = ("fit", "validate", "test", "predict")
#: Commands beside LightningCLI's: words -> (``module:function``, whether its required arguments are
#: positional). Named, not imported: a command imports what it runs and no more (``stylize`` starts
#: without Lightning).
EXTRA_COMMANDS: dict[tuple[str, ...], tuple[str, bool]] = {
    ("stylize",): ("lumastyle.stylize:stylize", False),
    ("action", "apply"): ("lumastyle.actions:apply_action", True),
    ("plugins",): ("lumastyle.plugins:list_plugins", False),
    ("report",): ("lumastyle.report:report", True),
    ("export",): ("lumastyle.export:export", True),
    ("cache", "info"): ("lumastyle.cache_commands:cache_info", False),
    ("cache", "clear"): ("lumastyle.cache_commands:cache_clear", False),
}
#: Every command, with the one sentence ``lumastyle --help`` gives it (also the top of its own --help).
COMMANDS: dict[tuple[str, ...], str] = {
    ("fit",): "Train a style: --config a style file (or a style's name, such as spring), then presets.",
    ("validate",): "Measure a checkpoint (--ckpt_path) on the style's validation photos.",
    ("test",): "Measure a checkpoint (--ckpt_path) on the style's test photos, into its run's metrics.csv.",
    (
        "predict",
    ): "Stylize the style's test photos with a checkpoint (--ckpt_path), into its run's predictions/.",
    ("stylize",): "Apply a trained checkpoint or run folder to a photo or a folder of photos.",
    ("action", "apply"): "Render a look (a recipe, .cube, .3dl, Hald .png, .acv or .xmp) onto photos.",
    ("export",): "Write a checkpoint as an ONNX or torch.export model, a 3D LUT or a Lightroom preset.",
    ("report",): "Write an HTML page of a run's test photos, or of two runs side by side.",
    ("plugins",): "List the DataModules, heads, looks and styles installed, lumastyle's own and plugins'.",
    ("cache", "info"): "Show the context cache: its folder, entries, size, limit and oldest and newest use.",
    ("cache", "clear"): "Empty the context cache, except the entries of fits running now.",
}
DESCRIPTION = "Learn a photographer's colour style from before/after photo pairs, then apply it to photos."
EPILOG = """\
'lumastyle COMMAND --help' lists a command's options. A first run, offline on a CPU (the sample
photos and VGG-16's conv1-conv5 weights ship with lumastyle; minutes on 2 cores):
  lumastyle fit --config styles/spring.yaml --config configs/cpu-small.yaml
  lumastyle stylize --ckpt runs/spring --input PHOTOS --output OUT
"""
#: The end of fit/validate/test/predict --help: where the options of a style's classes are listed.
CLASS_HELP = (
    "A style's DataModule and head take options of their own (--data.root, --data.crop_size, "
    "--model.head.init_args.hidden, ...): 'lumastyle fit --data.help PairDataModule' lists a "
    "DataModule's (also LookDataModule, FiveKDataModule, PPR10KDataModule; 'lumastyle plugins' lists "
    "them all), 'lumastyle fit --model.head.help QuadraticHead' a head's. --config also takes a style "
    "by name (--config spring)."
)



def help_page(group: tuple[str, ...] = ()) -> str:
    """``lumastyle --help`` (``group`` ``("action",)``: ``lumastyle action --help``): every command
    under ``group`` with its sentence of :data:`COMMANDS`, formatted by argparse."""
    parser = argparse.ArgumentParser(
        prog=" ".join(("lumastyle", *group)),
        description=DESCRIPTION if not group else f"Commands of 'lumastyle {' '.join(group)}'.",
        epilog=EPILOG if not group else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for words, sentence in COMMANDS.items():
        if words[: len(group)] == group and len(words) > len(group):
            commands.add_parser(" ".join(words[len(group) :]), help=sentence)
    return parser.format_help()


def first_paragraph(doc: str | None) -> str:
    """A docstring's first paragraph as one line (its summary, however many lines it takes)."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def option_names(parser: Any) -> list[str]:
    """Every ``--option`` string ``parser`` takes (argparse keeps them on its actions)."""
    return [name for action in parser._actions for name in action.option_strings if name.startswith("--")]


def _init_options(message: str) -> list[str]:
    """The init arguments of the class a jsonargparse message names (``given class_path 'X'``)."""
    found = re.search(r"given class_path '([^']+)'", message)
    if not found:
        return []
    module, _, name = found.group(1).rpartition(".")
    try:
        parser = ArgumentParser(exit_on_error=False)
        parser.add_class_arguments(getattr(importlib.import_module(module), name), fail_untyped=False)
    except Exception:  # an import or signature problem: no suggestion, the error line stays
        return []
    return [name.removeprefix("--") for name in option_names(parser)]


def parse_error(message: str, argv: Sequence[str], parser: Any = None) -> str:
    """The one line of a parse error of ``argv`` (:func:`lumastyle.messages.one_line_parse_error`),
    with the options of ``parser`` (the command's) to suggest from."""
    commands = [(name,) for name in SUBCOMMANDS] + list(EXTRA_COMMANDS)
    options = option_names(parser) if parser is not None else []
    return one_line_parse_error(message, argv, commands, options, _init_options(message))


def run_function(name: str, function: Callable[..., Any], positional: bool, argv: Sequence[str]) -> Any:
    parser = ArgumentParser(
        prog=f"lumastyle {name}",
        description=COMMANDS.get(tuple(name.split()), first_paragraph(function.__doc__)),
        exit_on_error=False,
        allow_abbrev=False,  # as the other commands: --ckp must not silently mean --ckpt
    )
    # no group titled with the docstring's first line (a sentence cut where the line ends)
    parser.add_function_arguments(function, fail_untyped=True, as_positional=positional, as_group=False)
    try:
        cfg = parser.parse_args(list(argv))
    except argparse.ArgumentError as err:
        raise LumastyleError(parse_error(str(err), [*name.split(), *argv], parser)) from None
    return function(**cfg.as_dict())


def command_function(words: tuple[str, ...]) -> tuple[Callable[..., Any], bool]:
    """The function of an :data:`EXTRA_COMMANDS` command, imported now, and whether its arguments are
    positional."""
    path, positional = EXTRA_COMMANDS[words]
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name), positional
