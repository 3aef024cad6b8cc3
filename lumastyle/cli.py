"""The ``lumastyle`` command: LightningCLI's fit/validate/test/predict plus ``stylize``.

Importing the DataModules here makes their short class names (``PairDataModule``) usable in YAML.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import lightning_utilities.core.rank_zero as lightning_rank_zero
import yaml
from jsonargparse import ArgumentParser, Namespace, set_parsing_settings
from lightning.pytorch.cli import LightningCLI, LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from lumastyle import data  # noqa: F401  (registers the DataModules for short class names)
from lumastyle.actions import apply_action
from lumastyle.callbacks import PredictionWriter, SaveConfig
from lumastyle.checkpoints import use_atomic_checkpoints
from lumastyle.data.base import StyleDataModule
from lumastyle.errors import LumastyleError
from lumastyle.export import export
from lumastyle.loggers import trim_metrics
from lumastyle.model import LumaStyle, check_checkpoint
from lumastyle.optim import DEFAULT_LR
from lumastyle.options import WEIGHTS_NOT_GIVEN
from lumastyle.plugins import list_plugins, load_plugins, resolve_config
from lumastyle.report import report
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
}
EPILOG = (
    "More: 'lumastyle stylize --help' applies a trained checkpoint to photos; "
    "'lumastyle action apply --help' renders a look (recipe, .cube, .3dl, Hald .png, .acv, .xmp) onto photos; "
    "'lumastyle export CKPT --format onnx|pt2|torchscript|cube' writes a model other tools run; "
    "'lumastyle report RUN [RUN]' writes an HTML page of a run's test photos; "
    "'lumastyle plugins' lists the DataModules, heads, looks and styles installed. --config also takes a "
    "style by name (--config spring)."
)


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
        self.config = parser.parse_args(args)
        self.config_files = _config_files(args)

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        _name_loggers(config, self.config_files)
        if self.subcommand == "fit" and config.get("ckpt_path") == "last":
            _resume_last(config)
        _same_version(config)
        if self.subcommand != "fit" and config.get("ckpt_path"):  # the checkpoint holds the trained weights
            config.model.backbone.weights = None
            if config.model.get("backbone_weights", WEIGHTS_NOT_GIVEN) != WEIGHTS_NOT_GIVEN:
                config.model.backbone_weights = None  # a config with the earlier flat name

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


def _loggers(config: Namespace) -> list[Namespace]:
    """The logger entries (class_path/init_args namespaces) of a parsed subcommand config."""
    value = config.trainer.get("logger")
    entries = value if isinstance(value, list) else [value]
    return [e for e in entries if isinstance(e, Namespace) and isinstance(e.get("init_args"), Namespace)]


def _folder_loggers(config: Namespace) -> list[Namespace]:
    """The loggers that write into save_dir/name/version_N (CSV, TensorBoard; W&B's version is its run id)."""
    return [
        lg
        for lg in _loggers(config)
        if "Wandb" not in str(lg.get("class_path")) and "version" in lg.init_args
    ]


def _same_version(config: Namespace) -> None:
    """Several folder loggers of a new run (CSV and TensorBoard) write into one version_N folder."""
    loggers = [
        lg for lg in _folder_loggers(config) if lg.init_args.get("save_dir") and lg.init_args.get("name")
    ]
    if len(loggers) < 2 or any(lg.init_args.get("version") is not None for lg in loggers):
        return
    run = Path(os.fspath(loggers[0].init_args.save_dir)) / loggers[0].init_args.name
    taken = [int(p.name[8:]) for p in run.glob("version_*") if p.name[8:].isdigit()]
    for logger in loggers:
        logger.init_args.version = f"version_{max(taken, default=-1) + 1}"


def _styles_by_name(args: Sequence[str]) -> list[str]:
    """``--config NAME`` (no such file) becomes the path of the style called NAME."""
    out = list(args)
    for i, arg in enumerate(out):
        if arg in ("--config", "-c") and i + 1 < len(out):
            out[i + 1] = resolve_config(out[i + 1])
        elif arg.startswith("--config="):
            out[i] = "--config=" + resolve_config(arg.split("=", 1)[1])
    return out


def _config_files(args: Sequence[str]) -> list[Path]:
    """The ``--config``/``-c`` files in ``args``, in order (jsonargparse does not keep them)."""
    files = []
    for i, arg in enumerate(args):
        if arg in ("--config", "-c") and i + 1 < len(args):
            files.append(Path(args[i + 1]))
        elif arg.startswith("--config="):
            files.append(Path(arg.split("=", 1)[1]))
    return files


def run_name(config: Namespace, config_files: Sequence[Path] = ()) -> str:
    """The run folder's name: what the DataModule suggests (the look file, the pairs folder), else the
    stem of the style file (the first ``--config`` that sets ``data``), else ``lumastyle``."""
    data_config = config.get("data")
    if isinstance(data_config, Namespace) and data_config.get("class_path"):
        module, _, name = data_config.class_path.rpartition(".")
        cls = getattr(importlib.import_module(module), name, None)  # a class named in a config
        if isinstance(cls, type) and issubclass(cls, StyleDataModule):
            init_args = data_config.get("init_args")
            suggested = cls.run_name(init_args.as_dict() if isinstance(init_args, Namespace) else {})
            if suggested:
                return suggested
    for path in config_files:
        try:
            content = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(content, dict) and "data" in content:
            return path.stem
    return config_files[0].stem if config_files else "lumastyle"


def _name_loggers(config: Namespace, config_files: Sequence[Path]) -> None:
    """Loggers without a name get the run's: one a logger was given (``--trainer.logger.name NAME``
    reaches the last of the list), else the look's or style's (:func:`run_name`)."""
    loggers = [lg for lg in _loggers(config) if "name" in lg.init_args]
    given = next((lg.init_args.name for lg in loggers if lg.init_args.name is not None), None)
    for logger in loggers:
        if logger.init_args.name is None:
            given = given or run_name(config, config_files)
            logger.init_args.name = given


def _resume_last(config: Namespace) -> None:
    """``--ckpt_path last``: the newest last.ckpt of this run (save_dir/name/version_*), resumed in its
    own folder, with the metrics of the interrupted epoch dropped (it is trained again)."""
    loggers = [
        lg for lg in _folder_loggers(config) if lg.init_args.get("save_dir") and lg.init_args.get("name")
    ]
    if not loggers:
        return  # no named run folder: Lightning's own 'last' lookup applies
    init = loggers[0].init_args
    run = Path(os.fspath(init.save_dir)) / init.name
    found = sorted(run.glob("version_*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    if not found:
        warnings.warn(f"no {run}/version_*/checkpoints/last.ckpt to resume; starting a new run", stacklevel=2)
        config.ckpt_path = None
        return
    last = found[-1]
    version_dir = last.parent.parent
    for logger in loggers:
        logger.init_args.version = version_dir.name
    config.ckpt_path = str(last)
    # resuming into the run's own folder: its checkpoints are expected to be there
    warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
    if rank_zero_only.rank == 0:  # type: ignore[attr-defined]  # Lightning sets the rank on the function  # every process of a distributed run parses the command; one edits files
        state = check_checkpoint(last)
        trim_metrics(version_dir, int(state.get("epoch", 0)), int(state.get("global_step", 0)))
        print(
            f"resuming {last} (epoch {state.get('epoch')}, step {state.get('global_step')})", file=sys.stderr
        )


def _check_checkpoint_arguments(argv: Sequence[str]) -> None:
    """A ``--ckpt_path`` file that is not a lumastyle checkpoint of a format this version reads is one
    line before anything is parsed (LightningCLI would first apply its hyperparameters as options)."""
    for i, arg in enumerate(argv):
        value = argv[i + 1] if arg == "--ckpt_path" and i + 1 < len(argv) else None
        value = arg.split("=", 1)[1] if arg.startswith("--ckpt_path=") else value
        if value and value not in ("last", "best", "hpc", "registry") and "://" not in value:
            check_checkpoint(value)


def _run_function(name: str, function: Callable[..., Any], positional: bool, argv: Sequence[str]) -> Any:
    parser = ArgumentParser(
        prog=f"lumastyle {name}", description=(function.__doc__ or "").split("\n")[0], exit_on_error=False
    )
    parser.add_function_arguments(function, fail_untyped=True, as_positional=positional)
    cfg = parser.parse_args(list(argv))
    return function(**cfg.as_dict())


def main(args: Sequence[str] | None = None) -> None:
    """Entry point of the ``lumastyle`` console script (``args``: its arguments, default sys.argv[1:])."""
    argv = list(sys.argv[1:] if args is None else args)
    formatwarning = warnings.formatwarning
    warnings.formatwarning = _one_line_warning
    try:
        with warnings.catch_warnings():  # the filters set while running stay with this run
            _quiet_library_noise()
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
            "epilog": EPILOG,
            # no abbreviations: --model.backbone_lr must not silently mean --model.backbone_lr_scale
            "allow_abbrev": False,
            **(
                {sub: {"default_config_files": _defaults(sub), "allow_abbrev": False} for sub in SUBCOMMANDS}
                if run
                else own
            ),
        },
        save_config_callback=SaveConfig,  # config.yaml, and the resolved config to W&B
        save_config_kwargs={"overwrite": True},
        args=list(argv),
        run=run,
    )


def _run(argv: list[str]) -> None:
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
                print(f"wrote {len(written)} file(s) to {written[0].parent}")
            return
        build_cli(argv)
    except argparse.ArgumentError as err:
        print(f"error: {one_line_parse_error(str(err), argv)}", file=sys.stderr)
        sys.exit(2)
    except Exception as err:
        user_error = _find_user_error(err)
        if user_error is None:
            raise
        print(f"error: {user_error}", file=sys.stderr)
        sys.exit(2)


def one_line_parse_error(message: str, argv: Sequence[str] = ()) -> str:
    """jsonargparse's report of a bad option or value (a tree of lines: each key, each type it tried,
    the value) as one line, such as ``trainer.max_epochs: expected int, got 'x'; see 'lumastyle fit
    --help'``. Written by hand: jsonargparse has no short form of its messages."""
    commands = [*SUBCOMMANDS, *(" ".join(words) for words in EXTRA_COMMANDS)]
    command = next((w for w in argv if not w.startswith("-")), "")
    command = next((" ".join(w) for w in EXTRA_COMMANDS if tuple(argv[: len(w)]) == w), command)
    if "argument subcommand: invalid choice" in message or "to be one of {" in message:
        given = f"unknown command '{command}'" if command else "no command given"
        return f"{given}; use one of: {', '.join(commands)} (lumastyle --help)"
    see = (
        f"see 'lumastyle {command} --help'"
        if command in commands or command == "action"
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


def _one_line_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> str:
    return f"warning: {message}\n"


def _not_an_advert(record: logging.LogRecord) -> bool:
    return "litlogger" not in record.getMessage()


def _quiet_library_noise() -> None:
    """Drop two messages users can do nothing about: Lightning's advert for its cloud logger and a
    deprecation inside Lightning's own pytree helper (torch >= 2.14)."""
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    rank_zero = getattr(lightning_rank_zero, "log", None)  # the logger Lightning's rank_zero_info writes to
    if isinstance(rank_zero, logging.Logger):
        rank_zero.addFilter(_not_an_advert)  # adding the same filter again is a no-op


def _find_user_error(err: BaseException | None) -> LumastyleError | None:
    """The LumastyleError behind ``err``: jsonargparse wraps errors raised while it builds the DataModule."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, LumastyleError):
            return err
        seen.add(id(err))
        err = err.__cause__
    return None


if __name__ == "__main__":
    main()
