"""The one registry of look operations and look-file formats.

A recipe step names an operation (``curves``, ``clarity``, ...) and a look file is read by the reader
registered for its suffix (``.cube``, ``.xmp``, ...). Both are looked up here and nowhere else, so a
new operation or format is a module that registers itself, not an edit to a dispatch chain:

- :func:`register_operation` adds an operation: a function ``(image, **parameters) -> image`` on sRGB
  (*, 3, H, W) tensors whose defaults change nothing, with what it needs (``whole_photo``: its result
  depends on the neighbourhood or the position, so a look containing it is rendered on the whole photo
  before a training crop is cut; ``learnable``: whether a per-pixel colour map can learn it, which
  noise such as film grain cannot).
- :func:`register_look_format` adds a reader ``(path) -> Action`` for one or more file suffixes.

Recipe parameters are validated against each operation's signature by jsonargparse (unknown keys,
wrong types), then by the operation itself on a tiny probe image (ranges); either way the error is one
line naming the step and the key. The built-in formats live in their own modules
(:data:`BUILTIN_FORMAT_MODULES`), imported the first time a format is looked up.
"""

from __future__ import annotations

import importlib
import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from lumastyle.errors import LumastyleError

if TYPE_CHECKING:
    from lumastyle.actions.action import Action

#: Modules holding the built-in look formats (each registers its readers when imported).
BUILTIN_FORMAT_MODULES = (
    "lumastyle.actions.action",
    "lumastyle.actions.cube",
    "lumastyle.actions.acv",
    "lumastyle.actions.xmp",
    "lumastyle.actions.threedl",
    "lumastyle.actions.hald",
)


@dataclass(frozen=True)
class Operation:
    """A registered look operation (see the module docstring)."""

    name: str
    function: Callable[..., Tensor]
    whole_photo: bool = False
    learnable: bool = True
    _parser: Any = field(default=None, compare=False, repr=False)

    @property
    def parameters(self) -> list[str]:
        """The parameter names the operation takes (after the image)."""
        return list(inspect.signature(self.function).parameters)[1:]

    @cached_property
    def _tensor_parameters(self) -> set[str]:
        """Parameters annotated as tensors: lists given for them become tensors before validation."""
        hints = typing.get_type_hints(self.function)
        return {p for p in self.parameters if Tensor in _flatten_union(hints.get(p))}

    def check(self, params: dict[str, Any], where: str) -> None:
        """Check the keys and types of ``params`` against the signature (tables given as lists are
        checked as tensors); a problem raises a one-line :class:`LumastyleError` starting with ``where``."""
        from jsonargparse import ArgumentError as _ArgumentError
        from jsonargparse import ArgumentParser

        unknown = sorted(str(k) for k in set(params) - set(self.parameters))
        if unknown:  # jsonargparse would say this too; naming every accepted key is friendlier
            raise LumastyleError(
                f"{where} ({self.name}) has unknown parameter(s) {', '.join(unknown)}; "
                f"it takes: {', '.join(self.parameters)}"
            )
        params = dict(params)
        for key in self._tensor_parameters & set(params):
            if not isinstance(params[key], Tensor):
                try:
                    params[key] = torch.as_tensor(params[key], dtype=torch.float32)
                except (TypeError, ValueError, RuntimeError):
                    raise LumastyleError(
                        f"{where} ({self.name}): {key} must be a table of numbers, got {str(params[key])[:40]}"
                    ) from None
        parser = self._parser
        if parser is None:
            parser = ArgumentParser(exit_on_error=False)
            first = next(iter(inspect.signature(self.function).parameters))
            parser.add_function_arguments(self.function, skip={first}, fail_untyped=False)
            object.__setattr__(self, "_parser", parser)
        try:
            parser.parse_object(params)
        except _ArgumentError as err:
            raise LumastyleError(f"{where} ({self.name}): {_one_line(err)}") from None


def _one_line(err: Exception) -> str:
    """jsonargparse's message on one line, in lumastyle's words where they are plainer."""
    reason = " ".join(str(err).split())
    reason = re.sub(r"<class '([\w.]+)'>", r"\1", reason)
    reason = re.sub(r'Parser key "([\w.]+)": ', r"\1: ", reason)
    reason = reason.replace("the following arguments are required:", "needs")
    return reason if len(reason) <= 240 else reason[:237] + "..."


def _flatten_union(hint: Any) -> tuple[Any, ...]:
    args = typing.get_args(hint)
    return tuple(a for arg in args for a in _flatten_union(arg)) if args else (hint,)


#: Operation name -> :class:`Operation`; recipes name these.
OPERATIONS: dict[str, Operation] = {}
#: File suffix (lower case, with the dot) -> reader ``(path) -> Action``.
LOOK_FORMATS: dict[str, Callable[[Path], Action]] = {}
_loaded = False


def register_operation(
    name: str, function: Callable[..., Tensor], *, whole_photo: bool = False, learnable: bool = True
) -> Operation:
    """Add an operation recipes can name; a name taken by another function raises."""
    if name in OPERATIONS and OPERATIONS[name].function is not function:
        raise LumastyleError(f"a look operation named {name!r} is already registered")
    op = Operation(name, function, whole_photo, learnable)
    OPERATIONS[name] = op
    return op


def register_look_format(*suffixes: str) -> Callable[[Callable[[Path], Action]], Callable[[Path], Action]]:
    """Decorator registering a reader ``(path) -> Action`` for look files with these suffixes."""

    def add(reader: Callable[[Path], Action]) -> Callable[[Path], Action]:
        for suffix in suffixes:
            key = suffix.lower() if suffix.startswith(".") else f".{suffix.lower()}"
            if key in LOOK_FORMATS and LOOK_FORMATS[key] is not reader:
                raise LumastyleError(f"a look format for {key!r} files is already registered")
            LOOK_FORMATS[key] = reader
        return reader

    return add


def get_operation(name: str, where: str) -> Operation:
    """The operation ``name``; an unknown one raises a one-line error listing the valid names."""
    try:
        return OPERATIONS[name]
    except KeyError:
        raise LumastyleError(
            f"{where} uses unknown operation {name!r}; choose one of: {', '.join(OPERATIONS)}"
        ) from None


def look_formats() -> dict[str, Callable[[Path], Action]]:
    """Every registered look-file reader by suffix (the built-in ones imported on first use)."""
    global _loaded
    if not _loaded:
        _loaded = True
        for module in BUILTIN_FORMAT_MODULES:
            importlib.import_module(module)
    return LOOK_FORMATS


def _register_builtins() -> None:
    from lumastyle.actions import local, ops

    for name in ("curves", "levels", "brightness_contrast", "exposure", "hue_saturation", "vibrance",
                 "color_balance", "channel_mixer", "photo_filter", "split_toning", "grayscale",
                 "color_grading", "lut3d", "lut1d"):  # fmt: skip
        register_operation(name, getattr(ops, name))
    # the result depends on the neighbourhood (local.py) or on the position in the photo
    for name in ("clarity", "watercolor", "popout", "dehaze", "vignette"):
        register_operation(name, getattr(local, name), whole_photo=True)
    register_operation("grain", local.grain, whole_photo=True, learnable=False)


_register_builtins()
