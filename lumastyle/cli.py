"""The ``lumastyle`` command: LightningCLI's fit/validate/test/predict plus ``stylize``.

Importing the DataModules here makes their short class names (``PairDataModule``) usable in YAML.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import lightning_utilities.core.rank_zero as lightning_rank_zero
from jsonargparse import ArgumentParser
from lightning.pytorch.cli import LightningCLI

from lumastyle import data  # noqa: F401  (registers the DataModules for short class names)
from lumastyle.actions import apply_action
from lumastyle.callbacks import PredictionWriter
from lumastyle.data.base import StyleDataModule
from lumastyle.errors import LumastyleError
from lumastyle.model import LumaStyle
from lumastyle.stylize import stylize

#: Commands beside LightningCLI's: words -> (function, whether its required arguments are positional).
EXTRA_COMMANDS: dict[tuple[str, ...], tuple[Callable[..., Any], bool]] = {
    ("stylize",): (stylize, False),
    ("action", "apply"): (apply_action, True),
}
EPILOG = (
    "More: 'lumastyle stylize --help' applies a trained checkpoint to photos; "
    "'lumastyle action apply --help' renders a look (recipe, .cube, .acv, .xmp) onto photos."
)


class LumaStyleCLI(LightningCLI):
    """LightningCLI with omegaconf interpolation and lumastyle's defaults."""

    def parse_arguments(self, parser: Any, args: Any) -> None:
        # main() always passes the arguments it was given; Lightning's warning about ``args`` given
        # beside a non-empty sys.argv (meant for notebooks) does not apply.
        self.config = parser.parse_args(args)

    def _evaluating(self) -> None:
        # validate/test/predict write no checkpoints, so ModelCheckpoint's notice that this run's folder
        # differs from the training run's (its best-k bookkeeping is not reloaded) does not concern them.
        warnings.filterwarnings("ignore", message="The dirpath has changed from")

    before_validate = before_test = _evaluating

    def before_predict(self) -> None:
        self._evaluating()
        if not any(isinstance(cb, PredictionWriter) for cb in self.trainer.callbacks):
            self.trainer.callbacks.append(PredictionWriter())


def _run_function(name: str, function: Callable[..., Any], positional: bool, argv: Sequence[str]) -> Any:
    parser = ArgumentParser(prog=f"lumastyle {name}", description=(function.__doc__ or "").split("\n")[0])
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


def _run(argv: list[str]) -> None:
    try:
        words = next((w for w in EXTRA_COMMANDS if tuple(argv[: len(w)]) == w), None)
        if words is not None:
            function, positional = EXTRA_COMMANDS[words]
            written = _run_function(" ".join(words), function, positional, argv[len(words) :])
            if isinstance(written, list) and written:
                print(f"wrote {len(written)} file(s) to {written[0].parent}")
            return
        LumaStyleCLI(
            LumaStyle,
            StyleDataModule,
            subclass_mode_data=True,
            parser_kwargs={"parser_mode": "omegaconf", "epilog": EPILOG},
            save_config_kwargs={"overwrite": True},
            args=argv,
        )
    except Exception as err:
        user_error = _find_user_error(err)
        if user_error is None:
            raise
        print(f"error: {user_error}", file=sys.stderr)
        sys.exit(2)


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
