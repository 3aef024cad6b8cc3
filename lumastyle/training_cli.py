"""LightningCLI for ``lumastyle fit``, ``validate``, ``test`` and ``predict``: lumastyle's run settings
before any ``--config``, one optimiser channel, run names and resuming (:class:`LumaStyleCLI`), built by
:func:`build_cli`. Importing the DataModules here makes their short class names (``PairDataModule``)
usable in YAML. The commands beside these (``stylize``, ``export``, ...) run without this module, and so
without importing Lightning (:mod:`lumastyle.cli`).
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from jsonargparse import set_parsing_settings
from lightning.pytorch.cli import LightningCLI, LRSchedulerCallable, OptimizerCallable

from lumastyle import data  # noqa: F401  (registers the DataModules for short class names)
from lumastyle.callbacks import PredictionWriter, SaveConfig
from lumastyle.checkpoint_io import use_atomic_checkpoints
from lumastyle.checkpoints import check_checkpoint
from lumastyle.commands import CLASS_HELP, COMMANDS, DESCRIPTION, SUBCOMMANDS, parse_error
from lumastyle.config_paths import check_config_files
from lumastyle.data.base import StyleDataModule
from lumastyle.errors import LumastyleError
from lumastyle.messages import shown
from lumastyle.model import LumaStyle
from lumastyle.optim import DEFAULT_LR
from lumastyle.options import WEIGHTS_NOT_GIVEN
from lumastyle.plugins import resolve_config
from lumastyle.runs import config_files, into_checkpoint_run, name_loggers, resume_last, same_version

#: lumastyle's run settings, applied before any --config (see the files).
DEFAULTS = Path(str(resources.files("lumastyle") / "defaults"))
#: LumaStyle arguments set by the config's top-level blocks of the same names.
MODEL_OPTIMISATION = {"optimizer", "lr_scheduler"}


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
            raise LumastyleError(parse_error(str(err), args, command)) from None
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
