"""The ``lumastyle`` command: LightningCLI's fit/validate/test/predict plus ``stylize``, ``action
apply``, ``export``, ``report``, ``plugins`` and ``cache info|clear``.

This module parses and dispatches; the run folders (names, versions, resuming) are
:mod:`lumastyle.runs` and what the command prints (one-line errors and warnings) is
:mod:`lumastyle.messages`. Importing the DataModules here makes their short class names
(``PairDataModule``) usable in YAML. A path in a ``--config`` file that climbs out through ``..`` is
one line before anything is parsed (:mod:`lumastyle.config_paths`). ``lumastyle --help`` lists every
command of :data:`COMMANDS` with its one sentence; each command says where it wrote (the file, or
the folder and how many).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from jsonargparse import ArgumentParser, set_parsing_settings
from lightning.pytorch.cli import LightningCLI, LRSchedulerCallable, OptimizerCallable

from lumastyle import data  # noqa: F401  (registers the DataModules for short class names)
from lumastyle.actions import apply_action
from lumastyle.backbone import ImageNetUnavailable
from lumastyle.cache_commands import cache_clear, cache_info
from lumastyle.callbacks import PredictionWriter, SaveConfig
from lumastyle.checkpoints import use_atomic_checkpoints
from lumastyle.config_paths import check_config_files
from lumastyle.data.base import StyleDataModule
from lumastyle.errors import LumastyleError
from lumastyle.export import export
from lumastyle.messages import (
    find_user_error,
    one_line_parse_error,
    one_line_warning,
    quiet_library_noise,
    shown,
    wrote_line,
)
from lumastyle.model import LumaStyle, check_checkpoint
from lumastyle.optim import DEFAULT_LR
from lumastyle.options import WEIGHTS_NOT_GIVEN
from lumastyle.plugins import list_plugins, load_plugins, resolve_config
from lumastyle.report import report
from lumastyle.runs import config_files, into_checkpoint_run, name_loggers, resume_last, same_version
from lumastyle.stylize import stylize

#: lumastyle's run settings, applied before any --config (see the files).
DEFAULTS = Path(str(resources.files("lumastyle") / "defaults"))
SUBCOMMANDS = ("fit", "validate", "test", "predict")
#: LumaStyle arguments set by the config's top-level blocks of the same names.
MODEL_OPTIMISATION = {"optimizer", "lr_scheduler"}

#: Commands beside LightningCLI's: words -> (function, whether its required arguments are positional).
EXTRA_COMMANDS: dict[tuple[str, ...], tuple[Callable[..., Any], bool]] = {
    ("stylize",): (stylize, False),
    ("action", "apply"): (apply_action, True),
    ("plugins",): (list_plugins, False),
    ("report",): (report, True),
    ("export",): (export, True),
    ("cache", "info"): (cache_info, False),
    ("cache", "clear"): (cache_clear, False),
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


class LumaStyleCLI(LightningCLI):
    """LightningCLI with lumastyle's run settings, one optimiser channel, run names and resuming.

    - ``lumastyle/defaults/run.yaml`` (trainer, logger, checkpoints, optimiser defaults) is applied
      before any ``--config``, so a style file holds only the style.
    - ``optimizer:`` and ``lr_scheduler:`` are the one place the optimiser and schedule are set; they
      reach the model's ``optimizer``/``lr_scheduler`` arguments (not options of their own), which
      its param groups use.
    - A logger whose ``name`` is null is named after the look or style; ``save_dir`` follows
      ``trainer.default_root_dir`` (``${trainer.default_root_dir}`` in run.yaml).
    - ``fit --ckpt_path last`` resumes the newest ``last.ckpt`` of the same run, in its own folder.
    - validate/test/predict with ``--ckpt_path`` build the model without downloading weights (the
      checkpoint has them).
    """

    def add_core_arguments_to_parser(self, parser: Any) -> None:
        # as LightningCLI's, except that the model's optimizer/lr_scheduler are not options of their
        # own: the top-level blocks are the one place to set them (see instantiate_classes)
        parser.add_lightning_class_args(self.trainer_class, "trainer")
        parser.add_class_arguments(
            self._model_class, "model", fail_untyped=False, sub_configs=True, skip=MODEL_OPTIMISATION
        )
        parser.add_lightning_class_args(self._datamodule_class, "data", subclass_mode=self.subclass_mode_data)

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any) -> Any:
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        # the group of the Trainer method's own arguments (--ckpt_path, ...) is titled with the first
        # line of its docstring, cut mid-sentence for test/predict; give it a title of its own
        for group in parser._action_groups:
            if any("--ckpt_path" in action.option_strings for action in group._group_actions):
                group.title = f"What '{subcommand}' starts from"
        return parser

    def init_parser(self, **kwargs: Any) -> Any:
        parser = super().init_parser(**kwargs)
        parser.exit_on_error = False  # a bad option or value is one line (main), not the usage block
        return parser

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        trainer = super().instantiate_trainer(**kwargs)
        use_atomic_checkpoints(trainer)  # a kill during a save keeps the previous checkpoint whole
        return trainer

    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        built = self.config_init[self.subcommand] if self.subcommand else self.config_init
        self.model.set_optimisation(built.get("optimizer"), built.get("lr_scheduler"))

    def add_arguments_to_parser(self, parser: Any) -> None:
        parser.add_argument(
            "--optimizer",
            type=OptimizerCallable | None,
            default={"class_path": "torch.optim.Adam", "init_args": {"lr": DEFAULT_LR}},
            help="The optimizer (class_path and init_args).",
        )
        parser.add_argument(
            "--lr_scheduler",
            type=LRSchedulerCallable | None,
            default={"class_path": "lumastyle.optim.LinearWarmup", "init_args": {"warmup_steps": 20}},
            help="The learning-rate schedule (class_path and init_args; null: none).",
        )

    def parse_arguments(self, parser: Any, args: Any) -> None:
        # main() always passes the arguments it was given; Lightning's warning about ``args`` given
        # beside a non-empty sys.argv (meant for notebooks) does not apply.
        try:
            self.config = parser.parse_args(args)
        except argparse.ArgumentError as err:  # one line, with the nearest option where one was mistyped
            command = getattr(self, "_subcommand_parsers", {}).get(args[0] if args else "", parser)
            raise LumastyleError(_parse_error(str(err), args, command)) from None
        self.config_files = config_files(args)

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        name_loggers(config, self.config_files)
        if self.subcommand == "fit" and config.get("ckpt_path") == "last":
            resume_last(config)
        if self.subcommand in ("test", "predict") and into_checkpoint_run(config) is not None:
            # the run's own config.yaml stays the training one (report rebuilds its split from it)
            self.save_config_kwargs["config_filename"] = f"{self.subcommand}-config.yaml"
        same_version(config)
        if self.subcommand != "fit" and config.get("ckpt_path"):  # the checkpoint holds the trained weights
            config.model.backbone.weights = None
            if config.model.get("backbone_weights", WEIGHTS_NOT_GIVEN) != WEIGHTS_NOT_GIVEN:
                config.model.backbone_weights = None  # a config with the earlier flat name

    def after_fit(self) -> None:
        """Say where the run went: its folder, the best checkpoint, and the command that applies it."""
        trainer = self.trainer
        log_dir = trainer.log_dir  # a broadcast in a distributed run: every process asks, or rank 0 waits
        if not trainer.is_global_zero or not log_dir:
            return
        folder = shown(Path(log_dir))
        callback = trainer.checkpoint_callback
        best = getattr(callback, "best_model_path", "") if callback is not None else ""
        score = getattr(callback, "best_model_score", None)
        said = f"; best checkpoint {shown(Path(best))}" if best else ""
        said += f" (validation Lab distance {float(score):.2f})" if best and score is not None else ""
        print(f"run saved in {folder} (checkpoints/, metrics.csv, config.yaml, validation_images/){said}")
        print(f"apply it: lumastyle stylize --ckpt {folder} --input PHOTOS --output FOLDER")

    def after_test(self) -> None:
        trainer = self.trainer
        log_dir = trainer.log_dir  # a broadcast in a distributed run: every process asks
        if trainer.is_global_zero and log_dir:
            print(f"test metrics added to {shown(Path(log_dir) / 'metrics.csv')}")

    def _evaluating(self) -> None:
        # validate/test/predict write no checkpoints, so ModelCheckpoint's notice that this run's folder
        # differs from the training run's (its best-k bookkeeping is not reloaded) does not concern them.
        warnings.filterwarnings("ignore", message="The dirpath has changed from")

    before_validate = before_test = _evaluating

    def before_predict(self) -> None:
        self._evaluating()
        callbacks = self.trainer.callbacks  # type: ignore[attr-defined]  # set by Lightning's connector
        if not any(isinstance(cb, PredictionWriter) for cb in callbacks):
            callbacks.append(PredictionWriter())


def _defaults(subcommand: str) -> list[str]:
    """run.yaml for every subcommand, then SUBCOMMAND.yaml where one exists."""
    own = DEFAULTS / f"{subcommand}.yaml"
    return [str(DEFAULTS / "run.yaml")] + ([str(own)] if own.is_file() else [])


def _styles_by_name(args: Sequence[str]) -> list[str]:
    """``--config NAME`` (no such file) becomes the path of the style called NAME."""
    out = list(args)
    for i, arg in enumerate(out):
        if arg in ("--config", "-c") and i + 1 < len(out):
            out[i + 1] = resolve_config(out[i + 1])
        elif arg.startswith("--config="):
            out[i] = "--config=" + resolve_config(arg.split("=", 1)[1])
    return out


def _check_checkpoint_arguments(argv: Sequence[str]) -> None:
    """A ``--ckpt_path`` file that is not a lumastyle checkpoint of a format this version reads is one
    line before anything is parsed (LightningCLI would first apply its hyperparameters as options)."""
    for i, arg in enumerate(argv):
        value = argv[i + 1] if arg == "--ckpt_path" and i + 1 < len(argv) else None
        value = arg.split("=", 1)[1] if arg.startswith("--ckpt_path=") else value
        if value and value not in ("last", "best", "hpc", "registry") and "://" not in value:
            check_checkpoint(value)


def _first_paragraph(doc: str | None) -> str:
    """A docstring's first paragraph as one line (its summary, however many lines it takes)."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def _option_names(parser: Any) -> list[str]:
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
    return [name.removeprefix("--") for name in _option_names(parser)]


def _parse_error(message: str, argv: Sequence[str], parser: Any = None) -> str:
    """The one line of a parse error of ``argv`` (:func:`lumastyle.messages.one_line_parse_error`),
    with the options of ``parser`` (the command's) to suggest from."""
    commands = [(name,) for name in SUBCOMMANDS] + list(EXTRA_COMMANDS)
    options = _option_names(parser) if parser is not None else []
    return one_line_parse_error(message, argv, commands, options, _init_options(message))


def _run_function(name: str, function: Callable[..., Any], positional: bool, argv: Sequence[str]) -> Any:
    parser = ArgumentParser(
        prog=f"lumastyle {name}",
        description=COMMANDS.get(tuple(name.split()), _first_paragraph(function.__doc__)),
        exit_on_error=False,
        allow_abbrev=False,  # as the other commands: --ckp must not silently mean --ckpt
    )
    # no group titled with the docstring's first line (a sentence cut where the line ends)
    parser.add_function_arguments(function, fail_untyped=True, as_positional=positional, as_group=False)
    try:
        cfg = parser.parse_args(list(argv))
    except argparse.ArgumentError as err:
        raise LumastyleError(_parse_error(str(err), [*name.split(), *argv], parser)) from None
    return function(**cfg.as_dict())


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
    """The LightningCLI of ``lumastyle SUBCOMMAND ARGS`` (``run=False``: ``ARGS`` alone, no
    subcommand; the model, DataModule and Trainer are built and nothing runs; for benchmarks)."""
    argv = _styles_by_name(argv)
    check_config_files(config_files(argv))  # a path in a config that climbs out through '..': one line
    _check_checkpoint_arguments(argv)
    set_parsing_settings(omegaconf_absolute_to_relative_paths=True)  # ${trainer.x} in any subcommand
    own = {"default_config_files": _defaults("fit"), "allow_abbrev": False}
    return LumaStyleCLI(
        LumaStyle,
        StyleDataModule,
        subclass_mode_data=True,
        auto_configure_optimizers=False,  # optimizer/lr_scheduler reach the model (param groups)
        parser_kwargs={
            "parser_mode": "omegaconf+",  # interpolation over the merged config of all files
            "description": DESCRIPTION,
            "epilog": CLASS_HELP,
            # no abbreviations: --model.backbone_lr must not silently mean --model.backbone_lr_scale
            "allow_abbrev": False,
            **(
                {
                    sub: {
                        "default_config_files": _defaults(sub),
                        "allow_abbrev": False,
                        "description": COMMANDS[(sub,)],
                        "epilog": CLASS_HELP,
                    }
                    for sub in SUBCOMMANDS
                }
                if run
                else own
            ),
        },
        save_config_callback=SaveConfig,  # config.yaml, and the resolved config to W&B
        save_config_kwargs={"overwrite": True},
        args=list(argv),
        run=run,
    )


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
            function, positional = EXTRA_COMMANDS[words]
            rest = argv[len(words) :]
            if words == ("report",) and len(rest) > 1 and not rest[1].startswith("-"):
                rest = [rest[0], "--compare", *rest[1:]]  # lumastyle report RUN_A RUN_B
            written = _run_function(" ".join(words), function, positional, rest)
            if isinstance(written, list) and written:
                print(wrote_line(written))
            return
        build_cli(argv)
    except argparse.ArgumentError as err:
        print(f"error: {_parse_error(str(err), argv)}", file=sys.stderr)
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
